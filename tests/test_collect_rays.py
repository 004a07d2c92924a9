"""``python -m reasan_jax.collect_rays``: REASAN's ``play_filter.py --collect`` into the sequential
HDF5 format (REASAN filter §9.3), whole episodes, no silent overwrite, interrupt-safe."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

from reasan_jax.cli import collect_rays
from reasan_jax.io import interrupts, ray_dataset

REPO = pathlib.Path(__file__).resolve().parents[1]
PRETRAINED = REPO.parent / "shared" / "reference" / "pretrained"
pytestmark = pytest.mark.skipif(not (PRETRAINED / "filter_1.onnx").exists(),
                                reason="../shared/reference/pretrained (REASAN's ONNX files) is absent")

EPISODE = 6  # steps: a time-out at step 6, so 5 recorded frames per episode (steps 1..5)
TINY = ["--onnx", str(PRETRAINED / "filter_1.onnx"), "--loco_onnx", str(PRETRAINED / "loco_1.onnx"),
        "--num_envs", "2", "--chunk", "4", f"--config.env.episode_length={EPISODE}"]


def test_tiny_collection_round_trips(tmp_path, capsys):
  out = tmp_path / "data" / "train.h5"
  assert collect_rays.main(TINY + ["--out", str(out), "--frames", "22", "--quiet"]) == 0
  assert "holds 22 frames in 5 complete episodes" in capsys.readouterr().out
  with h5py.File(out, "r") as f:
    assert set(f) == {"grid_maps", "gravity_vectors", "angular_velocity", "ground_truth_rays",
                      "episode_boundaries"}
    shapes = {k: (f[k].shape, f[k].dtype) for k in f}
    attrs = {k: np.asarray(v).tolist() for k, v in f.attrs.items()}
    assert f["grid_maps"].compression == "gzip"
  assert shapes == {"grid_maps": ((22, 30, 180), np.float32), "gravity_vectors": ((22, 3), np.float32),
                    "angular_velocity": ((22, 3), np.float32),
                    "ground_truth_rays": ((22, 180), np.float32),
                    "episode_boundaries": ((5, 2), np.int64)}
  assert attrs == {"num_envs": 2, "grid_map_shape": [30, 180], "gravity_dim": 3, "ang_vel_dim": 3,
                   "gt_rays_dim": 180}
  data = ray_dataset.read_sequential(out)
  # Four whole 5-frame episodes, then the one that did not fit cut to the 2 remaining frames.
  assert data.episode_boundaries.tolist() == [[0, 4], [5, 9], [10, 14], [15, 19], [20, 21]]
  assert data.grid_maps.min() >= 0.0 and data.grid_maps.max() <= 3.0
  assert np.any(data.grid_maps < 3.0)  # the ground / obstacles show up
  assert data.gt_rays.min() >= 0.0 and data.gt_rays.max() <= 1.0
  assert np.all(np.abs(data.gravity[:, 2] + 1.0) < 0.4) and np.any(data.ang_vel != 0.0)
  # An existing file is never replaced without --overwrite.
  before = out.read_bytes()
  assert collect_rays.main(TINY + ["--out", str(out), "--frames", "5"]) == 1
  err = capsys.readouterr().err
  assert "already exists" in err and "--overwrite" in err and err.count("\n") == 1
  assert out.read_bytes() == before


def test_refuses_a_loco_policy_and_a_missing_loco(tmp_path, capsys):
  loco = ["--onnx", str(PRETRAINED / "loco_1.onnx"), "--out", str(tmp_path / "x.h5")]
  assert collect_rays.main(loco) == 1
  assert "safety-filter policy" in capsys.readouterr().err
  alone = ["--onnx", str(PRETRAINED / "filter_1.onnx"), "--out", str(tmp_path / "x.h5")]
  assert collect_rays.main(alone) == 1
  assert "--loco_onnx" in capsys.readouterr().err
  assert not (tmp_path / "x.h5").exists()


def test_interrupted_collection_keeps_complete_episodes(tmp_path):
  out = tmp_path / "interrupted.h5"
  env = dict(os.environ)
  env.setdefault("REASAN_JAX_CACHE", str(pathlib.Path.home() / ".cache" / "reasan_jax" / "jax"))
  cmd = [sys.executable, "-m", "reasan_jax.collect_rays", *TINY, "--out", str(out), "--frames",
         "100000"]
  proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
  lines = []
  try:
    for line in proc.stdout:
      lines.append(line)
      if line.startswith("step ") and int(line.split(" episodes")[0].split()[-1]) >= 3:
        proc.send_signal(signal.SIGTERM)
        break
    rest, _ = proc.communicate(timeout=600)
  finally:
    if proc.poll() is None:
      proc.kill()
  text = "".join(lines) + rest
  assert proc.returncode == 130, text
  assert "interrupted:" in text
  data = ray_dataset.read_sequential(out)
  assert data.num_episodes >= 3
  assert np.all(data.episode_lengths == EPISODE - 1)
  assert data.episode_boundaries[0, 0] == 0 and data.num_frames == data.episode_lengths.sum()


def test_a_signal_mid_collection_stops_cleanly_after_the_chunk(tmp_path, monkeypatch, capsys):
  """SIGTERM delivered while the collection runs (here: from the progress callback, in-process)
  only asks for a stop: the command finishes the chunk, closes the file and returns 130, whatever
  Python code (JAX's included) the signal lands in."""
  from reasan_jax.eval import ray_collection

  real = ray_collection.collect
  calls, resumed = [], []

  def collect(*args, progress=None, **kwargs):
    def signalling(summary):
      progress(summary)
      calls.append(summary["episodes"])
      if summary["episodes"] >= 2:
        os.kill(os.getpid(), signal.SIGTERM)
        resumed.append(True)  # the signal did not cut the running code short
    return real(*args, progress=signalling, **kwargs)

  monkeypatch.setattr(ray_collection, "collect", collect)
  out = tmp_path / "stopped.h5"
  assert collect_rays.main(TINY + ["--out", str(out), "--frames", "100000"]) == 130
  assert "interrupted:" in capsys.readouterr().out
  assert resumed == [True]
  assert calls[-1] >= 2 and calls[-2] < 2  # no chunk ran after the one that sent the signal
  data = ray_dataset.read_sequential(out)
  assert data.num_episodes == calls[-1] and np.all(data.episode_lengths == EPISODE - 1)
  assert not isinstance(signal.getsignal(signal.SIGTERM), interrupts.StopRequest)  # restored
