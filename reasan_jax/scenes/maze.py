"""Cell graphs of REASAN's navigation layouts, pure NumPy (host-side, once at start-up).

Two layouts (REASAN nav §4.3, §4.4), both square grids of cells with a wall bitmask per cell:

* :func:`general_grid` -- region A: 15 x 15 sub-blocks of 2 x 2 cells separated by 1-cell
  corridors (44 x 44 cells), each sub-block with exactly 4 of its 8 perimeter half-side segments
  walled, no 3 cyclically consecutive, plus the outer walls.
* :func:`perfect_maze` -- region C: randomised depth-first backtracking over 40 x 40 cells, a
  spanning tree of the cell graph.

Conventions: cell arrays are indexed ``[iy, ix]`` (shape (ny, nx)); bit :data:`TOP` is the
+y side, :data:`RIGHT` +x, :data:`BOTTOM` -y, :data:`LEFT` -x. A set bit is a wall; a wall
between two cells is set in both. Cell distances are BFS hops on the 4-connected graph whose
edges are the sides without a wall (REASAN nav §4.6).
"""

from __future__ import annotations

import collections
import itertools

import numpy as np
from scipy.sparse import csgraph, csr_matrix

TOP, RIGHT, BOTTOM, LEFT = 1, 2, 4, 8
ALL_WALLS = TOP | RIGHT | BOTTOM | LEFT
SIDES = (TOP, RIGHT, BOTTOM, LEFT)
STEP = {TOP: (0, 1), RIGHT: (1, 0), BOTTOM: (0, -1), LEFT: (-1, 0)}
"""Cell offset (dx, dy) across each side."""
OPPOSITE = {TOP: BOTTOM, RIGHT: LEFT, BOTTOM: TOP, LEFT: RIGHT}

GUIDE_DIRS = np.array([[0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]], np.float32)
"""Guide codes 0..4 -> world-frame unit step (dx, dy): 0 none (goal cell or unreachable),
1 +x, 2 +y, 3 -x, 4 -y (REASAN nav §4.6)."""
_CODE_SIDE = ((1, RIGHT), (2, TOP), (3, LEFT), (4, BOTTOM))

SEGMENTS = ("bottom-left", "bottom-right", "right-bottom", "right-top", "top-right", "top-left",
            "left-top", "left-bottom")
"""The 8 half-side segments of a 2 x 2 sub-block in perimeter order (REASAN nav §4.3)."""
_SEGMENT_CELL_SIDE = (((0, 0), BOTTOM), ((1, 0), BOTTOM), ((1, 0), RIGHT), ((1, 1), RIGHT),
                      ((1, 1), TOP), ((0, 1), TOP), ((0, 1), LEFT), ((0, 0), LEFT))
"""Per segment: the sub-block cell (dx, dy) it borders and that cell's side."""


def _no_three_consecutive(subset: tuple[int, ...], n: int = 8) -> bool:
  s = set(subset)
  return not any({i, (i + 1) % n, (i + 2) % n} <= s for i in range(n))


WALL_SUBSETS = tuple(c for c in itertools.combinations(range(8), 4) if _no_three_consecutive(c))
"""The 4-subsets of the 8 segments with no 3 cyclically consecutive (REASAN nav §4.3): 38 of the
70 4-subsets."""


def set_wall(walls: np.ndarray, ix: int, iy: int, side: int) -> None:
  """Walls side ``side`` of cell (ix, iy) and the matching side of its neighbour, in place."""
  walls[iy, ix] |= side
  dx, dy = STEP[side]
  jx, jy = ix + dx, iy + dy
  if 0 <= jx < walls.shape[1] and 0 <= jy < walls.shape[0]:
    walls[jy, jx] |= OPPOSITE[side]


def outer_walls(walls: np.ndarray) -> None:
  """Sets the outer boundary bits of a (ny, nx) bitmask in place."""
  walls[-1, :] |= TOP
  walls[0, :] |= BOTTOM
  walls[:, -1] |= RIGHT
  walls[:, 0] |= LEFT


def general_grid(rng: np.random.Generator, blocks: int = 15
                 ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, int]]]:
  """Region A's wall layout (REASAN nav §4.3).

  Sub-block (bx, by) covers cells x in {3 bx, 3 bx + 1}, y in {3 by, 3 by + 1}; cells with index
  2 (mod 3) are 1-cell corridors; ``3 * blocks - 1`` cells per side (44 for 15 blocks). Each
  sub-block gets one subset of :data:`WALL_SUBSETS`, uniformly.

  Args:
    rng: the generator (REASAN uses its seeded generator RNG for region A).
    blocks: sub-blocks per side (15), >= 1.

  Returns:
    ``(walls, chosen, segments)``: (n, n) uint8 bitmask including the outer walls; (blocks,
    blocks, 8) bool chosen segments per sub-block ``[by, bx]``; and the walled cell sides
    ``(ix, iy, side)`` of the sub-block segments (one entry per segment, for drawing).
  """
  n = 3 * blocks - 1
  walls = np.zeros((n, n), np.uint8)
  chosen = np.zeros((blocks, blocks, 8), bool)
  segments = []
  for by in range(blocks):
    for bx in range(blocks):
      subset = WALL_SUBSETS[int(rng.integers(len(WALL_SUBSETS)))]
      chosen[by, bx, list(subset)] = True
      for s in subset:
        (dx, dy), side = _SEGMENT_CELL_SIDE[s]
        ix, iy = 3 * bx + dx, 3 * by + dy
        set_wall(walls, ix, iy, side)
        segments.append((ix, iy, side))
  outer_walls(walls)
  return walls, chosen, segments


def perfect_maze(rng: np.random.Generator, nx: int = 40, ny: int | None = None) -> np.ndarray:
  """Region C's maze by randomised depth-first backtracking from a random cell (REASAN nav §4.4).

  Starts with every wall set; from the current cell, knocks down the wall to a uniformly chosen
  unvisited neighbour and moves there, backtracking when none is left (iterative stack).

  Args:
    rng: the generator.
    nx, ny: cells per side (40 x 40); ``ny`` defaults to ``nx``.

  Returns:
    (ny, nx) uint8 wall bitmask: a spanning tree (``nx * ny - 1`` open passages), outer walls set.
  """
  ny = nx if ny is None else ny
  walls = np.full((ny, nx), ALL_WALLS, np.uint8)
  seen = np.zeros((ny, nx), bool)
  start = (int(rng.integers(nx)), int(rng.integers(ny)))
  seen[start[1], start[0]] = True
  stack = [start]
  while stack:
    ix, iy = stack[-1]
    options = [s for s in SIDES if 0 <= ix + STEP[s][0] < nx and 0 <= iy + STEP[s][1] < ny
               and not seen[iy + STEP[s][1], ix + STEP[s][0]]]
    if not options:
      stack.pop()
      continue
    side = options[int(rng.integers(len(options)))]
    jx, jy = ix + STEP[side][0], iy + STEP[side][1]
    walls[iy, ix] &= ~np.uint8(side)
    walls[jy, jx] &= ~np.uint8(OPPOSITE[side])
    seen[jy, jx] = True
    stack.append((jx, jy))
  return walls


def passages(walls: np.ndarray) -> list[tuple[int, int]]:
  """Open edges of the cell graph as pairs of flat cell indices ``iy * nx + ix`` (each once:
  to the right and to the top neighbour)."""
  ny, nx = walls.shape
  out = []
  for iy in range(ny):
    for ix in range(nx):
      if ix + 1 < nx and not walls[iy, ix] & RIGHT:
        out.append((iy * nx + ix, iy * nx + ix + 1))
      if iy + 1 < ny and not walls[iy, ix] & TOP:
        out.append((iy * nx + ix, (iy + 1) * nx + ix))
  return out


def bfs_hops(walls: np.ndarray, start: tuple[int, int]) -> np.ndarray:
  """Plain BFS hop counts from cell ``start = (ix, iy)`` (test / reference helper).

  Returns:
    (ny, nx) int64 hops, -1 where unreachable.
  """
  ny, nx = walls.shape
  dist = np.full((ny, nx), -1, np.int64)
  dist[start[1], start[0]] = 0
  queue = collections.deque([start])
  while queue:
    ix, iy = queue.popleft()
    for side in SIDES:
      if walls[iy, ix] & side:
        continue
      jx, jy = ix + STEP[side][0], iy + STEP[side][1]
      if 0 <= jx < nx and 0 <= jy < ny and dist[jy, jx] < 0:
        dist[jy, jx] = dist[iy, ix] + 1
        queue.append((jx, jy))
  return dist


def hop_distances(walls: np.ndarray, sources: np.ndarray) -> np.ndarray:
  """BFS hops from several source cells at once (SciPy's compiled unweighted shortest paths).

  Args:
    walls: (ny, nx) bitmask.
    sources: (S,) flat source cell indices ``iy * nx + ix``.

  Returns:
    (S, ny, nx) int32 hops, -1 where unreachable.
  """
  ny, nx = walls.shape
  e = np.asarray(passages(walls), np.int64).reshape(-1, 2)
  graph = csr_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(nx * ny, nx * ny))
  d = csgraph.shortest_path(graph, directed=False, unweighted=True,
                            indices=np.asarray(sources, np.int64))
  d = np.where(np.isfinite(d), d, -1).astype(np.int32)
  return d.reshape(len(sources), ny, nx)


def guide_codes(walls: np.ndarray, hops: np.ndarray) -> np.ndarray:
  """Guide codes (:data:`GUIDE_DIRS`) from BFS hops to a goal (REASAN nav §4.6).

  A cell points across its first open side (order +x, +y, -x, -y) whose neighbour is one hop
  closer to the goal, i.e. along a shortest path (ties: any shortest path is acceptable, §4.6).

  Args:
    walls: (ny, nx) bitmask.
    hops: (..., ny, nx) hops to the goal, -1 where unreachable (:func:`hop_distances`).

  Returns:
    (..., ny, nx) int8 codes: 0 at the goal and where unreachable, else 1..4.
  """
  code = np.zeros(hops.shape, np.int8)
  for c, side in reversed(_CODE_SIDE):  # the first matching side wins
    dx, dy = STEP[side]
    nb = np.full(hops.shape, -2, np.int64)
    src = hops[..., max(dy, 0):hops.shape[-2] + min(dy, 0), max(dx, 0):hops.shape[-1] + min(dx, 0)]
    nb[..., max(-dy, 0):hops.shape[-2] + min(-dy, 0), max(-dx, 0):hops.shape[-1] + min(-dx, 0)] = src
    ok = ((walls & side) == 0) & (hops > 0) & (nb == hops - 1)
    code = np.where(ok, np.int8(c), code)
  return code


def follow_guide(codes: np.ndarray, start: tuple[int, int], max_steps: int) -> int | None:
  """Hops taken following guide codes from ``start = (ix, iy)`` until a code-0 cell (test helper);
  None if it leaves the grid or exceeds ``max_steps``."""
  ix, iy = start
  for n in range(max_steps + 1):
    c = int(codes[iy, ix])
    if c == 0:
      return n
    dx, dy = GUIDE_DIRS[c].astype(int)
    ix, iy = ix + dx, iy + dy
    if not (0 <= ix < codes.shape[1] and 0 <= iy < codes.shape[0]):
      return None
  return None


def path_length(walls: np.ndarray, a: tuple[int, int], b: tuple[int, int], cell: float) -> float:
  """Shortest path length in m between the centres of cells ``a`` and ``b`` (``(ix, iy)``):
  plain BFS hops x ``cell`` (REASAN nav §4.4); ``inf`` when unreachable."""
  hops = bfs_hops(walls, a)[b[1], b[0]]
  return float(hops) * cell if hops >= 0 else float("inf")
