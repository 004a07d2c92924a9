"""``python -m reasan_jax.play``: train a tiny run, restore it, roll out, MP4; ONNX; bad inputs.

Compiles three Go2 programs at most (training, checkpoint-policy rollout, ONNX rollout), shared
with tests/test_notebooks.py through JAX's persistent cache. Tests that render skip when no OpenGL
backend works (the reason names the fix).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import types

import jax
import numpy as np
import pytest

import tiny_loco
from conftest import LOCO_ONNX, REPO
from reasan_jax.io import checkpoints as ckpt_lib
from reasan_jax import registry
from reasan_jax.cli import play, train
from reasan_jax.eval import env_config
from reasan_jax.eval import rollout as rollout_lib
from reasan_jax.policies import load as load_lib
from reasan_jax.viz import render, video as video_lib


pytestmark = pytest.mark.filterwarnings(  # ffmpeg is a fork + exec subprocess
    r"ignore:os\.fork\(\) was called:RuntimeWarning")


@pytest.fixture(scope="module")
def gl() -> str:
  try:
    return render.check_gl()
  except render.RenderError as e:
    pytest.skip(f"No OpenGL backend for MuJoCo rendering on this machine: {e}")


def _gl_available() -> bool:
  try:
    render.check_gl()
    return True
  except render.RenderError:
    return False


def _call(fn, argv) -> tuple[int, str, str]:
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = fn(argv)
  return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
  """A one-iteration loco run trained through the CLI; with OpenGL, ``video_every=1`` is on."""
  runs = tmp_path_factory.mktemp("runs")
  videos = _gl_available()
  argv = ["--config", tiny_loco.CONFIG, "--runs_dir", str(runs), "--run_name", "tiny",
          "--no_progress", *tiny_loco.OVERRIDES]
  if videos:
    argv.append("--config.run.video_every=1")
  with pytest.MonkeyPatch.context() as mp:
    mp.setitem(video_lib.TRAINING_VIDEO, "steps", tiny_loco.STEPS)
    mp.setitem(video_lib.TRAINING_VIDEO, "width", tiny_loco.WIDTH)
    mp.setitem(video_lib.TRAINING_VIDEO, "height", tiny_loco.HEIGHT)
    code, out, err = _call(train.main, argv)
  assert code == 0, err
  return types.SimpleNamespace(runs=runs, dir=runs / "tiny", videos=videos, out=out, err=err)


# ------------------------------------------------------------------------------------------------
# Train -> play -> MP4.


@pytest.fixture(scope="module")
def played(tiny_run, gl, tmp_path_factory):
  video = tmp_path_factory.mktemp("play") / "out.mp4"
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    result = play.run(["--runs_dir", str(tiny_run.runs), "--run", "tiny", "--steps",
                       str(tiny_loco.STEPS), "--video", str(video), "--width", str(tiny_loco.WIDTH),
                       "--height", str(tiny_loco.HEIGHT)])
  return types.SimpleNamespace(result=result, video=video, out=out.getvalue())


def test_play_run_writes_the_expected_video(played, tiny_run):
  frames = tiny_loco.decode(played.video)
  tiny_loco.assert_moving_video(frames)
  assert f"Policy: checkpoint {tiny_run.dir / 'checkpoints' / '1'}" in played.out
  assert "|err vx|" in played.out and "running" in played.out
  assert f"({tiny_loco.STEPS} frames, {tiny_loco.WIDTH}x{tiny_loco.HEIGHT}, 50 fps;" in played.out
  assert not [p for p in played.video.parent.iterdir() if p.name != "out.mp4"]  # no temp files


def test_the_robot_is_in_view(played, tiny_run):
  import mujoco  # pylint: disable=import-outside-toplevel

  env = env_config.policy_env(load_lib.load_policy(tiny_run.dir))
  hide_robot = mujoco.MjvOption()
  hide_robot.geomgroup[1] = 0  # the Go2's visual geoms
  frames = video_lib.render_frames(env, played.result, tiny_loco.WIDTH, tiny_loco.HEIGHT,
                                   draw_command=False, scene_option=hide_robot)
  empty = next(frames)
  frames.close()
  video = tiny_loco.decode(played.video)[0].astype(np.int16)
  robot_pixels = (np.abs(video - empty).max(axis=-1) > 40).mean()
  assert robot_pixels > 0.02, f"robot covers only {robot_pixels:.1%} of the first frame"


def test_rollout_result_and_episode_table(played):
  r = played.result
  assert r.commands.shape == (tiny_loco.STEPS, 1, 3) and r.velocity.shape == (tiny_loco.STEPS, 1, 3)
  assert r.qpos.shape == (tiny_loco.STEPS, 19) and np.isfinite(r.qpos).all()
  np.testing.assert_allclose(r.commands[0, 0], [0.0, 0.0, 0.0])  # figure8 starts standing
  np.testing.assert_allclose(r.commands[-1, 0], [1.0, 0.0, 1.0])
  lengths = sum(e.length for e in r.episodes)
  assert lengths == tiny_loco.STEPS and r.episodes[-1].end in ("running", "fell", "time limit")


def test_new_parameters_reuse_the_compiled_rollout(tiny_run):
  policy, env = play.load_policy(run="tiny", runs_dir=tiny_run.runs)
  first = rollout_lib.rollout(env, policy, "figure8", steps=tiny_loco.STEPS)
  compiled = rollout_lib._compiled(env, 1, "env", True)  # pylint: disable=protected-access
  programs = compiled._cache_size()  # pylint: disable=protected-access
  moved = policy.replace(params=jax.tree.map(lambda x: 1.5 * x, policy.params), source="moved")
  second = rollout_lib.rollout(env, moved, "figure8", steps=tiny_loco.STEPS)
  assert compiled._cache_size() == programs  # pylint: disable=protected-access
  assert not np.allclose(first.qpos, second.qpos)


def test_training_writes_videos_when_asked(tiny_run):
  if not tiny_run.videos:
    pytest.skip("No OpenGL backend, so the tiny run was trained without run.video_every.")
  path = tiny_run.dir / "videos" / "iter_000001.mp4"
  assert f"video: {path.resolve()}" in tiny_run.err
  tiny_loco.assert_moving_video(tiny_loco.decode(path))


# ------------------------------------------------------------------------------------------------
# REASAN's released policy.


def test_onnx_policy_walks(gl, tmp_path):
  if not LOCO_ONNX.exists():
    pytest.skip(f"REASAN's pretrained policy is not at {LOCO_ONNX} (shared/reference is absent).")
  video = tmp_path / "walk.mp4"
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    result = play.run(["--onnx", str(LOCO_ONNX), "--command", "1.0,0,0", "--steps",
                       str(tiny_loco.STEPS), "--video", str(video), "--width", str(tiny_loco.WIDTH),
                       "--height", str(tiny_loco.HEIGHT)])
  tiny_loco.assert_moving_video(tiny_loco.decode(video))
  assert not any(e.fell for e in result.episodes)
  walked = np.linalg.norm(result.qpos[-1, :2] - result.qpos[0, :2])
  assert walked > 0.15, f"walked only {walked:.2f} m in {tiny_loco.STEPS * result.dt:.1f} s"
  assert result.velocity[-10:, 0, 0].mean() > 0.4  # accelerating towards the commanded 1 m/s


# ------------------------------------------------------------------------------------------------
# Bad input: one sentence naming the fix, exit code 1, nothing written.


def _one_sentence(err: str) -> str:
  lines = [line for line in err.strip().splitlines() if line.startswith(play.PROG)]
  assert len(lines) == 1, err
  assert lines[0].endswith("."), lines[0]
  return lines[0]


def test_missing_runs(tmp_path):
  code, _, err = _call(play.main, ["--runs_dir", str(tmp_path / "none")])
  assert code == 1
  assert "No run in" in _one_sentence(err) and "train one with python -m reasan_jax.train" in err
  (tmp_path / "runs" / "other").mkdir(parents=True)
  code, _, err = _call(play.main, ["--runs_dir", str(tmp_path / "runs"), "--run", "nope"])
  assert code == 1
  assert "There is no run 'nope' in" in err and "(existing runs: other); pass one of them to --run" in err
  code, _, err = _call(play.main, ["--runs_dir", str(tmp_path / "runs"), "--run", "other"])
  assert code == 1 and "has no checkpoint yet" in _one_sentence(err)
  code, _, err = _call(play.main, ["--checkpoint", str(tmp_path / "nowhere")])
  assert code == 1 and "does not exist" in _one_sentence(err)


def _save_policy(tmp_path, name, policy, config):
  """A run folder whose only checkpoint stores ``policy`` (and a dummy train state)."""
  run_dir = ckpt_lib.create_run_dir(tmp_path, name)
  ckptr = ckpt_lib.Checkpointer(run_dir, keep=1)
  ckptr.save(0, {"params": {"w": np.zeros(3, np.float32)}}, config, policy=policy)
  ckptr.close()
  return run_dir


def test_checkpoint_of_another_task(tiny_run, tmp_path):
  policy = load_lib.load_policy(tiny_run.dir).replace(task="toy_point")
  config = ckpt_lib.checkpoint_config(tiny_run.dir)
  config.env.task = "toy_point"
  run_dir = _save_policy(tmp_path, "toy", policy, config)
  code, _, err = _call(play.main, ["--checkpoint", str(run_dir)])
  assert code == 1
  assert "play renders the registered tasks (filter, loco" in _one_sentence(err)
  assert "only, but the config's env.task is 'toy_point'" in _one_sentence(err)


def test_checkpoint_with_another_network_shape(tiny_run, tmp_path):
  policy = load_lib.load_policy(tiny_run.dir)
  params = jax.tree.map(np.asarray, policy.params)
  dense = params["actor"]["mlp"]["dense_0"]
  assert dense["kernel"].shape == (16, 16)
  dense["kernel"] = np.zeros((32, 16), np.float32)  # as if trained with network.rnn_size=32
  run_dir = _save_policy(tmp_path, "reshaped", policy.replace(params=params),
                         ckpt_lib.checkpoint_config(tiny_run.dir))
  code, _, err = _call(play.main, ["--checkpoint", str(run_dir)])
  assert code == 1
  line = _one_sentence(err)
  assert "policy parameter mlp/dense_0/kernel has shape (32, 16)" in line
  assert "its network config needs (16, 16)" in line


def test_onnx_of_another_network(tmp_path):
  import onnx  # pylint: disable=import-outside-toplevel
  from onnx import TensorProto, helper, numpy_helper  # pylint: disable=import-outside-toplevel

  weight = numpy_helper.from_array(np.zeros((12, 3), np.float32), "w")
  graph = helper.make_graph(
      [helper.make_node("MatMul", ["proprio", "w"], ["actions"])], "filter_like",
      [helper.make_tensor_value_info("proprio", TensorProto.FLOAT, [1, 12])],
      [helper.make_tensor_value_info("actions", TensorProto.FLOAT, [1, 3])], [weight])
  path = tmp_path / "filter.onnx"
  onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), path)
  code, _, err = _call(play.main, ["--onnx", str(path)])
  assert code == 1
  assert "takes proprio (12) and returns 3 actions, but the loco task needs one 45-entry " \
      "observation and 12 actions" in _one_sentence(err)
  code, _, err = _call(play.main, ["--onnx", str(tmp_path / "missing.onnx")])
  assert code == 1 and "does not exist" in _one_sentence(err)


@pytest.mark.parametrize("argv, expected", [
    (["--video", "{tmp}/no/such/dir/out.mp4"], "the folder {tmp}/no/such/dir does not exist; create it"),
    (["--video", "{tmp}"], "is a folder; pass a file name"),
    (["--video", "{tmp}/out.gif"], "must end in .mp4"),
    (["--width", "161"], "--width and --height must be even numbers"),
    (["--command", "fast"], "neither 'vx,vy,wz' numbers"),
    (["--num_envs", "0"], "--num_envs must be at least 1"),
])
def test_bad_options_fail_fast(tmp_path, argv, expected):
  argv = [a.format(tmp=tmp_path) for a in argv]
  code, _, err = _call(play.main, ["--onnx", str(tmp_path / "unused.onnx"), *argv])
  assert code == 1
  assert expected.format(tmp=tmp_path) in _one_sentence(err)
  assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_failed_video_leaves_nothing_behind(tmp_path, monkeypatch):
  frame = np.full((tiny_loco.HEIGHT, tiny_loco.WIDTH, 3), 128, np.uint8)
  target = tmp_path / "clip.mp4"
  with pytest.raises(RuntimeError, match="boom"):
    with render.VideoWriter(target, 50, tiny_loco.WIDTH, tiny_loco.HEIGHT) as writer:
      writer.append(frame)
      writer.append(frame)
      raise RuntimeError("boom")
  assert list(tmp_path.iterdir()) == []

  def failing_frames(*args, **kwargs):
    yield frame
    raise render.RenderError("GL context lost.")

  monkeypatch.setattr(video_lib, "render_frames", failing_frames)
  with pytest.raises(render.RenderError, match="GL context lost"):
    video_lib.render_video(None, types.SimpleNamespace(dt=0.02), target, tiny_loco.WIDTH,
                      tiny_loco.HEIGHT)
  assert list(tmp_path.iterdir()) == []

  target.write_bytes(b"old video")  # a failed render never clobbers an existing file
  with pytest.raises(render.RenderError):
    video_lib.render_video(None, types.SimpleNamespace(dt=0.02), target, tiny_loco.WIDTH,
                      tiny_loco.HEIGHT)
  assert target.read_bytes() == b"old video" and len(list(tmp_path.iterdir())) == 1


# ------------------------------------------------------------------------------------------------
# No OpenGL.


def _play_subprocess(tmp_path, **env) -> subprocess.CompletedProcess:
  environ = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                              "PYOPENGL_PLATFORM")}
  environ.update(env)
  return subprocess.run(
      [sys.executable, "-m", "reasan_jax.play", "--onnx", str(LOCO_ONNX), "--video",
       str(tmp_path / "out.mp4")],
      cwd=REPO, env=environ, capture_output=True, text=True, timeout=300, check=False)


def test_no_opengl_names_the_fix(tmp_path):
  import ctypes.util  # pylint: disable=import-outside-toplevel

  if ctypes.util.find_library("OSMesa") is not None:
    pytest.skip("libOSMesa is installed here, so a missing OpenGL library cannot be shown with it.")
  proc = _play_subprocess(tmp_path, MUJOCO_GL="osmesa")
  assert proc.returncode == 1, proc.stderr
  assert "MUJOCO_GL=osmesa is not available (libOSMesa was not found); install it with " \
      "'apt-get install -y libosmesa6' (Debian/Ubuntu) or set MUJOCO_GL=egl." in proc.stderr
  assert list(tmp_path.iterdir()) == []


def test_no_display_for_glfw_names_egl(tmp_path):
  proc = _play_subprocess(tmp_path, MUJOCO_GL="glfw")
  if proc.returncode == 0:
    pytest.skip("glfw opened a window here (a display is available).")
  assert proc.returncode == 1, proc.stderr
  assert "could not open an OpenGL window with glfw" in proc.stderr
  assert "set MUJOCO_GL=egl to render headless" in proc.stderr
  assert list(tmp_path.iterdir()) == []


def test_invalid_mujoco_gl(monkeypatch):
  monkeypatch.setenv("MUJOCO_GL", "vulkan")
  with pytest.raises(render.RenderError, match=r"MUJOCO_GL='vulkan' is not an OpenGL backend .* "
                     r"set MUJOCO_GL=egl"):
    render.gl_backend()


def test_training_video_needs_the_loco_task(tmp_path):
  import toy_envs  # pylint: disable=import-outside-toplevel

  registry.register(registry.Task("toy_point", lambda cfg: toy_envs.PointEnv(), None))
  code, _, err = _call(train.main, [
      "--config", "loco:cpu", "--runs_dir", str(tmp_path), "--no_progress",
      "--config.env.task=toy_point", "--config.ppo.num_envs=2", "--config.ppo.num_minibatches=1",
      "--config.network.rnn_size=4", "--config.run.video_every=5"])
  assert code == 2
  assert "config.run.video_every=5 cannot be honoured: training videos need the Go2 loco task, " \
      "but env.task is 'toy_point' — or train without videos (--config.run.video_every=0)." in err
  assert list(tmp_path.iterdir()) == []
