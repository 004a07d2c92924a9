"""Watch a policy: roll it out deterministically, print per-episode tracking, render env 0 to MP4.

Usage::

  python -m reasan_jax.play                                 # newest run in runs/, figure-eight
  python -m reasan_jax.play --run flat1 --video out.mp4     # newest checkpoint of runs/flat1
  python -m reasan_jax.play --checkpoint runs/flat1/checkpoints/40 --command 1.0,0,0
  python -m reasan_jax.play --onnx ../shared/reference/pretrained/loco_1.onnx --video walk.mp4
  python -m reasan_jax.play --run flat1 --num_envs 16 --terrain rough --randomize
  python -m reasan_jax.play --onnx loco_1.onnx --layout scene.json --rays --command wall \
      --camera top --video walls.mp4                        # obstacles and rays drawn

The policy acts deterministically (the Gaussian mean) for ``--steps`` policy steps (50 Hz) in
``--num_envs`` loco envs that auto-reset; the recurrent carry is zeroed at every episode start.
The command given to every env follows ``--command``: three numbers ``vx,vy,wz`` (m/s, m/s,
rad/s, body frame), several of them separated by ``;`` (each held for ``--segment`` s), or a named
schedule (:data:`reasan_jax.eval.schedules.SCHEDULES`, e.g. ``figure8``). Commands are never
resampled by the env.

Evaluation conditions: observation noise, domain randomisation and pushes are off unless
``--randomize`` turns all of them on. A checkpoint is evaluated in the env of its own stored config
(terrain overridable with ``--terrain``, rough grids shrunk to 2 x 4 cells); an ONNX policy in the
default loco env on flat ground (:mod:`reasan_jax.eval.env_config`).

Output: one table row per episode (return, length, how it ended, mean absolute tracking error of
vx, vy and wz) and, with ``--video PATH.mp4``, env 0 rendered at the policy rate (one frame per
policy step, ``--steps`` frames) with the camera following the robot, the commanded planar velocity
drawn as a green arrow, the commanded yaw rate as an orange arrow at the head (pointing where the
head turns) and the achieved planar velocity as a thin blue arrow.

The rollout is :func:`reasan_jax.eval.rollout.rollout` (shared with ``python -m
reasan_jax.sim2sim`` and the training videos), the table :mod:`reasan_jax.eval.metrics`, the video
:mod:`reasan_jax.viz.video`; policies load with :mod:`reasan_jax.policies.load`.

Obstacles and rays (``--layout``, ``--rays``; :mod:`reasan_jax.viz.overlays`): a run of a task
with an obstacle world (the filter) draws its static obstacles near env 0's path and its moving
obstacles, and ``--rays`` adds env 0's 180 actor rays as points coloured from red (near) to green
(far). ``--layout PATH`` draws a user layout (:mod:`reasan_jax.scenes.layout`) instead; in a loco
rollout it is placed in the robot's frame at the start (layout origin at env 0's start point, +x
along its heading, so ``[1.5, 0]`` is 1.5 m straight ahead); a loco policy does not see it (it
walks through), and its ``--rays`` are cast from the robot's recorded path against the layout.
The ``wall``, ``crossing`` and ``zigzag`` schedules drive the robot at obstacles.

Navigation policies (a nav run or REASAN's ``nav_1.onnx``; :mod:`reasan_jax.eval.nav_eval`) drive
the frozen filter (``--filter_onnx``) and loco policy (``--loco_onnx``) in the nav env of
``--scenario`` ``maze`` (default), ``grid`` or ``grid_dynamic`` with REASAN's play sensing; the
policy's velocity command is the green arrow, and the video (default camera ``map``: from above over
the episode's spawn point and goal) draws the pillars, the goal (green sphere, 1 m arrival disc),
the path travelled (blue) and, with ``--rays``, the 180 rays::

  python -m reasan_jax.play --onnx nav_1.onnx --filter_onnx filter_1.onnx --loco_onnx loco_1.onnx \
      --scenario maze --rays --video maze.mp4

Headless rendering uses ``MUJOCO_GL=egl`` by default on Linux without a display (see
:mod:`reasan_jax.viz.render` for the system packages).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from typing import Sequence

import numpy as np

from reasan_jax.io import compile_cache
from reasan_jax.viz import render

# Decide the OpenGL backend before anything imports mujoco (the CLI path); harmless otherwise.
try:
  render.configure_gl()
except render.RenderError:
  pass  # reported when a video is actually requested

from reasan_jax.cli import play_nav  # noqa: E402
from reasan_jax.eval import EvalError  # noqa: E402
from reasan_jax.eval import env_config as env_config_lib  # noqa: E402
from reasan_jax.eval import metrics  # noqa: E402
from reasan_jax.eval import rollout as rollout_lib  # noqa: E402
from reasan_jax.eval import schedules  # noqa: E402
from reasan_jax.io import checkpoints as ckpt_lib  # noqa: E402
from reasan_jax.policies import load as load_lib  # noqa: E402
from reasan_jax.policies.policy import Policy, PolicyError  # noqa: E402
from reasan_jax.viz import overlays as overlays_lib  # noqa: E402
from reasan_jax.viz import video as video_lib  # noqa: E402

PROG = "python -m reasan_jax.play"


PlayError = play_nav.PlayError


def _find_checkpoint(run: str | None, checkpoint: str | None, runs_dir: str | os.PathLike):
  """:func:`reasan_jax.policies.load.find_checkpoint` with messages in terms of play's flags."""
  if run is not None and checkpoint is not None:
    raise PlayError("Give either --run or --checkpoint, not both.")
  try:
    return load_lib.find_checkpoint(run, checkpoint, runs_dir)
  except PolicyError as e:
    cause = e.__cause__
    if isinstance(cause, ckpt_lib.RunNotFoundError):
      shown = ", ".join(cause.existing[-8:]) or "none"
      raise PlayError(f"There is no run {str(run)!r} in {runs_dir}/ (existing runs: {shown}); pass "
                      "one of them to --run (or a folder path, or use --runs_dir).") from e
    if isinstance(cause, ckpt_lib.NoCheckpointError) and run is None and checkpoint is None:
      raise PlayError(f"No run in {runs_dir}/ has a checkpoint yet; train one with python -m "
                      "reasan_jax.train, or pass --run, --checkpoint or --onnx.") from e
    if isinstance(cause, ckpt_lib.NoCheckpointError) and run is not None:
      raise PlayError(f"Run {run} has no checkpoint yet, so there is no policy to play; let its "
                      "training write one (iteration 0 is saved first).") from e
    raise


def load_policy(run: str | None = None, checkpoint: str | None = None, onnx: str | None = None,
                runs_dir: str | os.PathLike = "runs", terrain: str | None = None,
                randomize: bool = False, loco_policy: str | None = None,
                scenario: str | None = None, estimator: str | None = None,
                filter_policy: str | None = None, grid_blocks: int | None = None,
                maze_cells: int | None = None) -> tuple[Policy, object]:
  """Loads a policy of a registered task and its evaluation env; returns ``(policy, env)``.

  Exactly one source: ``onnx``, ``checkpoint`` or ``run`` (a name under ``runs_dir`` or a folder);
  none of them = the newest run under ``runs_dir``. A checkpoint is evaluated in its training env,
  an ONNX policy in the default loco env on flat ground; ``terrain``/``randomize``: see
  :func:`reasan_jax.eval.env_config.evaluation_env_config`. A safety-filter policy (a filter run
  or REASAN's ``filter_1.onnx``) is played in the filter env of ``scenario``
  (:func:`reasan_jax.eval.filter_eval.scenario_env_config`: 11 ray centres, noise-free rays) on the
  frozen loco policy ``loco_policy`` (default: the run's own ``env.loco_policy``); with
  ``estimator`` (a trained ray estimator) it reads the estimator's rays from the simulated Mid-360
  instead of ground-truth rays (REASAN nav §8.6). A nav policy
  (a nav run or REASAN's ``nav_1.onnx``) is played in the nav env of ``scenario`` (a layout of
  :data:`reasan_jax.eval.nav_eval.LAYOUTS`, default ``maze``; world sizes ``grid_blocks`` /
  ``maze_cells``, default the run's or REASAN's) on the frozen ``filter_policy`` and
  ``loco_policy`` (default: the run's ``env.filter_policy`` / ``env.loco_policy``).

  Raises:
    PlayError: several sources, no such run or checkpoint, or a policy of another task.
    PolicyError: an unreadable checkpoint or ONNX file. EvalError: an unknown terrain.
  """
  if onnx is not None:
    if run is not None or checkpoint is not None:
      raise PlayError("Give one policy source: --onnx, --run or --checkpoint.")
    policy = load_lib.load_onnx(onnx)
    if policy.task == "filter":
      return policy, _filter_env(None, loco_policy, scenario, onnx, estimator)
    if policy.task == "nav":
      return policy, play_nav.nav_env(None, filter_policy, loco_policy, scenario, grid_blocks, maze_cells,
                              onnx)
    if policy.task != "loco":
      inputs = " + ".join(f"{name} ({shape[0] if len(shape) == 1 else shape})"
                          for name, shape in policy.obs_spec)
      raise PlayError(
          f"ONNX policy {onnx} takes {inputs} and returns {policy.action_size} actions, but the "
          "loco task needs one 45-entry observation and 12 actions; pass a loco policy such as "
          "pretrained/loco_1.onnx.")
  else:
    policy = load_lib.load_checkpoint_policy(_find_checkpoint(run, checkpoint, runs_dir))
    trained = policy.env_config()
    task = trained.get("task") if trained is not None else policy.task
    from reasan_jax import registry  # pylint: disable=import-outside-toplevel

    if task not in registry.TASKS:
      raise PlayError(f"play renders the registered tasks ({', '.join(registry.list_tasks())}) "
                      f"only, but the config's env.task is {task!r}; pass a run, checkpoint or "
                      "ONNX policy of one of them.")
    if task == "filter":
      return policy, _filter_env(trained, loco_policy, scenario, policy.source, estimator)
    if task == "nav":
      return policy, play_nav.nav_env(trained, filter_policy, loco_policy, scenario, grid_blocks,
                              maze_cells, policy.source)
  return policy, env_config_lib.policy_env(policy, terrain=terrain, randomize=randomize)


def _filter_env(trained, loco_policy: str | None, scenario: str | None, source: str,
                estimator: str | None = None):
  """The filter env of ``scenario`` for a filter policy (see :func:`load_policy`)."""
  from reasan_jax.eval import filter_eval  # pylint: disable=import-outside-toplevel

  scenario = scenario or "static"
  if scenario not in filter_eval.SCENARIOS:
    raise PlayError(f"--scenario {scenario} is not a safety-filter scenario; choose from "
                    f"{', '.join(filter_eval.SCENARIOS)}.")
  if not loco_policy and not (trained is not None and trained.get("loco_policy")):
    raise PlayError(f"{source} is a safety-filter policy: pass the frozen loco policy it drives "
                    "with --loco_onnx PATH (e.g. pretrained/loco_1.onnx or a loco run).")
  cfg = filter_eval.scenario_env_config(trained, scenario, loco_policy=loco_policy or "",
                                        estimator=estimator or "")
  if not estimator:
    return env_config_lib.make_env(cfg)
  try:  # the estimator's loader and the Mid-360 settings raise one-sentence ValueErrors
    return env_config_lib.make_env(cfg)
  except PolicyError:
    raise
  except ValueError as e:
    raise PlayError(str(e)) from e


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                              epilog="See docs/watch.md.", allow_abbrev=False)
  src = p.add_argument_group("policy (one of; default: the newest run in --runs_dir)")
  src.add_argument("--run", metavar="RUN", help="run name under --runs_dir, or a run folder: its "
                   "newest checkpoint")
  src.add_argument("--checkpoint", metavar="PATH", help="a run folder or checkpoints/<iteration>")
  src.add_argument("--onnx", metavar="PATH", help="an exported REASAN loco, filter or nav policy "
                   "(.onnx)")
  src.add_argument("--loco_onnx", metavar="PATH", help="for a safety-filter or nav policy: the "
                   "frozen loco policy it drives (.onnx, or a loco run/checkpoint folder)")
  src.add_argument("--filter_onnx", metavar="PATH", help="for a nav policy: the frozen safety "
                   "filter it drives (.onnx, or a filter run/checkpoint folder)")
  p.add_argument("--estimator", metavar="RUN", help="for a safety-filter policy: a trained ray "
                 "estimator whose rays from the simulated Mid-360 replace the ground-truth rays")
  p.add_argument("--scenario", default=None, choices=("static", "dynamic", "open", "grid",
                                                      "grid_dynamic", "maze"),
                 help="safety filter: static (default), dynamic or open; nav: maze (default), "
                 "grid or grid_dynamic")
  p.add_argument("--grid_blocks", type=int, default=None, help="nav: grid sub-blocks per side "
                 "(default: the run's, REASAN's 15 for ONNX)")
  p.add_argument("--maze_cells", type=int, default=None, help="nav: maze cells per side "
                 "(default: the run's, REASAN's 40 for ONNX)")
  p.add_argument("--runs_dir", default="runs", help="parent folder of the runs (default: runs)")
  p.add_argument("--num_envs", type=int, default=1, help="parallel envs (default 1; env 0 is "
                 "rendered)")
  p.add_argument("--steps", type=int, default=None, help="policy steps at 50 Hz (default: the "
                 f"schedule's length, {schedules.DEFAULT_STEPS} for numeric commands)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--command", default=schedules.DEFAULT_COMMAND,
                 help="'vx,vy,wz' (m/s, m/s, rad/s), several joined by ';', or a schedule: "
                 f"{', '.join(schedules.SCHEDULES)} (default {schedules.DEFAULT_COMMAND}); write "
                 "--command=-0.5,0,0 when it starts with a minus")
  p.add_argument("--segment", type=float, default=4.0, help="seconds each of several ';' "
                 "commands is held (default 4)")
  p.add_argument("--terrain", choices=env_config_lib.TERRAINS, default=None,
                 help="default: the run's terrain (flat for --onnx)")
  p.add_argument("--randomize", action="store_true", help="training noise, domain randomisation "
                 "and pushes on (off by default)")
  p.add_argument("--video", metavar="PATH.mp4", help="render env 0 to this MP4")
  p.add_argument("--width", type=int, default=640)
  p.add_argument("--height", type=int, default=480)
  p.add_argument("--camera", choices=video_lib.CAMERAS, default=None, help="track (default), "
                 "fixed, top (from above: rays, obstacles), chase (behind the robot) or map (from "
                 "above over the spawn point and the goal; the default for nav)")
  p.add_argument("--layout", metavar="PATH", help="draw this obstacle layout (.json/.yaml) in the "
                 "video instead of the env's own obstacles")
  p.add_argument("--rays", action="store_true", help="draw env 0's 180 rays (red near, green far)")
  p.add_argument("--ray_lines", action="store_true", help="with --rays: also draw each ray as a "
                 "line from the base")
  p.add_argument("--margin", type=float, default=overlays_lib.DEFAULT_MARGIN, help="draw static "
                 "obstacles within this many m of the path (default "
                 f"{overlays_lib.DEFAULT_MARGIN:g})")
  return p


def recordable(env) -> tuple[str, ...]:
  """The names of :data:`reasan_jax.eval.rollout.RECORDABLE` that ``env``'s state holds (``()``
  for loco, whose state has no rays or moving obstacles; others are probed with ``eval_shape``)."""
  if not hasattr(env, "world"):
    return ()
  import jax  # pylint: disable=import-outside-toplevel

  state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
  return tuple(name for name, (field, key) in rollout_lib.RECORDABLE.items()
               if key in getattr(state, field))


def video_overlays(env, result: rollout_lib.RolloutResult, layout=None, rays: bool = False,
                   ray_lines: bool = False, margin: float = overlays_lib.DEFAULT_MARGIN
                   ) -> overlays_lib.Overlays | None:
  """What play draws besides the robot: the obstacles of ``layout`` or of ``env.world``, recorded
  moving obstacles, and rays when asked; None when there is nothing.

  ``layout`` is a parsed layout (:func:`reasan_jax.scenes.layout.parse_layout`); for an env
  without an obstacle world (loco) it is placed at env 0's first pose
  (:func:`reasan_jax.viz.overlays.place_layout`), otherwise used in world coordinates.

  Recorded actor rays (``result.extras["rays"]``) are used unless a layout replaces the env's
  world (then rays are cast from env 0's path against the layout, :func:`reasan_jax.viz.overlays.
  scan_rays`).

  Raises:
    PlayError: ``rays`` without any obstacles to cast them against.
  """
  from reasan_jax.scenes import layout as layout_lib  # pylint: disable=import-outside-toplevel

  world = getattr(env, "world", None)
  if layout is not None:
    if world is None:
      q = result.qpos[0]
      yaw = float(np.arctan2(2 * (q[3] * q[6] + q[4] * q[5]), 1 - 2 * (q[5] ** 2 + q[6] ** 2)))
      layout = overlays_lib.place_layout(layout, q[:2], yaw)
    world = layout_lib.layout_world(layout)
  if world is None and not result.extras:
    if rays:
      raise PlayError("--rays needs obstacles: play a task with an obstacle world (filter) or "
                      "pass --layout PATH.")
    return None
  if layout is not None and "rays" in result.extras:
    result = dataclasses.replace(result, extras={k: v for k, v in result.extras.items()
                                                 if k != "rays"})
  return overlays_lib.from_rollout(env, result, margin, world=world, rays=rays,
                                   ray_lines=ray_lines)


enable_compilation_cache = compile_cache.enable_compilation_cache


def run(argv: Sequence[str] | None = None) -> rollout_lib.RolloutResult:
  """The command line without exit-code handling (see the module docstring).

  Raises:
    PlayError, EvalError, PolicyError, render.RenderError: one-sentence errors (nothing is
      written on failure).
  """
  args = _parser().parse_args(argv)
  if args.width < 2 or args.height < 2 or args.width % 2 or args.height % 2:
    raise PlayError(f"--width and --height must be even numbers >= 2 (H.264), got "
                    f"{args.width} x {args.height}.")
  if args.steps is not None and args.steps < 1:
    raise PlayError(f"--steps must be at least 1, got {args.steps}.")
  if args.num_envs < 1:
    raise PlayError(f"--num_envs must be at least 1, got {args.num_envs}.")
  schedules.check_command(args.command)
  if args.margin <= 0:
    raise PlayError(f"--margin must be positive, got {args.margin}.")
  if args.ray_lines and not args.rays:
    raise PlayError("--ray_lines draws the rays as lines; add --rays too.")
  layout = None
  if args.layout:  # fail before any compile: unreadable or malformed layout
    from reasan_jax.scenes import layout as layout_lib  # pylint: disable=import-outside-toplevel

    try:
      layout = layout_lib.load_layout_file(args.layout)
    except layout_lib.LayoutError as e:
      raise PlayError(str(e)) from e
  if os.environ.get("MUJOCO_GL"):  # a missing backend library breaks even `import mujoco`
    render.check_library()
  if args.video:  # fail before any compile: bad path, no OpenGL
    render.check_video_path(args.video)
    render.check_gl()

  t0 = time.perf_counter()
  policy, env = load_policy(args.run, args.checkpoint, args.onnx, args.runs_dir, args.terrain,
                            args.randomize, args.loco_onnx, args.scenario, args.estimator,
                            args.filter_onnx, args.grid_blocks, args.maze_cells)
  nav = env.config.get("task") == "nav"
  if nav and layout is not None:
    raise PlayError("--layout draws a user layout for loco and filter policies; a nav policy "
                    "plays in its own worlds (choose one with --scenario).")
  if nav:  # the policy makes its own commands: one 15 s episode by default
    steps = args.steps or int(env.config.episode_length)
    commands = None
  else:
    steps = args.steps or schedules.default_steps(args.command, env.dt)
    commands = schedules.command_schedule(args.command, steps, env.dt, args.segment)
  camera = args.camera or ("map" if nav else "track")
  print(f"Policy: {policy.source}")
  print(f"Env: {env.config.get('task', 'loco')}, terrain {env.config.get('terrain', 'flat')}, "
        f"{'training noise/randomisation/pushes on' if args.randomize else 'no noise, no randomisation'}"
        f"; {args.num_envs} env(s) x {steps} steps ({steps * env.dt:.1f} s); "
        + (f"layout {env.layout}" if nav else f"command {args.command}"))
  record = recordable(env) if args.video else (("goal",) if nav else ())
  no_obstacles = layout is None and "rays" not in record and not hasattr(env, "world")
  if args.video and args.rays and no_obstacles:
    raise PlayError("--rays needs obstacles: play a task with an obstacle world (filter) or pass "
                    "--layout PATH.")
  extra = {"record": record} if record else {}  # loco: the same call as before
  result = rollout_lib.rollout(env, policy, commands, num_envs=args.num_envs, steps=steps,
                               seed=args.seed, **extra)
  print(f"Rollout: {time.perf_counter() - t0:.1f} s (including compilation)")
  print(metrics.format_episodes(result.episodes))
  if nav:
    print(play_nav.nav_episodes(result))
  if args.video:
    print(f"Rendering env 0: {result.steps} frames at {args.width}x{args.height} "
          f"({render.gl_info().renderer or render.gl_backend()})...", flush=True)
    t0 = time.perf_counter()
    overlays = video_overlays(env, result, layout, args.rays, args.ray_lines, args.margin)
    path = video_lib.render_video(env, result, args.video, args.width, args.height, camera,
                                  overlays=overlays)
    print(f"Video: {path} ({result.steps} frames, {args.width}x{args.height}, "
          f"{1.0 / env.dt:g} fps; rendered in {time.perf_counter() - t0:.1f} s)")
  else:
    print("(add --video out.mp4 to render env 0)")
  return result


def main(argv: Sequence[str] | None = None) -> int:
  """Entry point; returns the exit code (0 ok, 1 error, 2 bad usage, 130 interrupted)."""
  enable_compilation_cache()
  try:
    run(argv)
  except SystemExit as e:  # argparse
    return int(e.code or 0)
  except (PlayError, EvalError, PolicyError, render.RenderError, overlays_lib.OverlayError) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    return 130
  return 0


if __name__ == "__main__":
  sys.exit(main())
