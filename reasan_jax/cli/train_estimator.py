"""Train or evaluate the ray estimator: ``python -m reasan_jax.train_estimator --data train.h5 --val val.h5``.

Examples::

  python -m reasan_jax.train_estimator --data data/train.h5 --val data/val.h5            # new run
  python -m reasan_jax.train_estimator --data train.h5 --val val.h5 --run_name h15 --profile gpu
  python -m reasan_jax.train_estimator --resume h15 --num_epochs 120                     # continue h15
  python -m reasan_jax.train_estimator --eval runs/estimator/h15 --val data/val2.h5       # judge only

Both files are REASAN's sequential HDF5 format (:mod:`reasan_jax.io.ray_dataset`). ``--profile gpu`` is
REASAN's §8.5 recipe (whole-episode batches of >= 512 frames, 100 epochs over every frame, lr 1e-4);
``--profile cpu`` (the default on a CPU backend) trains the same model for 8 epochs of 1,536 shuffled
frames in batches of 64 at lr 5e-4, validating on 1,024 frames, in about 15 minutes on two cores.
Individual flags override the profile; the validation figures at the end always use the whole file. A run lives in ``<runs_dir>/<run_name>/`` (default ``runs/estimator/<timestamp>``;
an existing folder is never reused) with ``config.json``, ``metrics.csv``, ``tb/``, ``checkpoints/`` (last
epoch, for ``--resume``), ``best/`` (lowest validation loss) and, after training, ``eval.json``: the
estimator's and two baselines' validation figures (:mod:`reasan_jax.estimator.evaluate`).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
from typing import Sequence

PROG = "python -m reasan_jax.train_estimator"
_LATEST = ""
_OVERRIDES = ("batch_size", "batching", "epoch_frames", "val_frames", "num_epochs", "learning_rate", "seed",
              "imu_padding")


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog=PROG, description=__doc__, allow_abbrev=False,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--data", help="training file (sequential HDF5); a resumed run defaults to its own")
  p.add_argument("--val", help="validation file (sequential HDF5); a resumed run defaults to its own")
  p.add_argument("--history_frames", type=int, default=None,
                 help="H, frames per window (default 15, what the nav and filter envs need)")
  p.add_argument("--run_name", help="run folder name under --runs_dir (default: a timestamp)")
  p.add_argument("--resume", nargs="?", const=_LATEST, default=None, metavar="RUN",
                 help="continue RUN (default: the newest run with a checkpoint) from its last epoch")
  p.add_argument("--eval", metavar="PATH", help="only evaluate this run (its best checkpoint) or "
                 "checkpoint folder on --val, print the figures and save them as JSON")
  p.add_argument("--report", help="where --eval writes its JSON (default <run>/eval.json; never replaced)")
  p.add_argument("--runs_dir", default=os.path.join("runs", "estimator"),
                 help="parent folder of the estimator runs (default: runs/estimator)")
  p.add_argument("--profile", choices=("cpu", "gpu"), default=None,
                 help="cpu: short default; gpu: REASAN's recipe (default: by JAX backend)")
  p.add_argument("--batch_size", type=int, help="frames per batch (whole-episode batches: at least this)")
  p.add_argument("--batching", choices=("episodes", "frames"),
                 help="episodes: REASAN's whole-episode batches; frames: shuffled single frames (CPU default)")
  p.add_argument("--epoch_frames", type=int, help="frames per epoch, 0 = all (CPU default 1,536)")
  p.add_argument("--val_frames", type=int, help="validation frames per epoch, 0 = all (CPU default 1,024)")
  p.add_argument("--num_epochs", type=int, help="epochs (also the cosine schedule's length)")
  p.add_argument("--learning_rate", type=float, help="initial learning rate")
  p.add_argument("--seed", type=int, help="initialisation, shuffling and dropout seed (new runs)")
  p.add_argument("--imu_padding", choices=("first", "zeros"),
                 help="IMU before an episode start: first-frame copies (REASAN's trainer) or zeros")
  p.add_argument("--no_progress", action="store_true", help="hide the progress bar")
  return p


def _resolve_config(args):
  """(config, run_dir, state or None) for a new or resumed run."""
  import jax  # pylint: disable=import-outside-toplevel

  from reasan_jax.estimator import train as tr  # pylint: disable=import-outside-toplevel
  from reasan_jax.io import config_loader, run_folders  # pylint: disable=import-outside-toplevel

  if args.resume is not None:
    if args.run_name:
      raise tr.EstimatorError("--resume names the run to continue; drop --run_name (or use --resume NAME).")
    run_dir = (run_folders.latest_run(args.runs_dir) if args.resume == _LATEST
               else run_folders.find_run(args.runs_dir, args.resume))
    config = config_loader.config_from_dict(json.loads((run_dir / run_folders.CONFIG_FILE).read_text()))
    if args.history_frames is not None and args.history_frames != config.history_frames:
      raise tr.EstimatorError(f"run {run_dir} was trained with --history_frames {config.history_frames}, not "
                              f"{args.history_frames}; resume without --history_frames or start a new run.")
    for name in ("data", "val"):
      if getattr(args, name):
        config[name] = os.path.abspath(getattr(args, name))
    for name in _OVERRIDES:
      if getattr(args, name) is not None:
        config[name] = getattr(args, name)
    return config, run_dir, True
  if not args.data or not args.val:
    raise tr.EstimatorError("a new run needs both --data TRAIN.h5 and --val VAL.h5 (or --resume a run).")
  cpu = args.profile == "cpu" or (args.profile is None and jax.default_backend() == "cpu")
  config = tr.default_config(cpu)
  config.data, config.val = os.path.abspath(args.data), os.path.abspath(args.val)
  if args.history_frames is not None:
    config.history_frames = args.history_frames
  for name in _OVERRIDES:
    if getattr(args, name) is not None:
      config[name] = getattr(args, name)
  if config.history_frames < 1 or config.batch_size < 1 or config.num_epochs < 1:
    raise tr.EstimatorError("--history_frames, --batch_size and --num_epochs must be at least 1.")
  return config, None, False


def _train(args) -> int:
  import numpy as np  # pylint: disable=import-outside-toplevel

  from reasan_jax.estimator import evaluate as ev  # pylint: disable=import-outside-toplevel
  from reasan_jax.estimator import train as tr  # pylint: disable=import-outside-toplevel
  from reasan_jax.io import compile_cache, run_folders  # pylint: disable=import-outside-toplevel
  from reasan_jax.io.ray_dataset import read_sequential  # pylint: disable=import-outside-toplevel

  compile_cache.enable_compilation_cache()
  config, run_dir, resuming = _resolve_config(args)
  train, val = read_sequential(config.data), read_sequential(config.val)
  if resuming:
    state, _, step_dir = tr.restore_state(run_dir, config.history_frames)
    print(f"resuming {run_dir} after epoch {int(state.epoch)} ({step_dir})", file=sys.stderr)
  else:
    state = tr.init_state(config, np.mean(train.gt_rays, axis=0))
    run_dir = run_folders.create_run_dir(args.runs_dir, args.run_name or run_folders.default_run_name(),
                                         unique=not args.run_name)
    print(f"new estimator run {run_dir}: {train.num_frames} train / {val.num_frames} val frames, "
          f"H = {config.history_frames}, {config.num_epochs} epochs, "
          f"{'batches of' if config.batching == 'frames' else 'whole-episode batches of >='} {config.batch_size} frames",
          file=sys.stderr)
  run_folders.write_run_config(run_dir, config)
  state = tr.run_training(config, run_dir, train, val, state, progress=not args.no_progress)
  best_state, _, _ = tr.restore_state(run_dir / tr.BEST_DIR, config.history_frames)
  report = ev.evaluate(best_state, config, val)
  report["checkpoint"] = "best"
  print(ev.format_report(report))
  print(f"wrote {ev.save_report(report, run_dir / 'eval.json')}")
  return 0


def _evaluate(args) -> int:
  from reasan_jax.estimator import evaluate as ev  # pylint: disable=import-outside-toplevel
  from reasan_jax.estimator import train as tr  # pylint: disable=import-outside-toplevel
  from reasan_jax.io import run_folders  # pylint: disable=import-outside-toplevel
  from reasan_jax.io.ray_dataset import read_sequential  # pylint: disable=import-outside-toplevel

  path = pathlib.Path(args.eval)
  run_dir = path
  if (path / tr.BEST_DIR).is_dir() and run_folders.checkpoint_steps(path / tr.BEST_DIR):
    path = path / tr.BEST_DIR
  state, config, step_dir = tr.restore_state(path, args.history_frames)
  val_path = args.val or config.val
  report = ev.evaluate(state, config, read_sequential(val_path))
  report["checkpoint"], report["val"] = str(step_dir), os.path.abspath(val_path)
  print(ev.format_report(report))
  out = args.report or (run_dir / "eval.json" if run_dir.is_dir() else "eval.json")
  print(f"wrote {ev.save_report(report, out)}")
  return 0


def main(argv: Sequence[str] | None = None) -> int:
  """Command-line entry point (see the module docstring); 0 on success, 2 on bad input, 1 on divergence,
  130 on Ctrl-C (the run keeps its last finished epoch)."""
  args = _parser().parse_args(argv)
  from reasan_jax.estimator.data import EstimatorDataError  # pylint: disable=import-outside-toplevel
  from reasan_jax.estimator.train import EstimatorDiverged, EstimatorError  # pylint: disable=import-outside-toplevel
  from reasan_jax.io.ray_dataset import RayDatasetError  # pylint: disable=import-outside-toplevel
  from reasan_jax.io.run_folders import CheckpointError  # pylint: disable=import-outside-toplevel

  try:
    return _evaluate(args) if args.eval else _train(args)
  except (EstimatorError, EstimatorDataError, RayDatasetError, CheckpointError) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 2
  except EstimatorDiverged as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    print(f"{PROG}: interrupted; every finished epoch is checkpointed, continue with --resume RUN.",
          file=sys.stderr)
    return 130


if __name__ == "__main__":
  sys.exit(main())
