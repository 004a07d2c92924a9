"""Simulated Livox Mid-360: scan pattern, per-env cursors, mount and 3-D casts (REASAN nav §7.3).

REASAN casts 6000 rays per 0.02 s control step from a stored non-repetitive pattern
(``mid360.npy``, (n, 2) float azimuth / elevation in radians, ~800,000 rows), each env reading
the next 6000 consecutive rows at its own cursor (start 6000, +6000 per step, wrapping). That file
is not public, so :func:`pattern_angles` generates one from the sensor's published figures, and
:func:`load_pattern` reads a user's file of REASAN's format instead.

**The generated pattern** (our own model; docs/deviations.md "Ray estimator"). Published figures
(Livox Mid-360 user manual v1.0 and Livox SDK notes): 360 deg horizontal, -7 deg .. +52 deg
vertical field of view, 200,000 points/s, 4 laser lines, non-repetitive scanning. Model: row
``k`` is fired at ``t = k / 200,000`` s by line ``c = k mod 4``; the head turns at
:data:`ROTATION_HZ` (10 rev/s, the sensor's nominal 10 Hz frame rate), line ``c`` looking
``c / 4`` of a turn ahead, so azimuth ``theta = 2 pi frac(10 t + c / 4)`` (wrapped to [-pi, pi));
each line sweeps the elevation up and down the field of view as a triangle wave of frequency
``10 Hz * SWEEP_RATIO`` (``SWEEP_RATIO = 89 + (sqrt 5 - 1) / 2``, irrational, so the pattern never
repeats and fills the field of view over time like the real sensor's), phase ``c / 4``:
``phi = -7 deg + 59 deg * tri(frac(f_el t + c / 4))``. One sweep (59 deg, ~28 rows of a line)
spans ~2 deg of azimuth, i.e. about one point per 2 x 2 deg grid bin per pass.
Coverage of the 2 x 2 deg bins of the field of view (-7 .. +51 deg, 29 x 180 bins) by consecutive
6000-row frames (``tests/test_mid360.py`` checks these figures): 1 frame 75-76 %, 5 frames
(0.1 s simulated) and 50 frames (1 s simulated) 100 %. Of the grid of REASAN nav §7.4
(-5 .. 55 deg) the bins above 52 deg are never hit.

**Rates**: REASAN takes 6000 rows per 0.02 s although the real sensor makes 4000, so the pattern
plays 1.5 x faster than its own time base (kept: REASAN nav §7.3).

**Sensor pose** (REASAN nav §7.1, §7.3): origin = base position + R (0.249, 0, 0.135) m + drift,
the drift U(+-0.03) m per axis in the world frame, resampled at each reset; directions rotated by
the full base orientation R (identity mount rotation).

**Cast** (:func:`cast`): against the env's static primitives near the robot, its dynamic
obstacles and the flat ground z = 0 (our filter world's ground is flat, so this is exact there;
REASAN's 1-3 cm height field is not modelled). Cost cut: the grid keeps points closer than 3 m to
the base origin after a range noise of at most 0.1 m (REASAN nav §7.4), so a hit farther than
:data:`CAST_RANGE` = 3.1 m from the base origin can never reach the grid; such hits are reported
as misses (inf) and only static primitives whose horizontal lower bound from the base is within
3.1 m are tested (``num_static`` nearest; the grid is exact while the returned count <= it).
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from reasan_jax.sensors import rays

MOUNT_OFFSET = (0.249, 0.0, 0.135)
"""Sensor position in the base frame, m; identity rotation (REASAN nav §7.3)."""
DRIFT = 0.03
"""Per-reset world-frame sensor position drift U(+-0.03) m per axis (REASAN nav §7.1)."""
RAYS_PER_FRAME = 6000
"""Rays per 0.02 s sensor update (REASAN nav §7.3)."""
CURSOR_START = 6000
"""REASAN's cursors start at row 6000; its initialisation consumes one frame (REASAN nav §7.3)."""
FIRST_FRAME_ROW = CURSOR_START + RAYS_PER_FRAME
"""Row of the first frame an episode step reads (12000, REASAN nav §7.3)."""
PATTERN_ROWS = 800_000
"""Rows of the generated pattern (REASAN's file holds ~800,000, REASAN nav §7.3)."""

POINT_RATE = 200_000.0
"""Points per second of the real sensor (Livox Mid-360 specifications)."""
NUM_LINES = 4
"""Laser lines of the Mid-360 (Livox)."""
ELEVATION_RANGE = (math.radians(-7.0), math.radians(52.0))
"""Vertical field of view, rad (Livox Mid-360 specifications; REASAN nav §7.3)."""
ROTATION_HZ = 10.0
"""Azimuth rotation of the generated pattern, rev/s (the sensor's nominal 10 Hz frame rate)."""
SWEEP_RATIO = 89.0 + (math.sqrt(5.0) - 1.0) / 2.0
"""Elevation sweeps per turn of the generated pattern (irrational: non-repetitive)."""

CAST_RANGE = 3.1
"""Hits farther than this from the base origin (m) cannot enter the grid (3 m cut + 0.1 m range
noise, REASAN nav §7.4) and are reported as misses."""
NUM_STATIC = 64
"""Static primitives tested per env: at most 49 boxes of REASAN's world lie within 3.1 m of any of
2000 random points and all spawn points (``tests/test_mid360.py`` checks <= 64 on random points)."""


class PatternError(ValueError):
  """A scan-pattern file that is not REASAN's format (the message names the file and the fix)."""


@struct.dataclass
class ScanPattern:
  """The scan pattern the sensor reads (closed over by the env; not per env).

  Attributes:
    table: (n, 2) float32 (azimuth, elevation) rad of a loaded file, or None for the generated
      pattern (evaluated analytically on the fly: no table in memory).
    num_rows: static n; cursors wrap modulo n.
    rays_per_frame: static rays per update (6000).
  """

  table: jax.Array | None = None
  num_rows: int = struct.field(pytree_node=False, default=PATTERN_ROWS)
  rays_per_frame: int = struct.field(pytree_node=False, default=RAYS_PER_FRAME)


def pattern_angles(rows) -> tuple[np.ndarray, np.ndarray]:
  """Azimuth and elevation (rad) of rows of the generated pattern (module docstring), host float64.

  Args:
    rows: int array of row indices >= 0.

  Returns:
    ``(azimuth in [-pi, pi), elevation in [-7 deg, 52 deg])``, float64 arrays shaped like ``rows``.
  """
  k = np.asarray(rows, np.int64)
  t = k / POINT_RATE
  line = (k % NUM_LINES) / NUM_LINES
  u = np.mod(ROTATION_HZ * t + line + 0.5, 1.0)
  az = 2.0 * np.pi * u - np.pi
  v = np.mod(ROTATION_HZ * SWEEP_RATIO * t + line, 1.0)
  tri = 1.0 - np.abs(2.0 * v - 1.0)
  lo, hi = ELEVATION_RANGE
  return az, lo + (hi - lo) * tri


_SPLIT = 4096


def _frac_mul(k: jax.Array, r: float) -> jax.Array:
  """``frac(k * r)`` in float32 without losing the fraction for large ``k`` (< 2**31):
  ``k = 4096 hi + lo``, ``frac(4096 r)`` exact on the host."""
  hi, lo = k // _SPLIT, k % _SPLIT
  r_hi = math.fmod(_SPLIT * r, 1.0)
  x = hi.astype(jnp.float32) * np.float32(r_hi) + lo.astype(jnp.float32) * np.float32(r)
  return x - jnp.floor(x)


def _device_angles(k: jax.Array) -> tuple[jax.Array, jax.Array]:
  """:func:`pattern_angles` on device in float32 (agrees to ~1e-4 rad)."""
  line = (k % NUM_LINES).astype(jnp.float32) / NUM_LINES
  u = _frac_mul(k, ROTATION_HZ / POINT_RATE) + line + 0.5
  az = 2.0 * jnp.pi * (u - jnp.floor(u)) - jnp.pi
  v = _frac_mul(k, ROTATION_HZ * SWEEP_RATIO / POINT_RATE) + line
  tri = 1.0 - jnp.abs(2.0 * (v - jnp.floor(v)) - 1.0)
  lo, hi = ELEVATION_RANGE
  return az, lo + (hi - lo) * tri


def generate_pattern(num_rows: int = PATTERN_ROWS) -> np.ndarray:
  """(num_rows, 2) float32 table of the generated pattern in REASAN's ``mid360.npy`` format
  (column 0 azimuth, column 1 elevation, rad), e.g. to save with ``np.save``."""
  az, el = pattern_angles(np.arange(int(num_rows)))
  return np.stack([az, el], -1).astype(np.float32)


def load_pattern(path: str | os.PathLike, rays_per_frame: int = RAYS_PER_FRAME) -> ScanPattern:
  """A user's scan-pattern file of REASAN's format (``mid360.npy``, REASAN nav §7.3).

  Args:
    path: a ``.npy`` file holding an (n, 2) float array: azimuth, elevation in radians.
    rays_per_frame: rays per update (6000); the file needs at least that many rows.

  Raises:
    PatternError: the file is missing or unreadable, not (n, 2), not finite floats, too short,
      or its angles are out of range (degrees instead of radians).
  """
  name = os.fspath(path)
  if not os.path.isfile(name):
    raise PatternError(f"Scan-pattern file {name} does not exist; pass REASAN's mid360.npy or "
                       "leave the setting empty for the generated pattern.")
  try:
    table = np.load(name, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise PatternError(f"Scan-pattern file {name} is not a readable .npy array ({e}); save an "
                       "(n, 2) float array of azimuth, elevation in radians with np.save.") from e
  if table.ndim != 2 or table.shape[1] != 2 or not np.issubdtype(table.dtype, np.floating):
    raise PatternError(f"Scan-pattern file {name} holds a {table.dtype} array of shape "
                       f"{table.shape}, but REASAN's format is (n, 2) floats: azimuth, elevation "
                       "in radians.")
  if table.shape[0] < rays_per_frame:
    raise PatternError(f"Scan-pattern file {name} has {table.shape[0]} rows, fewer than the "
                       f"{rays_per_frame} rays of one frame; pass the full pattern.")
  if not np.all(np.isfinite(table)):
    raise PatternError(f"Scan-pattern file {name} contains NaN or infinite angles; regenerate it.")
  if np.max(np.abs(table[:, 1])) > np.pi / 2 + 1e-6 or np.max(np.abs(table[:, 0])) > 4 * np.pi:
    raise PatternError(f"Scan-pattern file {name} has angles beyond +-90 deg elevation or +-720 "
                       "deg azimuth; the format is radians, so convert degrees with np.deg2rad.")
  return ScanPattern(table=jnp.asarray(table, jnp.float32), num_rows=int(table.shape[0]),
                     rays_per_frame=int(rays_per_frame))


def make_pattern(path: str | os.PathLike | None = "") -> ScanPattern:
  """The generated pattern for an empty ``path``, else :func:`load_pattern` of it."""
  return ScanPattern() if not path else load_pattern(path)


def frame_angles(pattern: ScanPattern, cursor: jax.Array) -> jax.Array:
  """(R, 2) (azimuth, elevation) rad of the frame of rows ``cursor .. cursor + R - 1`` (wrapping).

  Args:
    pattern: the scan pattern. cursor: () int32 first row of the frame.
  """
  k = (jnp.asarray(cursor, jnp.int32) + jnp.arange(pattern.rays_per_frame, dtype=jnp.int32))
  k = k % pattern.num_rows
  if pattern.table is not None:
    return pattern.table[k]
  az, el = _device_angles(k)
  return jnp.stack([az, el], -1)


def directions(angles: jax.Array) -> jax.Array:
  """(R, 3) sensor-frame unit directions ``(cos el cos az, cos el sin az, sin el)`` of (R, 2)
  angles (REASAN nav §7.3)."""
  az, el = angles[..., 0], angles[..., 1]
  return jnp.stack([jnp.cos(el) * jnp.cos(az), jnp.cos(el) * jnp.sin(az), jnp.sin(el)], -1)


def advance(pattern: ScanPattern, cursor: jax.Array) -> jax.Array:
  """() int32 cursor of the next frame: ``(cursor + R) mod n`` (REASAN nav §7.3)."""
  return (jnp.asarray(cursor, jnp.int32) + pattern.rays_per_frame) % pattern.num_rows


def first_cursor(pattern: ScanPattern) -> jax.Array:
  """() int32 cursor of an env's first cast: row 12000 (mod n), REASAN nav §7.3."""
  return jnp.asarray(FIRST_FRAME_ROW % pattern.num_rows, jnp.int32)


def sample_drift(key: jax.Array, scale: float = DRIFT) -> jax.Array:
  """(3,) world-frame position drift U(+-scale) m per axis, drawn at each reset (REASAN nav §7.1)."""
  return jax.random.uniform(key, (3,), minval=-scale, maxval=scale)


def sensor_origin(base_pos: jax.Array, rot: jax.Array, drift: jax.Array,
                  mount=MOUNT_OFFSET) -> jax.Array:
  """(3,) world sensor origin = base position + R mount + drift (REASAN nav §7.1, §7.3).

  Args:
    base_pos: (3,) base origin, world m. rot: (3, 3) base rotation, body -> world.
    drift: (3,) world-frame drift, m. mount: (3,) mount offset in the base frame, m.
  """
  return base_pos + rot @ jnp.asarray(mount, jnp.float32) + drift


def cast(dirs: jax.Array, base_pos: jax.Array, rot: jax.Array, drift: jax.Array,
         prim_sets, cut: float = CAST_RANGE, mount=MOUNT_OFFSET) -> jax.Array:
  """Ray lengths of one env's Mid-360 frame (module docstring "Cast").

  Args:
    dirs: (R, 3) sensor-frame unit directions (:func:`directions` of :func:`frame_angles`).
    base_pos: (3,) base origin, world m. rot: (3, 3) base rotation, body -> world.
    drift: (3,) sensor drift, world m.
    prim_sets: primitive sets to hit (e.g. the culled static and the dynamic obstacles, as
      :class:`reasan_jax.sensors.rays.Primitives`; None entries are skipped). The ground z = 0
      is always included.
    cut: hits farther than ``cut`` m from the base origin read as misses (3.1 m).
    mount: mount offset in the base frame, m.

  Returns:
    (R,) float32 length in m from the sensor origin to the hit along each ray, inf on a miss.
  """
  origin = sensor_origin(base_pos, rot, drift, mount)
  world_dirs = dirs @ rot.T
  length = rays.ground_lengths(jnp.broadcast_to(origin, world_dirs.shape), world_dirs)
  for prims in prim_sets:  # a handful of sets
    if prims is not None:
      length = jnp.minimum(length, rays.point_cast_lengths(origin, world_dirs, prims))
  hit = origin + jnp.where(jnp.isfinite(length), length, 0.0)[:, None] * world_dirs
  far = jnp.linalg.norm(hit - base_pos, axis=-1) > cut
  return jnp.where(jnp.isfinite(length) & ~far, length, jnp.inf)


def coverage(angles: np.ndarray, elevation_range=(-7.0, 51.0), bin_deg: float = 2.0) -> float:
  """Fraction of the 2 x 2 deg (azimuth x elevation) bins of ``elevation_range`` (deg) hit by at
  least one of ``angles`` (N, 2) rad (host; the pattern's documented coverage figures)."""
  az = np.degrees(np.asarray(angles[:, 0], np.float64))
  el = np.degrees(np.asarray(angles[:, 1], np.float64))
  lo, hi = elevation_range
  n_el = int(round((hi - lo) / bin_deg))
  keep = (el >= lo) & (el < hi)
  ia = np.clip(np.floor((np.mod(az + 180.0, 360.0)) / bin_deg).astype(int), 0, int(360 / bin_deg) - 1)
  ie = np.clip(np.floor((el - lo) / bin_deg).astype(int), 0, n_el - 1)
  hit = np.zeros((n_el, int(360 / bin_deg)), bool)
  hit[ie[keep], ia[keep]] = True
  return float(hit.mean())


__all__ = ["CAST_RANGE", "DRIFT", "FIRST_FRAME_ROW", "MOUNT_OFFSET", "NUM_STATIC", "PatternError",
           "RAYS_PER_FRAME", "ScanPattern", "advance", "cast", "coverage", "directions",
           "first_cursor", "frame_angles", "generate_pattern", "load_pattern", "make_pattern",
           "pattern_angles", "sample_drift", "sensor_origin"]
