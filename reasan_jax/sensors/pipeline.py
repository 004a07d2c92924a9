"""One env's sensing per control step: cull, ray cast, ray features, TTC, obstacle contacts.

This is the entry point the filter / nav envs call (vmap it over envs); it strings together
:mod:`reasan_jax.scenes.obstacles` (static world), :mod:`reasan_jax.scenes.dynamic_obstacles`,
:mod:`reasan_jax.sensors.rays`, :mod:`reasan_jax.sensors.features` and
:mod:`reasan_jax.sensors.collisions`, in REASAN's order of the observation step (REASAN filter
§1.1b item 9: ray cast, actor / critic rays, then per-azimuth classes and TTC).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from reasan_jax.scenes import dynamic_obstacles as dyn
from reasan_jax.scenes import obstacles
from reasan_jax.sensors import collisions, features, rays


CONTACT_RADIUS = 1.0
"""m: range of the contact cull around the base (an undesired collision geom of the Go2 reaches
about 0.45 m from the base origin horizontally; 1 m leaves room, and with the REASAN world's
1.8 m cells and 1.68 m reach it gathers the 3 x 3 cells around the robot)."""


@dataclasses.dataclass(frozen=True)
class SensorConfig:
  """Static sensing settings.

  Attributes:
    num_static: static primitives kept by the cull (``k`` of ``lax.top_k``). 192 covers REASAN's
      density: 130-167 boxes (median 149) lie within 6.45 m of a random point of the world
      (``tests/test_obstacle_worlds.py`` checks ``<= 192`` on 64 random points).
    num_near: culled primitives tested against all 180 azimuths (windowed cast).
    window: azimuths tested per farther primitive (odd; see ``rays.cast_measure``).
    num_centers: ray centres, 1 (train) or 11 (play) (REASAN filter §2.1).
    num_contact: nearest static primitives tested for contacts (an undesired geom reaches at
      most ~0.45 m from the base origin horizontally; at REASAN's density about 2 boxes have a
      lower bound below 0.5 m).
    max_range: ray clip in m (6, REASAN filter §2.1).
    actor_noise: actor-ray noise half-width (0.05 in training, 0 in play; REASAN filter §2.2).
  """

  num_static: int = 192
  num_near: int = 32
  window: int = 9
  num_centers: int = 1
  num_contact: int = 8
  max_range: float = rays.MAX_RANGE
  actor_noise: float = features.ACTOR_NOISE


@struct.dataclass
class Sensing:
  """Outputs of :func:`sense` for one env.

  Attributes:
    scan: the :class:`reasan_jax.sensors.rays.Scan` ((C * 3, 180) distances in m and classes).
    actor_rays: (180,) actor rays (noisy when a key was given), REASAN filter §2.2.
    gt_rays: (180,) ground-truth rays.
    critic_rays: (540,) critic rays.
    min_distance: (180,) per-azimuth minimum distance, m.
    min_class: (180,) class of that minimum.
    ttc: (180,) time-to-collision field, s (REASAN filter §4.1).
    contacts: (B,) bool per undesired body touching an obstacle (REASAN filter §5.1); empty
      when no robot shapes were given.
    cull_count: () number of static primitives in range (exact cull iff <= num_static).
  """

  scan: rays.Scan
  actor_rays: jax.Array
  gt_rays: jax.Array
  critic_rays: jax.Array
  min_distance: jax.Array
  min_class: jax.Array
  ttc: jax.Array
  contacts: jax.Array
  cull_count: jax.Array


def sense(cfg: SensorConfig, world: obstacles.StaticWorld,
          dynamic: dyn.DynamicObstacles | None, base_pos: jax.Array, yaw: jax.Array,
          v_body_xy: jax.Array, key: jax.Array | None = None,
          shapes: collisions.RobotShapes | None = None, geom_xpos: jax.Array | None = None,
          geom_xmat: jax.Array | None = None) -> Sensing:
  """Sensing of one env at one control step.

  Args:
    cfg: static settings.
    world: the static world (shared by all envs: close over it or pass it unbatched).
    dynamic: this env's moving obstacles, or None (static-only training).
    base_pos: (3,) base origin, world m.
    yaw: () base yaw, rad.
    v_body_xy: (2,) base linear velocity (body frame, m/s) for the TTC.
    key: PRNG key of the actor-ray noise; None for noise-free rays.
    shapes, geom_xpos, geom_xmat: robot collision primitives (:func:`collisions.robot_shapes`)
      and this env's ``mjx.Data.geom_xpos`` (ngeom, 3) / ``geom_xmat`` (ngeom, 3, 3); omit all
      three to skip contacts.

  Returns:
    The :class:`Sensing`.
  """
  radius = cfg.max_range + max(abs(v) for xy in rays.CENTER_OFFSETS[cfg.num_centers] for v in xy)
  # Only the densely cast (and contact-tested) leading entries need the nearest-first order.
  num_sorted = max(cfg.num_near, cfg.num_contact if shapes is not None else 0)
  static, count = obstacles.nearby_static(world, base_pos[:2], cfg.num_static, radius,
                                          num_sorted if 2 * num_sorted <= cfg.num_static else None)
  dprims = None if dynamic is None else dyn.primitives(dynamic)
  scan = rays.cast_measure(base_pos, yaw, static, dprims, cfg.num_centers, cfg.max_range,
                           num_near=cfg.num_near, window=cfg.window)
  d, c = features.per_azimuth_min(scan.distance, scan.cls)
  ovel = None if dynamic is None else dyn.velocities(dynamic)
  ttc = features.ttc_field(d, c, v_body_xy, yaw, ovel)
  if shapes is not None:
    near = jax.tree.map(lambda a: a[:cfg.num_contact], static)
    near = near if dprims is None else rays.concat([near, dprims])
    contacts = collisions.body_contacts(shapes, geom_xpos, geom_xmat, near)
  else:
    contacts = jnp.zeros((0,), bool)
  return Sensing(
      scan=scan,
      actor_rays=features.actor_rays(scan.distance, key, cfg.actor_noise),
      gt_rays=features.gt_rays(scan.distance), critic_rays=features.critic_rays(scan.distance),
      min_distance=d, min_class=c, ttc=ttc, contacts=contacts, cull_count=count)
