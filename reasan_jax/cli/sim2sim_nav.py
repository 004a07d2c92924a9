"""``python -m reasan_jax.sim2sim --task nav``: the navigation sim2sim table
(:mod:`reasan_jax.eval.nav_eval`).

Usage::

  python -m reasan_jax.sim2sim --task nav --onnx nav_1.onnx --filter_onnx filter_1.onnx \\
      --loco_onnx loco_1.onnx [--json PATH] [--episodes N]
  python -m reasan_jax.sim2sim --task nav --run nav_cpu [--episodes 16]

An ONNX nav policy is evaluated in REASAN's full-size worlds (15 x 15 sub-blocks, 40 x 40 maze;
``--grid_blocks`` / ``--maze_cells`` shrink them), a nav run of ours in its training env's world
sizes with its own frozen filter and loco policies (``env.filter_policy`` / ``env.loco_policy``)
unless ``--filter_onnx`` / ``--loco_onnx`` replace them. The world seed is held out (never the
training world's, :func:`reasan_jax.eval.nav_eval.held_out_seed`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from reasan_jax.cli import sim2sim
from reasan_jax.eval import EvalError
from reasan_jax.io import compile_cache
from reasan_jax.policies.policy import PolicyError

PROG = "python -m reasan_jax.sim2sim --task nav"


def _parser(nav_eval) -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog=PROG, description=nav_eval.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--task", choices=("nav",), default="nav")
  sim2sim.add_policy_sources(p, "nav", "nav_1.onnx")
  p.add_argument("--filter_onnx", help="frozen safety filter (.onnx or a filter run/checkpoint "
                 "folder); default: the nav run's env.filter_policy")
  p.add_argument("--loco_onnx", help="frozen loco policy (.onnx or a loco run/checkpoint folder); "
                 "default: the nav run's env.loco_policy")
  p.add_argument("--episodes", type=int, default=64, help="episodes per layout and mode")
  p.add_argument("--layouts", default=",".join(nav_eval.LAYOUTS),
                 help="comma-separated subset of " + ",".join(nav_eval.LAYOUTS))
  p.add_argument("--modes", default=",".join(nav_eval.MODES),
                 help="comma-separated subset of " + ",".join(nav_eval.MODES))
  p.add_argument("--duration", type=float, default=15.0, help="episode length, s (REASAN: 15)")
  p.add_argument("--grid_blocks", type=int, help="grid sub-blocks per side (REASAN: 15)")
  p.add_argument("--maze_cells", type=int, help="maze cells per side (REASAN: 40)")
  p.add_argument("--world_seed", type=int, help="world seed (default: held out from training's)")
  p.add_argument("--seed", type=int, default=0, help="reset seed (spawn/goal pairs, obstacles)")
  p.add_argument("--estimator", metavar="RUN", help="a trained ray estimator (python -m "
                 "reasan_jax.train_estimator): every row on its rays from the simulated Mid-360 "
                 "instead of ground-truth rays")
  p.add_argument("--json", metavar="PATH", help="write the records as a JSON list")
  return p


def _subset(text: str, allowed: Sequence[str], option: str) -> list[str]:
  out = [x.strip() for x in text.split(",") if x.strip()]
  for x in out:
    if x not in allowed:
      raise EvalError(f"Unknown value {x!r} in {option}; choose from {', '.join(allowed)}.")
  if not out:
    raise EvalError(f"{option} is empty; choose from {', '.join(allowed)}.")
  return out


def load_nav(args: argparse.Namespace):
  """``(nav policy, its training env section or None)`` from exactly one of ``--onnx``,
  ``--run``, ``--checkpoint``.

  Raises:
    EvalError: not exactly one source, or a policy of another task (one sentence).
    PolicyError: unreadable source.
  """
  policy, base = sim2sim.load_source(args, "nav")
  task = base.get("task") if base is not None else policy.task
  if task != "nav":
    what = f"the {task} task" if task else "an unknown task"
    raise EvalError(f"--task nav evaluates navigation policies, but {policy.source} is for {what}; "
                    "pass a nav policy such as pretrained/nav_1.onnx.")
  return policy, base


def main(argv: Sequence[str] | None = None) -> int:
  """Prints the nav table. Returns 0 ok, 1 an input that cannot be used (one sentence on stderr),
  2 bad usage."""
  from reasan_jax.eval import nav_eval  # pylint: disable=import-outside-toplevel

  compile_cache.enable_compilation_cache()
  try:
    args = _parser(nav_eval).parse_args(list(sys.argv[1:] if argv is None else argv))
  except SystemExit as e:
    return int(e.code or 0)
  try:
    if args.episodes < 1:
      raise EvalError(f"--episodes must be at least 1, got {args.episodes}.")
    if not args.duration > 0:
      raise EvalError(f"--duration must be a positive number of seconds, got {args.duration}.")
    layouts = _subset(args.layouts, nav_eval.LAYOUTS, "--layouts")
    modes = _subset(args.modes, nav_eval.MODES, "--modes")
    policy, base = load_nav(args)
    trained = base if base is not None else {}
    filt = args.filter_onnx or trained.get("filter_policy", "")
    loco = args.loco_onnx or trained.get("loco_policy", "")
    filt, loco = nav_eval.load_chain(filt, loco)
    results = nav_eval.run(policy, filt, loco, layouts, modes, num_envs=args.episodes,
                           seed=args.seed, base=base, duration=args.duration,
                           world_seed=args.world_seed, grid_blocks=args.grid_blocks,
                           maze_cells=args.maze_cells, estimator=args.estimator or "")
  except (EvalError, PolicyError, ValueError) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  print(f"Nav: {policy.source}\nFilter: {filt.source}\nLoco: {loco.source}")
  if args.estimator:
    print(f"Actor rays: predicted by the ray estimator {args.estimator}")
  print(nav_eval.format_table(results))
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump([r.record() for r in results], f, indent=1)
  return 0
