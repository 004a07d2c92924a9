"""Small rotation helpers on MuJoCo quaternions (w, x, y, z)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def quat_to_mat(q: jax.Array) -> jax.Array:
  """Rotation matrix (3, 3) of a unit quaternion ``q`` (4,) in (w, x, y, z) order, body -> world."""
  w, x, y, z = q[0], q[1], q[2], q[3]
  return jnp.array([
      [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
      [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
      [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
  ])


def yaw_quat(yaw: jax.Array) -> jax.Array:
  """Quaternion (4,) of a rotation by ``yaw`` rad about world z."""
  return jnp.array([jnp.cos(yaw / 2), 0.0, 0.0, jnp.sin(yaw / 2)])


def yaw_of_quat(q: jax.Array) -> jax.Array:
  """Heading (rad) of quaternion ``q`` (4,), (w, x, y, z)."""
  w, x, y, z = q[0], q[1], q[2], q[3]
  return jnp.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
