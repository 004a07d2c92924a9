"""Sim2sim check: run a loco policy (REASAN's ONNX export or our own run) on a grid of commands.

Usage::

  python -m reasan_jax.sim2sim --onnx ../shared/reference/pretrained/loco_1.onnx
  python -m reasan_jax.sim2sim --onnx loco_1.onnx --terrain rough --commands "0.5,0,0"
  python -m reasan_jax.sim2sim --run flat1                     # newest checkpoint of runs/flat1
  python -m reasan_jax.sim2sim --checkpoint runs/flat1/checkpoints/400 --envs_per_command 4

Safety filters (``--task filter``; :mod:`reasan_jax.eval.filter_eval`)::

  python -m reasan_jax.sim2sim --task filter --onnx filter_1.onnx --loco_onnx loco_1.onnx --json out.json
  python -m reasan_jax.sim2sim --task filter --run filter_static --episodes 64

print the static / dynamic / open scenario table, filter vs bypass.

Navigation policies (``--task nav``; :mod:`reasan_jax.cli.sim2sim_nav`, :mod:`reasan_jax.eval.nav_eval`)::

  python -m reasan_jax.sim2sim --task nav --onnx nav_1.onnx --filter_onnx filter_1.onnx \\
      --loco_onnx loco_1.onnx --json nav.json [--episodes 64]
  python -m reasan_jax.sim2sim --task nav --run nav_cpu      # its own frozen filter and loco

print the grid / grid_dynamic / maze table, with and without the filter.

Prints, per command: the mean achieved body-frame vx, vy and yaw rate wz over the last
``--average`` seconds (of the envs that did not fall) and the number of falls.

Every env holds one command for ``--duration`` s, spawned on the middle cells of the terrain
(rough grids are 6 x 6 cells, so a 20 s walk stays on the height field); the episode time limit is
lifted so the whole duration is one episode. Observation noise, pushes and domain randomisation are
off unless switched on. An ONNX policy runs in the default loco env, a checkpoint in its training
env with these switches. The rollout is :func:`reasan_jax.eval.rollout.rollout`, shared with
``python -m reasan_jax.play`` and the training videos.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Sequence

import ml_collections
import numpy as np

from reasan_jax.eval import EvalError
from reasan_jax.io import compile_cache
from reasan_jax.eval import env_config as env_config_lib
from reasan_jax.eval import metrics
from reasan_jax.eval import rollout as rollout_lib
from reasan_jax.eval import schedules
from reasan_jax.eval.metrics import TrackingResult, format_tracking_table  # noqa: F401  (re-export)
from reasan_jax.policies.policy import Policy, PolicyError

PROG = "python -m reasan_jax.sim2sim"

# The judged grid (issue "The Go2 on MJX"): vx in {0, .5, 1, 1.5}, vy in {-.5, .5}, wz in {-1, 1}.
DEFAULT_COMMANDS = (
    (0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (1.0, 0.0, 0.0), (1.5, 0.0, 0.0),
    (0.0, -0.5, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, -1.0), (0.0, 0.0, 1.0),
)

SIM2SIM_ROUGH_GRID = (6, 6)
"""Rough grid of sim2sim: the middle cells have 20 m of rough ground (plus 8 m flat) each way."""

format_table = format_tracking_table


def sim2sim_env_config(env_config: ml_collections.ConfigDict | None = None, *,
                       terrain: str = "flat", noise: bool = False, pushes: bool = False,
                       randomize: bool = False,
                       duration: float = 20.0) -> ml_collections.ConfigDict:
  """The evaluation env config of a sim2sim run (see
  :func:`reasan_jax.eval.env_config.evaluation_env_config`).

  Args:
    env_config: the env section to start from (a checkpoint's); None =
      ``configs.loco.env_config()``.
    terrain: ``"flat"`` or ``"rough"`` (rough grids at most :data:`SIM2SIM_ROUGH_GRID`).
    noise, pushes, randomize: actor observation noise, REASAN's pushes, domain randomisation.
    duration: rollout length, s; the time limit is raised above it (one episode per env).

  Raises:
    EvalError: see :func:`~reasan_jax.eval.env_config.evaluation_env_config`.
  """
  if env_config is None:
    from reasan_jax.configs import loco  # pylint: disable=import-outside-toplevel

    env_config = loco.env_config()
  steps = int(round(duration / (float(env_config.sim_dt) * int(env_config.decimation))))
  return env_config_lib.evaluation_env_config(
      env_config, terrain=terrain, randomize=randomize, noise=noise, pushes=pushes,
      rough_grid=SIM2SIM_ROUGH_GRID, episode_length=max(int(env_config.episode_length), steps + 2))


def run_sim2sim(env, policy: Policy, commands: Sequence[Sequence[float]], duration: float = 20.0,
                average: float = 10.0, envs_per_command: int = 1, seed: int = 0
                ) -> list[TrackingResult]:
  """Rolls ``policy`` out in ``env`` with each command held fixed for ``duration`` s.

  Args:
    env: a loco env (:func:`reasan_jax.eval.env_config.make_env` of :func:`sim2sim_env_config`
      with the same ``duration``, so no time limit ends the episodes early).
    policy: a :class:`~reasan_jax.policies.policy.Policy` for the loco task.
    commands: (C, 3) commands (vx, vy m/s, wz rad/s), body frame.
    duration: rollout length, s. average: trailing window the means are taken over, s.
    envs_per_command: copies of each command (different spawn yaw / joint noise).
    seed: PRNG seed for the resets.

  Returns:
    One :class:`~reasan_jax.eval.metrics.TrackingResult` per command, in order (a fall is counted
    once and the env's later steps are excluded from the averages).

  Raises:
    EvalError: commands not of shape (C, 3), ``average`` > ``duration``, ``envs_per_command`` < 1,
      or a policy that does not fit the env.
  """
  cmds = np.asarray(commands, np.float32)
  if cmds.ndim != 2 or cmds.shape[1] != 3 or cmds.shape[0] < 1:
    raise EvalError(f"commands must have shape (C, 3), got {cmds.shape}.")
  if not 0 < average <= duration:
    raise EvalError(f"The average window {average} s must be positive and no longer than the "
                    f"rollout ({duration} s).")
  if int(envs_per_command) < 1:
    raise EvalError(f"--envs_per_command must be at least 1, got {envs_per_command}.")
  cmds = np.repeat(cmds, int(envs_per_command), axis=0)
  steps = int(round(duration / env.dt))
  window = int(round(average / env.dt))
  per_step = np.broadcast_to(cmds[None], (steps,) + cmds.shape)
  result = rollout_lib.rollout(env, policy, per_step, num_envs=cmds.shape[0], seed=seed,
                               spawn="center")
  return metrics.tracking_results(result.commands, result.velocity, result.done, window,
                                  int(envs_per_command))


def _parse_commands(text: str | None) -> list[tuple[float, float, float]]:
  if not text:
    return list(DEFAULT_COMMANDS)
  return schedules.parse_commands(text, option="--commands")


def _load(args):
  from reasan_jax.policies import load as load_lib  # pylint: disable=import-outside-toplevel

  sources = [s for s in (args.onnx, args.run, args.checkpoint) if s is not None]
  if len(sources) != 1:
    raise EvalError("Give exactly one policy: --onnx, --run or --checkpoint.")
  if args.onnx is not None:
    policy = load_lib.load_onnx(args.onnx)
    base = None
  else:
    policy = load_lib.load_checkpoint_policy(
        load_lib.find_checkpoint(args.run, args.checkpoint, args.runs_dir))
    base = policy.env_config()
  task = base.get("task") if base is not None else policy.task
  if task != "loco":
    what = f"task {task!r}" if task else "an unknown task"
    raise EvalError(f"sim2sim runs loco policies only, but {policy.source} is for {what}; pass a "
                    "loco policy such as pretrained/loco_1.onnx.")
  return policy, base


def add_policy_sources(p: argparse.ArgumentParser, task: str, example: str) -> None:
  """The ``--onnx`` / ``--run`` / ``--checkpoint`` group (exactly one) and ``--runs_dir`` of the
  ``--task filter`` and ``--task nav`` tables."""
  src = p.add_argument_group(f"{task} policy (exactly one)")
  src.add_argument("--onnx", help=f"exported REASAN {task} policy (.onnx), e.g. {example}")
  src.add_argument("--run", help="run name under --runs_dir, or a run folder: newest checkpoint")
  src.add_argument("--checkpoint", metavar="PATH", help="a run folder or checkpoints/<iteration>")
  p.add_argument("--runs_dir", default="runs")


def load_source(args: argparse.Namespace,
                task: str) -> tuple[Policy, ml_collections.ConfigDict | None]:
  """``(policy, its training env config or None)`` of the one source among ``--onnx``,
  ``--run``, ``--checkpoint``.

  Raises:
    EvalError: none or several given. PolicyError: it cannot be loaded.
  """
  from reasan_jax.policies import load as load_lib  # pylint: disable=import-outside-toplevel

  sources = [x for x in (args.onnx, args.run, args.checkpoint) if x is not None]
  if len(sources) != 1:
    raise EvalError(f"Give exactly one {task} policy: --onnx, --run or --checkpoint.")
  if args.onnx is not None:
    return load_lib.load_onnx(args.onnx), None
  policy = load_lib.load_checkpoint_policy(
      load_lib.find_checkpoint(args.run, args.checkpoint, args.runs_dir))
  return policy, policy.env_config()


def filter_main(argv: Sequence[str]) -> int:
  """``--task filter``: the safety-filter scenario table (:mod:`reasan_jax.eval.filter_eval`).

  Returns 0 ok, 1 a policy/option that cannot be used (one sentence on stderr), 2 bad usage.
  """
  import json  # pylint: disable=import-outside-toplevel

  from reasan_jax.eval import filter_eval  # pylint: disable=import-outside-toplevel

  p = argparse.ArgumentParser(prog=f"{PROG} --task filter", description=filter_eval.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--task", choices=("filter",), default="filter")
  add_policy_sources(p, "filter", "filter_1.onnx")
  p.add_argument("--loco_onnx", help="frozen loco policy (.onnx or a loco run/checkpoint folder); "
                 "default: the filter run's env.loco_policy")
  p.add_argument("--episodes", type=int, default=64, help="episodes per scenario and mode")
  p.add_argument("--scenarios", default=",".join(filter_eval.SCENARIOS),
                 help="comma-separated subset of static,dynamic,open")
  p.add_argument("--duration", type=float, default=20.0, help="episode length, s")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--json", metavar="PATH", help="write the records as a JSON list")
  p.add_argument("--estimator", metavar="RUN", help="a trained ray estimator (python -m "
                 "reasan_jax.train_estimator): adds a 'pred' row per scenario, the filter on its "
                 "rays from the simulated Mid-360")
  compile_cache.enable_compilation_cache()
  try:
    args = p.parse_args(argv)
  except SystemExit as e:
    return int(e.code or 0)
  try:
    policy, base = load_source(args, "filter")
    if args.episodes < 1:
      raise EvalError(f"--episodes must be at least 1, got {args.episodes}.")
    scenarios = [x.strip() for x in args.scenarios.split(",") if x.strip()]
    for x in scenarios:
      if x not in filter_eval.SCENARIOS:
        raise EvalError(f"Unknown scenario {x!r} in --scenarios; choose from "
                        f"{', '.join(filter_eval.SCENARIOS)}.")
    loco = args.loco_onnx or (base.get("loco_policy", "") if base is not None else "")
    if not loco:
      raise EvalError("Give the frozen loco policy with --loco_onnx PATH (e.g. REASAN's "
                      "loco_1.onnx).")
    results = filter_eval.run(policy, loco, scenarios, num_envs=args.episodes, seed=args.seed,
                              base=base, duration=args.duration, estimator=args.estimator or "")
  except (EvalError, PolicyError, ValueError) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  print(f"Filter: {policy.source}")
  print(filter_eval.format_table(results))
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump([r.record() for r in results], f, indent=2)
  return 0


def _task_of(argv: Sequence[str]) -> str | None:
  for i, a in enumerate(argv):
    if a.startswith("--task="):
      return a.split("=", 1)[1]
    if a == "--task" and i + 1 < len(argv):
      return argv[i + 1]
  return None


def main(argv: Sequence[str] | None = None) -> int:
  """Command-line entry point (see the module docstring); prints the table.

  Returns:
    0 ok, 1 a policy/option that cannot be used (one sentence on stderr), 2 bad usage.
  """
  argv = list(sys.argv[1:] if argv is None else argv)
  task = _task_of(argv)
  if task == "filter":
    return filter_main(argv)
  if task == "nav":
    from reasan_jax.cli import sim2sim_nav  # pylint: disable=import-outside-toplevel

    return sim2sim_nav.main(argv)
  p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--task", choices=("loco", "filter", "nav"), default="loco",
                 help="loco (default), filter or nav (see --task filter --help, --task nav --help)")
  src = p.add_argument_group("policy (exactly one)")
  src.add_argument("--onnx", help="exported REASAN loco policy (.onnx)")
  src.add_argument("--run", help="run name under --runs_dir, or a run folder: its newest "
                   "checkpoint")
  src.add_argument("--checkpoint", metavar="PATH", help="a run folder or checkpoints/<iteration>")
  p.add_argument("--runs_dir", default="runs", help="parent folder of the runs (default: runs)")
  p.add_argument("--terrain", choices=env_config_lib.TERRAINS, default="flat")
  p.add_argument("--commands", help='";"-separated "vx,vy,wz" commands (default: the judged grid)')
  p.add_argument("--duration", type=float, default=20.0, help="seconds per rollout")
  p.add_argument("--average", type=float, default=10.0, help="trailing averaging window, s")
  p.add_argument("--envs_per_command", type=int, default=1)
  p.add_argument("--noise", action="store_true", help="actor observation noise on")
  p.add_argument("--pushes", action="store_true", help="REASAN's pushes on")
  p.add_argument("--randomize", action="store_true", help="domain randomisation on")
  p.add_argument("--seed", type=int, default=0)
  compile_cache.enable_compilation_cache()
  try:
    args = p.parse_args(argv)
  except SystemExit as e:
    return int(e.code or 0)
  try:
    if not (math.isfinite(args.duration) and args.duration > 0):
      raise EvalError(f"--duration must be a positive number of seconds, got {args.duration}.")
    commands = _parse_commands(args.commands)
    policy, base = _load(args)
    cfg = sim2sim_env_config(base, terrain=args.terrain, noise=args.noise, pushes=args.pushes,
                             randomize=args.randomize, duration=args.duration)
    env = env_config_lib.make_env(cfg)
    results = run_sim2sim(env, policy, commands, args.duration, args.average,
                          args.envs_per_command, args.seed)
  except (EvalError, PolicyError) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  print(f"Policy: {policy.source}")
  print(format_tracking_table(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
