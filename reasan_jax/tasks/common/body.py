"""Base-frame quantities, analytic ground contacts, termination and pushes of the Go2 tasks that
sense obstacles (REASAN filter §2, §5.1, §6.5; REASAN nav §2, §3.3-3.4)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from mujoco import mjx

from reasan_jax.core import spatial
from reasan_jax.robots.go2 import sim as go2_sim
from reasan_jax.sensors import collisions


def base_frame(data: mjx.Data) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """``(rot (3, 3) body->world, gravity (3,) body frame, lin_vel (3,) body m/s, ang_vel (3,) body
  rad/s)`` of the base (MuJoCo's free-joint angular velocity is already in the body frame)."""
  rot = spatial.quat_to_mat(data.qpos[3:7])
  return rot, go2_sim.projected_gravity(rot), rot.T @ data.qvel[:3], data.qvel[3:6]


def lowest_points(shapes: collisions.RobotShapes, geom_xpos: jax.Array,
                  geom_xmat: jax.Array) -> jax.Array:
  """(G,) lowest world z (m) of each undesired collision geom: sphere ``z - r``; capsule
  ``z - |axis_z| h - r``; box ``z - sum_i |R_zi| half_i``."""
  ids = shapes.geom_ids
  pos = geom_xpos[ids]
  mats = geom_xmat.reshape(-1, 3, 3)[ids]
  size = jnp.asarray(shapes.size)
  kind = np.asarray(shapes.kind)
  rz = jnp.abs(mats[:, 2, :])  # |R_z.| (G, 3)
  sphere = pos[:, 2] - size[:, 0]
  capsule = pos[:, 2] - rz[:, 2] * size[:, 1] - size[:, 0]
  box = pos[:, 2] - jnp.sum(rz * size, axis=-1)
  return jnp.where(kind == collisions.SPHERE, sphere,
                   jnp.where(kind == collisions.CAPSULE, capsule, box))


def ground_contacts(shapes: collisions.RobotShapes, geom_xpos: jax.Array, geom_xmat: jax.Array,
                    tol: float = 1e-3) -> jax.Array:
  """(B,) bool: undesired body b reaches the flat ground z = 0 (lowest point <= ``tol`` m).

  The analytic counterpart, for the ground, of :func:`reasan_jax.sensors.collisions.body_contacts`
  (REASAN filter §5.1, REASAN nav §3.4: contacts with the ground count as with obstacles); MJX
  keeps only the feet-ground contacts.
  """
  low = lowest_points(shapes, geom_xpos, geom_xmat) <= tol
  out = jnp.zeros((len(shapes.body_names),), bool)
  return out.at[jnp.asarray(shapes.body)].max(low)


def died(base_hits: jax.Array, gravity: jax.Array, bodies: jax.Array,
         gravity_z: float) -> jax.Array:
  """() bool termination (REASAN filter §5.1, REASAN nav §3.4): a base contact in the last 3
  physics sub-steps (``base_hits`` (S,)), tilt ``gravity_z`` exceeded (projected gravity z >
  -0.75, ~41.4 deg), or any undesired body (``bodies`` () count) touching something."""
  return jnp.any(base_hits[-3:]) | (gravity[2] > gravity_z) | (bodies > 0)


def push(data: mjx.Data, step: jax.Array, key: jax.Array, randomization: ml_collections.ConfigDict,
         dt: float) -> mjx.Data:
  """The interval push: every ``push_interval`` s (5) of episode time add U(+-push_velocity)
  (1 m/s) to the world x and y base velocity, when ``randomization.pushes`` (REASAN filter §6.5,
  REASAN nav §3.3; training only)."""
  every = max(int(round(randomization.push_interval / dt)), 1)
  on = (step % every == 0) & bool(randomization.pushes)
  v = randomization.push_velocity
  kick = jax.random.uniform(key, (2,), minval=-v, maxval=v)
  return data.replace(qvel=data.qvel.at[:2].add(jnp.where(on, kick, 0.0)))


def noisy_imu(data: mjx.Data, obs: ml_collections.ConfigDict, key: jax.Array) -> jax.Array:
  """(6,) ``[w_b x ang_vel_scale + U(+-noise_ang_vel), g_b + U(+-noise_gravity)]``, the head of
  the filter's and the nav policy's proprio groups (REASAN filter §2, REASAN nav §2; 0.25, 0.2,
  0.05); noise only when ``obs.noise``."""
  _, gravity, _, ang = base_frame(data)
  level = jnp.concatenate([jnp.full(3, obs.noise_ang_vel), jnp.full(3, obs.noise_gravity)])
  noise = jax.random.uniform(key, (6,), minval=-1.0, maxval=1.0) * level * float(obs.noise)
  return jnp.concatenate([ang * obs.ang_vel_scale, gravity]) + noise


def obstacle_contacts(shapes: collisions.RobotShapes, data: mjx.Data, world, num_contact: int,
                      dynamic=None) -> jax.Array:
  """(B,) bool: undesired body touching a static or dynamic obstacle (REASAN filter §5.1,
  REASAN nav §3.4), shared by the filter and nav envs.

  The static primitives are the ``num_contact`` nearest (lower-bound distance) within
  :data:`reasan_jax.sensors.pipeline.CONTACT_RADIUS` of the base: a small cull of its own (a
  3 x 3 cell disk in the filter world, a few bins in the nav world), not the ray cast's 6 m one.
  It is exact while at most ``num_contact`` primitives come within an undesired geom's reach
  (~0.45 m from the base origin horizontally).

  Args:
    shapes: :func:`reasan_jax.sensors.collisions.robot_shapes`. data: the physics state.
    world: the :class:`reasan_jax.scenes.obstacles.StaticWorld`. num_contact: static int k.
    dynamic: this env's :class:`reasan_jax.scenes.dynamic_obstacles.DynamicObstacles`, or None.
  """
  # pylint: disable=import-outside-toplevel
  from reasan_jax.scenes import dynamic_obstacles as dyn
  from reasan_jax.scenes import obstacles
  from reasan_jax.sensors import pipeline, rays

  near, _ = obstacles.nearby_static(world, data.qpos[:2], num_contact, pipeline.CONTACT_RADIUS)
  prims = near if dynamic is None else rays.concat([near, dyn.primitives(dynamic)])
  return collisions.body_contacts(shapes, data.geom_xpos, data.geom_xmat, prims)
