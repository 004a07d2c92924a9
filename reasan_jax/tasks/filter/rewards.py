"""The filter's nine reward terms as small named functions (REASAN filter §4.2).

Each function returns the **unweighted** term; the env multiplies by ``env.reward_scales.<name>``
and by the control step 0.02 s, and sums without clipping (REASAN filter §4: unlike loco, the
filter's sum is not clipped). Notation: ``c`` user command (3,), ``v`` base linear velocity xy in
the body frame (2,), ``wz`` base yaw rate (), ``a``, ``a1``, ``a2`` the current and two previous raw
filter actions (3,), ``ttc`` the per-azimuth time-to-collision field (180,), and TTC(x) the
softmax-direction-weighted TTC of a body-frame 2-vector (:func:`reasan_jax.sensors.features.weighted_ttc`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def unit(x: jax.Array) -> jax.Array:
  """``x / (|x| + 1e-6)`` (REASAN filter §4)."""
  return x / (jnp.linalg.norm(x) + 1e-6)


def track_lin_vel(c: jax.Array, v: jax.Array, sharpness: float) -> jax.Array:
  """``exp(-sharpness |c_xy - v|^2)`` (REASAN: sharpness 4, weight 4.0)."""
  return jnp.exp(-sharpness * jnp.sum(jnp.square(c[:2] - v)))


def track_ang_vel(c: jax.Array, wz: jax.Array, sharpness: float) -> jax.Array:
  """``exp(-sharpness (c_z - wz)^2)`` (REASAN: sharpness 2, weight 3.0)."""
  return jnp.exp(-sharpness * jnp.square(c[2] - wz))


def action_rate_high(a: jax.Array, a1: jax.Array) -> jax.Array:
  """``|a_t - a_{t-1}|^2`` (weight -0.01)."""
  return jnp.sum(jnp.square(a - a1))


def action_smoothness_high(a: jax.Array, a1: jax.Array, a2: jax.Array) -> jax.Array:
  """``|a_t - 2 a_{t-1} + a_{t-2}|^2`` (weight -0.01)."""
  return jnp.sum(jnp.square(a - 2.0 * a1 + a2))


def cmd_limits(a: jax.Array, limits: jax.Array) -> jax.Array:
  """``sum_i max(|a_i| - L_i, 0)^2`` with L = (2.5, 1.5, 3.0) (weight -10)."""
  return jnp.sum(jnp.square(jnp.maximum(jnp.abs(a) - limits, 0.0)))


def collision(num_bodies_in_contact: jax.Array) -> jax.Array:
  """Number of undesired bodies (base, hips, thighs, calves, head) touching something (weight -100)."""
  return jnp.asarray(num_bodies_in_contact, jnp.float32)


def bad_vel_move(c: jax.Array, v: jax.Array, ttc_cmd: jax.Array, safe_ttc: float = 2.0,
                 moving: float = 0.2, against: float = -0.25) -> jax.Array:
  """``1[TTC(c_xy) > 2] 1[|c_xy| >= 0.2] 1[unit(v) . unit(c_xy) < -0.25]``: moving against a safe
  command (weight -5). ``ttc_cmd`` = TTC(c_xy)."""
  cxy = c[:2]
  return ((ttc_cmd > safe_ttc) & (jnp.linalg.norm(cxy) >= moving)
          & (jnp.dot(unit(v), unit(cxy)) < against)).astype(jnp.float32)


def bad_vel_still(c: jax.Array, v: jax.Array, ttc: jax.Array, moving: float = 0.2,
                  safe_ttc: float = 2.5) -> jax.Array:
  """``1[|v| > 0.2] 1[|c_xy| < 0.2] 1[min_k TTC_k > 2.5]``: moving while told to stand with nothing
  imminent (weight -5)."""
  return ((jnp.linalg.norm(v) > moving) & (jnp.linalg.norm(c[:2]) < moving)
          & (jnp.min(ttc) > safe_ttc)).astype(jnp.float32)


def bad_vel(ttc_vel: jax.Array, sharpness: float = 2.0) -> jax.Array:
  """``exp(-2 TTC(v))``: TTC along the actual velocity (weight -1). ``ttc_vel`` = TTC(v)."""
  return jnp.exp(-sharpness * ttc_vel)


TERMS = ("track_lin_vel", "track_ang_vel", "action_rate_high", "action_smoothness_high",
         "cmd_limits", "collision", "bad_vel_move", "bad_vel_still", "bad_vel")
"""The reward terms in REASAN's order; ``env.reward_scales`` has one weight per name."""
