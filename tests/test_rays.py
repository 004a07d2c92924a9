"""Ray casts equal ``mujoco.mj_ray`` on the same scenes; features / TTC equal a NumPy transcription."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from reasan_jax.scenes import dynamic_obstacles as dyn
from reasan_jax.scenes import layout
from reasan_jax.sensors import features, rays

TOL = 1e-4


def _scene(seed: int):
  """Random static prims near the origin + 3 dynamic obstacles mid-path, a robot base, and
  special cases: a box containing ray centre 0 of layer 0 (ray starts inside) and boxes whose
  corner grazes a ray 1e-5 m inside / outside."""
  rng = np.random.default_rng(seed)
  n = 25
  kind = rng.integers(0, 2, n)
  half = np.stack([rng.uniform(0.05, 0.4, n), rng.uniform(0.05, 0.4, n),
                   rng.uniform(0.1, 0.75, n)], -1)
  half[kind == 1, 1] = half[kind == 1, 0]
  xy = rng.uniform(-5.5, 5.5, (n, 2))
  xy[np.linalg.norm(xy, axis=1) < 0.6] += 1.5
  center = np.concatenate([xy, half[:, 2:]], 1)
  yaw = rng.uniform(-np.pi, np.pi, n)
  base = np.array([0.03, -0.02, 0.32])
  base_yaw = rng.uniform(-np.pi, np.pi)
  # Ray-start-inside: a box around the ray start of centre 0 (only when seed is odd).
  extra = []
  if seed % 2:
    extra.append((0, [base[0] + 0.05, base[1], 0.34], 0.4, [0.15, 0.1, 0.34]))
  # Grazing corners: axis-aligned boxes whose corner lies 1e-5 m on either side of a ray.
  for k, sgn in ((17, 1.0), (133, -1.0)):
    a = rays.azimuths()[k] + base_yaw
    d = np.array([np.cos(a), np.sin(a)])
    nrm = np.array([-d[1], d[0]])
    corner = base[:2] + 3.0 * d + sgn * 1e-5 * nrm
    h = np.array([0.2, 0.2])
    # Place the box so that its corner nearest the ray is `corner` and the box is on the
    # +nrm side (sgn = +1 -> ray 1e-5 m outside, -1 -> 1e-5 m inside).
    # yaw = ray direction: box axes along d and nrm.
    c = corner + h[0] * d + h[1] * nrm
    extra.append((0, [c[0], c[1], 0.5], a, [0.2, 0.2, 0.5]))
  for kd, c, yw, hf in extra:
    kind = np.append(kind, kd)
    center = np.vstack([center, c])
    yaw = np.append(yaw, yw)
    half = np.vstack([half, hf])
  static = rays.make_primitives(center, yaw, half, kind)
  shapes = jnp.asarray(rng.integers(0, 4, 3))
  ob = dyn.reset(jax.random.PRNGKey(seed), shapes, jnp.asarray(base[:2]), 3)
  ob = ob.replace(xy=ob.wp_a + 0.3 * (ob.wp_b - ob.wp_a))  # mid-path, ~1 m from the robot
  ob = dyn.step(ob, jax.random.PRNGKey(100), jnp.asarray(base[:2]))
  ob = ob.replace(z=jnp.asarray([0.3, -0.3, 0.6]))
  return static, dyn.primitives(ob), base, base_yaw


def _mj_model(static: rays.Primitives, dynamic: rays.Primitives):
  spec = mujoco.MjSpec()
  spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 1])
  cls = [0]
  for p, pre in ((static, "s"), (dynamic, "d")):
    h = np.asarray(p.half)
    yaw = np.arctan2(np.asarray(p.cos_sin[:, 1]), np.asarray(p.cos_sin[:, 0]))
    geoms = layout.geom_descriptions(np.asarray(p.center), yaw, h, np.asarray(p.kind), pre)
    layout.add_geoms(spec, geoms)
    cls += list(np.asarray(p.cls))
  return spec.compile(), np.asarray(cls)


def _mj_cast(m, cls_of_geom, origins, dirs):
  d = mujoco.MjData(m)
  mujoco.mj_forward(m, d)
  gid = np.zeros(1, np.int32)
  t = np.empty(len(origins))
  c = np.empty(len(origins), np.int64)
  for i, (o, v) in enumerate(zip(origins, dirs)):
    t[i] = mujoco.mj_ray(m, d, o.astype(np.float64), v.astype(np.float64), None, 1, -1, gid)
    c[i] = cls_of_geom[gid[0]] if gid[0] >= 0 else -1
  t[t < 0] = np.inf
  return t, c


@pytest.fixture(scope="module")
def casters():
  def scan(base, yaw, static, dynamic, nc, method):
    sorted_static, _ = rays.nearest_primitives(static, base[:2], static.size)
    return rays.cast_measure(base, yaw, sorted_static, dynamic, num_centers=nc, method=method,
                             num_near=12)
  return {(nc, m): jax.jit(lambda b, y, s, d, nc=nc, m=m: scan(b, y, s, d, nc, m))
          for nc in (1, 11) for m in ("windowed", "dense", "general")}


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("nc", [1, 11])
def test_measure_scan_equals_mj_ray(casters, seed, nc):
  static, dynamic, base, yaw = _scene(seed)
  m, cls_of_geom = _mj_model(static, dynamic)
  o = np.asarray(rays.measure_origins(jnp.asarray(base), jnp.asarray(yaw), nc))  # (C, 3, 3)
  dirs = np.asarray(rays.measure_directions(jnp.asarray(yaw)))
  oo = np.broadcast_to(o[:, :, None], (nc, 3, 180, 3)).reshape(-1, 3)
  dd = np.broadcast_to(dirs[None, None], (nc, 3, 180, 3)).reshape(-1, 3)
  t, c = _mj_cast(m, cls_of_geom, oo, dd)
  hit = np.isfinite(t)
  dist = np.where(hit, np.linalg.norm(oo + np.where(hit, t, 0)[:, None] * dd - base, axis=1), 6.0)
  far = dist > 6.0
  want_d = np.clip(np.where(far, 6.0, dist), 0, 6).reshape(nc * 3, 180)
  want_c = np.where(hit & ~far, c, -1).reshape(nc * 3, 180)
  assert hit.sum() > 100  # the scene really is hit
  # Conditioning: float32 rounds a direction by ~1e-7 rad; at grazing incidence that alone moves
  # the hit by more than 1e-4 m. The tolerance adds 3e-7 rad times the hit's sensitivity to the
  # azimuth (m / rad, from mj_ray at +-1e-5 rad); it is 1e-4 m for all but a handful of rays.
  sens = np.zeros(len(oo))
  for e in (1e-5, -1e-5):
    rot = np.stack([np.cos(e) * dd[:, 0] - np.sin(e) * dd[:, 1],
                    np.sin(e) * dd[:, 0] + np.cos(e) * dd[:, 1], dd[:, 2]], 1)
    te, _ = _mj_cast(m, cls_of_geom, oo, rot)
    ok = np.isfinite(te) & hit
    sens = np.maximum(sens, np.abs(np.where(ok, te, 0.0) - np.where(ok, t, 0.0)) / 1e-5)
  tol = (TOL + 3e-7 * sens).reshape(nc * 3, 180)
  assert (tol > 2 * TOL).mean() < 0.01
  assert (want_c >= 1).sum() > 0 or seed % 2  # odd seeds: the rays start inside a box
  for method in ("windowed", "dense", "general"):
    got = casters[(nc, method)](jnp.asarray(base, jnp.float32), jnp.float32(yaw), static, dynamic)
    if method == "windowed" and int(got.overflow) > 0:
      continue  # outside the windowed cast's exactness condition (documented, counted)
    err = np.abs(np.asarray(got.distance) - want_d)
    assert np.all(err <= tol), (method, err.max(), np.argwhere(err > tol)[:5])
    np.testing.assert_array_equal(np.asarray(got.cls), want_c, err_msg=method)
    assert int(got.overflow) == 0


def test_inside_and_grazing_cases_behave_like_mj_ray(casters):
  static, dynamic, base, yaw = _scene(1)
  got = casters[(1, "dense")](jnp.asarray(base, jnp.float32), jnp.float32(yaw), static, dynamic)
  # Ray start inside the first extra box: layer 0 rays exit it at < 0.5 m in every direction.
  assert float(jnp.max(got.distance[0])) < 0.5
  # Grazing: azimuth 17 passes 1e-5 m outside a corner at 3 m, azimuth 133 1e-5 m inside it.
  d = rays.cast_measure(jnp.asarray(base, jnp.float32), jnp.float32(yaw),
                        jax.tree.map(lambda a: a[-2:], static), None, method="dense")
  assert float(d.distance[1, 17]) == 6.0 and int(d.cls[1, 17]) == -1
  assert abs(float(jnp.hypot(d.distance[1, 133], 0)) - np.hypot(3.0, 0.1)) < 1e-3


def test_general_rays_hit_ground_and_primitives_like_mj_ray():
  static, dynamic, base, _ = _scene(2)
  m, cls_of_geom = _mj_model(static, dynamic)
  rng = np.random.default_rng(5)
  v = rng.normal(size=(600, 3))
  v[:, 2] = -np.abs(v[:, 2]) * rng.choice([0.0, 0.3, 1.0], 600)
  v /= np.linalg.norm(v, axis=1, keepdims=True)
  o = base + rng.uniform(-0.3, 0.3, (600, 3)) * [1, 1, 0.5]
  t, c = _mj_cast(m, cls_of_geom, o, v)
  got_t, got_c = jax.jit(rays.cast_rays)(jnp.asarray(o, jnp.float32), jnp.asarray(v, jnp.float32),
                                         [static, dynamic])
  got_t = np.asarray(got_t)
  assert np.array_equal(np.isfinite(got_t), np.isfinite(t))
  assert (np.asarray(got_c) == 0).sum() > 50 and np.isfinite(t).all() is not None
  fin = np.isfinite(t)
  np.testing.assert_allclose(got_t[fin], t[fin], atol=TOL)
  np.testing.assert_array_equal(np.asarray(got_c), np.where(fin, c, -1))


# ------------------------------------------------------------------------------------------
# Features and TTC against a plain NumPy transcription of REASAN filter §2.2 / §4.1.


def _np_ttc(D, C, v, yaw, A, B, speed):
  d = D.min(axis=0)
  cls = C[D.argmin(axis=0), np.arange(180)]
  dh = np.minimum(d, 3.0)
  phi = np.deg2rad(-180 + 2 * np.arange(180))
  u = np.stack([np.cos(phi), np.sin(phi)], 1)
  w = np.stack([np.cos(phi + yaw), np.sin(phi + yaw)], 1)
  p = np.maximum(u @ v, 0)
  ttc = np.full(180, 3.0)
  for k in range(180):
    if cls[k] == 0:
      ttc[k] = min(dh[k] / (p[k] + 1e-6), 3)
    elif cls[k] >= 1:
      j = cls[k] - 1
      bma = B[j] - A[j]
      o = speed[j] * bma / (np.linalg.norm(bma) + 1e-6)
      q = o @ w[k]
      ttc[k] = min(dh[k] / (max(p[k] - q, 0) + 1e-6), 3)
  return ttc, u


def _np_weighted(ttc, u, x):
  z = u @ x / 1e-4
  e = np.exp(z - z.max())
  return float((e / e.sum()) @ ttc)


@pytest.mark.parametrize("seed", range(5))
def test_ttc_and_weighted_ttc_equal_numpy(seed):
  rng = np.random.default_rng(seed)
  D = rng.uniform(0, 6, (33, 180)).astype(np.float32)
  C = rng.integers(-1, 4, (33, 180)).astype(np.int32)
  v = rng.uniform(-2.5, 2.5, 2).astype(np.float32)
  yaw = np.float32(rng.uniform(-np.pi, np.pi))
  A, B = rng.uniform(-5, 5, (2, 3, 2)).astype(np.float32)
  speed = rng.uniform(0.5, 1.5, 3).astype(np.float32)
  want, u = _np_ttc(D.astype(np.float64), C, v, yaw, A, B, speed)
  d, c = features.per_azimuth_min(jnp.asarray(D), jnp.asarray(C))
  got = features.ttc_field(d, c, jnp.asarray(v), jnp.asarray(yaw),
                           features.obstacle_velocity(jnp.asarray(A), jnp.asarray(B),
                                                      jnp.asarray(speed)))
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)
  assert (want < 3).sum() > 20
  for x in (v, np.zeros(2, np.float32), 1e-3 * v, rng.normal(size=2).astype(np.float32)):
    np.testing.assert_allclose(float(features.weighted_ttc(got, jnp.asarray(x))),
                               _np_weighted(want, u, x.astype(np.float64)), rtol=1e-4, atol=1e-5)
  # x = 0 is the mean over the 180 beams (REASAN filter §4.1 step 7).
  assert abs(float(features.weighted_ttc(got, jnp.zeros(2))) - want.mean()) < 1e-4


def test_actor_gt_critic_rays():
  rng = np.random.default_rng(0)
  D = rng.uniform(0, 6, (33, 180)).astype(np.float32)
  np.testing.assert_allclose(features.actor_rays(jnp.asarray(D)),
                             np.minimum(D[:3].min(0), 3) / 3, rtol=1e-6)
  np.testing.assert_allclose(features.gt_rays(jnp.asarray(D)), np.minimum(D.min(0), 3) / 3,
                             rtol=1e-6)
  np.testing.assert_allclose(features.critic_rays(jnp.asarray(D)), D[:3].reshape(-1) / 6, rtol=1e-6)
  noisy = features.actor_rays(jnp.asarray(D), jax.random.PRNGKey(0))
  diff = np.asarray(noisy) - np.minimum(D[:3].min(0), 3) / 3
  assert 0.04 < np.abs(diff).max() <= 0.05 + 1e-6


def test_measure_pattern_layout():
  assert [len(rays.CENTER_OFFSETS[k]) for k in (1, 3, 5, 11)] == [1, 3, 5, 11]
  o = rays.measure_origins(jnp.array([1.0, 2.0, 0.3]), jnp.float32(np.pi / 2), 3)
  np.testing.assert_allclose(o[1, 2], [1.0, 2.4, 0.5], atol=1e-6)  # (+0.4, 0) yawed 90 deg, +0.2
  d = rays.measure_directions(jnp.float32(0.0))
  np.testing.assert_allclose(d[90], [1, 0, 0], atol=1e-6)  # k = 90 straight ahead
  np.testing.assert_allclose(d[0], [-1, 0, 0], atol=1e-6)  # k = 0 straight back
  with pytest.raises(ValueError):
    rays.measure_origins(jnp.zeros(3), 0.0, 4)


def test_point_cast_lengths_match_the_general_cast():
  key = jax.random.PRNGKey(7)
  k1, k2, k3, k4 = jax.random.split(key, 4)
  n = 40
  prims = rays.make_primitives(
      jax.random.uniform(k1, (n, 3), minval=-3.0, maxval=3.0),
      jax.random.uniform(k2, (n,), maxval=6.0), jax.random.uniform(k3, (n, 3), minval=0.1,
                                                                    maxval=0.8),
      (jnp.arange(n) % 2).astype(jnp.int32), valid=jnp.arange(n) != 3)
  dirs = jax.random.normal(k4, (500, 3))
  dirs = dirs / jnp.linalg.norm(dirs, axis=-1, keepdims=True)
  origin = jnp.asarray([0.1, -0.2, 0.4])
  general, _ = rays.cast_rays(jnp.broadcast_to(origin, dirs.shape), dirs, [prims], ground=False)
  point = rays.point_cast_lengths(origin, dirs, prims)
  general, point = np.asarray(general), np.asarray(point)
  np.testing.assert_array_equal(np.isfinite(general), np.isfinite(point))
  assert np.isfinite(point).sum() > 50
  np.testing.assert_allclose(point[np.isfinite(point)], general[np.isfinite(general)], atol=1e-5)
