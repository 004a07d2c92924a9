"""reasan_jax.eval: one rollout behind play, sim2sim and training videos; its config and metrics.

Nothing here compiles a Go2 program: the spy test replaces the rollout by a stub (the real rollout
runs in tests/test_play.py and tests/test_sim2sim.py).
"""

from __future__ import annotations

import contextlib
import io
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasan_jax.configs import loco
from reasan_jax.core.env import Env, State
from reasan_jax.core.wrappers import VecEnv
from reasan_jax.eval import EvalError, env_config, metrics, rollout as rollout_lib, schedules


def _loco_like_onnx(path):
  """A REASAN-shaped loco ONNX file (input ``obs`` (1, 45), output ``actions`` (1, 12))."""
  import onnx  # pylint: disable=import-outside-toplevel
  from onnx import TensorProto, helper, numpy_helper  # pylint: disable=import-outside-toplevel

  weight = numpy_helper.from_array(np.zeros((45, 12), np.float32), "w")
  graph = helper.make_graph(
      [helper.make_node("MatMul", ["obs", "w"], ["actions"])], "loco_like",
      [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 45])],
      [helper.make_tensor_value_info("actions", TensorProto.FLOAT, [1, 12])], [weight])
  onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), path)
  return path


def test_play_sim2sim_and_training_videos_share_one_rollout(tmp_path, monkeypatch):
  from reasan_jax.cli import play, sim2sim  # pylint: disable=import-outside-toplevel
  from reasan_jax.policies.load import load_onnx  # pylint: disable=import-outside-toplevel
  from reasan_jax.viz import render, video  # pylint: disable=import-outside-toplevel

  calls = []

  def spy(env, policy, commands="figure8", *, num_envs=1, steps=None, seed=0, segment=4.0,
          spawn="env"):
    calls.append(sys._getframe(1).f_globals["__name__"])  # pylint: disable=protected-access
    cmds = rollout_lib.resolve_commands(commands, num_envs, steps, env.dt, segment)
    t = cmds.shape[0]
    zeros = np.zeros((t, num_envs), np.float32)
    return rollout_lib.RolloutResult(
        commands=cmds, velocity=np.zeros((t, num_envs, 3), np.float32), reward=zeros,
        done=zeros > 0, fell=zeros > 0, qpos=np.zeros((t, 19), np.float32),
        qvel=np.zeros((t, 18), np.float32), dt=env.dt)

  monkeypatch.setattr(rollout_lib, "rollout", spy)
  onnx_path = str(_loco_like_onnx(tmp_path / "loco_like.onnx"))
  quiet = contextlib.redirect_stdout(io.StringIO())
  with quiet:
    result = play.run(["--onnx", onnx_path, "--steps", "3", "--command", "0.5,0,0"])
    assert sim2sim.main(["--onnx", onnx_path, "--duration", "0.1", "--average", "0.1",
                         "--commands", "1,0,0;0,0,1"]) == 0
  assert result.commands.shape == (3, 1, 3) and result.episodes[0].end == "running"

  monkeypatch.setattr(render, "check_gl", lambda backend=None: "egl")
  monkeypatch.setattr(video, "render_video", lambda env, result, path, *a, **k: path)
  policy = load_onnx(onnx_path)
  trainer = types.SimpleNamespace(policy=lambda state, source="": policy)
  config = loco.get_config("cpu")
  config.env.terrain = "flat"
  recorder = video.TrainingVideo(trainer, config)
  assert recorder.record(tmp_path, None, 7).name == "iter_000007.mp4"
  assert calls == ["reasan_jax.cli.play", "reasan_jax.cli.sim2sim", "reasan_jax.viz.video"]


def test_evaluation_env_config_switches():
  train = loco.env_config()  # rough, noise, randomisation and pushes on
  cfg = env_config.evaluation_env_config(train)
  assert not cfg.obs.noise and not cfg.randomization.enabled and not cfg.randomization.pushes
  assert (cfg.terrain_config.num_rows, cfg.terrain_config.num_cols) == env_config.PLAY_ROUGH_GRID
  assert cfg.terrain_config.border == 8.0 and cfg.episode_length == train.episode_length
  on = env_config.evaluation_env_config(train, randomize=True, terrain="flat", episode_length=7)
  assert on.obs.noise and on.randomization.enabled and on.randomization.pushes
  assert on.terrain == "flat" and on.episode_length == 7
  only_noise = env_config.evaluation_env_config(train, noise=True)
  assert only_noise.obs.noise and not only_noise.randomization.enabled
  train.randomization.pushes = False  # a switch never adds what training did not have
  assert not env_config.evaluation_env_config(train, randomize=True).randomization.pushes
  assert train.terrain_config.num_rows == 10  # the input is not changed
  with pytest.raises(EvalError, match="--terrain must be flat or rough"):
    env_config.evaluation_env_config(train, terrain="stairs")


def test_resolve_commands():
  assert rollout_lib.resolve_commands(None, 2, 5, 0.02) is None
  fig8 = rollout_lib.resolve_commands("figure8", 3, None, 0.02)
  assert fig8.shape == (654, 3, 3) and (fig8[:, 0] == fig8[:, 2]).all()
  per_env = np.arange(4 * 2 * 3, dtype=np.float32).reshape(4, 2, 3)
  np.testing.assert_array_equal(rollout_lib.resolve_commands(per_env, 2, None, 0.02), per_env)
  np.testing.assert_allclose(rollout_lib.resolve_commands((1.0, 0, 0), 1, 2, 0.02)[:, 0],
                             [[1, 0, 0], [1, 0, 0]])
  with pytest.raises(EvalError, match=r"shape \(T, 3\) or \(T, 2, 3\)"):
    rollout_lib.resolve_commands(np.zeros((4, 3, 3)), 2, None, 0.02)
  with pytest.raises(EvalError, match="4 commands were given for 5 steps"):
    rollout_lib.resolve_commands(np.zeros((4, 3)), 2, 5, 0.02)


def test_schedules():
  fig8 = schedules.command_schedule("figure8", 1000, 0.02)
  assert fig8.shape == (1000, 3) and fig8.dtype == np.float32
  assert set(np.unique(fig8[25:, 2])) == {-1.0, 1.0} and (fig8[25:, 0] == 1.0).all()
  assert schedules.default_steps("figure8") == 654 and schedules.default_steps("1,0,0") == 500
  steps = schedules.command_schedule("0.5,0,0;0,0,1", 300, 0.02, segment=2.0)
  assert (steps[:100, 0] == 0.5).all() and (steps[100:, 2] == 1.0).all()
  for name in schedules.SCHEDULES:
    assert np.isfinite(schedules.command_schedule(name, 50)).all()
  assert schedules.parse_commands("1,0,0; 0,0.5,0") == [(1.0, 0.0, 0.0), (0.0, 0.5, 0.0)]
  with pytest.raises(EvalError, match=r"neither 'vx,vy,wz' numbers .* nor a schedule name"):
    schedules.command_schedule("fig8", 10)
  with pytest.raises(EvalError, match="at least 1"):
    schedules.command_schedule("stand", 0)
  with pytest.raises(EvalError, match="--commands 'nan,0,0' is neither"):
    schedules.parse_commands("nan,0,0", option="--commands")


def test_episode_table_splits_at_done():
  steps, batch = 6, 2
  done = np.zeros((steps, batch), bool)
  fell = np.zeros((steps, batch), bool)
  done[2, 0] = fell[2, 0] = True  # env 0 falls at step 2
  done[4, 1] = True  # env 1 times out at step 4
  reward = np.ones((steps, batch), np.float32)
  commands = np.tile(np.float32([1.0, 0.0, 0.0]), (steps, 1))
  velocity = np.zeros((steps, batch, 3), np.float32)
  velocity[..., 0] = 0.75
  episodes = metrics.episode_table(commands, velocity, reward, done, fell)
  assert [(e.env, e.index, e.start, e.length, e.end) for e in episodes] == [
      (0, 0, 0, 3, "fell"), (0, 1, 3, 3, "running"),
      (1, 0, 0, 5, "time limit"), (1, 1, 5, 1, "running")]
  assert episodes[0].ret == 3.0 and episodes[0].tracking_error == pytest.approx((0.25, 0.0, 0.0))
  per_env = np.broadcast_to(commands[:, None], (steps, batch, 3))
  assert metrics.episode_table(per_env, velocity, reward, done, fell) == episodes
  table = metrics.format_episodes(episodes)
  assert "4 episodes, 1 fell" in table and "time limit" in table


def test_tracking_results_leave_out_what_follows_a_fall():
  steps, batch = 10, 4
  commands = np.zeros((steps, batch, 3), np.float32)
  commands[:, :2, 0] = 1.0  # envs 0-1: forward; envs 2-3: turn
  commands[:, 2:, 2] = 1.0
  velocity = np.zeros((steps, batch, 3), np.float32)
  velocity[:, 0, 0] = 0.9
  velocity[:, 1, 0] = np.linspace(0, 1, steps)
  velocity[:, 2, 2] = 0.8
  done = np.zeros((steps, batch), bool)
  done[3, 3] = True  # env 3 falls before the window: excluded, counted
  velocity[4:, 3, 2] = 5.0  # its next episode must not count
  results = metrics.tracking_results(commands, velocity, done, window=4, envs_per_command=2)
  assert [r.command for r in results] == [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)]
  assert results[0].vx == pytest.approx((0.9 + np.linspace(0, 1, steps)[-4:].mean()) / 2)
  assert (results[0].falls, results[1].falls) == (0, 1) and results[1].wz == pytest.approx(0.8)
  assert "1/2" in metrics.format_tracking_table(results)
  with pytest.raises(EvalError, match="averaging window"):
    metrics.tracking_results(commands, velocity, done, window=11)


class _CellEnv(Env):
  """Records the terrain cell it was reset on (a stand-in for loco's persistent values)."""

  action_size = 1

  def reset(self, rng, persistent=None):
    if persistent is None:
      persistent = {"terrain_col": jax.random.randint(rng, (), 0, 100)}
    z = jnp.zeros(())
    noise = jax.random.uniform(rng, ())
    return State(data={"noise": noise}, obs={"state": jnp.zeros(1)}, reward=z, done=z,
                 truncation=z, metrics={}, info={"terrain_col": persistent["terrain_col"]})

  def step(self, state, action):
    return state

  def persistent(self, state):
    return {"terrain_col": state.info["terrain_col"]}


def test_vec_env_reset_with_persistent_values():
  vec = VecEnv(_CellEnv(), 3)
  rng = jax.random.PRNGKey(0)
  default = vec.reset(rng)
  placed = vec.reset(rng, {"terrain_col": jnp.array([7, 8, 9], jnp.int32)})
  assert placed.info["terrain_col"].tolist() == [7, 8, 9]
  assert default.info["terrain_col"].tolist() != [7, 8, 9]
  np.testing.assert_array_equal(placed.data["noise"], default.data["noise"])  # same keys
