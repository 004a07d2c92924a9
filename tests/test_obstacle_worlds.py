"""World statistics (REASAN filter §6.1), dynamic-obstacle rules (§6.3, §7), user layouts."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasan_jax.scenes import dynamic_obstacles as dyn
from reasan_jax.scenes import layout, obstacles
from reasan_jax.sensors import rays


def test_tile_statistics():
  comps, sides, bases, heights, counts = [], [], [], [], []
  for seed in range(40):
    boxes, cs = obstacles.generate_tile(seed)
    assert len(cs) == 25  # 5 x 5 composites per tile
    comps += cs
    counts.append(len(boxes["side"]))
    sides.append(boxes["side"])
    heights.append(boxes["height"])
    bases.append(np.repeat([c.base for c in cs], [c.num_boxes for c in cs]))
    assert boxes["xy"].min() > -1.5 and boxes["xy"].max() < 10.5
  sides, bases, heights = map(np.concatenate, (sides, bases, heights))
  n = np.array([c.num_boxes for c in comps])
  assert set(n.tolist()) == {3, 4} and abs((n == 4).mean() - 0.5) < 0.06
  assert sum(counts) == n.sum()
  pats = [c.pattern for c in comps]
  for p in obstacles.PATTERNS:
    assert abs(pats.count(p) / len(pats) - 0.25) < 0.05
  assert 0.1 <= bases.min() and bases.max() <= 0.3
  r = sides / bases
  assert 0.8 <= r.min() < 0.82 and 1.18 < r.max() <= 1.2
  assert 0.5 <= heights.min() < 0.52 and 1.48 < heights.max() <= 1.5


@pytest.fixture(scope="module")
def world():
  return obstacles.make_tiled_world(num_tiles=2, seed=3)


def test_spawn_clearance_and_culling(world):
  b = obstacles.world_boxes(world)
  period = world.period[0]
  sp = np.asarray(world.spawn)
  assert sp.shape == (4 * obstacles.SPAWNS_PER_TILE, 2)
  # Clearance against every box, including the periodic images.
  rel = (b["center"][None, :, :2] - sp[:, None] + period / 2) % period - period / 2
  d = obstacles.box_footprint_distance(np.zeros((1, 2)), rel.reshape(-1, 2), np.tile(b["yaw"],
                                       len(sp)), np.tile(b["half"][:, :2], (len(sp), 1)))
  assert d.reshape(len(sp), -1).min() >= obstacles.SPAWN_CLEARANCE
  # Culling: every box within 6.45 m (periodic) of a query point is among the k kept.
  f = jax.jit(lambda xy: obstacles.nearby_static(world, xy, 256))
  for xy in (np.array([0.3, -2.0]), np.array([17.9, 8.9]), np.array([-40.0, 33.0])):
    kept, num = f(jnp.asarray(xy, jnp.float32))
    rel = (b["center"][:, :2] - xy + period / 2) % period - period / 2
    lb = np.linalg.norm(rel, axis=1) - np.hypot(b["half"][:, 0], b["half"][:, 1])
    assert int(num) == int((lb <= 6.45).sum()) > 50
    kc = np.asarray(kept.center)[np.asarray(kept.valid)]
    krel = kc[:, :2] - xy
    for j in np.where(lb <= 6.45)[0]:
      assert np.min(np.linalg.norm(krel - rel[j], axis=1)) < 1e-4


def test_reasan_density_cull_and_window_are_exact():
  w = obstacles.make_tiled_world()  # REASAN's 10 x 10 tiles
  xy = jnp.asarray(np.random.default_rng(0).uniform(-45, 45, (64, 2)), jnp.float32)
  def one(p):
    s, num = obstacles.nearby_static(w, p, 192, 6.0)
    scan = rays.cast_measure(jnp.array([p[0], p[1], 0.3]), 0.4, s, None)
    dense = rays.cast_measure(jnp.array([p[0], p[1], 0.3]), 0.4, s, None, method="dense")
    return num, scan.overflow, jnp.max(jnp.abs(scan.distance - dense.distance))
  num, over, diff = jax.jit(jax.vmap(one))(xy)
  assert int(num.max()) <= 192 and 100 < float(num.mean()) < 170
  assert int(over.sum()) == 0 and float(diff.max()) < 1e-5


def test_dynamic_reset_and_retarget_rule():
  key = jax.random.PRNGKey(0)
  shapes = dyn.init_shapes(key, 3)
  robot = jnp.array([1.0, -2.0])
  for i in range(20):
    ob = dyn.reset(jax.random.PRNGKey(i), shapes, robot, 2, False, dyn.SPEED_RANGE_TRAIN)
    r = np.linalg.norm(np.asarray(ob.wp_a - robot), axis=1)
    assert np.all((r >= 3) & (r <= 4))
    np.testing.assert_allclose(ob.wp_b, 2 * robot - ob.wp_a, atol=1e-5)  # through the robot
    np.testing.assert_allclose(ob.xy, ob.wp_a)
    z = np.asarray(ob.z)
    assert np.all((z[:2] >= -0.25) & (z[:2] <= 0.75)) and z[2] == dyn.PARK_Z
    assert np.all((ob.speed >= 0.5) & (ob.speed <= 1.2))
  parked = dyn.reset(key, shapes, robot, 3, True)
  assert np.all(np.asarray(parked.z) == dyn.PARK_Z)
  # Re-target: obstacle within 0.5 m of B; robot elsewhere -> A <- B, B <- A + 2 (robot - xy).
  ob = ob.replace(xy=ob.wp_b + jnp.array([0.3, 0.0]))
  robot2 = jnp.array([0.0, 0.0])
  new = dyn.step(ob, jax.random.PRNGKey(9), robot2)
  np.testing.assert_allclose(new.wp_a, ob.wp_b)
  delta = np.asarray(new.wp_b - new.wp_a)
  want = 2 * (np.asarray(robot2) - np.asarray(ob.xy))
  np.testing.assert_allclose(delta, want * np.maximum(1, 2 / np.linalg.norm(want, axis=1))[:, None],
                             rtol=1e-5)
  # Minimum offset 2 m: robot 0.2 m from the obstacle -> offset rescaled to exactly 2 m.
  close = ob.replace(xy=ob.wp_b)
  new = dyn.step(close, key, close.xy[0] + jnp.array([0.2, 0.0]))
  assert abs(float(jnp.linalg.norm(new.wp_b[0] - new.wp_a[0])) - 2.0) < 1e-5
  # Motion: 0.02 s * speed toward B.
  far = ob.replace(xy=ob.wp_a)
  moved = dyn.step(far, key, robot)
  step = np.linalg.norm(np.asarray(moved.xy - far.xy), axis=1)
  np.testing.assert_allclose(step, np.asarray(far.speed) * 0.02, rtol=1e-4)
  np.testing.assert_array_equal(
      np.asarray(dyn.num_active_from_level(jnp.arange(10))), [0, 0, 0, 1, 1, 2, 2, 2, 3, 3])
  p = dyn.primitives(moved)
  assert p.cls.tolist() == [1, 2, 3] and float(p.half[0, 2]) == 0.75


def test_user_layout_world_and_errors(tmp_path):
  good = {"obstacles": [{"shape": "box", "pos": [2, 0], "size": [0.4, 0.6, 1.0], "yaw": 0.0},
                        {"shape": "cylinder", "pos": [0, 3], "radius": 0.3, "height": 1.5}],
          "spawn": [[0, 0]]}
  f = tmp_path / "scene.json"
  f.write_text(json.dumps(good))
  w = layout.layout_world(f, pad_to=4)
  kept, num = obstacles.nearby_static(w, jnp.zeros(2), 4)
  assert int(num) == 2
  scan = rays.cast_measure(jnp.array([0.0, 0.0, 0.3]), jnp.float32(0.0), kept, None)
  assert abs(float(scan.distance[0, 90]) - 1.8) < 1e-5  # box face at x = 2 - 0.2
  assert abs(float(scan.distance[0, 135]) - 2.7) < 1e-5  # cylinder at y = 3 - 0.3
  bad = [
      ({"obstacles": [good["obstacles"][0], {"shape": "box", "pos": [1, 1], "size": [0.4, -1, 1]}]},
       "obstacle 1 (box): sizes must be positive"),
      ({"obstacles": [{"shape": "cone", "pos": [1, 1]}]}, "obstacle 0: unknown shape 'cone'"),
      ({"obstacles": [{"shape": "cylinder", "pos": [1, 1], "radius": 0.2}]},
       "obstacle 0 (cylinder): missing 'height'"),
  ]
  for data, msg in bad:
    with pytest.raises(layout.LayoutError) as e:
      layout.parse_layout(data)
    assert str(e.value).startswith(msg) and str(e.value).count(". ") == 0 and "\n" not in str(e.value)
  f.write_text('{"obstacles": [}')
  with pytest.raises(layout.LayoutError, match=r"not valid JSON .* line 1"):
    layout.load_layout_file(f)
  assert issubclass(layout.LayoutError, ValueError)


def test_sense_pipeline_on_a_layout():
  """One call of the env-facing pipeline: a box 1.8 m ahead, robot at 1 m/s toward it."""
  from reasan_jax.sensors import pipeline  # pylint: disable=import-outside-toplevel
  w = layout.layout_world(layout.parse_layout(
      [{"shape": "box", "pos": [2, 0], "size": [0.4, 0.4, 1.0]}]), pad_to=4)
  ob = dyn.reset(jax.random.PRNGKey(0), jnp.array([0, 1, 2]), jnp.zeros(2), 0)  # all parked
  cfg = pipeline.SensorConfig(num_static=4)
  out = jax.jit(lambda: pipeline.sense(cfg, w, ob, jnp.array([0.0, 0.0, 0.3]), jnp.float32(0.0),
                                       jnp.array([1.0, 0.0])))()
  assert out.scan.distance.shape == (3, 180) and out.critic_rays.shape == (540,)
  assert abs(float(out.min_distance[90]) - 1.8) < 1e-5 and int(out.min_class[90]) == 0
  assert abs(float(out.ttc[90]) - 1.8) < 1e-4  # min(1.8 / 1.0, 3)
  assert float(out.ttc[0]) == 3.0 and int(out.cull_count) == 1
  np.testing.assert_allclose(out.gt_rays[90], 0.6, atol=1e-6)
