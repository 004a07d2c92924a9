"""REASAN's rough training terrain as a MuJoCo height field, plus a JAX height lookup.

The loco task trains on one sub-terrain type, IsaacLab's random-uniform height field
(reasan-rl-core.md §15):

* a grid of ``num_rows x num_cols`` square cells of ``cell_size`` m (10 x 20 x 8 m by default),
  rows along world x, columns along world y, the whole grid centred on the world origin;
* horizontal scale 0.1 m; inside every cell each vertex is an i.i.d. uniform draw from
  ``{0.01, 0.02, 0.03}`` m (``noise_range=(0.01, 0.03)``, ``noise_step=0.01``), except the outer
  ``floor(border_width / hscale) + 1`` = 2 vertices on each side of the cell, which are 0;
* a flat (z = 0) border of ``border`` m (20 m) around the grid;
* cell (r, c) centre ``((r + 0.5) * cell - rows * cell / 2, (c + 0.5) * cell - cols * cell / 2)``
  and origin z = the maximum height in the central 2 x 2 m window (cell-local vertex indices
  30..49 for an 8 m cell), so almost surely 0.03 m.

Array / MuJoCo hfield convention (verified in tests/test_go2_model.py with ``mj_ray`` and with
``height_at``):

* ``Terrain.heights[iy, ix]`` is the height in metres of the vertex at world
  ``(x0 + ix * hscale, y0 + iy * hscale)`` with ``(x0, y0) = Terrain.origin_xy`` — the first
  (row) index runs along **y**, the second (column) index along **x**. This is MuJoCo's hfield
  layout: ``hfield_nrow = ny`` rows along y, ``hfield_ncol = nx`` columns along x, data row-major.
* The hfield is placed by ``reasan_jax.robots.go2.load_model`` as a geom at ``Terrain.center`` (z = 0)
  with ``size = Terrain.hfield_size = (radius_x, radius_y, elevation, base)``:
  ``radius_x = (nx - 1) * hscale / 2``, ``radius_y = (ny - 1) * hscale / 2``,
  ``elevation = max(heights)`` and the data normalised to ``heights / elevation`` (MuJoCo scales the
  stored [0, 1] values by ``elevation``), ``base`` = 1 m of solid below z = 0 (IsaacLab's 1 m slab).
* MuJoCo triangulates each grid square along its (ix, iy) -> (ix + 1, iy + 1) diagonal;
  ``height_at`` interpolates bilinearly instead. Both agree exactly on vertices and edges; inside a
  square they differ by at most (h01 + h10 - h00 - h11) / 4 (<= 1.5 cm here, at a square centre),
  which is fine for spawn heights and foot clearance.

MJX cost (mujoco.mjx 3.17 / mujoco 4.0, JAX backend; measured on CPU): a sphere/capsule/box vs
hfield pair gathers a fixed sub-grid of ``ceil(2 * rbound / hscale) + 1`` vertices per side around
the geom (2 x 2 for a 0.022 m foot at 0.1 m, 6 x 6 for the trunk box), builds 2 prisms per grid
square and runs a convex collider on each, keeping up to 4 contacts per pair (sphere-plane: 1).
The hfield itself enters only through that gather (the row/column transpose is fused into it in
the compiled HLO), so the per-step cost does not grow with the hfield size: 81 x 81 and the full
2001 x 1201 REASAN grid stepped 64 "feet" envs in the same ~13-19 CPU-ms (noise of a loaded
machine). What does cost is the geom set: box-hfield pairs are ~10x a whole feet-only step.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

_EPS = 1e-6


@dataclasses.dataclass(frozen=True, eq=False)
class Terrain:
  """A height-field terrain laid out in REASAN's cell grid.

  Attributes:
    heights: (ny, nx) float32 vertex heights in metres; ``heights[iy, ix]`` is at world
      ``(origin_xy[0] + ix * hscale, origin_xy[1] + iy * hscale)`` (rows along y, columns along x,
      MuJoCo's hfield layout).
    hscale: horizontal vertex spacing in metres (0.1, reasan-rl-core.md §15).
    origins: (num_rows, num_cols, 3) float32 spawn origins of the cells in world metres: xy at the
      cell centre, z = max height in the central 2 x 2 m window (reasan-rl-core.md §15).
    origin_xy: world (x, y) of vertex ``heights[0, 0]`` in metres.
    cell_size: side of one square cell in metres.
    border: width in metres of the flat border around the cell grid.
  """

  heights: np.ndarray
  hscale: float
  origins: np.ndarray
  origin_xy: tuple[float, float]
  cell_size: float
  border: float

  @property
  def shape(self) -> tuple[int, int]:
    """(ny, nx) number of vertices along y and x."""
    return tuple(self.heights.shape)  # type: ignore[return-value]

  @property
  def extent(self) -> tuple[float, float, float, float]:
    """(xmin, xmax, ymin, ymax) of the height field in world metres."""
    ny, nx = self.heights.shape
    x0, y0 = self.origin_xy
    return (x0, x0 + (nx - 1) * self.hscale, y0, y0 + (ny - 1) * self.hscale)

  @property
  def center(self) -> tuple[float, float]:
    """World (x, y) of the height-field centre, where the hfield geom is placed."""
    xmin, xmax, ymin, ymax = self.extent
    return (0.5 * (xmin + xmax), 0.5 * (ymin + ymax))

  @property
  def max_height(self) -> float:
    """Highest vertex in metres (the MuJoCo hfield ``elevation`` size)."""
    return float(np.max(self.heights)) if self.heights.size else 0.0

  def hfield_size(self, base: float = 1.0) -> tuple[float, float, float, float]:
    """MuJoCo hfield ``size = (radius_x, radius_y, elevation, base)`` in metres.

    Args:
      base: depth of the solid below z = 0 (IsaacLab's border slab is 1 m thick).

    Returns:
      The 4-tuple for ``<hfield size=...>``; ``elevation`` is 1.0 for an all-zero terrain (MuJoCo
      requires a positive value; the normalised data are then all 0).
    """
    ny, nx = self.heights.shape
    elevation = self.max_height if self.max_height > 0 else 1.0
    return (0.5 * (nx - 1) * self.hscale, 0.5 * (ny - 1) * self.hscale, elevation, base)

  def hfield_data(self) -> np.ndarray:
    """Row-major (ny * nx,) heights normalised to [0, 1] for MuJoCo's ``hfield_data``."""
    elevation = self.hfield_size()[2]
    return (self.heights / elevation).astype(np.float32).ravel()


def _cell_centres(num_rows: int, num_cols: int, cell_size: float) -> np.ndarray:
  r = (np.arange(num_rows) + 0.5) * cell_size - num_rows * cell_size / 2
  c = (np.arange(num_cols) + 0.5) * cell_size - num_cols * cell_size / 2
  xy = np.stack(np.meshgrid(r, c, indexing="ij"), axis=-1)
  return xy.astype(np.float32)


def _check_grid(num_rows: int, num_cols: int, cell_size: float, hscale: float) -> int:
  if num_rows < 1 or num_cols < 1:
    raise ValueError(f"num_rows and num_cols must be >= 1, got {num_rows}, {num_cols}")
  if cell_size <= 0 or hscale <= 0:
    raise ValueError(f"cell_size and hscale must be > 0, got {cell_size}, {hscale}")
  cell_px = cell_size / hscale
  if abs(cell_px - round(cell_px)) > 1e-6:
    raise ValueError(f"cell_size {cell_size} must be a multiple of hscale {hscale}")
  return int(round(cell_px))


def flat_terrain_origins(num_rows: int = 10, num_cols: int = 20,
                         cell_size: float = 8.0) -> np.ndarray:
  """Cell origins of the flat scene, laid out like the rough terrain but with z = 0.

  Args:
    num_rows: cells along x (curriculum levels; 10 in REASAN, reasan-rl-core.md §15).
    num_cols: cells along y (20 in REASAN).
    cell_size: cell side in metres (8.0 in REASAN).

  Returns:
    (num_rows, num_cols, 3) float32 origins: cell centres
    ``((r + 0.5) * cell - rows * cell / 2, (c + 0.5) * cell - cols * cell / 2, 0)``.

  Raises:
    ValueError: if a count is < 1 or cell_size <= 0.
  """
  _check_grid(num_rows, num_cols, cell_size, cell_size)
  xy = _cell_centres(num_rows, num_cols, cell_size)
  return np.concatenate([xy, np.zeros(xy.shape[:-1] + (1,), np.float32)], axis=-1)


def make_rough_terrain(num_rows: int = 10,
                       num_cols: int = 20,
                       cell_size: float = 8.0,
                       hscale: float = 0.1,
                       noise_range: Sequence[float] = (0.01, 0.03),
                       noise_step: float = 0.01,
                       border_width: float = 0.1,
                       border: float = 20.0,
                       seed: int = 0) -> Terrain:
  """Builds REASAN's random-uniform rough terrain (reasan-rl-core.md §15).

  Args:
    num_rows: cells along world x (10 in REASAN).
    num_cols: cells along world y (20 in REASAN).
    cell_size: cell side in metres (8.0); must be a multiple of ``hscale``.
    hscale: vertex spacing in metres (0.1).
    noise_range: (low, high) vertex height in metres (0.01, 0.03); heights are drawn uniformly
      from ``low, low + step, ..., <= high``.
    noise_step: height step in metres (0.01), so heights are in {0.01, 0.02, 0.03}.
    border_width: flat rim inside each cell in metres; ``floor(border_width / hscale) + 1``
      vertices (2 for 0.1 m) on every side of every cell stay at 0, as in IsaacLab.
    border: width in metres of the flat z = 0 border around the whole grid (20 m); a multiple of
      ``hscale``.
    seed: seed of the numpy generator (``np.random.default_rng``); same seed, same terrain.

  Returns:
    A :class:`Terrain` of ``(num_cols * cell/hscale + 2 * border/hscale + 1)`` x
    ``(num_rows * cell/hscale + 2 * border/hscale + 1)`` vertices (2001 x 1201 = 2.4 M for the
    defaults), centred on the world origin.

  Raises:
    ValueError: on non-positive sizes, a cell/border that is not a multiple of ``hscale``, an
      empty ``noise_range``, or a cell rim that leaves no inner vertices.
  """
  cell_px = _check_grid(num_rows, num_cols, cell_size, hscale)
  border_px_f = border / hscale
  if border < 0 or abs(border_px_f - round(border_px_f)) > 1e-6:
    raise ValueError(f"border {border} must be a non-negative multiple of hscale {hscale}")
  border_px = int(round(border_px_f))
  lo, hi = float(noise_range[0]), float(noise_range[1])
  if hi < lo or noise_step <= 0:
    raise ValueError(f"bad noise_range {noise_range} / noise_step {noise_step}")
  levels = lo + noise_step * np.arange(int(np.floor((hi - lo) / noise_step + _EPS)) + 1)
  rim = int(np.floor(border_width / hscale + _EPS)) + 1
  n_inner = cell_px + 1 - 2 * rim
  if n_inner < 1:
    raise ValueError(f"border_width {border_width} leaves no inner vertices in a "
                     f"{cell_size} m cell")

  rng = np.random.default_rng(seed)
  nx = num_rows * cell_px + 2 * border_px + 1
  ny = num_cols * cell_px + 2 * border_px + 1
  heights = np.zeros((ny, nx), np.float32)
  # One draw per inner vertex of every cell, cell (r, c) -> block [c, r].
  draws = rng.integers(0, len(levels), size=(num_cols, num_rows, n_inner, n_inner))
  blocks = levels[draws].astype(np.float32)  # (cols, rows, iy, ix)
  win_half = int(round(1.0 / hscale))  # central 2 x 2 m window: +-1 m around the centre
  centre_px = cell_px // 2
  origins = np.zeros((num_rows, num_cols, 3), np.float32)
  origins[..., :2] = _cell_centres(num_rows, num_cols, cell_size)
  for r in range(num_rows):
    ix0 = border_px + r * cell_px
    for c in range(num_cols):
      iy0 = border_px + c * cell_px
      heights[iy0 + rim:iy0 + rim + n_inner, ix0 + rim:ix0 + rim + n_inner] = blocks[c, r]
      w0, w1 = centre_px - win_half, centre_px + win_half  # 30..49 for an 8 m cell
      window = heights[iy0 + w0:iy0 + w1, ix0 + w0:ix0 + w1]
      origins[r, c, 2] = window.max()
  half_x = 0.5 * (nx - 1) * hscale
  half_y = 0.5 * (ny - 1) * hscale
  return Terrain(heights=heights, hscale=float(hscale), origins=origins,
                 origin_xy=(-half_x, -half_y), cell_size=float(cell_size), border=float(border))


def height_at(heights: jax.Array, hscale: float, origin_xy: jax.Array | Sequence[float],
              xy: jax.Array) -> jax.Array:
  """Bilinear terrain height at world points (JAX, jit/vmap-able).

  Points outside the grid get the height of the nearest edge (the border is flat at 0 anyway).

  Args:
    heights: (ny, nx) vertex heights in metres, ``heights[iy, ix]`` at
      ``origin_xy + (ix, iy) * hscale`` (see :class:`Terrain`).
    hscale: vertex spacing in metres.
    origin_xy: (2,) world (x, y) of ``heights[0, 0]`` in metres.
    xy: (..., 2) world query points in metres.

  Returns:
    (...) heights in metres. Exact at vertices and along grid lines; inside a grid square MuJoCo's
    triangulated hfield can differ by up to a quarter of the square's height range.
  """
  heights = jnp.asarray(heights)
  ny, nx = heights.shape
  origin_xy = jnp.asarray(origin_xy, dtype=heights.dtype)
  g = (jnp.asarray(xy, heights.dtype) - origin_xy) / hscale
  gx = jnp.clip(g[..., 0], 0.0, nx - 1)
  gy = jnp.clip(g[..., 1], 0.0, ny - 1)
  ix = jnp.clip(jnp.floor(gx).astype(jnp.int32), 0, max(nx - 2, 0))
  iy = jnp.clip(jnp.floor(gy).astype(jnp.int32), 0, max(ny - 2, 0))
  tx = gx - ix
  ty = gy - iy
  ix1 = jnp.minimum(ix + 1, nx - 1)
  iy1 = jnp.minimum(iy + 1, ny - 1)
  h00 = heights[iy, ix]
  h01 = heights[iy, ix1]
  h10 = heights[iy1, ix]
  h11 = heights[iy1, ix1]
  return ((1 - ty) * ((1 - tx) * h00 + tx * h01) + ty * ((1 - tx) * h10 + tx * h11))
