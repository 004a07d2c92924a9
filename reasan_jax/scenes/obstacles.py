"""REASAN's static filter world (REASAN filter §6.1) as a periodic tile world shared by all envs.

Generation (NumPy, once at start-up, seeded; the world is a constant of the env):

* square tiles of 9 m; each tile holds a 5 x 5 grid of cells of 1.8 m; the centre of each cell is
  jittered by U(-0.75, 0.75) m in x and y and holds one **composite** obstacle;
* a composite = 3 or 4 boxes (equal odds) in a pattern drawn uniformly from {row, L-shape,
  2 x 2 grid (3-box partial grid when 3), T-shape}; base size U(0.1, 0.3) m; every box is square
  with side ``base * U(0.8, 1.2)`` and height U(0.5, 1.5) m, standing on z = 0; neighbouring box
  centres are ``1.1 * base`` apart (REASAN's "~1.1 x side"); every box is yawed by the cell's
  angle U(0, 2 pi), the group is rotated by another U(0, 2 pi) and moved to the cell centre;
* spawn points: 20 per tile, uniform rejection samples with >= 0.9 m horizontal clearance from
  every box footprint (REASAN's ring test of radii 0..0.9 m approximates exactly this).

World design (the issue asks that a robot walking 2.5 m/s for a 20 s episode, i.e. up to 50 m,
never runs out of obstacles): REASAN's world is one 90 m x 90 m terrain shared by all envs with a
flat 20 m border. Here the same 10 x 10 tiles (90 m, 2500 composites, ~8750 boxes) are shared by all
envs and repeat **periodically** in x and y, so there is no border to run into and envs spawn
anywhere in it (REASAN filter §6.1 quirk: spawns ignore the curriculum tile). Memory: 2500 cells x
4 box slots (8796 boxes used at seed 0) = 410 kB for any number of envs. Per env step the robot's
disk of cells that can hold a box within range is gathered (6 m rays plus the 0.45 m largest
ray-centre offset, and a box reaches up to 1.68 m from its cell centre: 81 cells of the 13 x 13
window, 324 box slots) and culled to the k nearest boxes with ``lax.top_k``. The alternative, a private world of W x W tiles per env, would need W = 11 tiles
(50 m in every direction) = ~10.6 k boxes = 380 kB per env, 390 MB at 1024 envs, for no
statistical gain (REASAN's tiles are i.i.d.).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from reasan_jax.sensors import rays

TILE_SIZE = 9.0
"""Side of a tile in m (REASAN filter §6.1)."""
CELLS_PER_TILE = 5
"""5 x 5 composite cells per tile, cell 1.8 m (REASAN filter §6.1)."""
CELL_JITTER = 0.75
"""Cell-centre jitter U(-0.75, 0.75) m (REASAN filter §6.1)."""
BOXES_PER_COMPOSITE = (3, 4)
PATTERNS = ("row", "L", "grid", "T")
BASE_SIZE = (0.1, 0.3)
SIDE_SCALE = (0.8, 1.2)
HEIGHT = (0.5, 1.5)
SPACING = 1.1
"""Composite figures (REASAN filter §6.1): 3 or 4 boxes, 4 patterns, base U(0.1, 0.3) m, side
base x U(0.8, 1.2), height U(0.5, 1.5) m, spacing 1.1 x base."""
SPAWNS_PER_TILE = 20
SPAWN_CLEARANCE = 0.9
"""20 spawn points per tile with >= 0.9 m clearance (REASAN filter §6.1 flat patches)."""
NUM_TILES = 10
"""10 x 10 tiles = REASAN's 90 m x 90 m (REASAN filter §6.1)."""
SLOTS = 4

_PATTERN_CELLS = {
    ("row", 3): ((0, 0), (1, 0), (2, 0)),
    ("row", 4): ((0, 0), (1, 0), (2, 0), (3, 0)),
    ("L", 3): ((0, 0), (1, 0), (0, 1)),
    ("L", 4): ((0, 0), (1, 0), (2, 0), (0, 1)),
    ("grid", 3): ((0, 0), (1, 0), (0, 1)),
    ("grid", 4): ((0, 0), (1, 0), (0, 1), (1, 1)),
    ("T", 3): ((0, 0), (1, 0), (0.5, -1)),
    ("T", 4): ((0, 0), (1, 0), (2, 0), (1, -1)),
}
"""Box positions of each pattern in units of the spacing, before centring (our own choice of
offsets; REASAN filter §6.1 names the patterns only). The 3-box "grid" is the partial 2 x 2 grid
and so coincides with the 3-box L."""


@struct.dataclass
class StaticWorld:
  """Static obstacles of all envs.

  Attributes:
    prims: primitives on a cell grid, arrays shaped (Gy, Gx, S, ...); for a periodic world the
      centres are relative to the (unjittered) cell centre, for a non-periodic world (a layout
      world with Gy = Gx = 1, or a :func:`binned_world`) they are absolute world coordinates.
    spawn: (P, 2) float32 spawn points, world m (periodic world: inside its first period).
    origin: static (x0, y0) world corner of cell (0, 0), m.
    cell: static cell side, m.
    window: static half-width n of the cell window gathered around the robot.
    periodic: static; True for the tiled world, False for a user layout or a binned world.
    reach: static bound in m on ``|centre_xy - cell centre| + rho`` of any primitive (the
      gathered cells are the disk of the window that can hold a primitive within range).
  """

  prims: rays.Primitives
  spawn: jax.Array
  origin: tuple[float, float] = struct.field(pytree_node=False, default=(0.0, 0.0))
  cell: float = struct.field(pytree_node=False, default=1.8)
  window: int = struct.field(pytree_node=False, default=5)
  periodic: bool = struct.field(pytree_node=False, default=True)
  reach: float = struct.field(pytree_node=False, default=1.8)

  @property
  def period(self) -> tuple[float, float]:
    """World period (Lx, Ly) in m."""
    gy, gx = self.prims.kind.shape[:2]
    return (gx * self.cell, gy * self.cell)


@dataclasses.dataclass(frozen=True)
class Composite:
  """One generated composite (host-side record, for statistics tests)."""
  num_boxes: int
  pattern: str
  base: float


def _composite(rng: np.random.Generator):
  """Boxes of one composite relative to its centre: (n, 2) xy, (n,) yaw, (n,) side, (n,) height."""
  n = int(rng.choice(BOXES_PER_COMPOSITE))
  pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
  base = rng.uniform(*BASE_SIZE)
  side = base * rng.uniform(*SIDE_SCALE, size=n)
  height = rng.uniform(*HEIGHT, size=n)
  own, group = rng.uniform(0.0, 2 * np.pi, size=2)
  cells = np.asarray(_PATTERN_CELLS[(pattern, n)], np.float64) * SPACING * base
  cells -= cells.mean(axis=0)
  c, s = np.cos(group), np.sin(group)
  xy = cells @ np.array([[c, s], [-s, c]])
  return xy, np.full(n, own + group), side, height, Composite(n, pattern, base)


def generate_tile(seed: int):
  """Generates one 9 m tile (REASAN filter §6.1), host-side.

  Args:
    seed: NumPy seed of the tile (REASAN re-seeds per tile with a counter 0, 1, 2, ...).

  Returns:
    ``(boxes, composites)``: boxes as a dict of arrays ``cell (n, 2) int`` (cell index in the
    tile, x then y), ``xy (n, 2)`` (tile-local centre, m, tile corner at 0), ``yaw (n,)``,
    ``side (n,)`` (full side, m), ``height (n,)`` (m); and the list of 25 :class:`Composite`.
  """
  rng = np.random.default_rng(seed)
  cell = TILE_SIZE / CELLS_PER_TILE
  out = {"cell": [], "xy": [], "yaw": [], "side": [], "height": []}
  comps = []
  for iy in range(CELLS_PER_TILE):
    for ix in range(CELLS_PER_TILE):
      centre = (np.array([ix, iy]) + 0.5) * cell + rng.uniform(-CELL_JITTER, CELL_JITTER, 2)
      xy, yaw, side, height, comp = _composite(rng)
      comps.append(comp)
      out["cell"].append(np.tile([ix, iy], (len(yaw), 1)))
      out["xy"].append(xy + centre)
      out["yaw"].append(yaw)
      out["side"].append(side)
      out["height"].append(height)
  return {k: np.concatenate(v) for k, v in out.items()}, comps


def box_footprint_distance(points: np.ndarray, xy: np.ndarray, yaw: np.ndarray,
                           half: np.ndarray) -> np.ndarray:
  """(P, N) horizontal distance in m from points (P, 2) to yawed rectangles (N: centre, yaw,
  half sizes (N, 2)); 0 inside."""
  d = points[:, None, :] - xy[None]
  c, s = np.cos(yaw)[None], np.sin(yaw)[None]
  lx, ly = c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]
  ex = np.maximum(np.abs(lx) - half[None, :, 0], 0.0)
  ey = np.maximum(np.abs(ly) - half[None, :, 1], 0.0)
  return np.hypot(ex, ey)


def make_tiled_world(num_tiles: int = NUM_TILES, seed: int = 0, max_range: float = rays.MAX_RANGE
                     + 0.45, spawns_per_tile: int = SPAWNS_PER_TILE,
                     clearance: float = SPAWN_CLEARANCE) -> StaticWorld:
  """REASAN's filter world (REASAN filter §6.1), periodic with period ``num_tiles * 9`` m.

  Args:
    num_tiles: tiles per side (10 = REASAN's 90 m x 90 m), >= 1.
    seed: world seed; tile t uses seed ``seed * 1_000_003 + t``.
    max_range: range in m within which boxes must be gathered around the robot (6 m rays plus
      the 0.45 m largest ray-centre offset); sets the window.
    spawns_per_tile: spawn points per tile (20).
    clearance: minimum horizontal clearance of a spawn point from any box footprint, m (0.9).

  Returns:
    The :class:`StaticWorld`, centred on the world origin.

  Raises:
    ValueError: ``num_tiles`` < 1.
    RuntimeError: a tile has fewer than ``spawns_per_tile`` clear points among 4000 candidates.
  """
  if num_tiles < 1:
    raise ValueError(f"num_tiles must be >= 1, got {num_tiles}")
  cell = TILE_SIZE / CELLS_PER_TILE
  g = num_tiles * CELLS_PER_TILE
  size = num_tiles * TILE_SIZE
  origin = (-size / 2, -size / 2)
  local = np.zeros((g, g, SLOTS, 3), np.float32)
  yaw = np.zeros((g, g, SLOTS), np.float32)
  half = np.zeros((g, g, SLOTS, 3), np.float32)
  valid = np.zeros((g, g, SLOTS), bool)
  all_xy, all_yaw, all_half, tile_of = [], [], [], []
  for t in range(num_tiles * num_tiles):
    ty, tx = divmod(t, num_tiles)
    boxes, _ = generate_tile(seed * 1_000_003 + t)
    gx = tx * CELLS_PER_TILE + boxes["cell"][:, 0]
    gy = ty * CELLS_PER_TILE + boxes["cell"][:, 1]
    world_xy = boxes["xy"] + np.array([tx, ty]) * TILE_SIZE + origin
    for i in range(len(gx)):
      slot = int(valid[gy[i], gx[i]].sum())
      centre = np.array(origin) + (np.array([gx[i], gy[i]]) + 0.5) * cell
      local[gy[i], gx[i], slot] = (*(world_xy[i] - centre), boxes["height"][i] / 2)
      yaw[gy[i], gx[i], slot] = boxes["yaw"][i]
      h = boxes["side"][i] / 2
      half[gy[i], gx[i], slot] = (h, h, boxes["height"][i] / 2)
      valid[gy[i], gx[i], slot] = True
    all_xy.append(world_xy)
    all_yaw.append(boxes["yaw"])
    all_half.append(boxes["side"][:, None].repeat(2, 1) / 2)
    tile_of.append(np.full(len(gx), t))
  all_xy, all_yaw, all_half = map(np.concatenate, (all_xy, all_yaw, all_half))
  reach = float(np.max(np.where(valid, np.linalg.norm(local[..., :2], axis=-1)
                                + np.hypot(half[..., 0], half[..., 1]), 0.0)))
  window = int(math.ceil((max_range + reach + cell / 2) / cell))
  spawn = _spawn_points(num_tiles, origin, all_xy, all_yaw, all_half, size, spawns_per_tile,
                        clearance, seed)
  prims = rays.Primitives(
      center=jnp.asarray(local), cos_sin=jnp.stack([jnp.cos(yaw), jnp.sin(yaw)], -1),
      half=jnp.asarray(half), kind=jnp.zeros(valid.shape, jnp.int32),
      cls=jnp.zeros(valid.shape, jnp.int32), valid=jnp.asarray(valid), kinds=("box",))
  return StaticWorld(prims=prims, spawn=jnp.asarray(spawn), origin=origin, cell=cell,
                     window=min(window, (g - 1) // 2), periodic=True, reach=reach)


def _spawn_points(num_tiles, origin, xy, yaw, half, size, per_tile, clearance, seed):
  rng = np.random.default_rng(seed + 7919)
  out = []
  for t in range(num_tiles * num_tiles):
    ty, tx = divmod(t, num_tiles)
    corner = np.array(origin) + np.array([tx, ty]) * TILE_SIZE
    cand = corner + rng.uniform(0, TILE_SIZE, (4000, 2))
    centre = corner + TILE_SIZE / 2
    # Boxes near the tile, with periodic images across the world seam.
    rel = (xy - centre + size / 2) % size - size / 2
    near = np.all(np.abs(rel) < TILE_SIZE / 2 + clearance + 1.0, axis=1)
    dist = box_footprint_distance(cand - centre, rel[near], yaw[near], half[near])
    ok = cand[np.all(dist >= clearance, axis=1)] if near.any() else cand
    if len(ok) < per_tile:
      raise RuntimeError(f"tile {t}: only {len(ok)} spawn points with {clearance} m clearance")
    out.append(ok[:per_tile])
  return np.concatenate(out).astype(np.float32)


def nearby_static(world: StaticWorld, xy: jax.Array, k: int,
                  radius: float = rays.MAX_RANGE + 0.45,
                  num_sorted: int | None = None) -> tuple[rays.Primitives, jax.Array]:
  """The ``k`` static primitives nearest to ``xy`` in world coordinates (one env).

  Periodic worlds gather the disk of cells around the robot with wrap-around; a binned
  non-periodic world (:func:`binned_world`) gathers the same disk without wrap-around (cells
  outside the grid are empty); a single-cell layout world (:mod:`reasan_jax.scenes.layout`)
  ranks all of its primitives.

  Args:
    world: the static world.
    xy: (2,) robot position, world m (any value: the tiled world repeats; outside a binned
      world's grid nothing is found).
    k: primitives kept (static int), see :func:`reasan_jax.sensors.rays.nearest_primitives`.
    radius: range in m that matters for the cull count (6 m rays + 0.45 m ray-centre offset).
    num_sorted: None (all ``k`` nearest first) or how many leading entries are sorted (see
      :func:`reasan_jax.sensors.rays.nearest_primitives`).

  Returns:
    ``(prims, num_in_range)``: (k,) primitives with absolute world centres, nearest first, and
    the count of primitives within ``radius`` (exact cull iff <= k).
  """
  p = world.prims
  gy, gx = p.kind.shape[:2]
  if not world.periodic and gy * gx == 1:
    flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[3:]), p)
    return rays.nearest_primitives(flat, xy, k, radius, num_sorted)
  org = jnp.asarray(world.origin, jnp.float32)
  i = jnp.floor((xy - org) / world.cell).astype(jnp.int32)  # (ix, iy), unwrapped
  o = _stencil(world.window, (radius + world.reach) / world.cell)  # (S, 2) static offsets
  ix = i[0] + o[:, 0]
  iy = i[1] + o[:, 1]
  if world.periodic:
    wx, wy = ix % gx, iy % gy
    sub = jax.tree.map(lambda a: a[wy, wx], p)  # (S, slots, ...)
    centre = org + (jnp.stack([ix, iy], -1) + 0.5) * world.cell  # (S, 2)
    sub = sub.replace(center=sub.center + jnp.concatenate(
        [centre, jnp.zeros(centre.shape[:-1] + (1,))], -1)[:, None, :])
  else:  # binned world: absolute centres; cells outside the grid hold nothing
    inside = (ix >= 0) & (ix < gx) & (iy >= 0) & (iy < gy)
    sub = jax.tree.map(lambda a: a[jnp.clip(iy, 0, gy - 1), jnp.clip(ix, 0, gx - 1)], p)
    sub = sub.replace(valid=sub.valid & inside[:, None])
  flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), sub)
  return rays.nearest_primitives(flat, xy, k, radius, num_sorted)


def binned_world(center: np.ndarray, yaw: np.ndarray, half: np.ndarray, cell: float,
                 max_range: float = rays.MAX_RANGE + 0.45, spawn: np.ndarray | None = None,
                 margin: float = 1.0) -> StaticWorld:
  """A non-periodic :class:`StaticWorld` of many static boxes, binned on a cell grid.

  Each box goes to the cell holding its centre; the slot count is the largest per-cell count
  (unused slots are invalid). :func:`nearby_static` then gathers only the disk of cells that can
  hold a box within ``radius`` of the robot, as for the periodic world, so the cull cost depends
  on the local density, not on the world size (the nav worlds, REASAN nav §4, hold ~40 k pillars).

  Args:
    center: (N, 3) box centres, world m (absolute, as in a layout world).
    yaw: (N,) rad.
    half: (N, 3) half sizes, m.
    cell: bin side, m (> 0).
    max_range: range in m within which boxes must be gathered (sets the window).
    spawn: (P, 2) spawn points stored with the world (default one point at the origin).
    margin: free border in m around the boxes' bounding box.

  Returns:
    The world (``periodic=False``; ``origin`` = corner of cell (0, 0)).

  Raises:
    ValueError: no boxes, or ``cell`` <= 0.
  """
  center = np.asarray(center, np.float64)
  if center.shape[0] == 0 or cell <= 0:
    raise ValueError(f"binned_world needs at least one box and cell > 0, got {center.shape[0]} "
                     f"boxes and cell={cell}")
  lo = center[:, :2].min(0) - margin
  hi = center[:, :2].max(0) + margin
  gx, gy = (np.ceil((hi - lo) / cell).astype(int) + 1).tolist()
  idx = np.floor((center[:, :2] - lo) / cell).astype(int)
  flat = idx[:, 1] * gx + idx[:, 0]
  order = np.argsort(flat, kind="stable")
  counts = np.bincount(flat, minlength=gx * gy)
  slots = int(counts.max())
  first = np.concatenate([[0], np.cumsum(counts)[:-1]])
  slot = np.empty(len(flat), int)
  slot[order] = np.arange(len(flat)) - first[flat[order]]
  pos = np.full((gy, gx, slots, 3), 1e6, np.float32)
  ang = np.zeros((gy, gx, slots), np.float32)
  hs = np.ones((gy, gx, slots, 3), np.float32)
  valid = np.zeros((gy, gx, slots), bool)
  pos[idx[:, 1], idx[:, 0], slot] = center
  ang[idx[:, 1], idx[:, 0], slot] = yaw
  hs[idx[:, 1], idx[:, 0], slot] = half
  valid[idx[:, 1], idx[:, 0], slot] = True
  cc = lo + (idx + 0.5) * cell
  reach = float(np.max(np.linalg.norm(center[:, :2] - cc, axis=1)
                       + np.hypot(half[:, 0], half[:, 1])))
  window = int(math.ceil((max_range + reach + cell / 2) / cell))
  prims = rays.Primitives(
      center=jnp.asarray(pos), cos_sin=jnp.stack([jnp.cos(ang), jnp.sin(ang)], -1),
      half=jnp.asarray(hs), kind=jnp.zeros(valid.shape, jnp.int32),
      cls=jnp.zeros(valid.shape, jnp.int32), valid=jnp.asarray(valid), kinds=("box",))
  spawn = np.zeros((1, 2)) if spawn is None else np.asarray(spawn)
  return StaticWorld(prims=prims, spawn=jnp.asarray(spawn, jnp.float32),
                     origin=(float(lo[0]), float(lo[1])), cell=float(cell), window=window,
                     periodic=False, reach=reach)


def _stencil(n: int, r_cells: float) -> np.ndarray:
  """(S, 2) int cell offsets (x, y) within the (2n + 1)^2 window whose cell can hold a primitive
  within range: the distance from the robot's cell to the offset cell's centre, in cells,
  ``hypot(max(|ox| - 1/2, 0), max(|oy| - 1/2, 0))`` is at most ``r_cells`` = (range + reach) /
  cell (81 of 169 cells for the REASAN world)."""
  o = np.arange(-n, n + 1)
  ox, oy = np.meshgrid(o, o)
  d = np.hypot(np.maximum(np.abs(ox) - 0.5, 0), np.maximum(np.abs(oy) - 0.5, 0))
  keep = d <= r_cells
  return np.stack([ox[keep], oy[keep]], -1).astype(np.int32)


def sample_spawn(key: jax.Array, world: StaticWorld) -> jax.Array:
  """(2,) a spawn point drawn uniformly from all of the world's points (REASAN filter §5.2 step
  6, §6.1 quirk: independent of the curriculum tile). The robot goes 0.5 m above it."""
  return world.spawn[jax.random.randint(key, (), 0, world.spawn.shape[0])]


def world_boxes(world: StaticWorld) -> dict[str, np.ndarray]:
  """All valid static primitives of one period as host arrays (absolute centres) for rendering
  and tests: ``center (N, 3)``, ``yaw (N,)``, ``half (N, 3)``, ``kind (N,)``."""
  p = jax.tree.map(np.asarray, world.prims)
  centre = np.asarray(p.center, np.float64)
  if world.periodic:
    gy, gx = p.kind.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(gx), np.arange(gy)), -1)  # (gy, gx, 2) = (ix, iy)
    cc = np.asarray(world.origin) + (grid + 0.5) * world.cell
    centre = centre + np.concatenate([cc, np.zeros(cc.shape[:-1] + (1,))], -1)[:, :, None]
  v = p.valid
  return {"center": centre[v], "yaw": np.arctan2(p.cos_sin[..., 1], p.cos_sin[..., 0])[v],
          "half": p.half[v], "kind": p.kind[v]}
