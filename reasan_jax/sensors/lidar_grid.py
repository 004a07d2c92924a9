"""Mid-360 point cloud -> spherical grid (REASAN nav §7.4) and the estimator's histories (§8.2).

Per env and step (vmap for batches):

1. :func:`spherical_grid`: range ``d`` from the sensor origin, inf -> 10 m, clip [0, 10], plus
   U(+-0.1) m noise per point; point in the base frame ``p = mount + dir d`` (about the **base
   origin**, full body frame, the drift ignored: it acts as an extrinsic error); ``r = |p|``,
   elevation ``asin(p_z / (r + 1e-8))``, azimuth ``atan2(p_y, p_x)``; keep elevation in
   [-5, 55] deg and ``r < 3`` m; 2 deg bins (azimuth bin ``floor((phi + 180) / 2)``, elevation
   bin ``floor((theta + 5) / 2)``, clamped); each of the 30 x 180 cells holds the minimum ``r``
   of its points, 3.0 when empty. Azimuth bin j spans [-180 + 2j, -178 + 2j) deg, half a bin
   off the measure rays' azimuths ``-180 + 2j`` (REASAN nav §10 item 19, kept).
2. :class:`History`: 15-frame FIFOs of the grid (m), projected gravity + U(+-0.1) and body angular
   velocity (rad/s, unscaled) + U(+-0.1), oldest first, zero-filled at reset (REASAN nav §8.2),
   shifted by :func:`push` once per step.

The min-per-cell is one ``.at[].min`` scatter over a flat 5400-cell array; points that fail a cut
scatter the empty value 3.0, a no-op, so the shapes stay static and it vmaps.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct

from reasan_jax.sensors import mid360

GRID_SHAPE = (30, 180)
"""(elevation bins, azimuth bins) of the spherical grid (REASAN nav §7.4)."""
BIN = math.radians(2.0)
"""Bin width, rad (2 deg)."""
ELEVATION_MIN = math.radians(-5.0)
ELEVATION_MAX = math.radians(55.0)
"""Kept elevations [-5, 55] deg (REASAN nav §7.4)."""
GRID_RANGE = 3.0
"""Points with ``r < 3`` m are kept; empty cells read 3.0 (REASAN nav §7.4)."""
MISS_RANGE = 10.0
"""Misses read 10 m and ranges are clipped to [0, 10] (REASAN nav §7.4)."""
RANGE_NOISE = 0.1
"""Per-point range noise U(+-0.1) m (REASAN nav §7.4)."""
IMU_NOISE = 0.1
"""Noise U(+-0.1) on the gravity and angular-velocity history entries (REASAN nav §8.2)."""
HISTORY = 15
"""Frames in each history FIFO (REASAN nav §8.2; the estimator's H)."""


def points_to_grid(points: jax.Array) -> jax.Array:
  """(30, 180) grid of base-frame points (steps 3-6 of REASAN nav §7.4).

  Args:
    points: (N, 3) points in the base frame, m, about the base origin.

  Returns:
    (30, 180) float32 minimum ``r`` per (elevation, azimuth) cell in [0, 3), 3.0 where empty.
  """
  r = jnp.linalg.norm(points, axis=-1)
  elev = jnp.arcsin(jnp.clip(points[:, 2] / (r + 1e-8), -1.0, 1.0))
  azim = jnp.arctan2(points[:, 1], points[:, 0])
  keep = (elev >= ELEVATION_MIN) & (elev <= ELEVATION_MAX) & (r < GRID_RANGE)
  n_el, n_az = GRID_SHAPE
  ia = jnp.clip(jnp.floor((azim + jnp.pi) / BIN).astype(jnp.int32), 0, n_az - 1)
  ie = jnp.clip(jnp.floor((elev - ELEVATION_MIN) / BIN).astype(jnp.int32), 0, n_el - 1)
  flat = jnp.full((n_el * n_az,), GRID_RANGE, jnp.float32)
  flat = flat.at[ie * n_az + ia].min(jnp.where(keep, r, GRID_RANGE).astype(jnp.float32),
                                     mode="promise_in_bounds")
  return flat.reshape(GRID_SHAPE)


def spherical_grid(lengths: jax.Array, dirs: jax.Array, key: jax.Array | None = None,
                   mount=mid360.MOUNT_OFFSET, noise: float = RANGE_NOISE) -> jax.Array:
  """(30, 180) grid of one Mid-360 frame (REASAN nav §7.4, module docstring).

  Args:
    lengths: (R,) ray lengths from the sensor origin, m, inf on a miss
      (:func:`reasan_jax.sensors.mid360.cast`).
    dirs: (R, 3) sensor-frame (= base-frame) unit directions of the rays.
    key: PRNG key of the U(+-noise) range noise; None for none.
    mount: (3,) mount offset in the base frame, m (0.249, 0, 0.135).
    noise: range-noise half-width, m (0.1).
  """
  d = jnp.clip(jnp.where(jnp.isfinite(lengths), lengths, MISS_RANGE), 0.0, MISS_RANGE)
  if key is not None:
    d = d + jax.random.uniform(key, d.shape, minval=-noise, maxval=noise)
  return points_to_grid(jnp.asarray(mount, jnp.float32) + dirs * d[:, None])


@struct.dataclass
class History:
  """One env's estimator input histories (REASAN nav §8.2), oldest frame first.

  Attributes:
    grid: (H, 30, 180) float32 grids, m.
    gravity: (H, 3) projected gravity + U(+-0.1).
    ang_vel: (H, 3) body angular velocity, rad/s unscaled, + U(+-0.1).
  """

  grid: jax.Array
  gravity: jax.Array
  ang_vel: jax.Array

  @property
  def newest_grid(self) -> jax.Array:
    """(30, 180) the latest grid."""
    return self.grid[..., -1, :, :]


def empty_history(frames: int = HISTORY) -> History:
  """Zero-filled FIFOs of ``frames`` frames (REASAN nav §8.2: zeroed at reset)."""
  return History(grid=jnp.zeros((frames,) + GRID_SHAPE, jnp.float32),
                 gravity=jnp.zeros((frames, 3), jnp.float32),
                 ang_vel=jnp.zeros((frames, 3), jnp.float32))


def noisy_imu(key: jax.Array, gravity: jax.Array, ang_vel: jax.Array,
              noise: float = IMU_NOISE) -> tuple[jax.Array, jax.Array]:
  """``(gravity + U(+-noise), ang_vel + U(+-noise))`` (REASAN nav §8.2), fresh arrays (the
  physics state is not touched: REASAN nav §10 item 17)."""
  n = jax.random.uniform(key, (2, 3), minval=-noise, maxval=noise)
  return gravity + n[0], ang_vel + n[1]


def push(history: History, grid: jax.Array, gravity: jax.Array, ang_vel: jax.Array) -> History:
  """Drops the oldest frame and appends (grid (30, 180), gravity (3,), ang_vel (3,)) as newest."""
  def shift(a, x):
    return jnp.concatenate([a[1:], x[None].astype(a.dtype)], 0)
  return History(grid=shift(history.grid, grid), gravity=shift(history.gravity, gravity),
                 ang_vel=shift(history.ang_vel, ang_vel))


def estimator_inputs(history: History) -> tuple[jax.Array, jax.Array]:
  """``(grid / 3 (H, 30, 180), imu (H, 6) = [gravity, ang_vel])``: the estimator's input
  (REASAN nav §8.3, §8.6)."""
  return history.grid / GRID_RANGE, jnp.concatenate([history.gravity, history.ang_vel], -1)


__all__ = ["GRID_SHAPE", "HISTORY", "History", "empty_history", "estimator_inputs", "noisy_imu",
           "points_to_grid", "push", "spherical_grid"]
