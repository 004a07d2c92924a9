"""Videos of evaluation rollouts: env 0's frames with command/velocity arrows, MP4 files, and the
videos written during training (``run.video_every``).

    result = rollout(env, policy, "figure8")                 # reasan_jax.eval.rollout
    render_video(env, result, "walk.mp4", 640, 480)          # one frame per policy step

In a frame, the commanded planar velocity is a green arrow (0.5 m per m/s), the commanded yaw rate
an orange arrow at the head (pointing where the head turns, 0.25 m per rad/s) and the achieved
planar velocity a thin blue arrow. Obstacles and one env's rays are drawn when ``overlays`` are
given (:mod:`reasan_jax.viz.overlays`). Headless OpenGL: :mod:`reasan_jax.viz.render`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import pathlib
from typing import Any, Iterator

import jax
import ml_collections
import numpy as np

from reasan_jax.eval import EvalError
from reasan_jax.eval import env_config as env_config_lib
from reasan_jax.eval import rollout as rollout_lib
from reasan_jax.eval import schedules
from reasan_jax.viz import nav_overlays
from reasan_jax.viz import overlays as overlays_lib
from reasan_jax.viz import render

CAMERAS = ("track", "fixed", "top", "chase", "map")
"""``track``: follows the robot at 1.8 m from MuJoCo's default angle; ``fixed``: looks at the
episode's spawn point from 5 m; ``top``: straight down from 9 m above the robot (+x right, +y
up), for rays and obstacles; ``chase``: 3.5 m behind and above the robot, turning with its yaw;
``map``: straight down, fixed per episode over the middle of its spawn point and its nav goal
(``overlays.goal``; the spawn point alone without one), high enough to show both with 3 m around
(at least 9 m), for nav videos."""
_TRACK_DISTANCE = 1.8  # m from the robot
_FIXED_DISTANCE = 5.0  # m from the episode's spawn point
_TOP_DISTANCE = 9.0  # m above the robot
_CHASE_DISTANCE = 3.5  # m behind the robot
_CHASE_ELEVATION = -25.0  # deg
_MAP_MARGIN = 3.0  # m shown around the spawn point and the goal
_LIN_ARROW = 0.5  # m of arrow per m/s
_YAW_ARROW = 0.25  # m of arrow per rad/s


def _add_arrow(scene, start: np.ndarray, end: np.ndarray, width: float, rgba) -> None:
  import mujoco  # pylint: disable=import-outside-toplevel

  if scene.ngeom >= scene.maxgeom or np.linalg.norm(end - start) < 1e-3:
    return
  geom = scene.geoms[scene.ngeom]
  mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_ARROW, np.zeros(3), np.zeros(3),
                      np.eye(3).reshape(-1), np.asarray(rgba, np.float32))
  mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_ARROW, width, start.astype(np.float64),
                       end.astype(np.float64))
  scene.ngeom += 1


def _yaw_matrix(quat: np.ndarray) -> np.ndarray:
  """(3, 3) rotation about z by the yaw of the (w, x, y, z) quaternion ``quat``."""
  w, x, y, z = quat
  yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
  c, s = math.cos(yaw), math.sin(yaw)
  return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _yaw(quat: np.ndarray) -> float:
  w, x, y, z = quat
  return math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))


def render_frames(env, result: rollout_lib.RolloutResult, width: int = 640, height: int = 480,
                  camera: str = "track", draw_command: bool = True, scene_option: Any = None,
                  backend: str | None = None,
                  overlays: overlays_lib.Overlays | None = None) -> Iterator[np.ndarray]:
  """Yields env 0's frames of ``result``, one (height, width, 3) uint8 image per policy step.

  Args:
    env: the env of the rollout (its ``mj_model`` is rendered).
    result: from :func:`reasan_jax.eval.rollout.rollout`.
    width, height: pixels.
    camera: one of :data:`CAMERAS`.
    draw_command: draw the commanded (green: planar, orange: yaw) and achieved (blue) arrows.
    scene_option: a ``mujoco.MjvOption`` (e.g. to hide geom groups); default MuJoCo's.
    backend: OpenGL backend (default :func:`reasan_jax.viz.render.gl_backend`).
    overlays: obstacles and env 0's rays to draw (:class:`reasan_jax.viz.overlays.Overlays`);
      None draws the robot's model only (loco's frames are unchanged).

  Raises:
    EvalError: unknown camera. render.RenderError: no OpenGL.
    overlays.OverlayError: per-frame overlays with another number of frames than the rollout.
  """
  import mujoco  # pylint: disable=import-outside-toplevel

  if camera not in CAMERAS:
    raise EvalError(f"--camera must be one of {', '.join(CAMERAS)}, got {camera!r}.")
  obstacle_scene = None
  if overlays is not None:
    overlays.check(result.steps)
    if overlays.static is not None or overlays.dynamic is not None:
      obstacle_scene = overlays_lib.ObstacleScene(overlays.static, overlays.dynamic)
  info = render.gl_info(backend)
  model = copy.deepcopy(env.mj_model)
  if info.software:  # Mesa on a CPU: a 4096^2 shadow map and 4x multisampling cost ~5x the time
    model.vis.quality.shadowsize = min(int(model.vis.quality.shadowsize), 1024)
    model.vis.quality.offsamples = 0
  renderer = render.open_renderer(model, width, height, info.backend)
  try:
    data = mujoco.MjData(model)
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.azimuth = float(model.vis.global_.azimuth)
    cam.elevation = float(model.vis.global_.elevation)
    cam.distance = {"track": _TRACK_DISTANCE, "fixed": _FIXED_DISTANCE, "top": _TOP_DISTANCE,
                    "chase": _CHASE_DISTANCE, "map": _TOP_DISTANCE}[camera]
    if camera in ("top", "map"):
      cam.azimuth, cam.elevation = 90.0, -89.9
    elif camera == "chase":
      cam.elevation = _CHASE_ELEVATION
    lookat = None
    if overlays is not None and overlays.rays is not None:  # endpoints >= 3 pixels wide
      fovy = math.radians(model.vis.global_.fovy)
      metres_per_pixel = 2 * cam.distance * math.tan(fovy / 2) / height
      ray_overlays = dataclasses.replace(
          overlays, ray_point=max(overlays.ray_point, 1.5 * metres_per_pixel))
    for t in range(result.steps):
      qpos, qvel = result.qpos[t], result.qvel[t]
      data.qpos[:] = qpos
      data.qvel[:] = qvel
      mujoco.mj_forward(model, data)
      new_episode = t == 0 or bool(result.done[t, 0])  # qpos[t] is a fresh episode's first state
      if new_episode:
        start = t
      if camera == "fixed":
        if new_episode:
          lookat = np.array([qpos[0], qpos[1], 0.3])
      elif camera == "map":
        if new_episode:
          goal = qpos[:2] if overlays is None or overlays.goal is None else overlays.goal[t]
          lookat = np.array([(qpos[0] + goal[0]) / 2, (qpos[1] + goal[1]) / 2, 0.0])
          span = float(np.max(np.abs(goal - qpos[:2]))) + 2 * _MAP_MARGIN
          fovy = math.radians(model.vis.global_.fovy)
          cam.distance = max(_TOP_DISTANCE, span / (2 * math.tan(fovy / 2)))
          if overlays is not None and overlays.rays is not None:  # >= 3 pixels at this height
            ray_overlays = dataclasses.replace(overlays, ray_point=max(
                overlays.ray_point, 3 * cam.distance * math.tan(fovy / 2) / height))
      else:
        target = np.array([qpos[0], qpos[1], qpos[2] - 0.05])
        lookat = target if new_episode else lookat + 0.3 * (target - lookat)  # smooths the bobbing
      if camera == "chase":
        cam.azimuth = math.degrees(_yaw(qpos[3:7]))
      cam.lookat[:] = lookat
      renderer.update_scene(data, camera=cam, scene_option=scene_option)
      if obstacle_scene is not None:
        obstacle_scene.set_frame(t)
        obstacle_scene.add_to(renderer.scene, scene_option)
      if overlays is not None and overlays.rays is not None:
        overlays_lib.add_rays(renderer.scene, qpos[:3], _yaw(qpos[3:7]), overlays.rays[t],
                              ray_overlays)
      if overlays is not None and overlays.goal is not None:
        nav_overlays.add_goal(renderer.scene, overlays.goal[t])
      if overlays is not None and overlays.path and t > start:
        nav_overlays.add_path(renderer.scene,
                              nav_overlays.path_points(result.qpos[start:t + 1, :2]))
      if draw_command:
        rot = _yaw_matrix(qpos[3:7])
        base = qpos[:3] + np.array([0.0, 0.0, 0.2])
        vx, vy, wz = result.commands[t, 0]
        _add_arrow(renderer.scene, base, base + rot @ np.array([vx, vy, 0.0]) * _LIN_ARROW,
                   0.02, (0.1, 0.85, 0.2, 0.6))
        head = qpos[:3] + rot @ np.array([0.3, 0.0, 0.12])
        _add_arrow(renderer.scene, head, head + rot @ np.array([0.0, wz * _YAW_ARROW, 0.0]),
                   0.015, (1.0, 0.55, 0.05, 1.0))
        planar = np.array([qvel[0], qvel[1], 0.0])
        above = base + np.array([0.0, 0.0, 0.05])  # just above the commanded arrow
        _add_arrow(renderer.scene, above, above + planar * _LIN_ARROW, 0.008, (0.2, 0.4, 1.0, 1.0))
      yield renderer.render().copy()
  finally:
    renderer.close()


def render_video(env, result: rollout_lib.RolloutResult, path: str | os.PathLike, width: int = 640,
                 height: int = 480, camera: str = "track", draw_command: bool = True,
                 scene_option: Any = None, backend: str | None = None,
                 overlays: overlays_lib.Overlays | None = None) -> pathlib.Path:
  """Renders env 0 of ``result`` to an MP4 at the policy rate (``1 / dt`` fps, T frames).

  The file appears only when complete (see :class:`reasan_jax.viz.render.VideoWriter`).

  Args: see :func:`render_frames`; ``path`` must end in ``.mp4``, width and height must be even.

  Returns:
    The absolute path of the video.

  Raises:
    render.RenderError: unwritable path, odd size or no OpenGL (nothing is left behind).
    EvalError: unknown camera. overlays.OverlayError: see :func:`render_frames`.
  """
  writer = render.VideoWriter(path, 1.0 / result.dt, width, height)
  with writer:
    for frame in render_frames(env, result, width, height, camera, draw_command, scene_option,
                               backend, overlays):
      writer.append(frame)
  return writer.path


# ------------------------------------------------------------------------------------------------
# Training videos (reasan_jax.cli.train's run.video_every hook).

TRAINING_VIDEO = {"steps": 300, "width": 480, "height": 360, "camera": "track",
                  "command": schedules.DEFAULT_COMMAND}
"""Settings of the videos written during training: 6 s of the figure-eight schedule."""


class TrainingVideo:
  """Writes ``<run>/videos/iter_<iteration>.mp4`` from a training state (``run.video_every``).

  Built once before training starts, so a missing OpenGL or a task the rollout cannot drive fails
  before any work. Every video rolls out ``trainer.policy(state)`` with
  :func:`reasan_jax.eval.rollout.rollout` (env 0, seed = iteration) in the evaluation env of the
  run's config (:func:`reasan_jax.eval.env_config.evaluation_env_config`); it compiles on the first
  video and is reused afterwards (the first policy's structure is kept, later ones swap in their
  parameters).

  Args:
    trainer: the run's :class:`reasan_jax.ppo.trainer.Trainer`.
    config: the run's config (its ``env`` section).

  Raises:
    EvalError: the task is not loco. render.RenderError: no usable OpenGL backend.
  """

  def __init__(self, trainer, config: ml_collections.ConfigDict):
    if config.env.get("task") != "loco":
      raise EvalError(f"training videos need the Go2 loco task, but env.task is "
                      f"{config.env.get('task')!r}")
    self.trainer = trainer
    self.settings = dict(TRAINING_VIDEO)
    self.env = env_config_lib.make_env(env_config_lib.evaluation_env_config(config.env))
    render.check_gl()
    steps = int(self.settings["steps"])
    self.commands = schedules.command_schedule(self.settings["command"], steps, self.env.dt)
    self._policy = None

  def policy(self, state):
    """``trainer.policy(state)`` with host parameters, in the structure of the first video's."""
    fresh = self.trainer.policy(state, source="training state")
    # Host copies: the same compiled rollout as `python -m reasan_jax.play` (no mesh shardings).
    params = jax.tree.map(np.asarray, jax.device_get(fresh.params))
    self._policy = fresh if self._policy is None else self._policy
    self._policy = self._policy.replace(params=params)
    return self._policy

  def record(self, run_dir: str | os.PathLike, state, iteration: int) -> pathlib.Path:
    """Rolls out ``state``'s policy and writes the video; returns its path."""
    from reasan_jax.io import log_rewind  # pylint: disable=import-outside-toplevel

    path = log_rewind.video_path(run_dir, iteration)  # the name log_rewind drops on resume
    path.parent.mkdir(parents=True, exist_ok=True)
    result = rollout_lib.rollout(self.env, self.policy(state), self.commands, num_envs=1,
                                 seed=int(iteration))
    s = self.settings
    return render_video(self.env, result, path, int(s["width"]), int(s["height"]), s["camera"])
