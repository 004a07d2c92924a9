"""The simulated Livox Mid-360 (REASAN nav §7.3), its spherical grid and histories (§7.4, §8.2), and
the filter env's ``env.mid360`` / ``env.use_pred_rays`` (§8.6)."""

from __future__ import annotations

import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasan_jax.sensors import lidar_grid, mid360, rays

PRETRAINED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference" / "pretrained"
LOCO = PRETRAINED / "loco_1.onnx"
needs_shared = pytest.mark.skipif(not LOCO.exists(), reason="../shared/reference/pretrained "
                                  "(REASAN's loco_1.onnx) is absent")


def _point(r, az_deg, el_deg):
  az, el = math.radians(az_deg), math.radians(el_deg)
  return [r * math.cos(el) * math.cos(az), r * math.cos(el) * math.sin(az), r * math.sin(el)]


# ------------------------------------------------------------------------------------- grid
def test_grid_bins_min_per_cell_cuts_and_half_bin_offset():
  pts = [
      (1.0, 1.0, 0.5),     # azimuth bin floor(181 / 2) = 90, elevation bin floor(5.5 / 2) = 2
      (0.5, 1.5, 0.9),     # same cell, nearer: the cell keeps 0.5
      (2.0, 0.0, 0.5),     # azimuth exactly 0 deg: bin 90 spans [0, 2) deg
      (2.2, -0.5, 0.5),    # -0.5 deg: bin 89, so measure ray 90 (at 0 deg) straddles bins 89/90
      (1.2, -179.5, 54.9),  # bin 0, top elevation bin 29
      (2.99, 179.5, -4.9),  # bin 179, bottom elevation bin 0
      (1.0, 10.0, -6.0),   # below -5 deg: dropped
      (1.0, 10.0, 55.5),   # above 55 deg: dropped
      (3.0, 20.0, 10.0),   # r = 3 is not < 3: dropped
  ]
  grid = np.asarray(lidar_grid.points_to_grid(jnp.asarray([_point(*p) for p in pts])))
  expected = np.full((30, 180), 3.0, np.float32)
  expected[2, 90] = 0.5
  expected[2, 89] = 2.2
  expected[29, 0] = 1.2
  expected[0, 179] = 2.99
  np.testing.assert_allclose(grid, expected, atol=1e-5)
  assert float(rays.azimuths()[90]) == 0.0  # the measure ray sits on the edge of bins 89 / 90


def test_spherical_grid_uses_mount_base_origin_misses_and_bounded_noise():
  mount = np.asarray(mid360.MOUNT_OFFSET)
  dirs = np.asarray([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
  lengths = jnp.asarray([1.0, 2.0, 1.0, np.inf])
  grid = np.asarray(lidar_grid.spherical_grid(lengths, jnp.asarray(dirs), None))
  for d, length in zip(dirs[:3], [1.0, 2.0, 1.0]):
    p = mount + d * length  # about the base origin, not the sensor
    r = np.linalg.norm(p)
    el, az = math.degrees(math.asin(p[2] / r)), math.degrees(math.atan2(p[1], p[0]))
    assert grid[int((el + 5) // 2), min(int((az + 180) // 2), 179)] == pytest.approx(r, abs=1e-5)
  assert np.sum(grid < 3.0) == 3  # the miss reads 10 m and is cut
  noisy = np.asarray(lidar_grid.spherical_grid(lengths, jnp.asarray(dirs), jax.random.PRNGKey(0)))
  occupied = grid < 3.0
  assert np.all(np.abs(noisy[occupied] - grid[occupied]) <= 0.1 + 1e-5)
  assert np.any(noisy[occupied] != grid[occupied])


def test_histories_push_oldest_out():
  h = lidar_grid.empty_history(3)
  for i in range(1, 5):
    h = lidar_grid.push(h, jnp.full((30, 180), float(i)), jnp.full(3, float(i)), jnp.full(3, -i))
  assert np.asarray(h.grid[:, 0, 0]).tolist() == [2.0, 3.0, 4.0]
  assert np.asarray(h.gravity[:, 0]).tolist() == [2.0, 3.0, 4.0]
  assert float(h.newest_grid[0, 0]) == 4.0
  grid, imu = lidar_grid.estimator_inputs(h)
  assert grid.shape == (3, 30, 180) and imu.shape == (3, 6)
  assert float(grid[-1, 0, 0]) == pytest.approx(4.0 / 3.0) and float(imu[-1, 3]) == -4.0


# ------------------------------------------------------------------------------------- pattern
def test_generated_pattern_fov_coverage_and_device_agreement():
  table = mid360.generate_pattern()
  assert table.shape == (mid360.PATTERN_ROWS, 2) and table.dtype == np.float32
  az, el = np.degrees(table[:, 0]), np.degrees(table[:, 1])
  assert az.min() >= -180.0 and az.max() < 180.0 and az.min() < -179.9 and az.max() > 179.9
  assert el.min() == pytest.approx(-7.0, abs=0.05) and el.max() == pytest.approx(52.0, abs=0.05)
  s, n = mid360.FIRST_FRAME_ROW, mid360.RAYS_PER_FRAME
  one, five, fifty = (mid360.coverage(table[s:s + k * n]) for k in (1, 5, 50))
  assert 0.7 < one < 0.8 and five >= 0.999 and fifty == 1.0  # the documented figures
  # Non-repetitive: consecutive frames fire different directions.
  assert np.abs(table[s:s + n] - table[s + n:s + 2 * n]).max() > 0.1
  dev = np.asarray(mid360.frame_angles(mid360.ScanPattern(), jnp.int32(794_000)))
  ref = table[(794_000 + np.arange(n)) % mid360.PATTERN_ROWS]
  d = np.abs(dev - ref)
  d[:, 0] = np.minimum(d[:, 0], 2 * np.pi - d[:, 0])
  assert d.max() < 1e-4


def test_loaded_pattern_cursor_wraps(tmp_path):
  path = tmp_path / "mid360.npy"
  np.save(path, mid360.generate_pattern(10_000))
  pattern = mid360.load_pattern(path)
  assert pattern.num_rows == 10_000
  rows = np.asarray(mid360.frame_angles(pattern, jnp.int32(8000)))
  table = np.load(path)
  np.testing.assert_array_equal(rows, np.concatenate([table[8000:], table[:4000]]))
  assert int(mid360.advance(pattern, jnp.int32(8000))) == 4000
  assert int(mid360.first_cursor(pattern)) == 12_000 % 10_000
  assert int(mid360.first_cursor(mid360.ScanPattern())) == 12_000


@pytest.mark.parametrize("content", ["missing", "shape", "ints", "short", "degrees", "nan"])
def test_bad_pattern_files_are_one_sentence(tmp_path, content):
  path = tmp_path / "p.npy"
  good = mid360.generate_pattern(7000)
  arrays = {"shape": np.zeros((7000, 3)), "ints": np.zeros((7000, 2), np.int32),
            "short": good[:100], "degrees": np.degrees(good),
            "nan": np.where(np.arange(7000)[:, None] == 5, np.nan, good)}
  if content != "missing":
    np.save(path, arrays[content])
  with pytest.raises(mid360.PatternError) as e:
    mid360.load_pattern(path)
  message = str(e.value)
  assert "\n" not in message and message.endswith(".") and str(path) in message


# ------------------------------------------------------------------------------------- casts
def _box(center, half, yaw=0.0, cls=0):
  return rays.make_primitives([center], [yaw], [half], [rays.BOX], cls=[cls])


def test_cast_against_a_box_the_ground_and_the_cut():
  base = jnp.asarray([0.0, 0.0, 0.3])
  origin_z = 0.3 + 0.135
  dirs = jnp.asarray([[1.0, 0.0, 0.0],
                      [math.cos(math.radians(-30)), 0.0, math.sin(math.radians(-30))],
                      [0.0, math.cos(math.pi / 4), math.sin(math.pi / 4)],
                      [0.0, -1.0, 0.0]])
  near = _box([0.249 + 2.0, 0.0, 0.5], [0.5, 0.5, 0.5])
  far = _box([0.249, -3.4, 0.5], [0.5, 0.2, 0.5])  # its face at y = -3.2 lies beyond the 3.1 m cut
  length = np.asarray(mid360.cast(dirs, base, jnp.eye(3), jnp.zeros(3), [near, far, None]))
  assert length[0] == pytest.approx(1.5, abs=1e-5)
  assert length[1] == pytest.approx(origin_z / math.sin(math.radians(30)), abs=1e-5)  # ground
  assert np.isinf(length[2]) and np.isinf(length[3])
  no_cut = np.asarray(mid360.cast(dirs, base, jnp.eye(3), jnp.zeros(3), [far], cut=10.0))
  assert no_cut[3] == pytest.approx(3.2, abs=1e-5)


def test_cast_uses_the_full_orientation_and_the_drift():
  yaw = math.pi / 2
  rot = jnp.asarray([[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0],
                     [0.0, 0.0, 1.0]])
  base = jnp.asarray([1.0, 1.0, 0.3])
  box = _box([1.0, 1.0 + 0.249 + 2.0, 0.5], [0.5, 0.5, 0.5], cls=1)
  length = mid360.cast(jnp.asarray([[1.0, 0.0, 0.0]]), base, rot, jnp.asarray([0.0, 0.02, 0.0]),
                       [box])
  assert float(length[0]) == pytest.approx(1.5 - 0.02, abs=1e-5)
  pitch = math.radians(20)  # nose down 20 deg: the forward ray meets the ground
  rot_p = jnp.asarray([[math.cos(pitch), 0.0, math.sin(pitch)], [0.0, 1.0, 0.0],
                       [-math.sin(pitch), 0.0, math.cos(pitch)]])
  origin = np.asarray(mid360.sensor_origin(base, rot_p, jnp.zeros(3)))
  length = mid360.cast(jnp.asarray([[1.0, 0.0, 0.0]]), base, rot_p, jnp.zeros(3), [])
  assert float(length[0]) == pytest.approx(origin[2] / math.sin(pitch), abs=1e-4)


def test_static_cull_holds_every_box_within_the_cut():
  from reasan_jax.scenes import obstacles
  world = obstacles.make_tiled_world()
  pts = jax.random.uniform(jax.random.PRNGKey(3), (256, 2), minval=-45.0, maxval=45.0)
  count = jax.jit(jax.vmap(lambda xy: obstacles.nearby_static(
      world, xy, mid360.NUM_STATIC, mid360.CAST_RANGE)[1]))(pts)
  assert int(count.max()) <= mid360.NUM_STATIC


# ------------------------------------------------------------------------------------- filter env
def _env_config(**mid):
  from reasan_jax import registry
  c = registry.get_config("filter", "cpu").env
  c.loco_policy = str(LOCO)
  c.obs.noise = False
  c.randomization.enabled = False
  c.randomization.pushes = False
  c.dynamic_obstacles.enabled = True
  c.curriculum.fixed_level = 9
  for k, v in mid.items():
    c[k] = v
  return c


def _fake_estimator(grid, imu):
  """(B, H, 30, 180), (B, H, 6) -> (B, 180): the newest grid's per-azimuth minimum / 3 plus imu."""
  return jnp.min(grid[:, -1], axis=1) + 0.01 * imu[:, -1, :1]


@pytest.fixture(scope="module")
def pred_env():
  import unittest.mock
  from reasan_jax.tasks.common import lidar
  from reasan_jax.tasks.filter.env import FilterEnv
  fake = lidar.Estimator(apply=_fake_estimator, history=lidar_grid.HISTORY, source="fake")
  with unittest.mock.patch.object(lidar, "load_estimator", lambda path: fake):
    env = FilterEnv(_env_config(use_pred_rays=True, estimator="fake"))
  return env, jax.jit(env.reset), jax.jit(env.step)


@needs_shared
def test_mid360_is_off_by_default():
  from reasan_jax.tasks.filter.env import FilterEnv
  env = FilterEnv(_env_config())
  assert env.lidar is None
  info = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).info
  assert "mid360" not in info and "mid360_cursor" not in info


@needs_shared
def test_histories_zero_at_reset_shift_per_step_and_pred_rays_replace_actor_rays(pred_env):
  env, reset, step = pred_env
  s0 = reset(jax.random.PRNGKey(1))
  m0 = s0.info["mid360"]
  assert not np.any(np.asarray(m0["history"].grid)) and not np.any(np.asarray(m0["history"].gravity))
  assert not bool(m0["valid"]) and int(s0.info["mid360_cursor"]) == mid360.FIRST_FRAME_ROW
  assert np.all(np.abs(np.asarray(m0["drift"])) <= mid360.DRIFT)
  np.testing.assert_allclose(np.asarray(s0.obs["rays"]), 0.0)  # the estimator on zero histories
  action = jnp.asarray([0.3, 0.0, 0.0])
  s1 = step(s0, action)
  s2 = step(s1, action)
  h1, h2 = s1.info["mid360"]["history"], s2.info["mid360"]["history"]
  assert not np.any(np.asarray(h1.grid[:-1])) and np.all(np.asarray(h1.grid[-1]) > 0)
  np.testing.assert_array_equal(np.asarray(h2.grid[-2]), np.asarray(h1.grid[-1]))
  np.testing.assert_array_equal(np.asarray(h2.ang_vel[-2]), np.asarray(h1.ang_vel[-1]))
  assert not np.any(np.asarray(h2.grid[:-2]))
  assert int(s2.info["mid360_cursor"]) == mid360.FIRST_FRAME_ROW + 2 * mid360.RAYS_PER_FRAME
  gravity = np.asarray(h2.gravity[-1])
  assert np.all(np.abs(gravity - np.array([0.0, 0.0, -1.0])) < 0.35)
  assert bool(s2.info["mid360"]["valid"])
  assert 0 < int(s2.info["mid360"]["cull_count"]) <= mid360.NUM_STATIC  # the exact cull
  np.testing.assert_array_equal(np.asarray(s2.info["mid360"]["drift"]), np.asarray(m0["drift"]))
  # Predicted rays: the estimator's output on this step's histories replaces the actor rays.
  grid, imu = lidar_grid.estimator_inputs(h2)
  np.testing.assert_allclose(np.asarray(s2.obs["rays"]),
                             np.asarray(_fake_estimator(grid[None], imu[None])[0]), atol=1e-6)
  assert not np.allclose(np.asarray(s2.obs["rays"]), np.asarray(s2.info["mid360"]["gt_rays"]))
  gt = np.asarray(s2.info["mid360"]["gt_rays"])
  assert gt.shape == (180,) and gt.min() >= 0.0 and gt.max() <= 1.0


@needs_shared
def test_estimator_history_mismatch_is_one_sentence():
  from reasan_jax.tasks.common import lidar
  fake = lidar.Estimator(apply=_fake_estimator, history=10, source="est_run")
  with pytest.raises(lidar.LidarConfigError, match=r"reads 10 frames but env.mid360.history is 15"):
    lidar.Mid360Module(_env_config().mid360, fake)
  with pytest.raises(lidar.LidarConfigError, match="needs a trained ray estimator"):
    lidar.load_estimator("")


def test_real_estimator_loader_is_adapted_and_first_frame_imu_padding(monkeypatch):
  from reasan_jax.estimator import load as est_load
  from reasan_jax.estimator import model
  from reasan_jax.scenes import obstacles
  from reasan_jax.tasks.common import lidar
  net = model.RayPredictor(3)
  variables = net.init(jax.random.PRNGKey(0), jnp.zeros((1, 3, 30, 180)), jnp.zeros((1, 3, 6)),
                       False)
  frozen = est_load.FrozenEstimator(params=variables["params"], batch_stats=variables["batch_stats"],
                                    history_frames=3, imu_padding="first")
  monkeypatch.setattr(est_load, "load_estimator", lambda path: frozen)
  est = lidar.load_estimator("some_run")
  assert est.history == 3 and est.imu_padding == "first"
  cfg = lidar.mid360_config()
  cfg.history = 3
  module = lidar.Mid360Module(cfg, est)
  zeros = lidar_grid.estimator_inputs(lidar_grid.empty_history(3))
  np.testing.assert_allclose(np.asarray(module.reset_rays()),
                             np.asarray(frozen.apply(zeros[0][None], zeros[1][None])[0]), atol=1e-5)
  world = obstacles.make_tiled_world(num_tiles=1)
  info = {"mid360": module.reset_info(jax.random.PRNGKey(1)),
          "mid360_cursor": module.first_cursor()}
  base, rot = jnp.asarray([0.0, 0.0, 0.3]), jnp.eye(3)
  args = (world, None, base, rot, jnp.asarray([0.0, 0.0, -1.0]), jnp.asarray([0.1, 0.2, 0.3]),
          jnp.zeros(180))
  info["mid360"], info["mid360_cursor"] = module.step(info, jax.random.PRNGKey(2), *args)
  h = info["mid360"]["history"]
  assert np.all(np.asarray(h.gravity) == np.asarray(h.gravity[-1]))  # first frame fills the slots
  assert not np.any(np.asarray(h.grid[:-1]))  # grids before the episode stay zero
  first = np.asarray(h.ang_vel[-1])
  info["mid360"], _ = module.step(info, jax.random.PRNGKey(3), *args)
  h = info["mid360"]["history"]
  np.testing.assert_array_equal(np.asarray(h.ang_vel[:2]), np.stack([first, first]))
  assert not np.array_equal(np.asarray(h.ang_vel[2]), first)
  assert module.predicted_rays(info["mid360"]).shape == (180,)


def test_scenario_config_with_an_estimator_turns_predicted_rays_on():
  from reasan_jax.eval import filter_eval
  c = filter_eval.scenario_env_config(None, "dynamic", estimator="runs/estimator/h15")
  assert c.use_pred_rays and c.estimator == "runs/estimator/h15"
  assert c.sensors.num_centers == 11 and c.obs.actor_rays == "gt"  # the rest as before
  assert not filter_eval.scenario_env_config(None, "dynamic").use_pred_rays


@needs_shared
def test_play_with_a_missing_estimator_is_one_sentence(tmp_path, capsys):
  from reasan_jax.cli import play
  code = play.main(["--onnx", str(PRETRAINED / "filter_1.onnx"), "--loco_onnx", str(LOCO),
                    "--estimator", str(tmp_path / "no_run"), "--steps", "2"])
  err = capsys.readouterr().err
  assert code != 0 and "no_run" in err and err.strip().count("\n") == 0, err
