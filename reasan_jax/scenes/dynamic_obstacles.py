"""REASAN's moving obstacles (REASAN filter §6.3) and the curriculum's active count (§7).

Pure functions over a :class:`DynamicObstacles` state of one env (vmap for batches), randomness
only through explicit keys:

* :func:`init_shapes` -- each slot's shape, drawn once per env at scene creation.
* :func:`reset` -- placement at an episode start (waypoints through the robot's start point).
* :func:`step` -- once per control step (0.02 s) before physics: re-target near B, then move.
* :func:`primitives` -- the obstacles as ray-cast / collision primitives with classes 1..J.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from reasan_jax.sensors import rays

NUM_SLOTS = 3
"""Obstacle slots per env in the filter task (REASAN filter §6.3; the nav task uses 9)."""

SHAPE_KIND = (rays.CYLINDER, rays.CYLINDER, rays.BOX, rays.BOX)
SHAPE_HALF_XY = (0.2, 0.3, 0.2, 0.25)
"""The 4 shapes (REASAN filter §6.3): cylinders r = 0.2 / 0.3 m, boxes 0.4 x 0.4 / 0.5 x 0.5 m
(half sides 0.2 / 0.25 m), all 1.5 m tall (half height 0.75 m), centred on the body origin."""
HALF_HEIGHT = 0.75

SPAWN_DISTANCE = (3.0, 4.0)
"""Reset distance r ~ U(3, 4) m of waypoint A from the robot (REASAN filter §6.3)."""
SPAWN_Z = (-0.25, 0.75)
"""Obstacle centre z ~ U(-0.25, 0.75) m, absolute (REASAN filter §6.3, §10 item 11)."""
PARK_Z = -20.0
"""Inactive / "no obstacle" slots are parked at z = -20 m and keep moving (REASAN filter §6.3)."""
RETARGET_RADIUS = 0.5
"""Within 0.5 m (xy) of B an obstacle re-targets (REASAN filter §6.3)."""
MIN_OFFSET = 2.0
"""The new offset B - A is at least 2 m long (REASAN filter §6.3)."""
SPEED_RANGE_TRAIN = (0.5, 1.2)
SPEED_RANGE_PLAY = (0.5, 1.5)
"""Speed ranges in m/s: train_filter.py default (0.5, 1.2); cfg / play default (0.5, 1.5)
(REASAN filter §6.3)."""
NO_OBSTACLE_PROB = 0.1
"""Probability of a "no obstacle" episode (random-command envs only; REASAN filter §5.2 step 8)."""
CONTROL_DT = 0.02


@struct.dataclass
class DynamicObstacles:
  """Moving obstacles of one env (J slots).

  Attributes:
    shape: (J,) int32 index into the 4 shapes (fixed per env).
    wp_a: (J, 2) waypoint A, world m.
    wp_b: (J, 2) waypoint B (current target), world m.
    xy: (J, 2) current centre, world m.
    z: (J,) centre height, m (``PARK_Z`` when inactive).
    yaw: (J,) yaw, rad (constant over the episode).
    speed: (J,) m/s.
    active: (J,) bool: slot index < active count and not a "no obstacle" episode.
  """

  shape: jax.Array
  wp_a: jax.Array
  wp_b: jax.Array
  xy: jax.Array
  z: jax.Array
  yaw: jax.Array
  speed: jax.Array
  active: jax.Array


def num_active_from_level(level: jax.Array, num_slots: int = NUM_SLOTS) -> jax.Array:
  """Active obstacles ``clip(floor(0.4 * level), 0, 3)``: levels 0-9 -> 0,0,0,1,1,2,2,2,3,3
  (REASAN filter §7). Play forces level 9."""
  return jnp.clip(jnp.floor(0.4 * jnp.asarray(level, jnp.float32)), 0, num_slots).astype(jnp.int32)


def sample_no_obstacle(key: jax.Array, random_command: jax.Array | bool = True) -> jax.Array:
  """() bool "no obstacle" episode flag: probability 0.1, random-command envs only
  (REASAN filter §5.2 step 8)."""
  return jax.random.bernoulli(key, NO_OBSTACLE_PROB) & jnp.asarray(random_command)


def init_shapes(key: jax.Array, num_slots: int = NUM_SLOTS) -> jax.Array:
  """(J,) int32 shape of each slot, uniform among the 4 shapes, once per env (REASAN filter §6.3)."""
  return jax.random.randint(key, (num_slots,), 0, len(SHAPE_KIND))


def _speed(key, n, speed_range):
  return jax.random.uniform(key, (n,), minval=speed_range[0], maxval=speed_range[1])


def reset(key: jax.Array, shape: jax.Array, robot_xy: jax.Array, num_active: jax.Array,
          no_obstacle: jax.Array | bool = False,
          speed_range: tuple[float, float] = SPEED_RANGE_TRAIN) -> DynamicObstacles:
  """Episode-start placement (REASAN filter §6.3).

  Per slot: ``theta ~ U(0, 2 pi)``, ``r ~ U(3, 4)`` m, ``A = robot + r (cos, sin)``,
  ``B = robot - r (cos, sin)``; start at A with ``z ~ U(-0.25, 0.75)`` m, yaw U(-pi, pi), speed
  U(speed_range). Slots with index >= ``num_active``, or all slots in a "no obstacle" episode, are
  parked at z = -20 m.

  Args:
    key: PRNG key.
    shape: (J,) slot shapes from :func:`init_shapes`.
    robot_xy: (2,) robot start position, world m.
    num_active: () active count (:func:`num_active_from_level`).
    no_obstacle: () bool "no obstacle" episode flag.
    speed_range: (min, max) speed in m/s (train (0.5, 1.2), play (0.5, 1.5)).

  Returns:
    The new :class:`DynamicObstacles`.
  """
  n = shape.shape[0]
  k_t, k_r, k_z, k_y, k_s = jax.random.split(key, 5)
  theta = jax.random.uniform(k_t, (n,), maxval=2 * jnp.pi)
  r = jax.random.uniform(k_r, (n,), minval=SPAWN_DISTANCE[0], maxval=SPAWN_DISTANCE[1])
  off = r[:, None] * jnp.stack([jnp.cos(theta), jnp.sin(theta)], -1)
  a, b = robot_xy + off, robot_xy - off
  active = (jnp.arange(n) < num_active) & ~jnp.asarray(no_obstacle)
  z = jax.random.uniform(k_z, (n,), minval=SPAWN_Z[0], maxval=SPAWN_Z[1])
  return DynamicObstacles(
      shape=shape, wp_a=a, wp_b=b, xy=a, z=jnp.where(active, z, PARK_Z),
      yaw=jax.random.uniform(k_y, (n,), minval=-jnp.pi, maxval=jnp.pi),
      speed=_speed(k_s, n, speed_range), active=active)


def retarget(state: DynamicObstacles, key: jax.Array, robot_xy: jax.Array,
             speed_range: tuple[float, float] = SPEED_RANGE_TRAIN) -> DynamicObstacles:
  """Re-targeting rule (REASAN filter §6.3 step 1), for slots within 0.5 m (xy) of B.

  ``A <- B``; ``delta = 2 (robot_xy - xy)`` rescaled to length >= 2 m (direction kept; a zero
  offset, the obstacle exactly on the robot, takes +x); ``B <- A + delta`` (the mirror point
  through the robot's current position); speed resampled.
  """
  near = jnp.linalg.norm(state.xy - state.wp_b, axis=-1) < RETARGET_RADIUS
  delta = 2.0 * (robot_xy - state.xy)
  length = jnp.linalg.norm(delta, axis=-1, keepdims=True)
  dirn = jnp.where(length > 0, delta / jnp.where(length > 0, length, 1.0), jnp.array([1.0, 0.0]))
  delta = dirn * jnp.maximum(length, MIN_OFFSET)
  new_a = state.wp_b
  new_b = new_a + delta
  speed = _speed(key, state.speed.shape[0], speed_range)
  sel = lambda x, y: jnp.where(near[:, None] if x.ndim == 2 else near, x, y)
  return state.replace(wp_a=sel(new_a, state.wp_a), wp_b=sel(new_b, state.wp_b),
                       speed=sel(speed, state.speed))


def step(state: DynamicObstacles, key: jax.Array, robot_xy: jax.Array,
         speed_range: tuple[float, float] = SPEED_RANGE_TRAIN,
         dt: float = CONTROL_DT) -> DynamicObstacles:
  """One control step of motion (REASAN filter §6.3): :func:`retarget`, then
  ``xy += unit(B - xy) * speed * dt`` (teleport; z and yaw unchanged; parked slots move too).

  Args:
    state: current obstacles.
    key: PRNG key for resampled speeds.
    robot_xy: (2,) robot position, world m.
    speed_range: (min, max) m/s.
    dt: control step, s (0.02, REASAN filter §1.1).

  Returns:
    The moved obstacles.
  """
  state = retarget(state, key, robot_xy, speed_range)
  d = state.wp_b - state.xy
  u = d / (jnp.linalg.norm(d, axis=-1, keepdims=True) + 1e-6)
  return state.replace(xy=state.xy + u * (state.speed * dt)[:, None])


def primitives(state: DynamicObstacles) -> rays.Primitives:
  """(J,) primitives of the obstacles with hit classes 1..J (REASAN filter §2.1 mesh ids)."""
  kind = jnp.asarray(SHAPE_KIND, jnp.int32)[state.shape]
  hxy = jnp.asarray(SHAPE_HALF_XY, jnp.float32)[state.shape]
  n = state.shape.shape[0]
  return rays.Primitives(
      center=jnp.concatenate([state.xy, state.z[:, None]], -1),
      cos_sin=jnp.stack([jnp.cos(state.yaw), jnp.sin(state.yaw)], -1),
      half=jnp.stack([hxy, hxy, jnp.full_like(hxy, HALF_HEIGHT)], -1),
      kind=kind, cls=jnp.arange(1, n + 1, dtype=jnp.int32), valid=jnp.ones((n,), bool),
      kinds=("box", "cylinder"))


def velocities(state: DynamicObstacles) -> jax.Array:
  """(J, 2) nominal velocities ``speed * unit(B - A)`` m/s for the TTC (REASAN filter §4.1)."""
  d = state.wp_b - state.wp_a
  return state.speed[:, None] * d / (jnp.linalg.norm(d, axis=-1, keepdims=True) + 1e-6)
