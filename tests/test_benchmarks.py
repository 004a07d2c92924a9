"""Each benchmark script runs on a tiny setting and writes its JSON (not a benchmark itself).

Our side of every script runs in every test session. The peers' side (Brax PPO, Playground) needs
``benchmarks/.venv-brax`` (``bash benchmarks/setup_brax_venv.sh``); tests never create it and skip
with the reason when it is absent. Those tests are also marked ``slow``: on a cold compilation
cache Brax's tiny PPO alone compiles for minutes on 2 CPU cores. Workers are subprocesses sharing
the tests' persistent JAX compilation cache through ``JAX_COMPILATION_CACHE_DIR`` (so compile figures
of these tiny runs are meaningless).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import sys

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
VENV_PY = BENCH / ".venv-brax" / "bin" / "python"
needs_venv = pytest.mark.skipif(
    not VENV_PY.exists(),
    reason="peers' venv benchmarks/.venv-brax absent (create: bash benchmarks/setup_brax_venv.sh)")

PPO_TINY = ["--num-envs", "4", "--minibatches", "1", "--epochs", "1", "--unroll", "4",
            "--iterations", "1", "--repeats", "1", "--hidden", "16", "--rnn", "16"]


def _load(name: str):
  sys.path.insert(0, str(BENCH))
  spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


@pytest.fixture(autouse=True)
def _shared_cache(monkeypatch):
  cache = os.environ.get(
      "REASAN_JAX_CACHE", str(pathlib.Path.home() / ".cache" / "reasan_jax" / "jax"))
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", cache)
  monkeypatch.setenv("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")


def test_ppo_vs_brax_ours_tiny(tmp_path):
  out = tmp_path / "ppo.json"
  _load("ppo_vs_brax").main(PPO_TINY + ["--out", str(out), "--sides", "ours-gru"])
  data = json.loads(out.read_text())
  (row,) = data["rows"]
  assert row["side"] == "ours-gru" and row["env_steps_per_s"] > 0 and row["peak_rss_mb"] > 0
  assert data["settings"]["num_envs"] == 4 and "machine" in data


def test_ppo_vs_brax_without_venv_skips_brax(tmp_path):
  out = tmp_path / "ppo.json"
  res = _load("ppo_vs_brax").main(
      PPO_TINY + ["--out", str(out), "--sides", "brax-mlp", "--brax-python", str(tmp_path / "none")])
  assert res["rows"] == [] and "brax-mlp" in res["skipped"]


@pytest.mark.slow
@needs_venv
def test_ppo_vs_brax_brax_tiny(tmp_path):
  out = tmp_path / "ppo.json"
  _load("ppo_vs_brax").main(PPO_TINY + ["--out", str(out), "--sides", "brax-mlp"])
  (row,) = json.loads(out.read_text())["rows"]
  assert row["side"] == "brax-mlp" and row["env_steps_per_s"] > 0


def test_env_vs_playground_ours_tiny(tmp_path):
  out = tmp_path / "env.json"
  _load("env_vs_playground").main(["--batches", "4", "--steps", "2", "--repeats", "1", "--out",
                                   str(out), "--sides", "ours@main", "ours-go1solver@main"])
  ours, ours_go1solver = json.loads(out.read_text())["rows"]
  assert ours["side"] == "ours@main" and ours["us_per_substep"] > 0 and ours["substeps"] == 4
  assert ours["solver"] == "8/8" and ours_go1solver["solver"] == "1/5"
  assert ours_go1solver["us_per_substep"] > 0


@pytest.mark.slow
@needs_venv
def test_env_vs_playground_go1_tiny(tmp_path):
  out = tmp_path / "env.json"
  _load("env_vs_playground").main(["--batches", "4", "--steps", "2", "--repeats", "1", "--out",
                                   str(out), "--sides", "go1@venv"])
  (row,) = json.loads(out.read_text())["rows"]
  assert row["side"] == "go1@venv" and row["us_per_substep"] > 0 and row["substeps"] == 5


def test_scaling_tiny(tmp_path):
  out = tmp_path / "scaling.json"
  _load("scaling").main(["--batches", "4", "--unroll", "4", "--epochs", "1", "--minibatches", "1",
                         "--out", str(out)])
  row = json.loads(out.read_text())["rows"][0]
  assert row["num_envs"] == 4 and row["train_env_steps_per_s"] > 0
  shares = sum(row[f"share_{k}"] for k in ("physics", "env_overhead", "policy", "update"))
  assert abs(shares - 1.0) < 1e-6


def test_estimator_throughput_tiny(tmp_path):
  out = tmp_path / "estimator.json"
  _load("estimator_throughput").main(["--history", "2", "--batch", "4", "--repeats", "1", "--out", str(out)])
  row = json.loads(out.read_text())["rows"][0]
  assert row["batch"] == 4 and row["train_frames_per_s"] > 0 and row["eval_frames_per_s"] > 0


@pytest.mark.slow
@needs_venv
def test_learn_vs_brax_tiny(tmp_path):
  out = tmp_path / "learn.json"
  _load("learn_vs_brax").main([
      "--iterations", "1", "--num-envs", "4", "--minibatches", "1", "--epochs", "1", "--unroll",
      "4", "--eval-envs", "2", "--episode-length", "10", "--seeds", "0", "--sides", "ours-mlp",
      "brax-mlp", "--out", str(out)])
  rows = json.loads(out.read_text())["rows"]
  assert {r["side"] for r in rows} == {"ours-mlp", "brax-mlp"}
  assert all(r["mean"] == r["mean"] for r in rows)  # not NaN


def test_mid360_cost_tiny(tmp_path):
  out = tmp_path / "mid360_cost.json"
  _load("mid360_cost").main(["--batches", "2", "--steps", "1", "--repeats", "1", "--out", str(out)])
  row = json.loads(out.read_text())["rows"][0]
  assert row["batch"] == 2 and all(row[f"{k}_us"] > 0 for k in ("measure", "mid360", "mid360_nocut"))


def test_nav_world_cull_tiny(tmp_path):
  out = tmp_path / "nav.json"
  _load("nav_world_cull").main(["--seeds", "0", "--points", "16", "--batch", "4", "--steps", "1",
                                "--repeats", "1", "--grid-blocks", "4", "--maze-cells", "8",
                                "--pairs", "10", "--out", str(out)])
  rows = json.loads(out.read_text())["rows"]
  assert [r["double_maze_walls"] for r in rows] == [True, False]
  assert rows[0]["pillars"] > rows[1]["pillars"] and rows[0]["maze_6.0_max"] > 0
  assert rows[0]["sense_us_per_env_step"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not (REPO.parent / "shared" / "reference" / "pretrained" / "filter_1.onnx").exists(),
                    reason="../shared/reference/pretrained (REASAN's ONNX files) is absent")
def test_nav_throughput_tiny(tmp_path):
  out = tmp_path / "nav_throughput.json"
  _load("nav_throughput").main(["--batches", "2", "--steps", "1", "--repeats", "1",
                                "--small_worlds", "--out", str(out)])
  (row,) = json.loads(out.read_text())["rows"]
  assert row["nav_us_per_env_step"] > 0 and row["nav_over_loco"] > 0
  assert set(row["share"]) == {"physics", "filter_policy", "loco_policy", "sensing"}


def test_loco_response_metrics_first_order():
  """A first-order lag (tau 0.1 s) to a 0 -> 1 step: t50 = tau ln 2, t90 = tau ln 10, no overshoot."""
  mod = _load("loco_response")
  dt, switch = 0.02, 50
  t = (np.arange(150) - switch + 1) * dt  # sample k is at (k + 1) dt after the switch
  v = np.zeros((150, 3))
  v[:, 1] = np.where(t > 0, 1.0 - np.exp(-t / 0.1), 0.0)
  cmds = np.zeros((150, 3), np.float32)
  cmds[switch:, 1] = 1.0
  m = mod.response_metrics(v, cmds, switch, dt, smooth=1)
  assert set(m) == {"pre_switch_velocity", "steady_velocity", "steady_error", "vy"}
  assert m["vy"]["t50_s"] == pytest.approx(0.1 * np.log(2), abs=dt)
  assert m["vy"]["t90_s"] == pytest.approx(0.1 * np.log(10), abs=dt)
  assert m["vy"]["overshoot"] == 0.0
  assert m["vy"]["achieved_fraction"] == pytest.approx(1.0, abs=1e-3)
  v[:, 1] *= 0.5  # reaches half the command: 90 % of the command never, 90 % of itself as before
  m = mod.response_metrics(v, cmds, switch, dt, smooth=1)
  assert m["vy"]["t90_s"] is None and m["steady_error"][1] == pytest.approx(-0.5, abs=1e-3)
  assert m["vy"]["t90_of_achieved_s"] == pytest.approx(0.1 * np.log(10), abs=dt)


@pytest.mark.slow
@pytest.mark.skipif(not (REPO.parent / "shared" / "reference" / "pretrained" / "loco_1.onnx")
                    .exists(), reason="../shared/reference/pretrained (REASAN's ONNX files) is absent")
def test_loco_response_tiny(tmp_path):
  out = tmp_path / "loco_response.json"
  _load("loco_response").main(["--envs", "1", "--settle", "0.5", "--after", "1.0", "--schedules",
                               "dodge", "--sims", "mjx", "mujoco", "--filter_impratio", "--out",
                               str(out)])
  data = json.loads(out.read_text())
  mjx, mj = data["rows"]
  assert (mjx["sim"], mj["sim"]) == ("mjx", "mujoco") and mjx["falls"] == mj["falls"] == 0
  assert {"vx", "vy", "steady_error"} <= set(mjx["mean"]) and "wz" not in mjx["mean"]
  assert len(mjx["trace"]["vy"]) == 75  # 0.5 s before + 1.0 s after the switch at 50 Hz
  per_sim = data["model"]["per_sim"]
  assert per_sim["mujoco"]["iterations"] == per_sim["mjx"]["iterations"]
  assert data["filter_dynamic_impratio"] == []  # skipped by the empty --filter_impratio
  (gap,) = data["comparison"]
  assert max(gap["max_mean_trace_gap"]) < 0.05  # same model, same control: the same trajectory
