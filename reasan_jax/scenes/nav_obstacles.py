"""The nav task's moving obstacles (REASAN nav §4.8) on the filter task's state.

Same :class:`reasan_jax.scenes.dynamic_obstacles.DynamicObstacles` state, shapes
(:func:`dynamic_obstacles.init_shapes` with 9 slots), primitives and nominal velocities as the
filter task (REASAN filter §6.3); only the placement at reset and the re-targeting rule differ:

* reset: ``n`` = active count (the curriculum level clipped to [0, 9], type-1 envs only; all off
  with probability 0.1); ``Delta = min(pi, 2 pi / n)``; obstacle i sits on the ring at angle
  ``theta_i = Delta (i + 0.5)`` in the **world** frame at distance ``r ~ U(2, 3 + 0.5 level)``
  from the robot (waypoint A, the start); waypoint B is the opposite point ``robot - r u_i``
  with probability 0.1, else the ring point at ``theta_i + 2 Delta``; centre z ~ U(-0.25, 0.75) m,
  yaw U(-pi, pi), speed U(speed range);
* step (before physics): within 0.5 m of B, swap A and B and resample the speed; then move
  ``0.02 * speed`` toward B.

REASAN quirk kept: with 1 or 2 active obstacles ``Delta = pi`` and ``theta_i + 2 Delta`` is
``theta_i`` itself, so B = A and the obstacle stands still (unless it drew the 0.1 crossing).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from reasan_jax.scenes import dynamic_obstacles as dyn

NUM_SLOTS = 9
"""Obstacle slots per env in the nav task (REASAN nav §4.8)."""
RING_MIN = 2.0
RING_LEVEL_SLOPE = 0.5
RING_MAX0 = 3.0
"""Ring distance r ~ U(2, 3 + 0.5 level) m (REASAN nav §3.5, §4.8)."""
CROSS_PROB = 0.1
"""Probability that B is the point opposite A through the robot (REASAN nav §4.8)."""
NO_OBSTACLE_PROB = 0.1
"""Probability per reset that all of an env's obstacles are off (REASAN nav §4.8)."""


def num_active_from_level(level: jax.Array, enabled: jax.Array | bool = True,
                          num_slots: int = NUM_SLOTS) -> jax.Array:
  """() int32 active count ``clip(level, 0, 9)`` for type-1 envs, 0 otherwise (REASAN nav §3.5,
  §4.8; ``enabled`` = type-1 env and obstacles switched on)."""
  n = jnp.clip(jnp.asarray(level, jnp.int32), 0, num_slots)
  return jnp.where(jnp.asarray(enabled), n, 0).astype(jnp.int32)


def sample_no_obstacle(key: jax.Array) -> jax.Array:
  """() bool: all obstacles of the env off this episode, probability 0.1 (REASAN nav §4.8)."""
  return jax.random.bernoulli(key, NO_OBSTACLE_PROB)


def ring_angles(num_active: jax.Array, num_slots: int = NUM_SLOTS) -> tuple[jax.Array, jax.Array]:
  """``(theta (J,), Delta ())``: ``Delta = min(pi, 2 pi / n)``, ``theta_i = Delta (i + 0.5)``
  rad (REASAN nav §4.8; n = 0 reads as 1, nothing is active then)."""
  n = jnp.maximum(jnp.asarray(num_active, jnp.float32), 1.0)
  delta = jnp.minimum(jnp.pi, 2 * jnp.pi / n)
  return delta * (jnp.arange(num_slots, dtype=jnp.float32) + 0.5), delta


def reset_nav(key: jax.Array, shape: jax.Array, robot_xy: jax.Array, level: jax.Array,
              num_active: jax.Array | None = None, no_obstacle: jax.Array | bool = False,
              speed_range: tuple[float, float] = dyn.SPEED_RANGE_TRAIN) -> dyn.DynamicObstacles:
  """Episode-start placement of the nav obstacles (REASAN nav §4.8; see the module doc).

  Args:
    key: PRNG key.
    shape: (J,) slot shapes (:func:`dynamic_obstacles.init_shapes`, J = 9).
    robot_xy: (2,) robot spawn, world m.
    level: () curriculum level (0-9) for the ring radius.
    num_active: () active count; default :func:`num_active_from_level` of ``level`` (pass 0 for
      maze envs).
    no_obstacle: () bool, all obstacles off (:func:`sample_no_obstacle`, or ``--no_obstacle``).
    speed_range: (min, max) m/s (train (0.5, 1.2), play (0.5, 1.5), REASAN nav §4.8).

  Returns:
    The :class:`dynamic_obstacles.DynamicObstacles`; inactive slots parked at z = -20 m.
  """
  n = shape.shape[0]
  num_active = num_active_from_level(level, True, n) if num_active is None else num_active
  k_r, k_x, k_z, k_y, k_s = jax.random.split(key, 5)
  theta, delta = ring_angles(num_active, n)
  r_max = RING_MAX0 + RING_LEVEL_SLOPE * jnp.asarray(level, jnp.float32)
  r = jax.random.uniform(k_r, (n,), minval=RING_MIN, maxval=r_max)
  u = jnp.stack([jnp.cos(theta), jnp.sin(theta)], -1)
  ub = jnp.stack([jnp.cos(theta + 2 * delta), jnp.sin(theta + 2 * delta)], -1)
  cross = jax.random.bernoulli(k_x, CROSS_PROB, (n,))
  a = robot_xy + r[:, None] * u
  b = robot_xy + r[:, None] * jnp.where(cross[:, None], -u, ub)
  active = (jnp.arange(n) < num_active) & ~jnp.asarray(no_obstacle)
  z = jax.random.uniform(k_z, (n,), minval=dyn.SPAWN_Z[0], maxval=dyn.SPAWN_Z[1])
  return dyn.DynamicObstacles(
      shape=shape, wp_a=a, wp_b=b, xy=a, z=jnp.where(active, z, dyn.PARK_Z),
      yaw=jax.random.uniform(k_y, (n,), minval=-jnp.pi, maxval=jnp.pi),
      speed=jax.random.uniform(k_s, (n,), minval=speed_range[0], maxval=speed_range[1]),
      active=active)


def step_nav(state: dyn.DynamicObstacles, key: jax.Array,
             speed_range: tuple[float, float] = dyn.SPEED_RANGE_TRAIN,
             dt: float = dyn.CONTROL_DT) -> dyn.DynamicObstacles:
  """One control step (REASAN nav §4.8): slots within 0.5 m (xy) of B swap A and B and resample
  their speed; then every slot moves ``speed * dt`` toward B (teleport; z, yaw unchanged).

  Args:
    state: current obstacles.
    key: PRNG key of the resampled speeds.
    speed_range: (min, max) m/s.
    dt: control step, s (0.02, REASAN nav §1.1).

  Returns:
    The moved obstacles.
  """
  near = jnp.linalg.norm(state.xy - state.wp_b, axis=-1) < dyn.RETARGET_RADIUS
  speed = jax.random.uniform(key, state.speed.shape, minval=speed_range[0],
                             maxval=speed_range[1])
  a = jnp.where(near[:, None], state.wp_b, state.wp_a)
  b = jnp.where(near[:, None], state.wp_a, state.wp_b)
  state = state.replace(wp_a=a, wp_b=b, speed=jnp.where(near, speed, state.speed))
  d = state.wp_b - state.xy
  u = d / (jnp.linalg.norm(d, axis=-1, keepdims=True) + 1e-6)
  return state.replace(xy=state.xy + u * (state.speed * dt)[:, None])
