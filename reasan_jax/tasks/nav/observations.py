"""The nav observation (REASAN nav §2): 736 floats in four named groups.

Groups (per env, no batch axis; REASAN's flat indices in brackets):

* ``proprio`` (11,) [0, 11): base angular velocity (body frame) x 0.25 + U(+-0.2), projected
  gravity + U(+-0.05), the goal position relative to the base in the **yaw** frame (x, y; m,
  unclipped, no noise), the current nav action a_t (raw).
* ``privileged`` (5,) [11, 16), critic only: base linear velocity (body frame, m/s), the guide
  vector (unit or zero) in the **world** frame (REASAN nav §10 item 7, kept).
* ``rays`` (180,) [16, 196): actor rays (training: noisy centre-0 rays; ``"gt"``: noise-free min
  over all centres).
* ``critic_rays`` (540,) [196, 736): centre-0 distances / 6, height-major.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from mujoco import mjx

from reasan_jax.core import spatial
from reasan_jax.sensors import pipeline
from reasan_jax.tasks.common.body import base_frame, noisy_imu

OBS_SIZES = {"proprio": (11,), "privileged": (5,), "rays": (180,), "critic_rays": (540,)}
"""Per-env shapes of the nav observation groups (REASAN nav §2: 11 + 5 + 180 + 540 = 736)."""


def goal_in_yaw_frame(base_pos: jax.Array, quat: jax.Array, goal_xy: jax.Array) -> jax.Array:
  """(2,) ``R_yaw(base)^-1 (goal - p_base)``, xy (m): the goal in the yaw frame (REASAN nav §1.3
  item 2; roll and pitch ignored)."""
  yaw = spatial.yaw_of_quat(quat)
  dx, dy = goal_xy[0] - base_pos[0], goal_xy[1] - base_pos[1]
  c, s = jnp.cos(yaw), jnp.sin(yaw)
  return jnp.stack([c * dx + s * dy, -s * dx + c * dy])


def proprio(data: mjx.Data, goal_b: jax.Array, action: jax.Array,
            obs: ml_collections.ConfigDict, key: jax.Array) -> jax.Array:
  """(11,) ``[0.25 w_b + U(+-0.2), g_b + U(+-0.05), goal_b (2), a_t (3)]`` (noise only when
  ``obs.noise``; REASAN nav §2 idx 0-10)."""
  return jnp.concatenate([noisy_imu(data, obs, key), goal_b, action])


def privileged(data: mjx.Data, guide: jax.Array) -> jax.Array:
  """(5,) ``[v_b (3) m/s, guide (2) world frame]`` (REASAN nav §2 idx 11-15)."""
  _, _, lin, _ = base_frame(data)
  return jnp.concatenate([lin, guide])


def observe(data: mjx.Data, goal_b: jax.Array, action: jax.Array, guide: jax.Array,
            sensing: pipeline.Sensing, obs: ml_collections.ConfigDict,
            key: jax.Array) -> dict[str, jax.Array]:
  """All four groups of :data:`OBS_SIZES`.

  Args:
    data: physics state. goal_b: (2,) goal in the yaw frame, m. action: (3,) the nav action a_t.
    guide: (2,) world-frame guide vector. sensing: this state's sensing.
    obs: ``env.obs`` (``actor_rays`` ``"centre"`` or ``"gt"``). key: PRNG key of the noise.
  """
  rays = sensing.gt_rays if obs.actor_rays == "gt" else sensing.actor_rays
  return {"proprio": proprio(data, goal_b, action, obs, key),
          "privileged": privileged(data, guide), "rays": rays,
          "critic_rays": sensing.critic_rays}
