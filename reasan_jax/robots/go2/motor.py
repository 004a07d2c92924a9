"""REASAN's DC-motor actuator model (``reasan-rl-core.md`` §13, IsaacLab <= 2.1 ``DCMotor``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def dc_motor_torque(
    target: jax.Array,
    q: jax.Array,
    qd: jax.Array,
    kp: jax.Array,
    kd: jax.Array,
    strength: jax.Array,
    torque_limit: float = 23.5,
    velocity_limit: float = 30.0,
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
