"""Collect ray-estimator data: REASAN's ``play_filter.py --collect`` (REASAN filter §9.3).

Usage::

  python -m reasan_jax.collect_rays --config filter --onnx filter_1.onnx --loco_onnx loco_1.onnx \\
      --out data/train.h5 --frames 20000
  python -m reasan_jax.collect_rays --run filter_dyn --out data/val.h5 --frames 5000 --seed 1
  python -m reasan_jax.collect_rays ... --config.env.mid360.pattern=mid360.npy   # REASAN's pattern

A safety-filter policy (REASAN's ``filter_1.onnx`` on a frozen loco policy given with
``--loco_onnx``, or a filter run / checkpoint of ours, which names its own loco policy) drives
``--num_envs`` robots among moving obstacles in REASAN's play settings
(:func:`reasan_jax.eval.ray_collection.collection_env_config`), with the simulated Mid-360 on.
Whole finished episodes go to ``--out`` in REASAN's sequential HDF5 format
(:mod:`reasan_jax.io.ray_dataset`) until it holds ``--frames`` frames (the last episode is cut to
fit, as REASAN does). The file is valid after every episode: Ctrl-C or ``kill`` (SIGTERM) stops the
collection after the current chunk of steps and leaves every complete episode written so far (an
unfinished one is dropped); a second Ctrl-C stops at once; only a SIGKILL during an episode's write
can damage the file. An existing ``--out`` is never replaced
without ``--overwrite``. Any config field can be set with ``--config.<section>.<field>=<value>``
after the collection settings.

Defaults: on a machine without an accelerator 16 envs and 20,000 frames (a few minutes; the
estimator's CPU default trains on it), otherwise 256 envs and 500,000 frames (REASAN's training
capacity). Exit status: 0 done, 1 a policy / option that cannot be used (one sentence on stderr),
2 bad usage, 130 interrupted (the file holds the complete episodes).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from reasan_jax.io import compile_cache
from reasan_jax.io import interrupts

PROG = "python -m reasan_jax.collect_rays"
CPU_DEFAULTS = {"num_envs": 16, "frames": 20_000}
GPU_DEFAULTS = {"num_envs": 256, "frames": 500_000}


class CollectError(ValueError):
  """A policy, output path or option the collector cannot use (one sentence naming the fix)."""


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              allow_abbrev=False)
  p.add_argument("--config", default="filter", help="task config (filter; default filter)")
  src = p.add_argument_group("filter policy (exactly one)")
  src.add_argument("--onnx", metavar="PATH", help="an exported filter policy such as REASAN's "
                   "filter_1.onnx")
  src.add_argument("--run", help="a filter run name under --runs_dir, or a run folder")
  src.add_argument("--checkpoint", metavar="PATH", help="a run folder or checkpoints/<iteration>")
  p.add_argument("--loco_onnx", metavar="PATH", help="the frozen loco policy (.onnx or a loco "
                 "run/checkpoint folder); default: the filter run's env.loco_policy")
  p.add_argument("--runs_dir", default="runs")
  p.add_argument("--out", required=True, metavar="PATH.h5", help="the HDF5 file to write")
  p.add_argument("--frames", type=int, default=None, help="frames to collect (default: 20,000 "
                 "on CPU, 500,000 with an accelerator)")
  p.add_argument("--num_envs", type=int, default=None, help="parallel envs (default: 16 on CPU, "
                 "256 with an accelerator)")
  p.add_argument("--seed", type=int, default=0, help="PRNG seed (use another one for val data)")
  p.add_argument("--chunk", type=int, default=50, help="steps per device call (default 50)")
  p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
  p.add_argument("--quiet", action="store_true", help="no progress lines")
  return p


def _split(argv: list[str]) -> tuple[list[str], list[str]]:
  from reasan_jax.io import config_loader  # pylint: disable=import-outside-toplevel

  overrides, rest, i = [], [], 0
  while i < len(argv):
    token = argv[i]
    if token.startswith(config_loader.OVERRIDE_PREFIX):
      if "=" not in token:
        if i + 1 >= len(argv):
          raise CollectError(f"Override {token} has no value; write {token}=VALUE.")
        token = f"{token}={argv[i + 1]}"
        i += 1
      overrides.append(token)
    else:
      rest.append(token)
    i += 1
  return rest, overrides


def _load_policy(args):
  """``(filter policy, its trained env config or None)``."""
  from reasan_jax.policies import load as load_lib  # pylint: disable=import-outside-toplevel

  sources = [x for x in (args.onnx, args.run, args.checkpoint) if x is not None]
  if len(sources) != 1:
    raise CollectError("Give exactly one filter policy: --onnx, --run or --checkpoint.")
  if args.onnx is not None:
    policy, base = load_lib.load_onnx(args.onnx), None
  else:
    policy = load_lib.load_checkpoint_policy(
        load_lib.find_checkpoint(args.run, args.checkpoint, args.runs_dir))
    base = policy.env_config()
  task = base.get("task") if base is not None else policy.task
  if task != "filter":
    raise CollectError(f"{policy.source} is a {task or 'unknown'} policy, but the collector "
                       "drives the robot with a safety-filter policy such as filter_1.onnx.")
  return policy, base


def _build(args, overrides):
  """The collection env and the filter policy."""
  from reasan_jax import registry  # pylint: disable=import-outside-toplevel
  from reasan_jax.eval import ray_collection  # pylint: disable=import-outside-toplevel
  from reasan_jax.io import config_loader  # pylint: disable=import-outside-toplevel

  config = config_loader.load_config(args.config)
  if config.env.get("task") != "filter":
    raise CollectError(f"--config {args.config} is the {config.env.get('task')} task; ray data "
                       "is collected in the filter task (--config filter).")
  policy, base = _load_policy(args)
  loco = args.loco_onnx or (base.get("loco_policy", "") if base is not None else "")
  if not loco:
    raise CollectError(f"{policy.source} is a safety-filter policy: pass the frozen loco policy "
                       "it drives with --loco_onnx PATH (e.g. REASAN's loco_1.onnx).")
  config.env = ray_collection.collection_env_config(base, loco_policy=loco)
  config_loader.apply_overrides(config, overrides)
  return registry.make_env(config.env), policy


def main(argv: Sequence[str] | None = None) -> int:
  """Command-line entry point (module docstring); returns the exit status."""
  argv = list(sys.argv[1:] if argv is None else argv)
  try:
    rest, overrides = _split(argv)
  except CollectError as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 2
  try:
    args = _parser().parse_args(rest)
  except SystemExit as e:
    return int(e.code or 0)
  import jax  # pylint: disable=import-outside-toplevel

  from reasan_jax.eval import EvalError  # pylint: disable=import-outside-toplevel
  from reasan_jax.eval import ray_collection  # pylint: disable=import-outside-toplevel
  from reasan_jax.io import ray_dataset  # pylint: disable=import-outside-toplevel
  from reasan_jax.policies.policy import PolicyError  # pylint: disable=import-outside-toplevel

  compile_cache.enable_compilation_cache()
  defaults = CPU_DEFAULTS if jax.default_backend() == "cpu" else GPU_DEFAULTS
  frames = defaults["frames"] if args.frames is None else args.frames
  num_envs = defaults["num_envs"] if args.num_envs is None else args.num_envs
  try:
    if frames < 1 or num_envs < 1 or args.chunk < 1:
      raise CollectError(f"--frames, --num_envs and --chunk must be at least 1, got {frames}, "
                         f"{num_envs} and {args.chunk}.")
    if os.path.exists(args.out) and not args.overwrite:
      raise CollectError(f"{args.out} already exists; choose another --out or pass --overwrite "
                         "to replace it.")
    env, policy = _build(args, overrides)
  except (CollectError, EvalError, PolicyError, ValueError) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print("interrupted before collecting: nothing was written.", flush=True)
    return 130

  def progress(s):
    if not args.quiet:
      print(f"step {s['steps']}: {s['frames']}/{frames} frames, {s['episodes']} episodes, "
            f"{s['seconds']:.0f} s", flush=True)

  print(f"Filter: {policy.source}; {num_envs} envs, {frames} frames -> {args.out}", flush=True)
  interrupted = False
  try:
    with interrupts.StopRequest() as stop, ray_dataset.SequentialRayWriter(
        args.out, num_envs, capacity=frames, overwrite=args.overwrite) as writer:
      try:
        ray_collection.collect(env, policy, writer, num_envs, seed=args.seed, chunk=args.chunk,
                               progress=progress, should_stop=lambda: stop.requested)
      except KeyboardInterrupt:
        interrupted = True
      interrupted = interrupted or stop.requested
      written = (writer.frames, writer.episodes)
  except (EvalError, ray_dataset.RayDatasetError) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  state = "interrupted" if interrupted else "done"
  print(f"{state}: {args.out} holds {written[0]} frames in {written[1]} complete episodes.",
        flush=True)
  return 130 if interrupted else 0


if __name__ == "__main__":
  sys.exit(main())
