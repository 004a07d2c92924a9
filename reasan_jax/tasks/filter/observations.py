"""Observation pieces of the filter task (REASAN filter §1.3, §2) and ground contacts (§5.1).

Groups (per env, no batch axis):

* ``proprio`` (12,): base angular velocity (body frame) x 0.25 + U(+-0.2), projected gravity
  + U(+-0.05), the user command (raw m/s, m/s, rad/s), the previous raw filter action.
* ``privileged`` (6,): base linear velocity (body frame, m/s), 3 zeros (REASAN filter §2 idx 12-17).
* ``rays`` (180,): actor rays in about [-0.05, 1.05] (§2.2; noisy centre-0 rays in training, the
  noise-free min over all centres with ``obs.actor_rays = "gt"``).
* ``critic_rays`` (540,): centre-0 distances / 6, layer-major (§2.2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from mujoco import mjx

from reasan_jax.core import spatial
from reasan_jax.robots.go2 import sim as go2_sim
from reasan_jax.sensors import collisions, pipeline

OBS_SIZES = {"proprio": (12,), "privileged": (6,), "rays": (180,), "critic_rays": (540,)}
"""Per-env shapes of the filter's observation groups (REASAN filter §2: 12 + 6 + 180 + 540 = 738)."""


def base_frame(data: mjx.Data) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
  """``(rot (3, 3) body->world, gravity (3,) body frame, lin_vel (3,) body m/s, ang_vel (3,) body
  rad/s)`` of the base (MuJoCo's free-joint angular velocity is already in the body frame)."""
  rot = spatial.quat_to_mat(data.qpos[3:7])
  return rot, go2_sim.projected_gravity(rot), rot.T @ data.qvel[:3], data.qvel[3:6]


def proprio(data: mjx.Data, command: jax.Array, last_action: jax.Array,
            obs: ml_collections.ConfigDict, key: jax.Array) -> jax.Array:
  """(12,) proprio group (REASAN filter §2 idx 0-11); noise only when ``obs.noise``.

  Args:
    data: physics state. command: (3,) user command. last_action: (3,) previous raw filter action.
    obs: ``env.obs`` (``ang_vel_scale``, ``noise``, ``noise_ang_vel``, ``noise_gravity``).
    key: PRNG key of the uniform noise.
  """
  _, gravity, _, ang = base_frame(data)
  level = jnp.concatenate([jnp.full(3, obs.noise_ang_vel), jnp.full(3, obs.noise_gravity)])
  noise = jax.random.uniform(key, (6,), minval=-1.0, maxval=1.0) * level * float(obs.noise)
  head = jnp.concatenate([ang * obs.ang_vel_scale, gravity]) + noise
  return jnp.concatenate([head, command, last_action])


def privileged(data: mjx.Data) -> jax.Array:
  """(6,) critic-only group: base linear velocity in the body frame (m/s) and 3 zeros (§2)."""
  _, _, lin, _ = base_frame(data)
  return jnp.concatenate([lin, jnp.zeros(3)])


def observe(data: mjx.Data, command: jax.Array, last_action: jax.Array, sensing: pipeline.Sensing,
            obs: ml_collections.ConfigDict, key: jax.Array) -> dict[str, jax.Array]:
  """All four groups of :data:`OBS_SIZES` from the state and this step's sensing.

  ``obs.actor_rays``: ``"centre"`` (training: centre-0 rays, noisy when ``obs.noise``) or ``"gt"``
  (evaluation: noise-free min over every ray centre, REASAN filter §2.2 / §10 item 3).
  """
  rays = sensing.gt_rays if obs.actor_rays == "gt" else sensing.actor_rays
  return {"proprio": proprio(data, command, last_action, obs, key),
          "privileged": privileged(data), "rays": rays, "critic_rays": sensing.critic_rays}


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
  (REASAN filter §5.1: contacts with the ground count as with obstacles); MJX keeps only the
  feet-ground contacts.
  """
  low = lowest_points(shapes, geom_xpos, geom_xmat) <= tol
  out = jnp.zeros((len(shapes.body_names),), bool)
  return out.at[jnp.asarray(shapes.body)].max(low)
