"""``python -m reasan_jax.sim2sim --task nav``: the navigation table (:mod:`reasan_jax.eval.nav_eval`).

Usage::

  python -m reasan_jax.sim2sim --task nav --onnx nav_1.onnx --filter_onnx filter_1.onnx \\
      --loco_onnx loco_1.onnx --json nav.json
  python -m reasan_jax.sim2sim --task nav --run my_nav --episodes 16 --layouts grid,maze

prints, per layout (grid / grid_dynamic / maze) and mode (filter / no_filter), the arrival rates,
collision and fall rates, mean time to goal, final distance and path length.
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


def _parser() -> argparse.ArgumentParser:
  from reasan_jax.eval import nav_eval  # pylint: disable=import-outside-toplevel

  p = argparse.ArgumentParser(prog=PROG, description=nav_eval.__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--task", choices=("nav",), default="nav")
  sim2sim.add_policy_sources(p, "nav", "nav_1.onnx")
  p.add_argument("--filter_onnx", help="frozen filter (.onnx or a filter run/checkpoint folder); "
                 "default: the nav run's env.filter_policy")
  p.add_argument("--loco_onnx", help="frozen loco policy (.onnx or a loco run/checkpoint folder); "
                 "default: the nav run's env.loco_policy")
  p.add_argument("--episodes", type=int, default=32, help="episodes per layout and mode")
  p.add_argument("--layouts", default=",".join(nav_eval.LAYOUTS),
                 help="comma-separated subset of grid,grid_dynamic,maze")
  p.add_argument("--modes", default=",".join(nav_eval.MODES),
                 help="comma-separated subset of filter,no_filter")
  p.add_argument("--small_worlds", action="store_true",
                 help="the CPU config's 4 x 4 sub-block grid and 8 x 8 maze instead of REASAN's sizes")
  p.add_argument("--world_seed", type=int, default=nav_eval.WORLD_SEED,
                 help="seed of the evaluation worlds (training uses 0)")
  p.add_argument("--seed", type=int, default=0, help="reset seed")
  p.add_argument("--json", metavar="PATH", help="write the records as a JSON list")
  return p


def _subset(text: str, allowed: Sequence[str], option: str) -> list[str]:
  items = [x.strip() for x in text.split(",") if x.strip()]
  for x in items:
    if x not in allowed:
      raise EvalError(f"Unknown value {x!r} in {option}; choose from {', '.join(allowed)}.")
  if not items:
    raise EvalError(f"{option} is empty; choose from {', '.join(allowed)}.")
  return items


def main(argv: Sequence[str] | None = None) -> int:
  """Entry point. Returns 0 ok, 1 a policy/option that cannot be used (one sentence on stderr),
  2 bad usage."""
  from reasan_jax.eval import nav_eval  # pylint: disable=import-outside-toplevel

  p = _parser()
  compile_cache.enable_compilation_cache()
  try:
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
  except SystemExit as e:
    return int(e.code or 0)
  try:
    policy, base = sim2sim.load_source(args, "nav")
    if args.episodes < 1:
      raise EvalError(f"--episodes must be at least 1, got {args.episodes}.")
    layouts = _subset(args.layouts, nav_eval.LAYOUTS, "--layouts")
    modes = _subset(args.modes, nav_eval.MODES, "--modes")
    if base is not None and base.get("task") != "nav":
      raise EvalError(f"{policy.source} was trained for task {base.get('task')!r}, not nav; pass "
                      "a nav policy such as nav_1.onnx.")
    if base is None and args.small_worlds:
      from reasan_jax.configs import nav as nav_config  # pylint: disable=import-outside-toplevel

      base = nav_config.get_config("cpu").env
    filt = args.filter_onnx or (base.get("filter_policy", "") if base is not None else "")
    loco = args.loco_onnx or (base.get("loco_policy", "") if base is not None else "")
    if not filt:
      raise EvalError("Give the frozen filter with --filter_onnx PATH (e.g. REASAN's filter_1.onnx).")
    if not loco:
      raise EvalError("Give the frozen loco policy with --loco_onnx PATH (e.g. REASAN's loco_1.onnx).")
    results = nav_eval.run(policy, filt, loco, layouts, modes, num_envs=args.episodes,
                           seed=args.seed, base=base, world_seed=args.world_seed,
                           full_size=not args.small_worlds)
  except (EvalError, PolicyError, ValueError) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  print(f"Nav policy: {policy.source}")
  print(nav_eval.format_table(results))
  if args.json:
    with open(args.json, "w", encoding="utf-8") as f:
      json.dump([r.record() for r in results], f, indent=2)
  return 0
