"""The nav task's 19 reward terms as small named functions (REASAN nav §5).

Each function returns the **unweighted** term; the env multiplies it by ``env.reward_scales.<name>``
and by the control step 0.02 s and sums without clipping (REASAN nav §5). Notation: ``d`` () the
world xy distance base -> goal (m), ``tau`` () the time left in the episode (s, 0 at the time-out
step), ``T`` the 15 s horizon, ``v`` (3,) the base linear velocity in the body frame (m/s), ``wz``
() the yaw rate (rad/s), ``a``, ``a1``, ``a2`` (3,) this and the two previous nav actions, ``f``
(3,) this step's filter output, ``g`` (2,) the guide vector (world frame, unit or zero),
``u`` (2,) the world-frame unit base velocity, ``ttc`` (180,) the TTC field (s).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from reasan_jax.tasks.common import rewards as common


def unit(x: jax.Array) -> jax.Array:
  """``x / (|x| + 1e-6)`` (REASAN nav §5 notation)."""
  return x / (jnp.linalg.norm(x) + 1e-6)


def _f(x: jax.Array) -> jax.Array:
  return jnp.asarray(x, jnp.float32)


def close_to_goal(d: jax.Array, tau: jax.Array, horizon: float, radius: float) -> jax.Array:
  """``(tau / T)^2 1[d < radius]``: the arrival bonus tiers (radii 0.5 / 1 / 2 m, weights 40 / 15
  / 5; they stack up to 60 (tau / T)^2)."""
  return jnp.square(tau / horizon) * _f(d < radius)


def stop_at_goal(d: jax.Array, v: jax.Array, radius: float = 2.0) -> jax.Array:
  """``|v_xy|^2 1[d < 2]`` (weight -2)."""
  return jnp.sum(jnp.square(v[:2])) * _f(d < radius)


def stay_at_goal(d: jax.Array, v: jax.Array, wz: jax.Array, radius: float = 2.0,
                 vel_sharpness: float = 4.0, dist_sharpness: float = 2.0) -> jax.Array:
  """``exp(-4 |(vx, vy, wz)|) exp(-2 d) 1[d < 2]`` (weight 5)."""
  speed = jnp.linalg.norm(jnp.stack([v[0], v[1], wz]))
  return jnp.exp(-vel_sharpness * speed) * jnp.exp(-dist_sharpness * d) * _f(d < radius)


def forward_vel(d: jax.Array, v: jax.Array, radius: float = 2.0,
                threshold: float = 0.2) -> jax.Array:
  """``1[unit(v_xy)_x > 0.2] 1[d >= 2]`` (weight 0.5)."""
  return _f((unit(v[:2])[0] > threshold) & (d >= radius))


def backward_vel(d: jax.Array, v: jax.Array, radius: float = 2.0,
                 threshold: float = 0.2) -> jax.Array:
  """``1[unit(v_xy)_x < -0.2] 1[d >= 2]`` (weight -4)."""
  return _f((unit(v[:2])[0] < -threshold) & (d >= radius))


def progress(d_prev: jax.Array, d: jax.Array) -> jax.Array:
  """``max(0, d_prev - d)`` m closer to the goal than at the last step (weight 20)."""
  return jnp.maximum(d_prev - d, 0.0)


def guide_alignment(g: jax.Array, u: jax.Array, valid: float = 0.1) -> tuple[jax.Array, jax.Array]:
  """``(align, guide valid)``: ``unit(g) . u`` and ``|g| > 0.1`` (REASAN nav §5)."""
  return jnp.dot(unit(g), u), jnp.linalg.norm(g) > valid


def follow_guide(d: jax.Array, align: jax.Array, valid: jax.Array, radius: float = 2.0,
                 threshold: float = 0.7) -> jax.Array:
  """1 if ``d < 2`` or the guide is invalid, else ``1[align > 0.7]`` (weight 1)."""
  return _f((d < radius) | ~valid | (align > threshold))


def not_follow_guide(d: jax.Array, align: jax.Array, valid: jax.Array, radius: float = 2.0,
                     threshold: float = 0.1) -> jax.Array:
  """``1[align < 0.1] 1[d >= 2] 1[guide valid]`` (weight -5; standing still has align 0, so it
  is penalised far from the goal, REASAN nav §10 item 11)."""
  return _f((align < threshold) & (d >= radius) & valid)


def bad_control(a: jax.Array, f: jax.Array, sharpness: float = 2.0) -> jax.Array:
  """``1 - exp(-2 |a_t - f_t|^2)``: the filter had to override the nav command (weight -0.5)."""
  return 1.0 - jnp.exp(-sharpness * jnp.sum(jnp.square(a - f)))


def time_spent(d: jax.Array, tau: jax.Array, radius: float = 2.0) -> jax.Array:
  """``exp(-tau) 1[d >= 2]`` (weight -5)."""
  return jnp.exp(-tau) * _f(d >= radius)


def action_rate(a: jax.Array, a1: jax.Array) -> jax.Array:
  """``|a_t - a_{t-1}|^2`` (weight -0.01)."""
  return common.action_rate(a, a1)


def action_smoothness(a: jax.Array, a1: jax.Array, a2: jax.Array) -> jax.Array:
  """``|a_t - 2 a_{t-1} + a_{t-2}|^2`` (weight -0.01)."""
  return common.action_smoothness(a, a1, a2)


def cmd_limits(a: jax.Array, limits: jax.Array) -> jax.Array:
  """``sum_j max(0, |a_j| - lim_j)^2`` with lim = (2.5, 1.5, 3.0) (weight -10)."""
  return common.squared_magnitude_excess(a, limits)


def collision(num_bodies_in_contact: jax.Array) -> jax.Array:
  """Number of undesired bodies (base, hips, thighs, calves, head) touching something
  (weight -100)."""
  return _f(num_bodies_in_contact)


def termination(done: jax.Array, d: jax.Array, distance: float = 2.0) -> jax.Array:
  """``1[reset this step (died or time-out)] 1[d > 2]`` (weight -100; REASAN nav §10 item 11)."""
  return _f(done & (d > distance))


def ttc(ttc_field: jax.Array, sharpness: float = 2.0) -> jax.Array:
  """``exp(-2 min_i TTC_i)`` (weight -0.5)."""
  return jnp.exp(-sharpness * jnp.min(ttc_field))


def bad_vel(ttc_vel: jax.Array, sharpness: float = 2.0) -> jax.Array:
  """``exp(-2 TTC(v_xy))``, TTC of the ray best aligned with the velocity (weight -2); ``ttc_vel``
  from :func:`reasan_jax.sensors.features.weighted_ttc`."""
  return jnp.exp(-sharpness * ttc_vel)


TERMS = ("close_to_goal_1", "close_to_goal_2", "close_to_goal_3", "stop_at_goal", "stay_at_goal",
         "forward_vel", "backward_vel", "progress", "follow_guide", "not_follow_guide",
         "bad_control", "time_spent", "action_rate", "action_smoothness", "cmd_limits", "collision",
         "termination", "ttc", "bad_vel")
"""The reward terms in REASAN's order (REASAN nav §5); ``env.reward_scales`` has one weight each."""


def terms(r, *, d, d_prev, tau, v, wz, a, a1, a2, f, g, u, ttc_field, ttc_vel, bodies, done,
          limits) -> dict[str, jax.Array]:
  """All :data:`TERMS`, unweighted, with the parameters of ``r`` (the ``env.rewards`` section).

  Args: see the module docstring; ``ttc_vel`` () the velocity-weighted TTC, ``bodies`` () the
  number of undesired bodies in contact, ``done`` () bool, ``limits`` (3,) command limits.
  """
  radius = r.goal_radii[-1]
  align, valid = guide_alignment(g, u, r.guide_valid)
  return {
      "close_to_goal_1": close_to_goal(d, tau, r.horizon, r.goal_radii[0]),
      "close_to_goal_2": close_to_goal(d, tau, r.horizon, r.goal_radii[1]),
      "close_to_goal_3": close_to_goal(d, tau, r.horizon, r.goal_radii[2]),
      "stop_at_goal": stop_at_goal(d, v, radius),
      "stay_at_goal": stay_at_goal(d, v, wz, radius, r.stay_vel_sharpness, r.stay_dist_sharpness),
      "forward_vel": forward_vel(d, v, radius, r.heading_threshold),
      "backward_vel": backward_vel(d, v, radius, r.heading_threshold),
      "progress": progress(d_prev, d),
      "follow_guide": follow_guide(d, align, valid, radius, r.follow_align),
      "not_follow_guide": not_follow_guide(d, align, valid, radius, r.not_follow_align),
      "bad_control": bad_control(a, f, r.bad_control_sharpness),
      "time_spent": time_spent(d, tau, radius),
      "action_rate": action_rate(a, a1),
      "action_smoothness": action_smoothness(a, a1, a2),
      "cmd_limits": cmd_limits(a, limits),
      "collision": collision(bodies),
      "termination": termination(done, d, r.termination_distance),
      "ttc": ttc(ttc_field, r.ttc_sharpness),
      "bad_vel": bad_vel(ttc_vel, r.bad_vel_sharpness),
  }
