"""REASAN's navigation worlds (REASAN nav §4): the general grid, the perfect maze, their
spawn/goal pairs and guide fields, packed for sensing.

Generated once at start-up with seeded NumPy (:func:`make_nav_world`); the result is a constant
of the env shared by all envs:

* region :data:`GRID` (REASAN's region A, used by type-1 envs, §4.3): 44 x 44 cells of 1.25 m,
  15 x 15 sub-blocks with exactly 4 of their 8 perimeter half-side segments walled (no 3
  cyclically consecutive), pillar walls along the 4 outer edges, 225 candidate points (one random
  cell centre per sub-block) and 1000 pairs: spawn a uniform candidate, goal a uniform *other*
  candidate within 7 m (or the spawn itself if none);
* region :data:`MAZE` (REASAN's region C, type-3 envs, §4.4): a 40 x 40 perfect maze of 1.75 m
  cells (randomised DFS backtracking), every wall bit drawn (shared walls twice, as REASAN does;
  ``double_maze_walls=False`` draws them once), outer walls; 1000 goals without replacement
  among the cells; spawn uniform among cells at straight-line distance in [5, 7) m and BFS path
  length (hops x 1.75 m) in [5, 15] m, else spawn = goal (§10 item 10);
* REASAN's region B (dead ends, §4.5) is never assigned to an env (§3.2) and is not built.

Coordinates (ours; REASAN's (0, -100) / (0, 100) offsets only matter for its shared terrain
mesh): the grid is centred at :data:`GRID_CENTER` = (-40, 0) m and the maze at
:data:`MAZE_CENTER` = (40, 0) m, 17.5 m apart at full size, more than the 6.45 m sensing range.
The guide field is stored in these world coordinates (no (x + 50, y + 150) query shift).

All pillars of both regions (~44 k boxes at full size with doubled maze walls, ~26 k without) form ONE
non-periodic :func:`reasan_jax.scenes.obstacles.binned_world`, so
:func:`reasan_jax.scenes.obstacles.nearby_static` and :func:`reasan_jax.sensors.pipeline.sense`
work unchanged. See :func:`nav_sensor_config` for the cull sizes.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from reasan_jax.scenes import maze, obstacles, pillars
from reasan_jax.sensors import pipeline, rays

GRID, MAZE = 0, 1
"""Region index: env type 1 -> GRID (region A), env type 3 -> MAZE (region C) (REASAN nav §3.2)."""
REGION_NAMES = ("grid", "maze")

GRID_BLOCKS = 15
GRID_CELL = 1.25
GRID_PAIR_RADIUS = 7.0
GRID_GOAL_NOISE = 0.25
"""Region A (REASAN nav §4.3, §3.3 step 4): 15 x 15 sub-blocks (44 x 44 cells) of 1.25 m, goals
within 7 m of the spawn, goal noise U(+-0.25) m per axis at reset."""
MAZE_CELLS = 40
MAZE_CELL = 1.75
MAZE_STRAIGHT = (5.0, 7.0)
MAZE_PATH = (5.0, 15.0)
"""Region C (REASAN nav §4.4): 40 x 40 cells of 1.75 m; spawn at straight-line distance in
[5, 7) m and path length in [5, 15] m from the goal."""
NUM_PAIRS = 1000
GRID_CENTER = (-40.0, 0.0)
MAZE_CENTER = (40.0, 0.0)
"""Region centres in world m (our choice; see module doc)."""
PACK_CELL = 1.75
"""Bin side in m of the packed static world: at seed 0 with doubled maze walls the bins hold up
to 52 pillars and the cull gathers 69 bins = 3588 candidates per env for 6 m (4004 for 6.45 m);
1.0 m bins would gather 5664, 0.5 m bins 10081 (``benchmarks/nav_world_cull.py``)."""


class NavWorldError(ValueError):
  """Bad arguments to :func:`make_nav_world` (one sentence naming the argument and the fix)."""


@dataclasses.dataclass(frozen=True, eq=False)
class NavHost:
  """Host-side record of the generated layouts (tests, rendering, planning); hashed by identity
  so that a :class:`NavWorld` can be a jit argument.

  Attributes:
    walls: per region the (ny, nx) uint8 wall bitmask (:mod:`reasan_jax.scenes.maze`).
    pillars: per region the pillar dict of :mod:`reasan_jax.scenes.pillars`.
    origin: per region the (x, y) corner of cell (0, 0), m.
    cell: per region the cell side, m.
    grid_chosen: (blocks, blocks, 8) bool chosen segments of region A's sub-blocks.
    grid_candidates: (B, 2) int candidate cells (ix, iy) of region A.
    pair_cells: per region ``(spawn (P, 2), goal (P, 2))`` int cells (ix, iy).
  """

  walls: tuple[np.ndarray, np.ndarray]
  pillars: tuple[dict, dict]
  origin: tuple[tuple[float, float], tuple[float, float]]
  cell: tuple[float, float]
  grid_chosen: np.ndarray
  grid_candidates: np.ndarray
  pair_cells: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@struct.dataclass
class NavWorld:
  """The navigation worlds of all envs (REASAN nav §4).

  Attributes:
    static: all pillars of both regions (``obstacles.nearby_static`` / ``pipeline.sense`` /
      ``obstacles.world_boxes``).
    spawn: (2, P, 2) float32 spawn points, world m, ``[region, pair]``.
    goal: (2, P, 2) float32 goal points (cell centres, before the grid's goal noise).
    guide: (2, P, H, W) int8 guide codes ``[region, pair, iy, ix]`` (:data:`maze.GUIDE_DIRS`),
      padded with 0 to the larger region.
    origin: (2, 2) float32 per-region corner of cell (0, 0), world m.
    cell: (2,) float32 per-region cell side, m.
    shape: (2, 2) int32 per-region (nx, ny).
    goal_noise: (2,) float32 per-region goal noise half-width, m (0.25, 0).
    host: static :class:`NavHost` (host arrays).
  """

  static: obstacles.StaticWorld
  spawn: jax.Array
  goal: jax.Array
  guide: jax.Array
  origin: jax.Array
  cell: jax.Array
  shape: jax.Array
  goal_noise: jax.Array
  host: NavHost = struct.field(pytree_node=False)

  @property
  def num_pairs(self) -> int:
    """Pairs per region P."""
    return self.spawn.shape[1]


def _centres(origin, cell, cells: np.ndarray) -> np.ndarray:
  return np.asarray(origin) + (np.asarray(cells, np.float64) + 0.5) * cell


def _grid_pairs(rng, blocks: int, num_pairs: int, cell: float, radius: float):
  """Region A's candidates and pairs (REASAN nav §4.3)."""
  b = np.arange(blocks)
  bx, by = np.meshgrid(b, b)
  pick = rng.integers(0, 4, size=bx.size)
  cand = np.stack([3 * bx.ravel() + pick % 2, 3 * by.ravel() + pick // 2], -1)
  xy = (cand + 0.5) * cell
  d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
  spawn, goal = [], []
  for _ in range(num_pairs):
    s = int(rng.integers(len(cand)))
    near = np.flatnonzero((d[s] <= radius) & (np.arange(len(cand)) != s))
    g = int(near[rng.integers(len(near))]) if len(near) else s
    spawn.append(cand[s])
    goal.append(cand[g])
  return cand, np.asarray(spawn), np.asarray(goal)


def _maze_pairs(rng, walls: np.ndarray, num_pairs: int, cell: float):
  """Region C's pairs (REASAN nav §4.4); hops from every goal cell as a by-product."""
  ny, nx = walls.shape
  n = nx * ny
  # Distinct goal cells; beyond n pairs (tiny test mazes) further rounds of permutations.
  goals = np.concatenate([rng.permutation(n) for _ in range(-(-num_pairs // n))])[:num_pairs]
  hops = maze.hop_distances(walls, goals)  # (P, ny, nx)
  iy, ix = np.divmod(np.arange(n), nx)
  cxy = (np.stack([ix, iy], -1) + 0.5) * cell
  spawn = np.empty(num_pairs, np.int64)
  for k, g in enumerate(goals):
    straight = np.linalg.norm(cxy - cxy[g], axis=-1)
    path = hops[k].ravel() * cell
    ok = ((straight >= MAZE_STRAIGHT[0]) & (straight < MAZE_STRAIGHT[1]) & (hops[k].ravel() >= 0)
          & (path >= MAZE_PATH[0]) & (path <= MAZE_PATH[1]))
    cand = np.flatnonzero(ok)
    spawn[k] = cand[rng.integers(len(cand))] if len(cand) else g
  to_cells = lambda f: np.stack([f % nx, f // nx], -1)
  return to_cells(spawn), to_cells(goals), hops


def _boxes(p: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  h = p["height"] / 2
  center = np.concatenate([p["xy"], h[:, None]], -1)
  half = np.stack([p["side"] / 2, p["side"] / 2, h], -1)
  return center, p["yaw"], half


def make_nav_world(seed: int = 0, num_pairs: int = NUM_PAIRS, grid_blocks: int = GRID_BLOCKS,
                   grid_cell: float = GRID_CELL, maze_cells: int = MAZE_CELLS,
                   maze_cell: float = MAZE_CELL, grid_center=GRID_CENTER, maze_center=MAZE_CENTER,
                   double_maze_walls: bool = True, pack_cell: float = PACK_CELL,
                   max_range: float = rays.MAX_RANGE + 0.45) -> NavWorld:
  """Generates both navigation regions (REASAN nav §4.2-§4.4, §4.6), host-side, seeded.

  Args:
    seed: NumPy seed (REASAN: generator seed 0). Region A uses ``default_rng([seed, 0])``,
      region C ``default_rng([seed, 2])``.
    num_pairs: spawn/goal pairs per region (1000).
    grid_blocks: sub-blocks per side of region A (15; e.g. 4 for tests).
    grid_cell: region A cell side, m (1.25).
    maze_cells: cells per side of region C (40; e.g. 8 for tests).
    maze_cell: region C cell side, m (1.75).
    grid_center, maze_center: region centres, world m.
    double_maze_walls: draw shared maze walls twice (REASAN) or once.
    pack_cell: bin side of the packed static world, m.
    max_range: range the packed world must gather, m (6 m rays + 0.45 m ray-centre offset).

  Returns:
    The :class:`NavWorld`.

  Raises:
    NavWorldError: non-positive sizes or pair count, or regions whose squares come closer than
      ``max_range`` (their sensing would mix).
  """
  for name, v in (("num_pairs", num_pairs), ("grid_blocks", grid_blocks),
                  ("maze_cells", maze_cells), ("grid_cell", grid_cell), ("maze_cell", maze_cell),
                  ("pack_cell", pack_cell)):
    if not v > 0:
      raise NavWorldError(f"make_nav_world: {name} must be positive, got {v!r}.")
  n_grid = 3 * grid_blocks - 1
  sizes = (n_grid * grid_cell, maze_cells * maze_cell)
  centres = (np.asarray(grid_center, np.float64), np.asarray(maze_center, np.float64))
  gap = np.max(np.abs(centres[0] - centres[1]) - (sizes[0] + sizes[1]) / 2)
  if gap <= max_range:
    raise NavWorldError(f"make_nav_world: the grid and maze squares are only {gap:.2f} m apart; "
                        f"move grid_center / maze_center more than {max_range} m apart.")
  origins = tuple(tuple(float(v) for v in c - s / 2) for c, s in zip(centres, sizes))
  cells = (float(grid_cell), float(maze_cell))

  rng_a = np.random.default_rng([seed, 0])
  grid_walls, chosen, segments = maze.general_grid(rng_a, grid_blocks)
  grid_pillars = pillars.draw_grid(rng_a, origins[GRID], grid_cell, n_grid, segments)
  cand, g_spawn, g_goal = _grid_pairs(rng_a, grid_blocks, num_pairs, grid_cell,
                                      GRID_PAIR_RADIUS)
  g_goal_flat = g_goal[:, 1] * n_grid + g_goal[:, 0]
  uniq, inv = np.unique(g_goal_flat, return_inverse=True)
  g_codes = maze.guide_codes(grid_walls, maze.hop_distances(grid_walls, uniq))[inv.ravel()]

  rng_c = np.random.default_rng([seed, 2])
  maze_walls = maze.perfect_maze(rng_c, maze_cells)
  maze_pillars = pillars.draw_maze(rng_c, origins[MAZE], maze_cell, maze_walls, double_maze_walls)
  m_spawn, m_goal, m_hops = _maze_pairs(rng_c, maze_walls, num_pairs, maze_cell)
  m_codes = maze.guide_codes(maze_walls, m_hops)

  side = max(n_grid, maze_cells)
  guide = np.zeros((2, num_pairs, side, side), np.int8)
  guide[GRID, :, :n_grid, :n_grid] = g_codes
  guide[MAZE, :, :maze_cells, :maze_cells] = m_codes
  spawn = np.stack([_centres(origins[GRID], grid_cell, g_spawn),
                    _centres(origins[MAZE], maze_cell, m_spawn)]).astype(np.float32)
  goal = np.stack([_centres(origins[GRID], grid_cell, g_goal),
                   _centres(origins[MAZE], maze_cell, m_goal)]).astype(np.float32)

  boxes = [_boxes(p) for p in (grid_pillars, maze_pillars)]
  static = obstacles.binned_world(
      np.concatenate([b[0] for b in boxes]), np.concatenate([b[1] for b in boxes]),
      np.concatenate([b[2] for b in boxes]), pack_cell, max_range,
      spawn=spawn.reshape(-1, 2))
  host = NavHost(walls=(grid_walls, maze_walls), pillars=(grid_pillars, maze_pillars),
                 origin=origins, cell=cells, grid_chosen=chosen, grid_candidates=cand,
                 pair_cells=((g_spawn, g_goal), (m_spawn, m_goal)))
  return NavWorld(
      static=static, spawn=jnp.asarray(spawn), goal=jnp.asarray(goal), guide=jnp.asarray(guide),
      origin=jnp.asarray(origins, jnp.float32), cell=jnp.asarray(cells, jnp.float32),
      shape=jnp.asarray([[n_grid, n_grid], [maze_cells, maze_cells]], jnp.int32),
      goal_noise=jnp.asarray([GRID_GOAL_NOISE, 0.0], jnp.float32), host=host)


def sample_pair(key: jax.Array, world: NavWorld, region: jax.Array | int
                ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """A reset's spawn and goal (REASAN nav §3.3 step 4): pair k uniform over the region's list;
  the grid's goal gets U(+-0.25) m per axis, the maze's none.

  Args:
    key: PRNG key.
    world: the worlds.
    region: () int :data:`GRID` or :data:`MAZE` (may be traced).

  Returns:
    ``(spawn (2,), goal (2,), pair ())``: world m, world m, int32 pair index (for
    :func:`guide_vector`).
  """
  k_pair, k_noise = jax.random.split(key)
  k = jax.random.randint(k_pair, (), 0, world.num_pairs)
  noise = jax.random.uniform(k_noise, (2,), minval=-1.0, maxval=1.0) * world.goal_noise[region]
  return world.spawn[region, k], world.goal[region, k] + noise, k


def cell_index(world: NavWorld, region: jax.Array | int, xy: jax.Array
               ) -> tuple[jax.Array, jax.Array]:
  """``(ij (2,) int32 (ix, iy), inside ())`` of a world point in a region's cell grid."""
  ij = jnp.floor((xy - world.origin[region]) / world.cell[region]).astype(jnp.int32)
  inside = jnp.all((ij >= 0) & (ij < world.shape[region]))
  return ij, inside


def guide_vector(world: NavWorld, region: jax.Array | int, pair: jax.Array | int,
                 xy: jax.Array) -> jax.Array:
  """The guide vector at a world point (REASAN nav §4.6), jit / vmap friendly.

  Args:
    world: the worlds.
    region: () int region (:data:`GRID` / :data:`MAZE`).
    pair: () int pair index from :func:`sample_pair`.
    xy: (2,) robot position, world m.

  Returns:
    (2,) float32 world-frame unit step (dx, dy) of a shortest path from the robot's cell toward
    the pair's goal cell; zeros outside the region's grid, at the goal cell and where unreachable.
  """
  ij, inside = cell_index(world, region, xy)
  side = world.guide.shape[-1]
  ij = jnp.clip(ij, 0, side - 1)
  code = world.guide[region, pair, ij[1], ij[0]]
  vec = jnp.asarray(maze.GUIDE_DIRS)[code.astype(jnp.int32)]
  return jnp.where(inside, vec, 0.0)


NAV_NUM_STATIC = 1024
NAV_NUM_STATIC_MULTI = 1152
NAV_NUM_NEAR = 64
NAV_WINDOW = 9
NAV_NUM_CONTACT = 48
"""Cull sizes for the nav worlds (``benchmarks/nav_world_cull.py``, seeds 0-3, per region its 2000
spawn and goal points and 2000 uniform points; checked by ``tests/test_nav_worlds.py``). Pillars
whose lower bound is within reach of a point of the full-size worlds: grid mean 266 / max 363
within 6 m, mean 302 / max 401 within 6.45 m; maze with REASAN's doubled walls mean 750 / max 916
within 6 m, mean 895 / max 1051 within 6.45 m; within 3 m at most 133 (grid) / 283 (maze). So
1024 pillars are kept with 1 ray centre (cull radius 6 m) and 1152 with 3, 5 or 11 centres
(6.3-6.45 m). With ``double_maze_walls=False`` the maze has at most 470 / 540, so
``nav_sensor_config(num_static=512)`` (1 centre) or 640 (more) suffice. The nearest 64 pillars
are cast on all azimuths and the rest on 9 (no window overflow at random points nor at dead-end
corners 0.25 m from two walls). The contact cull keeps 48 pillars: at 20000 uniform points per
region of the full-size worlds (seed 0, points inside walls included) at most 22 (grid) / 38
(maze) pillars have a lower bound within 0.6 m, beyond an undesired geom's ~0.45 m reach."""


def nav_sensor_config(**overrides) -> pipeline.SensorConfig:
  """Sensing settings for the nav worlds (REASAN nav §2.1, §7.2): the cull keeps
  ``num_static`` pillars (:data:`NAV_NUM_STATIC`, or :data:`NAV_NUM_STATIC_MULTI` with more than
  one ray centre), the nearest ``num_near`` are cast on all 180 azimuths and the rest on
  ``window`` azimuths around their bearing.

  Args:
    **overrides: any :class:`reasan_jax.sensors.pipeline.SensorConfig` field.

  Returns:
    The config.
  """
  multi = overrides.get("num_centers", 1) > 1
  base = dict(num_static=NAV_NUM_STATIC_MULTI if multi else NAV_NUM_STATIC,
              num_near=NAV_NUM_NEAR, window=NAV_WINDOW, num_contact=NAV_NUM_CONTACT)
  base.update(overrides)
  return pipeline.SensorConfig(**base)


def pillar_boxes(world: NavWorld, region: int | None = None) -> dict[str, np.ndarray]:
  """Pillars as host box arrays (rendering, MuJoCo cross-checks): ``center (N, 3)``, ``yaw (N,)``,
  ``half (N, 3)``, ``kind (N,)`` (all boxes); one region or both."""
  regions = (GRID, MAZE) if region is None else (region,)
  parts = [_boxes(world.host.pillars[r]) for r in regions]
  center, yaw, half = (np.concatenate([p[i] for p in parts]) for i in range(3))
  return {"center": center, "yaw": yaw, "half": half, "kind": np.zeros(len(yaw), np.int32)}
