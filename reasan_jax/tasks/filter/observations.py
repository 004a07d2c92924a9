"""Observation pieces of the filter task (REASAN filter §1.3, §2); ``base_frame`` and
``ground_contacts`` (§5.1) are re-exported from :mod:`reasan_jax.tasks.common.body`.

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
from mujoco import mjx

from reasan_jax.sensors import pipeline
from reasan_jax.tasks.common.body import base_frame, noisy_imu
from reasan_jax.tasks.common.body import ground_contacts, lowest_points  # noqa: F401  (re-exported)

OBS_SIZES = {"proprio": (12,), "privileged": (6,), "rays": (180,), "critic_rays": (540,)}
"""Per-env shapes of the filter's observation groups (REASAN filter §2: 12 + 6 + 180 + 540 = 738)."""


def proprio(data: mjx.Data, command: jax.Array, last_action: jax.Array,
            obs: ml_collections.ConfigDict, key: jax.Array) -> jax.Array:
  """(12,) proprio group (REASAN filter §2 idx 0-11); noise only when ``obs.noise``.

  Args:
    data: physics state. command: (3,) user command. last_action: (3,) previous raw filter action.
    obs: ``env.obs`` (``ang_vel_scale``, ``noise``, ``noise_ang_vel``, ``noise_gravity``).
    key: PRNG key of the uniform noise.
  """
  return jnp.concatenate([noisy_imu(data, obs, key), command, last_action])


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
