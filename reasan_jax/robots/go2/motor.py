"""REASAN's actuation: the loco action -> PD target map and the DC-motor actuator model
(``reasan-rl-core.md`` §13, IsaacLab <= 2.1 ``DCMotor``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from reasan_jax.robots.go2 import constants as c


def dc_motor_torque(
    target: jax.Array,
    q: jax.Array,
    qd: jax.Array,
    kp: jax.Array,
    kd: jax.Array,
    strength: jax.Array,
    torque_limit: float = c.TORQUE_LIMIT,
    velocity_limit: float = c.VELOCITY_LIMIT,
) -> jax.Array:
  """Joint torques of the randomised DC-motor PD actuator.

  ``tau_c = s * (kp * (target - q) - kd * qd)`` (strength scales before clipping), then the
  torque-speed clip ``tau_max = clip(T (1 - qd/v), 0, T)``, ``tau_min = clip(T (-1 - qd/v), -T, 0)``
  with ``T`` = ``torque_limit`` (saturation = effort limit) and ``v`` = ``velocity_limit``.

  Args:
    target, q: (..., 12) PD target and joint position, rad.
    qd: (..., 12) joint velocity, rad/s.
    kp, kd, strength: (..., 12) or scalars: N m/rad, N m s/rad, unitless.
    torque_limit: N m. velocity_limit: rad/s.

  Returns:
    (..., 12) applied torques, N m.
  """
  tau = strength * (kp * (target - q) - kd * qd)
  tau_max = jnp.clip(torque_limit * (1.0 - qd / velocity_limit), 0.0, torque_limit)
  tau_min = jnp.clip(torque_limit * (-1.0 - qd / velocity_limit), -torque_limit, 0.0)
  return jnp.clip(tau, tau_min, tau_max)


def joint_target(action: jax.Array, last_action: jax.Array, action_scale: jax.Array,
                 blend: float = c.ACTION_BLEND) -> jax.Array:
  """PD joint target of REASAN's loco action map (reasan-loco.md "Action", reasan-filter.md §1.4).

  ``default + scale * (blend * a_t + (1 - blend) * a_{t-1})``.

  Args:
    action, last_action: (12,) raw loco actions a_t, a_{t-1}, REASAN order.
    action_scale: (12,) rad per unit (:func:`action_scale`).
    blend: weight of a_t.

  Returns:
    (12,) joint target, rad, REASAN order.
  """
  blended = blend * action + (1.0 - blend) * last_action
  return jnp.asarray(c.DEFAULT_POSE_REASAN, jnp.float32) + action_scale * blended


def action_scale(scale: float = c.ACTION_SCALE, hip_scale: float = c.HIP_ACTION_SCALE) -> jax.Array:
  """(12,) float32 rad per action unit, REASAN order: ``scale``, times ``hip_scale`` on hips."""
  hips = np.array([1.0] * 4 + [0.0] * 8, np.float32)  # REASAN order: the first four are hips
  return jnp.asarray(scale * np.where(hips > 0, hip_scale, 1.0), jnp.float32)
