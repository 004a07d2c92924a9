"""Analytic ray casts against obstacle primitives, pure JAX (jit / vmap friendly).

Scene model (REASAN filter §2.1, §6.1, §6.3; REASAN nav §7.1):

* **Primitives** (:class:`Primitives`): yawed boxes and vertical cylinders, each with a centre
  (x, y, z), a yaw and half sizes ``(hx, hy, hz)`` (cylinders: ``(r, r, hz)``). Static obstacles
  stand on the ground (centre z = hz); dynamic obstacles are 1.5 m tall with a z offset.
  Each primitive carries a hit class: 0 = static / ground, j >= 1 = dynamic obstacle j
  (REASAN filter §2.1 mesh ids; -1 is reserved for a miss).
* **Ground**: the plane z = 0, hit only from above (``mujoco.mj_ray``'s plane test does the same).
  REASAN's measure rays are horizontal and start above the ground, so they never reach it; the
  general 3-D cast (:func:`cast_rays`) handles it for tilted sensors such as the Mid-360.

Intersection: a ray meets a convex primitive on one interval ``[t_in, t_out]`` of its length; for
boxes it is the intersection of the three slabs in the box frame, for cylinders the interval of the
quadratic ``|p_xy + t d_xy|^2 = r^2`` intersected with the z slab. The hit length is ``t_in`` when
``t_in >= 0``. **Rays starting inside a primitive** (``t_in < 0 <= t_out``) return the exit
length ``t_out``: a Warp mesh ray cast from inside a closed mesh hits the back face (REASAN nav
§7.1 casts against closed meshes, no back-face culling), and ``mujoco.mj_ray`` returns the exit
distance for boxes and cylinders too (checked in ``tests/test_rays.py``). A ray that grazes an
edge or corner (``t_in == t_out``) counts as a hit, as in ``mj_ray``.

Cost design (thousands of envs, ~100 obstacles near each robot): everything is vectorised over
rays x primitives (no Python loop over primitives), with the 3 REASAN layers sharing one 2-D test
in :func:`cast_measure` (horizontal rays meet a vertical prism at the same horizontal distance
whatever their height; the height only decides whether the prism is tall enough). Culling
(:func:`nearest_primitives`) keeps the ``k`` primitives with the smallest lower bound
``|c_xy - p_xy| - rho`` (``rho`` = horizontal bounding radius) on their distance to the robot,
selected with ``lax.top_k``. A primitive whose lower bound exceeds ``max_range + offset`` cannot
produce a hit within ``max_range`` of the base origin, because every distance is clipped at
``max_range`` = 6 m (REASAN filter §2.1) and the ray centres are at most ``offset`` from it; the
culling is exact as long as fewer than ``k`` primitives lie within that bound (it returns the count
so callers can check).

Deviation (documented in docs/deviations.md by the lead): a hit farther than ``max_range`` from
the base origin is reported as a miss (class -1, distance 6). REASAN keeps the class of such hits
(its 90 m world usually has something behind 6 m); this only changes the TTC of a beam whose
nearest obstacle is beyond 6 m and only when the closing speed along it exceeds 1 m/s
(REASAN filter §4.1: ``min(3 / p, 3)`` vs 3).

This module is over 400 lines on purpose: the general 3-D cast and REASAN's horizontal measure
pattern share one family of analytic intersections (slab, disk, culling) that reads best together.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

BOX = 0
CYLINDER = 1
KIND_NAMES = ("box", "cylinder")

MISS = -1
STATIC = 0
"""Hit classes (REASAN filter §2.1): -1 miss, 0 terrain / static, j >= 1 dynamic obstacle j."""

MAX_RANGE = 6.0
"""Distances are clipped to [0, 6] m and misses read 6 m (REASAN filter §2.1)."""

LAYER_HEIGHTS = (0.0, 0.1, 0.2)
"""Heights in m of the 3 measure layers above the base origin (REASAN filter §2.1)."""

NUM_AZIMUTHS = 180
"""Azimuths per layer, ``phi_k = -180 deg + 2 deg * k`` (REASAN filter §2.1)."""

CENTER_OFFSETS = {
    1: ((0.0, 0.0),),
    3: ((0.0, 0.0), (0.4, 0.0), (-0.4, 0.0)),
    5: ((0.0, 0.0), (0.3, 0.15), (0.3, -0.15), (-0.4, 0.15), (-0.4, -0.15)),
    11: ((0.0, 0.0), (0.3, 0.15), (0.3, -0.15), (-0.4, 0.15), (-0.4, -0.15), (0.3, 0.0),
         (-0.4, 0.0), (0.1, 0.15), (0.1, -0.15), (-0.2, 0.15), (-0.2, -0.15)),
}
"""Ray-centre offsets (x, y) in m in the yaw frame, in REASAN's order, for 1x/3x/5x/11x centres
(REASAN nav §7.2; REASAN filter §2.1). Train default 1x, play default 11x."""

_INF = jnp.inf
_TINY = 1e-12


@struct.dataclass
class Primitives:
  """A set of obstacle primitives (one env; add leading axes for batches / grids).

  Attributes:
    center: (..., M, 3) float32 centre in world metres.
    cos_sin: (..., M, 2) float32 (cos yaw, sin yaw) of the rotation about world z.
    half: (..., M, 3) float32 half sizes in m: box (hx, hy, hz), cylinder (r, r, hz).
    kind: (..., M) int32 :data:`BOX` or :data:`CYLINDER`.
    cls: (..., M) int32 hit class: 0 static, j >= 1 dynamic obstacle j (REASAN filter §2.1).
    valid: (..., M) bool; invalid entries (padding, parked obstacles) are never hit.
    kinds: static tuple of the kinds that may occur (``("box",)``, ``("cylinder",)`` or both);
      a cast only evaluates the formulas of the kinds listed (boxes-only worlds pay no
      cylinder test).
  """

  center: jax.Array
  cos_sin: jax.Array
  half: jax.Array
  kind: jax.Array
  cls: jax.Array
  valid: jax.Array
  kinds: tuple[str, ...] = struct.field(pytree_node=False, default=("box", "cylinder"))

  @property
  def size(self) -> int:
    """Number of primitives M (last axis)."""
    return self.kind.shape[-1]


def make_primitives(center, yaw, half, kind, cls=None, valid=None,
                    kinds: tuple[str, ...] | None = None) -> Primitives:
  """Builds :class:`Primitives` from plain arrays.

  Args:
    center: (M, 3) centres in m.
    yaw: (M,) yaw in rad.
    half: (M, 3) half sizes in m (cylinders: (r, r, hz); ``hy`` is ignored for cylinders).
    kind: (M,) :data:`BOX` / :data:`CYLINDER`.
    cls: (M,) hit classes, default 0 (static).
    valid: (M,) bool, default all True.
    kinds: static kinds present; default inferred from ``kind`` when it is concrete.

  Returns:
    The primitives (float32 / int32 / bool arrays).
  """
  center = jnp.asarray(center, jnp.float32)
  yaw = jnp.asarray(yaw, jnp.float32)
  kind = jnp.asarray(kind, jnp.int32)
  if kinds is None:
    try:
      ks = set(np.unique(np.asarray(kind)).tolist())
      kinds = tuple(KIND_NAMES[k] for k in sorted(ks)) or ("box",)
    except jax.errors.TracerArrayConversionError:
      kinds = KIND_NAMES
  return Primitives(
      center=center,
      cos_sin=jnp.stack([jnp.cos(yaw), jnp.sin(yaw)], -1),
      half=jnp.asarray(half, jnp.float32),
      kind=kind,
      cls=jnp.zeros(kind.shape, jnp.int32) if cls is None else jnp.asarray(cls, jnp.int32),
      valid=jnp.ones(kind.shape, bool) if valid is None else jnp.asarray(valid, bool),
      kinds=tuple(kinds))


def concat(sets: Sequence[Primitives]) -> Primitives:
  """Concatenates primitive sets along the last (primitive) axis; kinds are merged."""
  kinds = tuple(k for k in KIND_NAMES if any(k in s.kinds for s in sets))
  vec = lambda name: jnp.concatenate([getattr(s, name) for s in sets], axis=-2)
  sca = lambda name: jnp.concatenate([getattr(s, name) for s in sets], axis=-1)
  return Primitives(center=vec("center"), cos_sin=vec("cos_sin"), half=vec("half"),
                    kind=sca("kind"), cls=sca("cls"), valid=sca("valid"), kinds=kinds)


def bounding_radius(prims: Primitives) -> jax.Array:
  """(..., M) horizontal bounding radius in m: box half diagonal, cylinder radius."""
  box = jnp.hypot(prims.half[..., 0], prims.half[..., 1])
  return jnp.where(prims.kind == BOX, box, prims.half[..., 0])


def nearest_primitives(prims: Primitives, xy: jax.Array, k: int,
                       radius: float = MAX_RANGE + 0.45,
                       num_sorted: int | None = None) -> tuple[Primitives, jax.Array]:
  """Keeps the ``k`` primitives nearest to a point (culling before a ray cast).

  Ranking key: the lower bound ``|c_xy - xy| - rho`` on the horizontal distance from ``xy`` to
  the primitive (``rho`` from :func:`bounding_radius`); invalid primitives rank last. The result
  is sorted by that key (nearest first), so its first entries also serve collision tests.

  Args:
    prims: (M,) primitives of one env.
    xy: (2,) query point, m (the base position).
    k: number kept (static); if ``k >= M`` all are kept, still sorted.
    radius: range in m within which a primitive can matter: ``MAX_RANGE`` plus the largest
      ray-centre offset (0.45 m for 11x centres, REASAN nav §7.2).
    num_sorted: None (all ``k`` sorted, one ``top_k``), or a static ``s < k``: only the first
      ``s`` are the nearest, sorted; the other ``k - s`` slots hold the remaining primitives
      within ``radius`` in index order, unused slots invalid (a ``top_k`` of ``s`` plus an
      O(M) compaction instead of a ``top_k`` of ``k``: ~1.7x cheaper for the nav worlds'
      1024 of 3588, ``benchmarks/nav_throughput.py``). The same set within ``radius`` whenever
      the cull is exact, so order-free uses (a min-distance ray cast) give the same result.

  Returns:
    ``(kept, num_in_range)``: the (k,) primitives and the number of valid primitives whose lower
    bound is <= ``radius`` (the cull is exact when it is <= k).
  """
  lb = jnp.linalg.norm(prims.center[:, :2] - xy, axis=-1) - bounding_radius(prims)
  lb = jnp.where(prims.valid, lb, _INF)
  in_range = lb <= radius
  num_in = jnp.sum(in_range)
  k = min(int(k), prims.size)
  if num_sorted is None or int(num_sorted) >= k:
    _, idx = jax.lax.top_k(-lb, k)
    return jax.tree.map(lambda a: a[idx], prims), num_in
  s = int(num_sorted)
  _, near = jax.lax.top_k(-lb, s)
  rest = in_range.at[near].set(False)
  slot = jnp.where(rest, jnp.cumsum(rest) - 1 + s, k)  # k: dropped
  idx = jnp.zeros((k,), jnp.int32).at[:s].set(near.astype(jnp.int32))
  idx = idx.at[slot].set(jnp.arange(prims.size, dtype=jnp.int32), mode="drop")
  filled = jnp.zeros((k,), bool).at[:s].set(True).at[slot].set(True, mode="drop")
  kept = jax.tree.map(lambda a: a[idx], prims)
  return kept.replace(valid=kept.valid & filled), num_in


# --------------------------------------------------------------------------------------------
# Intervals of a ray inside one primitive (broadcasting over any leading axes).


def _to_local(v: jax.Array, cos_sin: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Rotates the xy part of ``v`` (..., >=2) by -yaw: returns (x', y')."""
  c, s = cos_sin[..., 0], cos_sin[..., 1]
  return c * v[..., 0] + s * v[..., 1], -s * v[..., 0] + c * v[..., 1]


def _slab(p: jax.Array, d: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Interval ``[lo, hi]`` of t with ``|p + t d| <= h`` (1-D); empty -> lo > hi.

  A zero direction component is nudged to +-1e-30 (inverse 1e30): the interval is then
  (-1e32.., +1e32..) when ``|p| < h`` and lies entirely on one side of 0 otherwise, which is the
  exact answer for lengths below 1e30 m without a branch.
  """
  inv = 1.0 / jnp.where(d >= 0, d + 1e-30, d - 1e-30)
  t1, t2 = (-h - p) * inv, (h - p) * inv
  return jnp.minimum(t1, t2), jnp.maximum(t1, t2)


def _disk(px, py, dx, dy, r) -> tuple[jax.Array, jax.Array]:
  """Interval of t with ``|(px, py) + t (dx, dy)| <= r``; empty -> lo > hi.

  Solved through the point of closest approach ``m = p + t_mid d`` (``t_mid = -p.d / |d|^2``):
  half chord ``sqrt((r^2 - |m|^2) / |d|^2)``. Unlike the textbook discriminant this has no
  cancellation between ``|p|^2`` and ``r^2``, so float32 stays within ~1e-6 m near tangency.
  """
  a = dx * dx + dy * dy
  par = a < _TINY
  a_s = jnp.where(par, 1.0, a)
  tm = -(px * dx + py * dy) / a_s
  mx, my = px + tm * dx, py + tm * dy
  h2 = r * r - (mx * mx + my * my)
  half = jnp.sqrt(jnp.maximum(h2, 0.0) / a_s)
  ok = h2 >= 0
  inside = px * px + py * py <= r * r
  lo = jnp.where(par, jnp.where(inside, -_INF, _INF), jnp.where(ok, tm - half, _INF))
  hi = jnp.where(par, jnp.where(inside, _INF, -_INF), jnp.where(ok, tm + half, -_INF))
  return lo, hi


def _hit_length(lo: jax.Array, hi: jax.Array) -> jax.Array:
  """Hit length from an interval: ``lo`` if ``lo >= 0``, ``hi`` if inside, inf on a miss."""
  hit = hi >= jnp.maximum(lo, 0.0)
  return jnp.where(hit, jnp.where(lo >= 0, lo, hi), _INF)


def _xy_interval(px, py, dx, dy, prims: Primitives, kind_b=None):
  """Horizontal interval of rays (local frame of each primitive) for the kinds present."""
  hx, hy = prims.half[..., 0], prims.half[..., 1]
  out = []
  if "box" in prims.kinds:
    lx, ux = _slab(px, dx, hx)
    ly, uy = _slab(py, dy, hy)
    out.append((jnp.maximum(lx, ly), jnp.minimum(ux, uy)))
  if "cylinder" in prims.kinds:
    out.append(_disk(px, py, dx, dy, hx))
  if len(out) == 1:
    return out[0]
  is_box = prims.kind == BOX
  return (jnp.where(is_box, out[0][0], out[1][0]), jnp.where(is_box, out[0][1], out[1][1]))


# --------------------------------------------------------------------------------------------
# General 3-D cast.


def ray_primitive_lengths(origins: jax.Array, dirs: jax.Array, prims: Primitives) -> jax.Array:
  """Hit lengths of every ray against every primitive.

  Args:
    origins: (R, 3) ray starts, world m.
    dirs: (R, 3) unit directions (world).
    prims: (M,) primitives.

  Returns:
    (R, M) hit length in m along each ray (exit length when the ray starts inside), inf on a miss
    or for an invalid primitive.
  """
  p = origins[:, None, :] - prims.center[None]  # (R, M, 3)
  cs = prims.cos_sin[None]
  px, py = _to_local(p, cs)
  dx, dy = _to_local(jnp.broadcast_to(dirs[:, None, :], p.shape), cs)
  lo, hi = _xy_interval(px, py, dx, dy, jax.tree.map(lambda a: a[None], prims))
  lz, uz = _slab(p[..., 2], jnp.broadcast_to(dirs[:, None, 2], p.shape[:2]), prims.half[None, :, 2])
  t = _hit_length(jnp.maximum(lo, lz), jnp.minimum(hi, uz))
  return jnp.where(prims.valid[None], t, _INF)


def point_cast_lengths(origin: jax.Array, dirs: jax.Array, prims: Primitives) -> jax.Array:
  """Nearest hit length of rays that all start at one point (no class), e.g. a LiDAR's frame.

  Same intersections as :func:`ray_primitive_lengths` followed by a min over primitives, but the
  primitive-frame origin is computed once per primitive and the z reciprocal once per ray, and no
  argmin / class gather breaks the fusion (the Mid-360's frame uses it; its cost is in
  ``benchmarks/mid360_cost.py``).

  Args:
    origin: (3,) common ray start, world m.
    dirs: (R, 3) unit directions (world).
    prims: (M,) primitives.

  Returns:
    (R,) float32 nearest hit length in m (exit length from inside), inf on a miss.
  """
  rel = origin - prims.center  # (M, 3)
  px, py = _to_local(rel, prims.cos_sin)  # (M,)
  dx, dy = _to_local(dirs[:, None, :], prims.cos_sin[None])  # (R, M)
  lo, hi = _xy_interval(px[None], py[None], dx, dy, jax.tree.map(lambda a: a[None], prims))
  dz = dirs[:, 2]
  inv = (1.0 / jnp.where(dz >= 0, dz + 1e-30, dz - 1e-30))[:, None]  # (R, 1), see _slab
  t1 = (-prims.half[None, :, 2] - rel[None, :, 2]) * inv
  t2 = (prims.half[None, :, 2] - rel[None, :, 2]) * inv
  t = _hit_length(jnp.maximum(lo, jnp.minimum(t1, t2)), jnp.minimum(hi, jnp.maximum(t1, t2)))
  return jnp.min(jnp.where(prims.valid[None], t, _INF), axis=-1)


def ground_lengths(origins: jax.Array, dirs: jax.Array) -> jax.Array:
  """(R,) hit length on the ground plane z = 0, hit from above only; inf otherwise."""
  oz, dz = origins[:, 2], dirs[:, 2]
  t = -oz / jnp.where(dz < 0, dz, -1.0)
  return jnp.where((dz < 0) & (oz >= 0), t, _INF)


def cast_rays(origins: jax.Array, dirs: jax.Array, prim_sets: Sequence[Primitives],
              ground: bool = True) -> tuple[jax.Array, jax.Array]:
  """Nearest hit of each ray over primitive sets and (optionally) the ground plane.

  Args:
    origins: (R, 3) ray starts, world m.
    dirs: (R, 3) unit directions.
    prim_sets: primitive sets of this env (e.g. nearby static + dynamic); classes come from
      each primitive's ``cls``.
    ground: include the plane z = 0 (class 0).

  Returns:
    ``(length, cls)``: (R,) float32 ray length in m (inf on a miss) and (R,) int32 class of the
    hit (-1 miss, 0 static / ground, j >= 1 dynamic obstacle j). On an exact tie the earlier set
    wins, then the lower index, then the ground.
  """
  best = jnp.full(origins.shape[:1], _INF)
  cls = jnp.full(origins.shape[:1], MISS, jnp.int32)
  for prims in prim_sets:  # a handful of sets, not primitives
    t = ray_primitive_lengths(origins, dirs, prims)
    j = jnp.argmin(t, axis=-1)
    tj = jnp.take_along_axis(t, j[:, None], -1)[:, 0]
    better = tj < best
    best = jnp.where(better, tj, best)
    cls = jnp.where(better, prims.cls[j], cls)
  if ground:
    tg = ground_lengths(origins, dirs)
    better = tg < best
    best = jnp.where(better, tg, best)
    cls = jnp.where(better, STATIC, cls)
  return best, cls


# --------------------------------------------------------------------------------------------
# REASAN's "measure" pattern.


def azimuths() -> np.ndarray:
  """(180,) float32 azimuths in rad, ``-pi + k * 2 deg`` (REASAN filter §2.1)."""
  return np.deg2rad(-180.0 + 2.0 * np.arange(NUM_AZIMUTHS)).astype(np.float32)


def measure_origins(base_pos: jax.Array, yaw: jax.Array, num_centers: int = 1) -> jax.Array:
  """(C, 3, 3) ray starts of the measure pattern: [centre][layer] -> world xyz in m.

  Starts = base position + R_yaw (centre offset + (0, 0, h)), h in (0, 0.1, 0.2)
  (REASAN nav §7.2). Yaw-only attachment: roll and pitch are ignored.

  Raises:
    ValueError: ``num_centers`` not in (1, 3, 5, 11).
  """
  off = _offsets(num_centers)
  c, s = jnp.cos(yaw), jnp.sin(yaw)
  xy = base_pos[:2] + jnp.stack([c * off[:, 0] - s * off[:, 1], s * off[:, 0] + c * off[:, 1]], -1)
  z = base_pos[2] + jnp.asarray(LAYER_HEIGHTS)
  return jnp.concatenate([jnp.broadcast_to(xy[:, None, :], (len(off), 3, 2)),
                          jnp.broadcast_to(z[None, :, None], (len(off), 3, 1))], -1)


def measure_directions(yaw: jax.Array) -> jax.Array:
  """(180, 3) world unit directions ``(cos(phi_k + yaw), sin(phi_k + yaw), 0)`` (REASAN nav §7.2)."""
  a = jnp.asarray(azimuths()) + yaw
  return jnp.stack([jnp.cos(a), jnp.sin(a), jnp.zeros_like(a)], -1)


def _offsets(num_centers: int) -> np.ndarray:
  if num_centers not in CENTER_OFFSETS:
    raise ValueError(f"num_centers must be one of {sorted(CENTER_OFFSETS)}, got {num_centers!r}")
  return np.asarray(CENTER_OFFSETS[num_centers], np.float32)


@struct.dataclass
class Scan:
  """One env's measure scan (REASAN filter §2.1 layout, rows = centre * 3 + layer).

  Attributes:
    distance: (C * 3, 180) float32 Euclidean distance in m from the **base origin** to the hit
      (REASAN filter §2.1 quirk, kept), 6 on a miss, clipped to [0, 6].
    cls: (C * 3, 180) int32 hit class (-1 miss, 0 static / ground, j >= 1 dynamic obstacle j).
    overflow: () int32 number of (centre, primitive) pairs of the windowed cast whose angular
      extent exceeds the window (the scan is exact when 0; see :func:`cast_measure`).
  """

  distance: jax.Array
  cls: jax.Array
  overflow: jax.Array


def _finish(base_pos, origins, dirs, length, cls, max_range):
  """Distances from the base origin, misses / far hits -> max_range and class -1."""
  hit = origins + length[..., None] * dirs
  dist = jnp.linalg.norm(jnp.where(jnp.isfinite(length)[..., None], hit - base_pos, 0.0), axis=-1)
  ok = jnp.isfinite(length) & (dist <= max_range)
  return jnp.clip(jnp.where(ok, dist, max_range), 0.0, max_range), jnp.where(ok, cls, MISS)


def cast_measure(base_pos: jax.Array, yaw: jax.Array, static: Primitives | None,
                 dynamic: Primitives | None = None, num_centers: int = 1,
                 max_range: float = MAX_RANGE, method: str = "windowed", num_near: int = 32,
                 window: int = 9) -> Scan:
  """REASAN's measure scan of one env: C centres x 3 layers x 180 azimuths (REASAN filter §2.1).

  Args:
    base_pos: (3,) base origin in world m.
    yaw: () base yaw in rad (yaw-only attachment).
    static: (M,) static primitives (class 0), **sorted nearest first** as returned by
      :func:`nearest_primitives` / ``scenes.obstacles.nearby_static``; or None.
    dynamic: (J,) dynamic obstacles (classes 1..J), tested against every ray; or None.
    num_centers: 1, 3, 5 or 11 ray centres (REASAN nav §7.2).
    max_range: distances are clipped to ``[0, max_range]``, misses read ``max_range`` (6 m);
      hits farther than that read as misses (see the module doc).
    method: ``"windowed"`` (default, exact while ``Scan.overflow == 0``): the first
      ``num_near`` static primitives are tested against all 180 azimuths, every other one only
      against the ``window`` azimuths around its bearing from each ray centre; ``"dense"``:
      every static primitive against every ray (same result, 3-8x the CPU cost at 192
      primitives: the (C, 3, 180, 192) working set leaves the cache); ``"general"``: :func:`cast_rays` on the explicit 3-D rays, with the ground.
    num_near: static primitives tested densely (``"windowed"``).
    window: odd number of azimuths tested per far primitive; a far primitive of bounding radius
      ``rho`` at distance ``d`` from a ray centre is covered when
      ``asin(rho / d) + 1 deg <= (window // 2) * 2 deg``, i.e. ``d >= 2.09 m`` for REASAN's
      largest static box (``rho`` = 0.255 m) with ``window = 9``.

  Returns:
    The :class:`Scan`, rows ordered [centre][layer] (REASAN filter §2.1).

  Raises:
    ValueError: unknown ``num_centers`` or ``method``.
  """
  origins = measure_origins(base_pos, yaw, num_centers)  # (C, 3, 3)
  dirs = measure_directions(yaw)  # (180, 3)
  nc = origins.shape[0]
  zero = jnp.zeros((), jnp.int32)
  if method == "general":
    o = jnp.broadcast_to(origins[:, :, None, :], (nc, 3, NUM_AZIMUTHS, 3)).reshape(-1, 3)
    d = jnp.broadcast_to(dirs[None, None], (nc, 3, NUM_AZIMUTHS, 3)).reshape(-1, 3)
    sets = [s for s in (static, dynamic) if s is not None]
    length, cls = cast_rays(o, d, sets, ground=True)
    dist, cls = _finish(base_pos, o, d, length, cls, max_range)
    return Scan(distance=dist.reshape(nc * 3, NUM_AZIMUTHS),
                cls=cls.reshape(nc * 3, NUM_AZIMUTHS), overflow=zero)
  if method not in ("windowed", "dense"):
    raise ValueError(f"method must be 'windowed', 'dense' or 'general', got {method!r}")
  best = jnp.full((nc, 3, NUM_AZIMUTHS), _INF)
  cls = jnp.full((nc, 3, NUM_AZIMUTHS), MISS, jnp.int32)
  overflow = zero
  if static is not None:
    near = static.size if method == "dense" else min(num_near, static.size)
    head = jax.tree.map(lambda a: a[:near], static)
    best = _horizontal_min(origins, dirs, head)
    if near < static.size:
      tail = jax.tree.map(lambda a: a[near:], static)
      best, overflow = _horizontal_windowed(origins, yaw, tail, best, window)
    cls = jnp.where(jnp.isfinite(best), STATIC, MISS)
  if dynamic is not None:
    t, c = _horizontal_argmin(origins, dirs, dynamic)
    best, cls = _merge(best, cls, t, c)
  o = jnp.broadcast_to(origins[:, :, None, :], (nc, 3, NUM_AZIMUTHS, 3))
  dist, cls = _finish(base_pos, o, jnp.broadcast_to(dirs, o.shape), best, cls, max_range)
  return Scan(distance=dist.reshape(nc * 3, NUM_AZIMUTHS), cls=cls.reshape(nc * 3, NUM_AZIMUTHS),
              overflow=overflow)


def _merge(best, cls, t, c):
  better = t < best
  return jnp.where(better, t, best), jnp.where(better, c, cls)


def _tall(origins: jax.Array, prims: Primitives) -> jax.Array:
  """(3, M): a horizontal ray at layer height z is inside a prism's z slab iff |z - cz| <= hz."""
  tall = jnp.abs(origins[0, :, 2, None] - prims.center[None, :, 2]) <= prims.half[None, :, 2]
  return tall & prims.valid[None]


def _local_origins(origins: jax.Array, prims: Primitives):
  """(C, M) ray-centre xy in every primitive's frame."""
  p = origins[:, 0, None, :2] - prims.center[None, :, :2]
  return _to_local(p, prims.cos_sin[None])


def _horizontal_lengths(origins, dirs, prims):
  """(C, 180, M) horizontal hit length of every centre / azimuth / primitive."""
  px, py = _local_origins(origins, prims)
  dx, dy = _to_local(dirs[:, None, :2], prims.cos_sin[None])  # (180, M)
  lo, hi = _xy_interval(px[:, None], py[:, None], dx[None], dy[None],
                        jax.tree.map(lambda a: a[None, None], prims))
  return _hit_length(lo, hi)


def _horizontal_min(origins, dirs, prims):
  """(C, 3, 180) nearest hit length over one set (no class: static)."""
  t2 = _horizontal_lengths(origins, dirs, prims)
  tall = _tall(origins, prims)
  return jnp.min(jnp.where(tall[None, :, None, :], t2[:, None], _INF), axis=-1)


def _horizontal_argmin(origins, dirs, prims):
  """(C, 3, 180) nearest hit length and class over one set."""
  t2 = _horizontal_lengths(origins, dirs, prims)
  t = jnp.where(_tall(origins, prims)[None, :, None, :], t2[:, None], _INF)
  j = jnp.argmin(t, axis=-1)
  return jnp.take_along_axis(t, j[..., None], -1)[..., 0], prims.cls[j]


def _horizontal_windowed(origins, yaw, prims, best, window):
  """Min-merges the hits of far primitives, each tested on ``window`` azimuths per centre."""
  nc = origins.shape[0]
  step = 2.0 * np.pi / NUM_AZIMUTHS
  rel = prims.center[None, :, :2] - origins[:, 0, None, :2]  # (C, F, 2)
  dist = jnp.linalg.norm(rel, axis=-1)
  bearing = jnp.arctan2(rel[..., 1], rel[..., 0]) - yaw
  kc = jnp.round((bearing + np.pi) / step).astype(jnp.int32)
  half_w = window // 2
  rho = bounding_radius(prims)[None]
  alpha = jnp.arcsin(jnp.clip(rho / jnp.maximum(dist, 1e-9), 0.0, 1.0))
  over = (alpha + 0.5 * step > half_w * step) & prims.valid[None]
  kk = (kc[..., None] + jnp.arange(-half_w, half_w + 1)) % NUM_AZIMUTHS  # (C, F, W)
  table = jnp.asarray(azimuths()) + yaw
  table = jnp.stack([jnp.cos(table), jnp.sin(table)], -1)  # 180 sin / cos, then gathers
  px, py = _local_origins(origins, prims)  # (C, F)
  cs = prims.cos_sin[None, :, None]
  dwx, dwy = table[kk, 0], table[kk, 1]
  dx = cs[..., 0] * dwx + cs[..., 1] * dwy
  dy = -cs[..., 1] * dwx + cs[..., 0] * dwy
  lo, hi = _xy_interval(px[..., None], py[..., None], dx, dy,
                        jax.tree.map(lambda v: v[None, :, None], prims))
  t = _hit_length(lo, hi)  # (C, F, W)
  # One scatter for the 3 layers: hits go to [centre, azimuth, layer mask] (mask = which layers
  # the primitive's z extent covers, 8 combinations); layer l then takes the min over the masks
  # that contain l.
  tall = _tall(origins, prims)  # (3, F)
  mask = tall[0].astype(jnp.int32) + 2 * tall[1] + 4 * tall[2]  # (F,)
  flat = (jnp.arange(nc)[:, None, None] * NUM_AZIMUTHS + kk) * 8 + mask[None, :, None]
  acc = jnp.full((nc * NUM_AZIMUTHS * 8,), _INF).at[flat.reshape(-1)].min(
      t.reshape(-1), mode="promise_in_bounds").reshape(nc, NUM_AZIMUTHS, 8)
  layers = [[m for m in range(8) if (m >> l) & 1] for l in range(3)]
  per_layer = jnp.stack([jnp.min(acc[..., np.asarray(ms)], -1) for ms in layers], 1)
  return jnp.minimum(best, per_layer), jnp.sum(over).astype(jnp.int32)

