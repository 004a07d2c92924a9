"""The ray estimator (reasan-nav.md §8.3-8.5): model size and modes, loss, windows, batching, CLI runs."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasan_jax.cli import train_estimator as cli
from reasan_jax.estimator import data as dl
from reasan_jax.estimator import model as md
from reasan_jax.estimator import train as tr
from reasan_jax.estimator.evaluate import grid_min_rays, ray_metrics
from reasan_jax.estimator.load import load_estimator
from reasan_jax.estimator.loss import conservative_loss
from reasan_jax.io import ray_dataset as rd
from reasan_jax.io.ray_dataset import RayDataset


def write_synthetic(path, lengths, seed):
  """A sequential file whose grids hold the true ray distance in a few elevation bins (learnable)."""
  rng = np.random.default_rng(seed)
  with rd.SequentialRayWriter(path, num_envs=2) as w:
    for t in lengths:
      rays = np.clip(rng.uniform(0.1, 1.2, (1, 180)) + 0.01 * np.arange(t)[:, None], 0, 1).astype(np.float32)
      grid = np.full((t, 30, 180), 3.0, np.float32)
      grid[:, 3:6] = rays[:, None, :] * 3.0 + rng.uniform(-0.1, 0.1, (t, 3, 180))
      w.write_episode(np.clip(grid, 0, 3), rng.normal(0, 0.1, (t, 3)) + [0, 0, -1], rng.normal(0, 0.1, (t, 3)),
                      rays)
  return path


# -- model ---------------------------------------------------------------------------------------


def test_parameter_count_matches_reasan_at_h15():
  variables = jax.eval_shape(lambda k: md.init_variables(k, 15), jax.random.key(0))
  params = variables["params"]
  assert md.count_params(params) == 2_139_489
  assert md.count_params(params["unet"]) == 1_454_273
  assert sum(md.count_params(params[f"encoder_{i}"]) for i in range(3)) == 594_816
  assert params["temporal_encoding"].shape == (15, 32) and params["spatial_encoding"].shape == (180, 128)
  assert params["token_proj"]["kernel"].shape == (480, 128)


def test_train_mode_uses_dropout_and_batch_stats_eval_mode_does_not():
  h = 2
  model = md.RayPredictor(h)
  variables = md.init_variables(jax.random.key(0), h)
  rng = np.random.default_rng(0)
  grid = jnp.asarray(rng.uniform(0, 1, (3, h, 30, 180)), jnp.float32)
  imu = jnp.asarray(rng.normal(size=(3, h, 6)), jnp.float32)
  ev = lambda g, i: model.apply(variables, g, i, False)
  out = ev(grid, imu)
  assert out.shape == (3, 180)
  np.testing.assert_array_equal(out, ev(grid, imu))
  # Eval mode: a sample's output does not depend on the rest of the batch.
  np.testing.assert_allclose(ev(grid[:1], imu[:1])[0], out[0], rtol=1e-5, atol=1e-5)
  tr_apply = lambda key, g=grid, i=imu, m=None: model.apply(variables, g, i, True, m, rngs={"dropout": key},
                                                            mutable=["batch_stats"])
  a, stats = tr_apply(jax.random.key(1))
  b, _ = tr_apply(jax.random.key(2))
  assert not np.allclose(a, b)                                    # dropout is on
  assert not np.allclose(a, out)
  moved = jax.tree.map(lambda x, y: float(jnp.max(jnp.abs(x - y))), stats["batch_stats"], variables["batch_stats"])
  assert max(jax.tree.leaves(moved)) > 0                          # running statistics updated
  # Padding samples (mask False) are left out of the statistics (first BatchNorm: before any dropout).
  junk = grid.at[2].set(100.0)
  _, s_masked = tr_apply(jax.random.key(1), junk, imu, jnp.array([True, True, False]))
  _, s_two = tr_apply(jax.random.key(1), grid[:2], imu[:2])
  bn0 = lambda s: s["batch_stats"]["frame_cnn"]["BatchNorm_0"]["mean"]
  np.testing.assert_allclose(bn0(s_masked), bn0(s_two), rtol=1e-5, atol=1e-6)


def test_bad_input_shape_is_one_sentence():
  model = md.RayPredictor(3)
  with pytest.raises(ValueError, match=r"RayPredictor\(H=3\) takes grid"):
    model.init(jax.random.key(0), jnp.zeros((1, 2, 30, 180)), jnp.zeros((1, 2, 6)))


def test_upsample_is_linear_align_corners():
  x = jnp.asarray([0.0, 3.0, 6.0])[None, :, None]
  np.testing.assert_allclose(md.upsample_linear_x2(x)[0, :, 0], [0.0, 1.2, 2.4, 3.6, 4.8, 6.0], atol=1e-6)


# -- loss ----------------------------------------------------------------------------------------


def test_conservative_loss_hand_values():
  # e = (0.2, -0.3): Huber (0.02, 0.045), over-estimate doubled -> mean 0.0425; near term 0.05 * relu(0.3).
  assert float(conservative_loss(jnp.array([[0.4, 0.5]]), jnp.array([[0.2, 0.8]]))) == pytest.approx(0.0575)
  # No target below 0.5: REASAN's NaN becomes a 0 near term. e = (0, 2): Huber (0, 1.5) x2 -> 1.5.
  far = conservative_loss(jnp.array([[0.6, 2.9]]), jnp.array([[0.6, 0.9]]))
  assert float(far) == pytest.approx(1.5)
  # Exact prediction of a near ray still costs 0.05 * 0.1.
  assert float(conservative_loss(jnp.array([[0.3]]), jnp.array([[0.3]]))) == pytest.approx(0.005)
  # Padding samples are ignored.
  masked = conservative_loss(jnp.array([[0.4, 0.5], [9.0, 9.0]]), jnp.array([[0.2, 0.8], [0.0, 0.0]]),
                             jnp.array([True, False]))
  assert float(masked) == pytest.approx(0.0575)


# -- windows and batches -------------------------------------------------------------------------


def _tiny_dataset():
  f = 7
  grids = np.arange(f, dtype=np.float32)[:, None, None] * np.ones((1, 30, 180), np.float32) + 1
  imu = np.arange(f, dtype=np.float32)[:, None] * np.ones((1, 6), np.float32) + 10
  return RayDataset(grid_maps=grids, gravity=imu[:, :3], ang_vel=imu[:, 3:],
                    gt_rays=np.tile(np.arange(f, dtype=np.float32)[:, None] / 10, (1, 180)),
                    episode_boundaries=np.array([[0, 2], [3, 6]], np.int64))


def test_window_expansion_at_episode_starts():
  data = _tiny_dataset()
  batch = dl.make_batch(data.episode_boundaries, np.array([1, 0]), history_frames=3, size=8)
  np.testing.assert_array_equal(batch.frame[:7], [3, 4, 5, 6, 0, 1, 2])
  np.testing.assert_array_equal(batch.history[0], [3, 3, 3])
  np.testing.assert_array_equal(batch.present[0], [False, False, True])
  np.testing.assert_array_equal(batch.history[1], [3, 3, 4])
  np.testing.assert_array_equal(batch.history[3], [4, 5, 6])
  assert batch.mask.tolist() == [True] * 7 + [False]
  dev = dl.DeviceData.from_dataset(data)
  grid, imu, target = dl.windows(dev, batch, "first")
  assert grid.shape == (8, 3, 30, 180)
  np.testing.assert_allclose(grid[1, :, 0, 0], [0.0, 4 / 3, 5 / 3])       # zero grid, then grids / 3
  np.testing.assert_allclose(imu[1, :, 0], [13, 13, 14])                  # first frame's IMU copied
  np.testing.assert_allclose(target[1, 0], 0.4)
  _, imu0, _ = dl.windows(dev, batch, "zeros")
  np.testing.assert_allclose(imu0[1, :, 0], [0, 13, 14])                  # REASAN's env padding


def test_batches_hold_whole_episodes_and_cover_every_frame():
  lengths = np.array([5, 3, 4, 2])
  plan = dl.plan_batches(lengths, np.arange(4), batch_size=6)
  assert [b.tolist() for b in plan] == [[0, 1], [2, 3]]
  assert [b.tolist() for b in dl.plan_batches(lengths, np.array([3, 0, 1, 2]), 6)] == [[3, 0], [1, 2]]
  assert [b.tolist() for b in dl.plan_batches(np.array([7, 1]), np.arange(2), 6)] == [[0], [1]]  # leftover kept
  assert dl.padded_size(lengths, 6) == 16                                 # 6 + 5 - 1 = 10 -> 16
  data = _tiny_dataset()
  seen = [np.sort(np.concatenate([b.frame[b.mask] for b in dl.epoch_batches(data, jax.random.key(k), 2, 3, 8)]))
          for k in (0, 1)]
  for s in seen:
    np.testing.assert_array_equal(s, np.arange(7))
  frames = list(dl.epoch_batches(data, jax.random.key(0), 3, 3, 3, batching="frames"))
  assert [b.num_frames for b in frames] == [3, 3, 1]
  np.testing.assert_array_equal(np.sort(np.concatenate([b.frame[b.mask] for b in frames])), np.arange(7))
  for b in frames:                                                         # windows of their own episode
    for f, hist in zip(b.frame[b.mask], b.history[b.mask]):
      np.testing.assert_array_equal(hist, np.maximum(np.arange(f - 2, f + 1), 0 if f < 3 else 3))
  capped = list(dl.epoch_batches(data, None, 2, 3, 2, batching="frames", max_frames=3))
  assert [b.frame.tolist() for b in capped] == [[0, 1], [2, 3]]


def test_grid_min_baseline_and_metrics():
  grids = np.full((1, 30, 180), 3.0, np.float32)
  grids[0, 5, :90] = 0.6
  base = grid_min_rays(grids)
  np.testing.assert_allclose(base[0, :2], [0.2, 0.2])
  np.testing.assert_allclose(base[0, -1], 1.0)
  truth = np.full((1, 180), 0.2, np.float32)
  m = ray_metrics(base, truth)
  assert m["mae_m"] == pytest.approx(1.2) and m["over_rate"] == pytest.approx(0.5) and m["near_count"] == 180


# -- training ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory):
  root = tmp_path_factory.mktemp("rays")
  return write_synthetic(root / "train.h5", [9, 7, 8], 0), write_synthetic(root / "val.h5", [6, 5], 1)


def _small_config(train_path, val_path):
  c = tr.default_config(True)
  c.data, c.val = str(train_path), str(val_path)
  c.history_frames, c.batch_size, c.num_epochs, c.epoch_frames, c.val_frames = 2, 8, 3, 16, 8
  return c


def test_resume_is_exact(files, tmp_path):
  train, val = rd.read_sequential(files[0]), rd.read_sequential(files[1])
  config = _small_config(*files)
  fresh = lambda: tr.init_state(config, np.mean(train.gt_rays, axis=0))
  straight = tr.run_training(config, tmp_path / "a", train, val, fresh(), progress=False)
  tr.run_training(config, tmp_path / "b", train, val, fresh(), progress=False, until=2)
  resumed, _, step_dir = tr.restore_state(tmp_path / "b", 2)
  assert step_dir.name == "2" and int(resumed.epoch) == 2
  resumed = tr.run_training(config, tmp_path / "b", train, val, resumed, progress=False)
  for x, y in zip(jax.tree.leaves(straight.params), jax.tree.leaves(resumed.params)):
    np.testing.assert_array_equal(x, y)
  rows = (tmp_path / "b" / "metrics.csv").read_text().strip().splitlines()
  assert len(rows) == 4                                                    # header + 3 epochs


def test_cli_trains_resumes_evaluates_and_refuses_other_history(files, tmp_path, capsys):
  runs = tmp_path / "runs"
  base = ["--data", str(files[0]), "--val", str(files[1]), "--runs_dir", str(runs), "--no_progress",
          "--history_frames", "2", "--batch_size", "8", "--profile", "cpu", "--batching", "episodes"]
  assert cli.main(base + ["--run_name", "r", "--num_epochs", "2"]) == 0
  run = runs / "r"
  assert (run / "checkpoints" / "2").is_dir() and list((run / "best" / "checkpoints").iterdir())
  report = json.loads((run / "eval.json").read_text())
  assert set(report) >= {"estimator", "grid_min", "constant"} and np.isfinite(report["estimator"]["mae_m"])
  assert cli.main(base + ["--run_name", "r"]) == 2                          # never reuses a run folder
  assert "already exists" in capsys.readouterr().err
  assert cli.main(["--resume", "r", "--runs_dir", str(runs), "--no_progress", "--num_epochs", "3"]) == 0
  assert (run / "checkpoints" / "3").is_dir() and (run / "eval_1.json").is_file()
  capsys.readouterr()
  assert cli.main(["--resume", "r", "--runs_dir", str(runs), "--history_frames", "15"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "--history_frames 2, not 15" in err[0]
  assert cli.main(["--eval", str(run), "--history_frames", "15"]) == 2
  assert "--history_frames 2, not 15" in capsys.readouterr().err
  with pytest.raises(tr.EstimatorError, match="not 15"):
    load_estimator(run, history_frames=15)
  est = load_estimator(run, history_frames=2)
  out = jax.jit(est.apply)(jnp.zeros((4, 2, 30, 180)), jnp.zeros((4, 2, 6)))
  assert out.shape == (4, 180) and bool(jnp.all(jnp.isfinite(out)))


def test_cli_bad_files_are_one_sentence(files, tmp_path, capsys):
  assert cli.main(["--data", str(tmp_path / "missing.h5"), "--val", str(files[1]), "--runs_dir",
                   str(tmp_path / "runs")]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and "does not exist" in err[0]
  assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
