"""REASAN's released locomotion policy walks in our MJX Go2 (issue "The Go2 on MJX", sim2sim)."""

from __future__ import annotations

import contextlib
import io

import pytest

from conftest import LOCO_ONNX
from reasan_jax.cli import sim2sim
from reasan_jax.eval import EvalError

needs_onnx = pytest.mark.skipif(
    not LOCO_ONNX.exists(),
    reason=f"REASAN's pretrained policy is not at {LOCO_ONNX} (shared/reference is absent).")


@pytest.fixture(scope="module")
def flat_results():
  from reasan_jax.eval import env_config
  from reasan_jax.policies.load import load_onnx

  policy = load_onnx(LOCO_ONNX)
  env = env_config.make_env(sim2sim.sim2sim_env_config(terrain="flat", duration=20.0))
  results = sim2sim.run_sim2sim(env, policy, sim2sim.DEFAULT_COMMANDS, duration=20.0, average=10.0)
  print("\n" + sim2sim.format_table(results))
  return results


@needs_onnx
def test_no_falls_on_the_judged_grid(flat_results):
  assert [r.falls for r in flat_results] == [0] * len(sim2sim.DEFAULT_COMMANDS)


@needs_onnx
def test_tracking_on_flat_ground(flat_results):
  by_cmd = {r.command: r for r in flat_results}
  assert by_cmd[(1.0, 0.0, 0.0)].vx >= 0.85  # the target (a hand-built model gave 0.65)
  assert abs(by_cmd[(0.0, 0.0, 0.0)].vx) < 0.1
  assert 0.4 <= by_cmd[(0.5, 0.0, 0.0)].vx <= 0.65
  assert by_cmd[(1.5, 0.0, 0.0)].vx >= 1.2
  assert by_cmd[(0.0, 0.5, 0.0)].vy >= 0.3 and by_cmd[(0.0, -0.5, 0.0)].vy <= -0.3
  assert by_cmd[(0.0, 0.0, 1.0)].wz >= 0.8 and by_cmd[(0.0, 0.0, -1.0)].wz <= -0.8


def test_sim2sim_lifts_the_time_limit():
  cfg = sim2sim.sim2sim_env_config(terrain="rough", duration=30.0)
  assert cfg.episode_length >= 1502 and not cfg.obs.noise and not cfg.randomization.pushes
  assert (cfg.terrain_config.num_rows, cfg.terrain_config.num_cols) == sim2sim.SIM2SIM_ROUGH_GRID


def test_bad_commands_are_rejected():
  with pytest.raises(EvalError, match=r"shape \(C, 3\)"):
    sim2sim.run_sim2sim(None, None, [(1.0, 0.0)])


@pytest.mark.parametrize("argv, expected", [
    (["--onnx", "a.onnx", "--run", "r"], "Give exactly one policy: --onnx, --run or --checkpoint."),
    ([], "Give exactly one policy"),
    (["--onnx", "a.onnx", "--commands", "1,0"], "--commands '1,0' is neither 'vx,vy,wz' numbers"),
    (["--onnx", "a.onnx", "--duration", "0"], "--duration must be a positive number"),
    (["--run", "nope", "--runs_dir", "{tmp}"], "There is no run 'nope'"),
])
def test_bad_input_is_one_sentence(tmp_path, argv, expected):
  err = io.StringIO()
  with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
    code = sim2sim.main([a.format(tmp=tmp_path) for a in argv])
  assert code == 1
  lines = err.getvalue().strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(sim2sim.PROG) and lines[0].endswith("."), lines
  assert expected in lines[0]
