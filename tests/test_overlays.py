"""Obstacles and rays in videos (:mod:`reasan_jax.viz.overlays`), rollout recording, filter
schedules, and ``play --layout/--rays``.

The rendering tests use a hand-made rollout of the Go2 standing and sliding forward (no policy, no
compile) in front of a user layout, and skip when no OpenGL backend works. One test plays REASAN's
``loco_1.onnx`` through the CLI (the same rollout program as tests/test_play.py).
"""

from __future__ import annotations

import contextlib
import io
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tiny_loco
from conftest import LOCO_ONNX
from reasan_jax.cli import play
from reasan_jax.eval import EvalError, schedules
from reasan_jax.eval import rollout as rollout_lib
from reasan_jax.scenes import dynamic_obstacles as dyn
from reasan_jax.scenes import layout, obstacles
from reasan_jax.viz import overlays, render, video

pytestmark = pytest.mark.filterwarnings(r"ignore:os\.fork\(\) was called:RuntimeWarning")

W, H = tiny_loco.WIDTH, tiny_loco.HEIGHT
WALL = {"obstacles": [{"shape": "box", "pos": [1.5, 0.0], "size": [0.4, 1.6, 1.0]},
                      {"shape": "cylinder", "pos": [0.0, -1.2], "radius": 0.25, "height": 1.2}]}


@pytest.fixture(scope="module")
def gl() -> str:
  try:
    return render.check_gl()
  except render.RenderError as e:
    pytest.skip(f"No OpenGL backend for MuJoCo rendering on this machine: {e}")


@pytest.fixture(scope="module")
def scene():
  """A Go2 standing at the origin and sliding 0.4 m forward (+x) over T frames, and a wall."""
  from reasan_jax.robots.go2 import model as go2_model  # pylint: disable=import-outside-toplevel

  m = go2_model.load_model()
  steps = 8
  qpos = np.tile(np.asarray(m.key("home").qpos), (steps, 1))
  qpos[:, 0] = np.linspace(0.0, 0.4, steps)
  result = rollout_lib.RolloutResult(
      commands=np.tile(np.float32([1.0, 0.0, 0.0]), (steps, 1, 1)),
      velocity=np.zeros((steps, 1, 3), np.float32), reward=np.zeros((steps, 1), np.float32),
      done=np.zeros((steps, 1), bool), fell=np.zeros((steps, 1), bool), qpos=qpos,
      qvel=np.zeros((steps, m.nv)), dt=0.02)
  env = types.SimpleNamespace(mj_model=m, dt=0.02)
  world = layout.layout_world(layout.parse_layout(WALL))
  return types.SimpleNamespace(env=env, result=result, world=world, steps=steps)


def _frame(scene, overlays_=None, camera="top", t=0, result=None):
  frames = video.render_frames(scene.env, result or scene.result, W, H, camera=camera,
                               draw_command=False, overlays=overlays_)
  for _ in range(t):
    next(frames)
  out = next(frames).astype(np.int16)
  frames.close()
  return out


# ------------------------------------------------------------------------------------------------
# Host-side pieces (no OpenGL).


def test_static_boxes_tiles_the_periodic_world_near_the_path():
  world = obstacles.make_tiled_world(num_tiles=1, seed=3)  # 9 m period: copies are needed
  boxes = obstacles.world_boxes(world)
  path = np.stack([np.linspace(-2.0, 14.0, 50), np.full(50, 4.0)], -1)  # crosses two seams
  got = overlays.static_boxes(world, path, margin=5.0)
  d = np.min(np.linalg.norm(got["center"][:, None, :2] - path[None], axis=-1), axis=1)
  assert np.all(d <= 5.0 + 0.33)  # the path is thinned to 1 m steps
  assert len(got["kind"]) > 2 * len(boxes["kind"])  # more than one period's worth
  # Every kept box is a shifted copy of one of the period's boxes.
  period = np.asarray(world.period)
  rel = (got["center"][:, None, :2] - boxes["center"][None, :, :2]) / period
  exact = np.all(np.abs(rel - np.round(rel)) < 1e-4, axis=-1)
  assert exact.any(axis=1).all()
  # Brute force: every copy within 4 m of a path point is there.
  shifts = np.array([[i, j] for i in range(-2, 4) for j in range(-2, 3)]) * period
  copies = (boxes["center"][None, :, :2] + shifts[:, None]).reshape(-1, 2)
  near = np.min(np.linalg.norm(copies[:, None] - path[None], axis=-1), axis=1) <= 4.0
  for c in copies[near]:
    assert np.min(np.linalg.norm(got["center"][:, :2] - c, axis=-1)) < 1e-4


def test_static_boxes_of_a_layout_and_bad_path():
  world = layout.layout_world(layout.parse_layout(WALL))
  near = overlays.static_boxes(world, np.zeros((3, 2)), margin=1.3)
  assert len(near["kind"]) == 1 and near["kind"][0] == 1  # the cylinder at 1.2 m only
  assert len(overlays.static_boxes(world, np.zeros((1, 2)))["kind"]) == 2
  with pytest.raises(overlays.OverlayError, match=r"shape \(T, 2\)"):
    overlays.static_boxes(world, np.zeros((3, 3)))


def test_ray_colors_and_endpoints():
  c = overlays.ray_colors(np.array([0.0, 3.0, 6.0, 9.0]), 6.0)
  np.testing.assert_allclose(c[0, :2], [1.0, 0.0])  # red
  np.testing.assert_allclose(c[1, :2], [1.0, 1.0])  # yellow
  np.testing.assert_allclose(c[2, :2], [0.0, 1.0])  # green
  np.testing.assert_allclose(c[3], c[2])  # clipped
  f = overlays.ray_colors(np.linspace(0.0, 6.0, 13))
  assert np.all(np.diff(f[:, 1]) >= 0) and np.all(np.diff(f[:, 0]) <= 0)
  ends = overlays.ray_endpoints(np.array([1.0, 2.0, 0.3]), np.pi / 2, np.full(180, 2.0), 0.1)
  np.testing.assert_allclose(ends[90], [1.0, 4.0, 0.4], atol=1e-6)  # azimuth 0 along the yaw
  np.testing.assert_allclose(ends[0], [1.0, 0.0, 0.4], atol=1e-6)  # azimuth -180 deg: behind


def test_scan_rays_along_a_path_sees_the_wall(scene):
  rays = overlays.scan_rays(scene.world, scene.result.qpos)
  assert rays.shape == (scene.steps, 180)
  face = 1.5 - 0.2 - scene.result.qpos[:, 0]  # the wall's near face, straight ahead
  np.testing.assert_allclose(rays[:, 90], face, atol=1e-4)
  assert np.all(np.diff(rays[:, 90]) < 0)  # closing in
  np.testing.assert_allclose(rays[:, 0], 6.0)  # nothing behind


def _stacked_dynamic(steps=5):
  key = jax.random.PRNGKey(0)
  state = dyn.reset(key, jnp.array([0, 2, 3]), jnp.zeros(2), 2)
  states = [state]
  for t in range(steps - 1):
    states.append(dyn.step(states[-1], jax.random.fold_in(key, t), jnp.zeros(2)))
  return jax.tree.map(lambda *a: np.stack(a), *states)


def test_dynamic_track_and_checks():
  track = overlays.dynamic_track(_stacked_dynamic())
  assert track.center.shape == (5, 3, 3) and track.yaw.shape == (5, 3)
  np.testing.assert_array_equal(track.kind, [1, 0, 0])  # cylinder, box, box
  np.testing.assert_allclose(track.half[:, 0], [0.2, 0.2, 0.25])
  np.testing.assert_allclose(track.half[:, 2], 0.75)
  assert track.center[0, 2, 2] == dyn.PARK_Z  # slot 2 inactive: parked
  assert not np.allclose(track.center[0], track.center[-1])  # they move
  with pytest.raises(overlays.OverlayError, match="stacked over time"):
    overlays.dynamic_track(jax.tree.map(lambda a: a[0], _stacked_dynamic()))
  with pytest.raises(overlays.OverlayError, match=r"\(7, 180\)"):
    overlays.Overlays(rays=np.zeros((6, 180))).check(7)
  with pytest.raises(overlays.OverlayError, match="5 frames"):
    overlays.Overlays(dynamic=track).check(7)


def test_rollout_records_env0_values_and_names_what_is_missing():
  batched = types.SimpleNamespace(
      obs={"rays": jnp.arange(2 * 180.0).reshape(2, 180)},
      info={"obstacles": jax.tree.map(lambda a: jnp.stack([a, a + 1]),
                                    jax.tree.map(lambda a: a[0], _stacked_dynamic()))})
  got = rollout_lib.recorded(batched, ("rays", "dynamic"))
  np.testing.assert_array_equal(got["rays"], np.arange(180.0))
  assert got["dynamic"].xy.shape == (3, 2)
  with pytest.raises(EvalError, match="no info\\['obstacles'\\]"):
    rollout_lib.recorded(types.SimpleNamespace(obs={}, info={}), ("dynamic",))
  with pytest.raises(EvalError, match="record names"):
    rollout_lib.recorded(batched, ("lidar",))


def test_filter_schedules():
  dt = 0.02
  wall = schedules.command_schedule("wall", schedules.default_steps("wall", dt), dt)
  assert wall.shape == (500, 3)
  np.testing.assert_allclose(wall[0], 0.0)
  np.testing.assert_allclose(wall[-1], [1, 0, 0])
  cross = schedules.command_schedule("crossing", schedules.default_steps("crossing", dt), dt)
  assert np.all(cross[: int(3.0 / dt)] == 0.0) and np.all(cross[int(3.0 / dt):, 0] == 1.0)
  zig = schedules.command_schedule("zigzag", 525, dt)
  np.testing.assert_allclose(np.unique(zig[25:, 2]), [-0.6, 0.6], rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# Frames.


def test_no_overlays_leave_the_frame_unchanged(scene, gl):
  plain = _frame(scene, None, camera="track")
  empty = _frame(scene, overlays.Overlays(), camera="track")
  np.testing.assert_array_equal(plain, empty)


def test_obstacles_are_drawn_where_they_stand(scene, gl):
  plain = _frame(scene)
  boxes = overlays.Overlays(static=overlays.static_boxes(scene.world, scene.result.qpos[:, :2]))
  drawn = _frame(scene, boxes)
  changed = np.abs(drawn - plain).max(-1) > 40
  # Top view, +x to the right, +y up, 9 m above the robot at the image centre: the wall at
  # x = 1.5 m lies right of the centre, the cylinder at y = -1.2 m below it; nothing on the left.
  right = changed[:, W // 2 + 5:].mean()
  left = changed[:, : W // 2 - 15].mean()
  below = changed[H // 2 + 5:, W // 2 - 10: W // 2 + 10].mean()
  assert right > 0.02 and below > 0.02, (right, below)
  assert left < 0.002, left


def test_rays_are_drawn_red_near_and_green_far(scene, gl):
  rays = np.minimum(overlays.scan_rays(scene.world, scene.result.qpos), 3.0)  # like actor rays
  last = scene.steps - 1  # 0.9 m from the wall
  plain = _frame(scene, camera="top", t=last)
  ov = overlays.Overlays(rays=rays, ray_max=3.0, ray_point=0.08)
  drawn = _frame(scene, ov, camera="top", t=last)
  changed = np.abs(drawn - plain).max(-1) > 40
  assert changed.mean() > 0.002, changed.mean()
  red = (drawn[..., 0] > drawn[..., 1] + 60) & changed
  green = (drawn[..., 1] > drawn[..., 0] + 60) & changed
  assert red[:, W // 2:].sum() > 3  # the near wall's hits, right of the robot
  assert red[:, : W // 2 - 10].sum() == 0  # nothing near behind it
  assert green[:, : W // 2].sum() > 3  # the 3 m ring of misses behind it
  lines = _frame(scene, overlays.Overlays(rays=rays, ray_max=3.0, ray_point=0.08, ray_lines=True),
                 camera="top", t=last)
  assert (np.abs(lines - plain).max(-1) > 40).mean() > 3 * changed.mean()


def test_moving_obstacles_follow_their_track(scene, gl):
  steps = scene.steps
  centre = np.zeros((steps, 1, 3))
  centre[:, 0, 0] = np.linspace(-2.0, 2.0, steps)  # crossing left to right, 1.5 m ahead in y
  centre[:, 0, 1], centre[:, 0, 2] = 1.5, 0.75
  track = overlays.DynamicTrack(kind=np.array([1]), half=np.array([[0.3, 0.3, 0.75]]),
                                center=centre, yaw=np.zeros((steps, 1)))
  ov = overlays.Overlays(dynamic=track)
  still = _frame(scene, camera="top")
  first, last = _frame(scene, ov, t=0), _frame(scene, ov, t=steps - 1)
  where_first = np.abs(first - still).max(-1) > 40
  where_last = np.abs(last - _frame(scene, camera="top", t=steps - 1)).max(-1) > 40
  cols_first = np.nonzero(where_first.any(0))[0]
  cols_last = np.nonzero(where_last.any(0))[0]
  assert len(cols_first) and len(cols_last)
  assert cols_last.mean() - cols_first.mean() > W * 0.2  # moved right in the image


def test_overlay_video_and_cameras(scene, gl, tmp_path):
  ov = overlays.from_rollout(scene.env, scene.result, world=scene.world)
  assert ov.static is not None and ov.rays is not None and ov.dynamic is None
  path = video.render_video(scene.env, scene.result, tmp_path / "wall.mp4", W, H, "chase",
                            overlays=ov)
  frames = tiny_loco.decode(path)
  tiny_loco.assert_moving_video(frames, steps=scene.steps)
  for camera in ("top", "chase"):
    assert _frame(scene, ov, camera=camera).std() > 10.0
  with pytest.raises(EvalError, match="track, fixed, top, chase"):
    _frame(scene, camera="side")


# ------------------------------------------------------------------------------------------------
# play.


def _main(argv):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = play.main(argv)
  return code, out.getvalue(), err.getvalue()


def test_play_rejects_bad_overlay_options(tmp_path):
  bad = tmp_path / "bad.json"
  bad.write_text('{"obstacles": [{"shape": "cone", "pos": [1, 0]}]}')
  code, _, err = _main(["--onnx", str(tmp_path / "unused.onnx"), "--layout", str(bad)])
  assert code == 1 and "obstacle 0: unknown shape 'cone'" in err
  code, _, err = _main(["--onnx", str(tmp_path / "unused.onnx"), "--ray_lines"])
  assert code == 1 and "add --rays too" in err
  code, _, err = _main(["--onnx", str(tmp_path / "unused.onnx"), "--margin", "0"])
  assert code == 1 and "--margin must be positive" in err


def test_play_loco_onnx_at_a_wall_with_rays(gl, tmp_path):
  if not LOCO_ONNX.exists():
    pytest.skip(f"REASAN's pretrained policy is not at {LOCO_ONNX} (shared/reference is absent).")
  scene_file = tmp_path / "wall.json"
  import json  # pylint: disable=import-outside-toplevel

  scene_file.write_text(json.dumps(WALL))
  code, _, err = _main(["--onnx", str(LOCO_ONNX), "--rays", "--steps", str(tiny_loco.STEPS),
                        "--video", str(tmp_path / "x.mp4")])
  assert code == 1 and "--rays needs obstacles" in err and not (tmp_path / "x.mp4").exists()
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    result = play.run(["--onnx", str(LOCO_ONNX), "--command", "wall", "--steps",
                       str(tiny_loco.STEPS), "--layout", str(scene_file), "--rays", "--camera",
                       "top", "--video", str(tmp_path / "wall.mp4"), "--width", str(W),
                       "--height", str(H)])
  frames = tiny_loco.decode(tmp_path / "wall.mp4")
  tiny_loco.assert_moving_video(frames)
  assert result.extras == {}  # loco records nothing
  last = frames[-1].astype(np.int16)
  red = last[..., 0] > last[..., 1] + 60
  assert red.sum() > 3  # the near hits on the wall ahead and the cylinder (1.2 m away)
  assert (np.abs(last - frames[0]).max(-1) > 40).mean() > 0.01


def test_play_overlays_of_a_filter_like_env(scene):
  """What play draws for an env with an obstacle world and recorded rays / moving obstacles (the
  filter env's names: ``env.world``, ``state.obs["rays"]``, ``state.info["obstacles"]``)."""
  from reasan_jax.core.env import State  # pylint: disable=import-outside-toplevel

  steps = scene.steps
  dynamic = _stacked_dynamic(steps)

  class FilterLike:
    world = scene.world

    def reset(self, rng):
      zero = jnp.zeros(())
      return State(data={}, obs={"actor": jnp.zeros(12), "rays": jnp.ones(180)}, reward=zero,
                   done=zero, truncation=zero, metrics={},
                   info={"obstacles": jax.tree.map(lambda a: jnp.asarray(a[0]), dynamic)})

  env = FilterLike()
  assert play.recordable(env) == ("rays", "dynamic")
  assert play.recordable(scene.env) == ()  # no world: loco, nothing recorded
  recorded = rollout_lib.RolloutResult(**{**scene.result.__dict__, "extras": {
      "rays": np.full((steps, 180), 0.5), "dynamic": dynamic}})
  ov = play.video_overlays(env, recorded, rays=True)
  assert len(ov.static["kind"]) == 2 and ov.dynamic.center.shape == (steps, 3, 3)
  np.testing.assert_allclose(ov.rays, 1.5)  # actor rays are distance / 3
  assert ov.ray_max == 3.0
  # A layout replaces the world; its rays are cast against it (the wall ahead at 1.3 m).
  placed = play.video_overlays(env, recorded, layout=layout.parse_layout(WALL), rays=True)
  np.testing.assert_allclose(placed.rays[0, 90], 1.3, atol=1e-4)
  assert play.video_overlays(scene.env, scene.result) is None
  with pytest.raises(play.PlayError, match="--rays needs obstacles"):
    play.video_overlays(scene.env, scene.result, rays=True)
