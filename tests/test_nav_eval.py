"""Nav evaluation (issue 14 items 4-5): the held-out eval config, layouts forced per env, the sim2sim
nav table with REASAN's three ONNX files on a tiny world (JSON keys, fixed pairs across rows), the
bad-input sentences, and play writing a nav video with the goal, the path and the rays drawn.

The ONNX tests skip when ``../shared/reference/pretrained`` is absent. They use a tiny world
(2 x 2 sub-blocks, 4 x 4 maze) and 2 s episodes; one program per mode (all layouts share it)."""

from __future__ import annotations

import contextlib
import io
import json
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

from reasan_jax.cli import play, play_nav, sim2sim
from reasan_jax.eval import EvalError, nav_eval
from reasan_jax.eval.rollout import RolloutResult
from reasan_jax.policies.policy import Policy
from reasan_jax.scenes import nav_worlds

PRETRAINED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference" / "pretrained"
LOCO, FILTER, NAV = (str(PRETRAINED / f"{n}_1.onnx") for n in ("loco", "filter", "nav"))
needs_shared = pytest.mark.skipif(not (PRETRAINED / "nav_1.onnx").exists(),
                                  reason="../shared/reference/pretrained (REASAN's ONNX files) is "
                                  "absent")
TINY = ["--grid_blocks", "2", "--maze_cells", "4"]


def _stand_in(obs_spec, actions, task):
  return Policy(params={}, apply_fn=lambda p, o, c: (jnp.zeros((c.shape[0], actions)), c),
                init_carry_fn=lambda b: jnp.zeros((b, 0)), obs_spec=obs_spec,
                action_size=actions, task=task, source=f"stand-in {task}")


def test_eval_config_is_held_out_and_noise_free():
  from reasan_jax.configs import nav as nav_config

  base = nav_config.env_config()
  c = nav_eval.eval_env_config(base, filter_policy="f.onnx", loco_policy="l.onnx", grid_blocks=3)
  assert c.world.seed == nav_eval.EVAL_WORLD_SEED != base.world.seed
  assert nav_eval.held_out_seed(nav_eval.EVAL_WORLD_SEED) != nav_eval.EVAL_WORLD_SEED
  assert not c.obs.noise and c.obs.actor_rays == "gt" and c.sensors.num_centers == 11
  assert not c.randomization.enabled and not c.randomization.pushes
  assert c.episode_length == 750 and tuple(c.dynamic_obstacles.speed_range) == (0.5, 1.5)
  assert (c.world.grid_blocks, c.world.maze_cells) == (3, base.world.maze_cells)
  assert (c.filter_policy, c.loco_policy) == ("f.onnx", "l.onnx")
  assert base.obs.noise  # the base is untouched
  assert not c.get("use_pred_rays", False)
  pred = nav_eval.eval_env_config(base, estimator="runs/estimator/est")
  assert pred.use_pred_rays and pred.estimator == "runs/estimator/est"
  assert not base.use_pred_rays
  with pytest.raises(EvalError, match="at least one 0.02 s step"):
    nav_eval.eval_env_config(base, duration=0.001)


@pytest.fixture(scope="module")
def tiny_layout_env():
  cfg = nav_eval.eval_env_config(None, grid_blocks=2, maze_cells=4, num_pairs=8)
  filt = _stand_in((("proprio", (12,)), ("rays", (180,))), 3, "filter")
  loco = _stand_in((("state", (45,)),), 12, "loco")
  return nav_eval.LayoutNavEnv(cfg, "grid_dynamic", filter_policy=filt, loco_policy=loco)


def test_layouts_force_region_and_level(tiny_layout_env):
  import jax

  env = tiny_layout_env
  p = env.initial_persistent(jax.random.PRNGKey(0), 4)
  assert np.all(np.asarray(p["region"]) == nav_worlds.GRID)
  assert np.all(np.asarray(p["terrain_level"]) == nav_eval.PLAY_LEVEL)
  maze = nav_eval.layout_persistent(env, "maze", jax.random.PRNGKey(0), 3)
  assert np.all(np.asarray(maze["region"]) == nav_worlds.MAZE)
  assert np.all(np.asarray(maze["terrain_level"]) == 0)
  with pytest.raises(EvalError, match="Unknown layout 'hills'"):
    nav_eval.layout_persistent(env, "hills", jax.random.PRNGKey(0), 3)
  with pytest.raises(EvalError, match="Unknown nav layout"):
    nav_eval.LayoutNavEnv(env.config, "hills", filter_policy=env.filter_policy,
                          loco_policy=env.loco_policy)


def test_nav_episode_text():
  t = 6
  qpos = np.zeros((t, 19))
  qpos[:, 0] = [0.0, 1.0, 2.0, 2.6, 0.0, 0.5]  # episode 0: 3 m -> 0.4 m; episode 1 restarts
  goal = np.tile([3.0, 0.0], (t, 1))
  done = np.zeros((t, 1), bool)
  done[4, 0] = True
  result = RolloutResult(commands=np.zeros((t, 1, 3)), velocity=np.zeros((t, 1, 3)),
                         reward=np.zeros((t, 1)), done=done, fell=np.zeros((t, 1), bool),
                         qpos=qpos, qvel=np.zeros((t, 18)), dt=0.02, extras={"goal": goal})
  text = play_nav.nav_episodes(result)
  assert "3.00 m from the goal at the start, 0.40 m at the end" in text
  assert "within 1 m at 0.1 s, time-out" in text and "nav episode 1: 3.00 m" in text


def _cli(argv):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = sim2sim.main(["--task", "nav"] + argv)
  return code, out.getvalue(), err.getvalue()


@needs_shared
@pytest.mark.parametrize("argv, expected", [
    (["--onnx", NAV, "--filter_onnx", LOCO, "--loco_onnx", LOCO],
     "--filter_onnx must be a safety filter"),
    (["--onnx", NAV, "--filter_onnx", FILTER, "--loco_onnx", NAV],
     "--loco_onnx must be a locomotion policy"),
    (["--onnx", FILTER, "--filter_onnx", FILTER, "--loco_onnx", LOCO],
     "--task nav evaluates navigation policies, but ONNX"),
    (["--onnx", NAV, "--loco_onnx", LOCO], "Give the frozen safety filter"),
    (["--onnx", NAV, "--filter_onnx", FILTER, "--loco_onnx", LOCO, "--layouts", "grid,hills"],
     "Unknown value 'hills' in --layouts"),
    (["--onnx", NAV, "--filter_onnx", FILTER, "--loco_onnx", LOCO, "--episodes", "0"],
     "--episodes must be at least 1"),
    (["--onnx", NAV, "--run", "r"], "Give exactly one nav policy"),
    (["--onnx", NAV, "--filter_onnx", FILTER, "--loco_onnx", LOCO, "--estimator", "/no/such/run"]
     + TINY, "/no/such/run does not exist"),
])
def test_bad_input_is_one_sentence(argv, expected):
  code, _, err = _cli(argv)
  lines = err.strip().splitlines()
  assert code == 1 and len(lines) == 1, lines
  assert lines[0].startswith("python -m reasan_jax.sim2sim --task nav: error: ")
  assert expected in lines[0] and lines[0].endswith("."), lines[0]


@needs_shared
def test_sim2sim_nav_table_with_reasans_onnx(tmp_path):
  path = tmp_path / "nav.json"
  code, out, err = _cli(["--onnx", NAV, "--filter_onnx", FILTER, "--loco_onnx", LOCO,
                         "--episodes", "3", "--duration", "2", "--json", str(path)] + TINY)
  assert code == 0, err
  print(out)
  records = json.loads(path.read_text())
  assert [(r["layout"], r["mode"]) for r in records] == [
      (lay, mode) for mode in nav_eval.MODES for lay in nav_eval.LAYOUTS]
  for r in records:
    assert {"layout", "mode", "episodes", "arrival_rate_1m", "collision_rate",
            "mean_time_to_goal_s", "arrival_rate_0_5m", "arrival_rate_2m", "mean_path_length_m",
            "world_seed"} <= set(r)
    assert r["episodes"] == 3 and r["world_seed"] == nav_eval.EVAL_WORLD_SEED
    assert all(0.0 <= r[k] <= 1.0 for k in r if k.endswith("_rate") or "_rate_" in k)
    assert r["arrival_rate_0_5m"] <= r["arrival_rate_1m"] <= r["arrival_rate_2m"]
    assert len(r["per_episode"]["path_length"]) == 3
    assert all(x <= 2.0 + 1e-6 for x in r["per_episode"]["length_s"])
  by = {(r["layout"], r["mode"]): r for r in records}
  # Fixed seeds: every mode and both grid layouts start from the same spawn/goal pairs.
  starts = lambda k: by[k]["per_episode"]["start_distance"]  # noqa: E731
  assert starts(("grid", "filter")) == starts(("grid", "no_filter"))
  assert starts(("grid", "filter")) == starts(("grid_dynamic", "filter"))
  assert starts(("maze", "filter")) == starts(("maze", "no_filter"))
  # REASAN's stack walks: in 2 s on the grid the robots move and get closer to their goals.
  g = by[("grid", "filter")]
  assert g["mean_final_distance_m"] < g["mean_start_distance_m"]
  assert g["mean_path_length_m"] > 1.0


@needs_shared
def test_play_nav_onnx_writes_video(tmp_path, capsys):
  import tiny_loco

  video = tmp_path / "nav.mp4"
  code = play.main(["--onnx", NAV, "--filter_onnx", FILTER, "--loco_onnx", LOCO, "--steps", "30",
                    "--scenario", "grid", "--rays", "--video", str(video), "--width", "96",
                    "--height", "72"] + TINY)
  out = capsys.readouterr().out
  assert code == 0, out
  assert "Env: nav" in out and "layout grid" in out and "nav episode 0:" in out
  frames = tiny_loco.decode(video)
  assert frames.shape == (30, 72, 96, 3)
  r, g, b = (frames[..., i].astype(int) for i in range(3))
  assert ((g > 150) & (r < 120) & (b < 120)).any()  # the green goal (and far rays)
  assert np.abs(np.diff(frames.astype(np.int16), axis=0)).mean() > 0.05


@needs_shared
def test_play_nav_needs_its_frozen_policies():
  with pytest.raises(play.PlayError, match="is a navigation policy: pass the frozen policies it "
                     "drives with --filter_onnx PATH and --loco_onnx PATH"):
    play.load_policy(onnx=NAV)
  with pytest.raises(play.PlayError, match="not a nav layout"):
    play.load_policy(onnx=NAV, scenario="static", filter_policy=FILTER, loco_policy=LOCO)
