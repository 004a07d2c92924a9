"""User commands of the filter task: REASAN's random and returning command samplers (REASAN filter §6.4).

Two command modes, fixed per env for the whole run:

* **random** (every env without dynamic obstacles; with them, env ids >= floor(N/3)): on reset and
  when the env's timer passes its delay, a command type is drawn with r ~ U(0, 1) —
  type 0 (r < 0.33): c ~ U(+-(1.5, 1.2, 3.0)), components zeroed with probabilities (0.2, 0.5, 0.5),
  next delay U(2, 5) s; type 1 (r < 0.66): U(+-(2.5, 0.5, 0.5)), (0.1, 0.5, 0.5), 4 s; type 2:
  U(+-(0.5, 2.0, 0.5)), (0.5, 0.1, 0.5), 4 s. Then (vx, vy) is zeroed with probability 0.05 (0.2 in
  "no obstacle" episodes). Type 2 can ask |vy| = 2.0 m/s, beyond the 1.5 m/s loco limit, by design.
* **returning** (env ids < floor(N/3), only with dynamic obstacles): on reset and at timer expiry a
  speed s ~ U(0.5, 2.0) m/s and a heading offset h ~ U(-pi, pi) (exactly 0 with probability 0.1 and
  pi with probability 0.1) are drawn, next delay U(5, 10) s; every control step the command walks the
  robot back to its start point: g = start - base position in the yaw frame, c_xy = s unit(g),
  c_z = clip(wrap(atan2(g_y, g_x) - h), -3, 3), and c = 0 within 0.5 m of the start.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct


@struct.dataclass
class CommandState:
  """Per-env command bookkeeping (unbatched).

  Attributes:
    command: (3,) user command (vx m/s, vy m/s, wz rad/s), body frame.
    timer: () s since the last resample.
    delay: () s until the next resample.
    speed: () m/s, returning mode's walking speed.
    heading: () rad, returning mode's bearing offset h.
    returning: () bool, this env uses returning commands (fixed for the run).
  """

  command: jax.Array
  timer: jax.Array
  delay: jax.Array
  speed: jax.Array
  heading: jax.Array
  returning: jax.Array


def sample_random_command(key: jax.Array, cfg: ml_collections.ConfigDict,
                          no_obstacle: jax.Array) -> tuple[jax.Array, jax.Array]:
  """One random-mode command and its resample delay (REASAN filter §6.4).

  Args:
    key: PRNG key.
    cfg: the ``env.commands`` section (``types``: per type ``range``, ``zero_prob``, ``delay``;
      ``type_thresholds``; ``zero_linear_prob``, ``zero_linear_prob_no_obstacle``).
    no_obstacle: () bool, the episode has no obstacles (raises the zero-linear probability).

  Returns:
    ``(command (3,), delay ())`` in m/s, m/s, rad/s and s.
  """
  k_type, k_cmd, k_zero, k_delay, k_lin = jax.random.split(key, 5)
  ranges = jnp.asarray([t.range for t in cfg.types], jnp.float32)  # (3 types, 3)
  zero_p = jnp.asarray([t.zero_prob for t in cfg.types], jnp.float32)
  delays = jnp.asarray([t.delay for t in cfg.types], jnp.float32)  # (3, 2): U(lo, hi)
  r = jax.random.uniform(k_type)
  kind = jnp.sum(r >= jnp.asarray(cfg.type_thresholds, jnp.float32))
  cmd = jax.random.uniform(k_cmd, (3,), minval=-1.0, maxval=1.0) * ranges[kind]
  cmd = cmd * (jax.random.uniform(k_zero, (3,)) >= zero_p[kind])
  delay = jax.random.uniform(k_delay, minval=delays[kind, 0], maxval=delays[kind, 1])
  p_lin = jnp.where(no_obstacle, cfg.zero_linear_prob_no_obstacle, cfg.zero_linear_prob)
  zero_lin = jax.random.uniform(k_lin) < p_lin
  cmd = cmd.at[:2].set(jnp.where(zero_lin, 0.0, cmd[:2]))
  return cmd, delay


def sample_returning(key: jax.Array, cfg: ml_collections.ConfigDict
                     ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Returning-mode draw: ``(speed (), heading (), delay ())`` (REASAN filter §6.4).

  Args:
    key: PRNG key.
    cfg: the ``env.commands.returning`` section (``speed``, ``delay`` ranges; ``heading_zero_prob``,
      ``heading_back_prob``).
  """
  k_s, k_h, k_u, k_d = jax.random.split(key, 4)
  speed = jax.random.uniform(k_s, minval=cfg.speed[0], maxval=cfg.speed[1])
  u = jax.random.uniform(k_u)
  heading = jax.random.uniform(k_h, minval=-jnp.pi, maxval=jnp.pi)
  heading = jnp.where(u < cfg.heading_zero_prob, 0.0, heading)
  heading = jnp.where((u >= cfg.heading_zero_prob)
                      & (u < cfg.heading_zero_prob + cfg.heading_back_prob), jnp.pi, heading)
  delay = jax.random.uniform(k_d, minval=cfg.delay[0], maxval=cfg.delay[1])
  return speed, heading, delay


def wrap_angle(x: jax.Array) -> jax.Array:
  """Angle wrapped to [-pi, pi)."""
  return (x + jnp.pi) % (2.0 * jnp.pi) - jnp.pi


def returning_command(start_xy: jax.Array, base_xy: jax.Array, yaw: jax.Array, speed: jax.Array,
                      heading: jax.Array, stop_radius: float = 0.5,
                      max_yaw_rate: float = 3.0) -> jax.Array:
  """The returning command of this control step (REASAN filter §6.4).

  Args:
    start_xy: (2,) world start position, m. base_xy: (2,) world base position, m.
    yaw: () base yaw, rad. speed: () m/s. heading: () rad, bearing the start point should appear at.
    stop_radius: m; closer than this the command is zero. max_yaw_rate: rad/s clip of c_z.

  Returns:
    (3,) command (vx, vy, wz), yaw frame.
  """
  g = start_xy - base_xy
  c, s = jnp.cos(yaw), jnp.sin(yaw)
  g = jnp.array([c * g[0] + s * g[1], -s * g[0] + c * g[1]])  # world -> yaw frame
  dist = jnp.linalg.norm(g)
  lin = speed * g / (dist + 1e-6)
  wz = jnp.clip(wrap_angle(jnp.arctan2(g[1], g[0]) - heading), -max_yaw_rate, max_yaw_rate)
  cmd = jnp.concatenate([lin, wz[None]])
  return jnp.where(dist < stop_radius, jnp.zeros(3), cmd)


def returning_envs(num_envs: int, fraction: float, dynamic: bool) -> np.ndarray:
  """(num_envs,) bool: which env ids use returning commands (the first floor(N x fraction) when
  dynamic obstacles are on, none otherwise; REASAN filter §6.4)."""
  n = int(np.floor(num_envs * fraction)) if dynamic else 0
  return np.arange(num_envs) < n


def reset_commands(key: jax.Array, cfg: ml_collections.ConfigDict, returning: jax.Array,
                   no_obstacle: jax.Array) -> CommandState:
  """A fresh :class:`CommandState` at reset (both modes drawn, the env's mode kept)."""
  k_rand, k_ret = jax.random.split(key)
  cmd, delay = sample_random_command(k_rand, cfg, no_obstacle)
  speed, heading, ret_delay = sample_returning(k_ret, cfg.returning)
  zero = jnp.zeros(())
  return CommandState(command=jnp.where(returning, jnp.zeros(3), cmd), timer=zero,
                      delay=jnp.where(returning, ret_delay, delay), speed=speed, heading=heading,
                      returning=jnp.asarray(returning))


def advance_commands(key: jax.Array, state: CommandState, cfg: ml_collections.ConfigDict, dt: float,
                     no_obstacle: jax.Array, start_xy: jax.Array, base_xy: jax.Array,
                     yaw: jax.Array) -> CommandState:
  """One control step of the command timers (REASAN filter §1.1b item 3, §6.4): the timer advances
  by ``dt``, expired envs resample, and returning envs regenerate their command from the pose."""
  timer = state.timer + dt
  expired = timer > state.delay
  k_rand, k_ret = jax.random.split(key)
  cmd, delay = sample_random_command(k_rand, cfg, no_obstacle)
  speed, heading, ret_delay = sample_returning(k_ret, cfg.returning)
  ret = state.returning
  new_speed = jnp.where(expired & ret, speed, state.speed)
  new_heading = jnp.where(expired & ret, heading, state.heading)
  new_delay = jnp.where(expired, jnp.where(ret, ret_delay, delay), state.delay)
  random_cmd = jnp.where(expired, cmd, state.command)
  back = returning_command(start_xy, base_xy, yaw, new_speed, new_heading,
                           cfg.returning.stop_radius, cfg.returning.max_yaw_rate)
  return state.replace(command=jnp.where(ret, back, random_cmd), timer=jnp.where(expired, 0.0, timer),
                       delay=new_delay, speed=new_speed, heading=new_heading)
