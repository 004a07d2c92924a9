"""REASAN's pillar walls (REASAN nav §4.2) and the wall drawings of the two nav regions (§4.3,
§4.4), host-side NumPy.

A wall from S to E is a row of square boxes standing on z = 0: one base size ``s ~ U(0.1, 0.2)``
m per wall, spacing ``1.2 s``, ``n = floor(L / (1.2 s)) + 1`` pillars centred at
``S + j 1.2 s dir`` (so a wall may stop a few cm short of E); per pillar a footprint side
``s U(0.9, 1.1)``, a height ``U(0.5, 1.5)`` m and, with probability 0.2, a shift along the wall
by ``U(0.1, 0.2)`` m. The slits between pillars (about ``0.2 s``) let some rays through.
"""

from __future__ import annotations

import numpy as np

from reasan_jax.scenes import maze

BASE_SIZE = (0.1, 0.2)
SPACING = 1.2
SIDE_SCALE = (0.9, 1.1)
HEIGHT = (0.5, 1.5)
SHIFT_PROB = 0.2
SHIFT = (0.1, 0.2)
"""Pillar figures of REASAN nav §4.2: base size U(0.1, 0.2) m, spacing 1.2 x base, side base x
U(0.9, 1.1), height U(0.5, 1.5) m, shifted along the wall by U(0.1, 0.2) m with probability 0.2."""

FIELDS = ("xy", "yaw", "side", "height", "base", "shifted", "wall")


def pillar_wall(rng: np.random.Generator, start, end, wall_id: int = 0) -> dict[str, np.ndarray]:
  """One pillar wall from ``start`` to ``end`` (REASAN nav §4.2).

  Args:
    rng: the generator.
    start, end: (2,) wall end points, world m.
    wall_id: id stored with every pillar (statistics per wall).

  Returns:
    Host arrays over the n pillars: ``xy (n, 2)`` centre m, ``yaw (n,)`` wall direction rad,
    ``side (n,)`` full footprint side m, ``height (n,)`` m, ``base (n,)`` the wall's base size,
    ``shifted (n,)`` bool, ``wall (n,)`` int wall id.
  """
  start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
  length = float(np.linalg.norm(end - start))
  d = (end - start) / max(length, 1e-12)
  s = rng.uniform(*BASE_SIZE)
  n = int(np.floor(length / (SPACING * s))) + 1
  j = np.arange(n)
  side = s * rng.uniform(*SIDE_SCALE, size=n)
  height = rng.uniform(*HEIGHT, size=n)
  shifted = rng.random(n) < SHIFT_PROB
  shift = np.where(shifted, rng.uniform(*SHIFT, size=n), 0.0)
  xy = start + (j * SPACING * s + shift)[:, None] * d
  return {"xy": xy, "yaw": np.full(n, np.arctan2(d[1], d[0])), "side": side, "height": height,
          "base": np.full(n, s), "shifted": shifted, "wall": np.full(n, wall_id, np.int64)}


def concat_walls(walls: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """Concatenates pillar dicts of :func:`pillar_wall`."""
  if not walls:
    return {"xy": np.zeros((0, 2)), "yaw": np.zeros(0), "side": np.zeros(0),
            "height": np.zeros(0), "base": np.zeros(0), "shifted": np.zeros(0, bool),
            "wall": np.zeros(0, np.int64)}
  return {k: np.concatenate([w[k] for w in walls]) for k in FIELDS}


def side_segment(origin, cell: float, ix: int, iy: int, side: int) -> tuple[np.ndarray, np.ndarray]:
  """End points (start, end) of side ``side`` of cell (ix, iy): horizontal sides run -x -> +x,
  vertical sides -y -> +y (world m; ``origin`` = corner of cell (0, 0))."""
  x0, y0 = origin[0] + ix * cell, origin[1] + iy * cell
  x1, y1 = x0 + cell, y0 + cell
  seg = {maze.TOP: ((x0, y1), (x1, y1)), maze.BOTTOM: ((x0, y0), (x1, y0)),
         maze.RIGHT: ((x1, y0), (x1, y1)), maze.LEFT: ((x0, y0), (x0, y1))}[side]
  return np.asarray(seg[0], np.float64), np.asarray(seg[1], np.float64)


def outer_segments(origin, cell: float, nx: int, ny: int) -> list[tuple[np.ndarray, np.ndarray]]:
  """The 4 outer edges of a (ny, nx) cell grid as single walls, counter-clockwise."""
  x0, y0 = origin
  x1, y1 = x0 + nx * cell, y0 + ny * cell
  pts = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], np.float64)
  return [(pts[i], pts[(i + 1) % 4]) for i in range(4)]


def draw_grid(rng: np.random.Generator, origin, cell: float, n: int,
              segments: list[tuple[int, int, int]]) -> dict[str, np.ndarray]:
  """Region A's pillars (REASAN nav §4.3): one wall per chosen sub-block segment (one cell side)
  and one wall along each of the 4 outer edges."""
  walls = [pillar_wall(rng, *side_segment(origin, cell, ix, iy, side), w)
           for w, (ix, iy, side) in enumerate(segments)]
  for start, end in outer_segments(origin, cell, n, n):
    walls.append(pillar_wall(rng, start, end, len(walls)))
  return concat_walls(walls)


def draw_maze(rng: np.random.Generator, origin, cell: float, walls_mask: np.ndarray,
              double: bool = True) -> dict[str, np.ndarray]:
  """Region C's pillars (REASAN nav §4.4).

  ``double=True`` is REASAN's drawing: every set wall bit of every cell becomes a wall, so an
  interior wall shared by two cells is built twice with independent pillars, and the outer
  edges (set in the border cells) get the 4 outer walls on top. ``double=False`` draws every
  wall line once (interior walls from the cell below / to the left, outer edges by the 4 outer
  walls only).
  """
  ny, nx = walls_mask.shape
  out = []
  for iy in range(ny):
    for ix in range(nx):
      for side in maze.SIDES:
        if not walls_mask[iy, ix] & side:
          continue
        dx, dy = maze.STEP[side]
        inner = 0 <= ix + dx < nx and 0 <= iy + dy < ny
        if not double and (not inner or side in (maze.BOTTOM, maze.LEFT)):
          continue
        out.append(pillar_wall(rng, *side_segment(origin, cell, ix, iy, side), len(out)))
  for start, end in outer_segments(origin, cell, nx, ny):
    out.append(pillar_wall(rng, start, end, len(out)))
  return concat_walls(out)
