"""Command-line training: ``python -m reasan_jax.train [--config NAME|PATH] [--config.key=value ...]``.

Examples::

  python -m reasan_jax.train                                   # loco, new run runs/<timestamp>
  python -m reasan_jax.train --config loco --run_name flat1 --config.ppo.num_envs=512
  python -m reasan_jax.train --resume                          # continue the newest run
  python -m reasan_jax.train --resume flat1 --config.run.num_iterations=200
  python -m reasan_jax.train --checkpoint runs/flat1/checkpoints/40 --run_name flat1_fork
  python -m reasan_jax.train --run_name big --coordinator_address 10.0.0.1:12345 \
      --num_processes 2 --process_id 0                         # one of several machines
  srun python -m reasan_jax.train --distributed --run_name big  # SLURM: settings auto-detected

A run lives in ``<runs_dir>/<run_name>/`` (see :mod:`reasan_jax.io.checkpoints` and
:mod:`reasan_jax.io.logs`). The loop builds the env and the :class:`~reasan_jax.ppo.trainer.Trainer`,
initialises (or restores) the complete ``TrainState``, then calls the compiled
``trainer.run(state, K)`` with ``K = run.iterations_per_call`` (shortened at the end so the run stops
exactly at ``run.num_iterations``), logs every iteration of the call, and checkpoints whenever a
multiple of ``run.checkpoint_every`` was reached, plus at iteration 0 and at the end.

Resume (``--resume [RUN]``) continues the same folder from its newest checkpoint with everything
restored (iteration counter, learning rate, optimiser, normaliser, env state, recurrent carries,
RNG), so a resumed run is bit-identical to an uninterrupted one with the same chunking. Its config
is the run's ``config.json`` plus any ``--config.*`` overrides given now. A session killed after its
newest checkpoint N (``kill -9``, a lost machine) logged iterations past N; the resumed session
first drops them (``metrics.csv`` rows, TensorBoard steps via ``purge_step``, training videos; one
line says what, :mod:`reasan_jax.io.log_rewind`), so its logs equal an uninterrupted run's except
the timing columns.

Continue (``--checkpoint PATH`` without ``--resume``) starts a **new** run folder from another run's
checkpoint, as REASAN's stage 2 does: the policy and critic parameters, optimiser state, adaptive
learning rate, observation normaliser and iteration counter come from the checkpoint; the
environment is built fresh from the new config (fresh domain randomisation, curriculum at 0, new
carries and RNG from ``run.seed``). The config is the checkpoint's stored one plus overrides unless
``--config`` is given, e.g. stage 2: ``--checkpoint runs/stage1 --config.env.stage=2``. The new run's
``origin.json`` records the checkpoint it came from.

With several processes (:mod:`reasan_jax.io.distributed`) every process runs this same loop on
its slice of the env batch; process 0 alone creates the run folder and writes checkpoints and logs.

A call whose losses or parameters are not finite stops the run with an error naming the
iteration; that state is not saved, so the last good checkpoint stays the newest one.

This module is over 400 lines on purpose: one training session (run folder, resume or continue,
the compiled loop, checkpoints, logs, divergence guard, process roles) is one sequence, kept
readable in :func:`run_training` with its small helpers beside it.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from typing import Any, Mapping, Sequence

import jax
import ml_collections
import numpy as np

from reasan_jax.io import compile_cache
from reasan_jax.io import checkpoints as ckpt_lib
from reasan_jax.io import config_loader
from reasan_jax.io import distributed
from reasan_jax.io import interrupts
from reasan_jax.io import logs as logs_lib

DEFAULT_CONFIG = "loco"
_LATEST = ""  # `--resume` without a value


class UsageError(ValueError):
  """Command-line flags that cannot be combined or used as given (one-sentence message)."""


class TrainingDiverged(RuntimeError):
  """Losses or parameters became non-finite; the offending state was not saved."""


# ---------------------------------------------------------------------------------------------
# Command line.


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(
      prog="python -m reasan_jax.train", allow_abbrev=False,
      description="Train a reasan_jax policy with PPO. Any config field can be overridden with "
      "--config.<section>.<field>=<value> (e.g. --config.ppo.num_envs=512).",
      epilog="Logs: tensorboard --logdir <runs_dir>.")
  p.add_argument("--config", default=None, metavar="NAME|PATH[:ARG]",
                 help=f"registered config name (default {DEFAULT_CONFIG!r}; names: the configs/ "
                 "modules defining get_config) or a config file path, optionally with :ARG passed "
                 "to get_config. Unless given, --resume uses the run's config.json and "
                 "--checkpoint the config stored in that checkpoint.")
  p.add_argument("--run_name", default=None,
                 help="run folder name under --runs_dir (default: timestamp YYYY-MM-DD_HH-MM-SS); "
                 "an existing folder is never reused, use --resume for that.")
  p.add_argument("--resume", nargs="?", const=_LATEST, default=None, metavar="RUN",
                 help="continue RUN (default: the most recently modified run with a checkpoint) "
                 "in its own folder, from its newest checkpoint.")
  p.add_argument("--checkpoint", default=None, metavar="PATH",
                 help="start from this checkpoint (run folder or checkpoints/<iteration> folder): "
                 "alone it starts a new run with the checkpoint's policy, optimiser, learning rate "
                 "and normaliser in a freshly built env (e.g. stage 2); with --resume it must be "
                 "that run's newest checkpoint.")
  p.add_argument("--seed", type=int, default=None, help="overrides run.seed (ignored when resuming).")
  p.add_argument("--runs_dir", default="runs", help="parent folder of all runs (default: runs).")
  p.add_argument("--no_progress", action="store_true", help="hide the progress bar.")
  distributed.add_arguments(p)
  p.add_argument("--list_tasks", action="store_true", help="print the registered tasks and exit.")
  return p


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
  """Splits ``argv`` into regular flags and ``--config.*`` overrides.

  ``--config.key=value`` and ``--config.key value`` are both accepted.

  Returns:
    (parsed flags, overrides as ``"--config.key=value"`` strings).
  """
  argv = list(sys.argv[1:] if argv is None else argv)
  overrides, rest = [], []
  i = 0
  while i < len(argv):
    token = argv[i]
    if token.startswith(config_loader.OVERRIDE_PREFIX):
      if "=" in token:
        overrides.append(token)
      elif i + 1 < len(argv):
        overrides.append(f"{token}={argv[i + 1]}")
        i += 1
      else:
        raise UsageError(f"Override {token} has no value; write {token}=VALUE.")
    else:
      rest.append(token)
    i += 1
  return _parser().parse_args(rest), overrides


# ---------------------------------------------------------------------------------------------
# Building blocks (module-level so tests can substitute them).


def make_env(config: ml_collections.ConfigDict):
  """The batched training env: ``VecEnv(make(config.env), config.ppo.num_envs)``."""
  from reasan_jax import registry  # pylint: disable=import-outside-toplevel
  from reasan_jax.core import VecEnv  # pylint: disable=import-outside-toplevel

  return VecEnv(registry.make_env(config.env), config.ppo.num_envs)


def make_trainer(env, config: ml_collections.ConfigDict):
  """The PPO trainer for ``env`` (``reasan_jax.ppo.trainer.Trainer``)."""
  from reasan_jax.ppo.trainer import Trainer  # pylint: disable=import-outside-toplevel

  return Trainer(env, config)


def _validate_run_section(config: ml_collections.ConfigDict) -> None:
  run = config.get("run")
  if run is None:
    raise UsageError("The config has no 'run' section (num_iterations, iterations_per_call, ...).")
  for key in ("num_iterations", "iterations_per_call", "checkpoint_every", "keep_checkpoints"):
    value = run.get(key)
    minimum = 0 if key == "num_iterations" else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
      raise UsageError(f"config.run.{key} must be an integer >= {minimum}, got {value!r}.")


def _new_run_dir(args: argparse.Namespace, runs_dir: pathlib.Path) -> pathlib.Path:
  """Creates the new run folder in process 0 and tells the other processes its name.

  Raises:
    CheckpointError: process 0 could not create it (there with its reason, elsewhere a pointer).
  """
  run_dir, error = None, None
  if distributed.is_primary():
    try:
      if args.run_name is not None:
        run_dir = ckpt_lib.create_run_dir(runs_dir, args.run_name)
      else:
        run_dir = ckpt_lib.create_run_dir(runs_dir, ckpt_lib.default_run_name(), unique=True)
    except ckpt_lib.CheckpointError as e:
      error = e
  name = distributed.broadcast_text(run_dir.name if run_dir is not None else None)
  if error is not None:
    raise error
  if not name:
    raise ckpt_lib.CheckpointError(
        "Process 0 could not create the run folder (its output says why); fix that and relaunch "
        "all processes.")
  return runs_dir / name


_POSITIVE_PPO_SIZES = ("num_envs", "unroll_length", "num_epochs", "num_minibatches")


def _validate_ppo_sizes(config: ml_collections.ConfigDict) -> None:
  """Raises UsageError unless every PPO batch size is a positive integer."""
  ppo = config.get("ppo")
  if ppo is None:
    raise UsageError("The config has no 'ppo' section (num_envs, unroll_length, ...).")
  for key in _POSITIVE_PPO_SIZES:
    value = ppo.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
      raise UsageError(f"config.ppo.{key} must be an integer >= 1, got {value!r}.")


def _iteration(state: Any) -> int:
  if not hasattr(state, "iteration"):
    raise TypeError("The trainer's TrainState has no 'iteration' field; the training loop needs it.")
  return int(np.asarray(jax.device_get(state.iteration)))


def _first_nonfinite(metrics: Mapping[str, np.ndarray], params: Any) -> tuple[int | None, list[str]]:
  """(index within the call of the first iteration with a non-finite loss, offending names).

  The index is None when only the parameters are non-finite (then the whole call is suspect);
  ``names`` is empty when everything is finite.
  """
  first, names = None, []
  for name, values in metrics.items():
    if "loss" not in name.lower():
      continue
    values = np.asarray(values, dtype=np.float64).reshape(np.shape(values)[0] if np.ndim(values) else 1, -1)
    bad = ~np.all(np.isfinite(values), axis=1)
    if bad.any():
      idx = int(np.argmax(bad))
      names.append(name)
      first = idx if first is None else min(first, idx)
  leaves = jax.tree_util.tree_leaves_with_path(params)
  for path, leaf in leaves:
    arr = np.asarray(jax.device_get(leaf))
    if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
      names.append("params/" + ckpt_lib.path_string(path))
      break
  return first, names


def _resolve_run(args: argparse.Namespace, runs_dir: pathlib.Path) -> tuple[pathlib.Path | None, pathlib.Path | None]:
  """(existing run folder to resume or None, checkpoint folder to start from or None)."""
  if args.resume is None:
    if args.run_name is not None and (runs_dir / args.run_name).exists():
      raise ckpt_lib.CheckpointError(
          f"Run folder {runs_dir / args.run_name} already exists; pass --resume {args.run_name} to "
          "continue that run, or choose another --run_name.")
    start = ckpt_lib.resolve_checkpoint(args.checkpoint) if args.checkpoint else None
    return None, start
  name = args.resume or args.run_name
  if args.resume and args.run_name and args.resume != args.run_name:
    raise UsageError(f"--resume {args.resume} and --run_name {args.run_name} name different runs; give one.")
  run_dir = ckpt_lib.find_run(runs_dir, name) if name else ckpt_lib.latest_run(runs_dir)
  latest = run_dir / ckpt_lib.CHECKPOINT_DIR / str(ckpt_lib.checkpoint_steps(run_dir)[-1])
  if args.checkpoint is None:
    return run_dir, latest
  start = ckpt_lib.resolve_checkpoint(args.checkpoint)
  if start.resolve() != latest.resolve():
    raise UsageError(
        f"Cannot resume run {run_dir.name} from {start}: only its newest checkpoint ({latest}) can be "
        "continued without overwriting later ones; drop --resume to start a new run from it.")
  return run_dir, start


# ---------------------------------------------------------------------------------------------
# The training session.


def run_training(argv: Sequence[str] | None = None) -> pathlib.Path | None:
  """Runs one training session as the command line describes; returns the run folder (None for
  ``--list_tasks``).

  Raises:
    UsageError, config_loader.ConfigError, ckpt_lib.CheckpointError, logs_lib.LoggingError: bad
      flags, config, run folder or checkpoint (one-sentence messages).
    TrainingDiverged: a non-finite loss or parameter (the bad state is not saved).
  """
  args, overrides = parse_args(argv)
  if args.list_tasks:
    from reasan_jax import registry  # pylint: disable=import-outside-toplevel

    for name in registry.list_tasks():
      print(f"{name:10s} {registry.get_task(name).description}")
    return None
  # Before the config is loaded: loading one may start JAX, which must come after this.
  distributed.initialize_from_args(args, overrides)
  runs_dir = pathlib.Path(args.runs_dir)
  resume_dir, start_ckpt = _resolve_run(args, runs_dir)

  if resume_dir is not None and args.config is None:
    config = config_loader.load_json_config(resume_dir / ckpt_lib.CONFIG_FILE)
    config_loader.apply_overrides(config, overrides)
  elif start_ckpt is not None and args.config is None:
    config = ckpt_lib.checkpoint_config(start_ckpt)
    config_loader.apply_overrides(config, overrides)
  else:
    config = config_loader.load_config(args.config or DEFAULT_CONFIG, overrides)
  if args.seed is not None:
    if resume_dir is not None:
      print("note: --seed has no effect when resuming; the saved RNG state is restored.", file=sys.stderr)
    config.run.seed = args.seed
  _validate_run_section(config)
  _validate_ppo_sizes(config)
  logs_lib.check_backends(config)
  run_cfg = config.run
  from reasan_jax.ppo.trainer import maybe_initialize_distributed  # pylint: disable=import-outside-toplevel

  maybe_initialize_distributed(config)
  primary = distributed.is_primary()
  say = print if primary else (lambda *a, **k: None)  # noqa: E731  (process 0 speaks for the run)
  if distributed.is_multiprocess() and (run_cfg.get("video_every", 0) or 0):
    raise UsageError(
        f"config.run.video_every={run_cfg.video_every} is not supported with "
        f"{distributed.process_count()} processes; train with --config.run.video_every=0 and "
        "render a checkpoint afterwards with python -m reasan_jax.play.")

  try:
    env = make_env(config)
    trainer = make_trainer(env, config)
  except ValueError as e:  # the env's and trainer's own one-sentence config checks
    raise UsageError(f"The config cannot be built: {e}") from e
  video = _training_video(trainer, config)  # before any folder is written: fails on no OpenGL
  rng = jax.random.PRNGKey(int(run_cfg.seed))
  if resume_dir is not None:  # the same run, everything restored: bitwise continuation
    template = distributed.with_shardings(jax.eval_shape(trainer.init, rng),
                                          getattr(trainer, "state_sharding", None))
    state = ckpt_lib.restore(start_ckpt, template, config)
  elif start_ckpt is not None:  # a new run: the checkpoint's learner in a freshly built env
    state = ckpt_lib.restore_learner(start_ckpt, trainer.init(rng), config)
  else:
    state = trainer.init(rng)
  iteration = _iteration(state)
  total = int(run_cfg.num_iterations)

  if resume_dir is not None and iteration >= total:
    say(f"Run {resume_dir} is already complete ({iteration}/{total} iterations); raise "
        f"--config.run.num_iterations to train it further.")
    return resume_dir
  if iteration >= total:
    raise UsageError(
        f"The checkpoint {start_ckpt} is already at iteration {iteration} and run.num_iterations is "
        f"{total}, so a new run would have nothing to do; raise --config.run.num_iterations.")

  run_dir = resume_dir if resume_dir is not None else _new_run_dir(args, runs_dir)
  if primary:
    ckpt_lib.write_run_config(run_dir, config)
    if resume_dir is None and start_ckpt is not None:
      ckpt_lib.write_origin(run_dir, start_ckpt, iteration)
  procs = distributed.process_count()
  spread = f"; {procs} processes, {len(jax.devices())} devices" if procs > 1 else ""
  say(f"Run folder: {run_dir}  ({'resumed at' if resume_dir else 'starting at'} iteration "
      f"{iteration}/{total}){spread}")
  say(f"TensorBoard: tensorboard --logdir {runs_dir}")

  steps_per_iter = int(trainer.env_steps_per_iteration)
  checkpointer = ckpt_lib.Checkpointer(run_dir, keep=int(run_cfg.keep_checkpoints))
  extra = lambda it: {"env_steps": it * steps_per_iter, "run_name": run_dir.name}  # noqa: E731
  if checkpointer.latest_step() is None or checkpointer.latest_step() < iteration:
    checkpointer.save(iteration, state, config, extra(iteration), policy=trainer.policy(state))  # iteration 0 / fork origin
  last_saved = checkpointer.latest_step()

  logger = logs_lib.Logger(
      run_dir, config, start_iteration=iteration, total_iterations=total,
      env_steps_per_iteration=steps_per_iter, progress=not args.no_progress) if primary else \
      distributed.SilentLogger()
  every = int(run_cfg.checkpoint_every)
  per_call = int(run_cfg.iterations_per_call)
  video_every = int(run_cfg.get("video_every", 0) or 0)
  stop = interrupts.StopRequest().install()  # Ctrl-C / kill: stop after the current call
  try:
    while iteration < total:
      if stop.requested:
        raise KeyboardInterrupt  # the clean interrupt path below (save, message, exit 130)
      k = min(per_call, total - iteration)
      t0 = time.perf_counter()
      new_state, metrics = trainer.run(state, k)
      metrics = logs_lib.flatten_metrics(jax.device_get(metrics))
      new_iteration = _iteration(new_state)
      seconds = time.perf_counter() - t0
      logger.log(metrics, iteration, seconds)

      bad_index, bad_names = _first_nonfinite(metrics, new_state.params)
      if bad_names:
        where = iteration + 1 + (bad_index if bad_index is not None else k - 1)
        raise TrainingDiverged(
            f"Training diverged: {', '.join(bad_names[:3])} became non-finite at iteration {where} "
            f"(call covering iterations {iteration + 1}-{iteration + k} discarded, nothing saved); the "
            f"last good checkpoint {checkpointer.step_dir(last_saved)} is intact, so fix the config "
            f"(e.g. a smaller ppo.learning_rate) and resume with --resume {run_dir.name}.")
      if new_iteration != iteration + k:
        raise RuntimeError(
            f"Trainer.run({k}) advanced TrainState.iteration from {iteration} to {new_iteration}, "
            f"expected {iteration + k}.")
      state, iteration = new_state, new_iteration
      if iteration // every > (iteration - k) // every or iteration >= total:
        checkpointer.save(iteration, state, config, extra(iteration), policy=trainer.policy(state))
        last_saved = iteration
      if video is not None and (iteration // video_every > (iteration - k) // video_every
                                or iteration >= total):
        _record_video(video, run_dir, state, iteration, logger)
  except KeyboardInterrupt:
    # With several processes the save would need all of them, which an interrupt cannot promise.
    if iteration > last_saved and not distributed.is_multiprocess():
      try:
        checkpointer.save(iteration, state, config, extra(iteration), policy=trainer.policy(state))
        last_saved = iteration
      except Exception as e:  # pylint: disable=broad-except  (buffers may have been donated)
        logger.write(f"could not save iteration {iteration} on interrupt: {e}")
    logger.write(f"Interrupted; newest checkpoint: {checkpointer.step_dir(last_saved)}; continue "
                 f"with: python -m reasan_jax.train --resume {run_dir.name} --runs_dir {runs_dir}")
    raise
  finally:
    stop.restore()
    logger.close()
    checkpointer.close()

  if not primary:
    return run_dir
  print(f"Done: {iteration}/{total} iterations; checkpoints in {checkpointer.directory}, "
        f"metrics in {run_dir / logs_lib.METRICS_FILE}.")
  print(f"TensorBoard: tensorboard --logdir {runs_dir}")
  try:  # first-vs-last learning figures (reasan_jax.run_summary); never fails the run
    from reasan_jax.io import run_summary  # pylint: disable=import-outside-toplevel
    print(run_summary.format_summary(run_summary.summarize(run_dir)))
  except (OSError, ValueError) as e:
    print(f"(no learning summary: {e})")
  return run_dir


def _training_video(trainer, config: ml_collections.ConfigDict):
  """The ``run.video_every`` recorder (:class:`reasan_jax.viz.video.TrainingVideo`), or None when off.

  Raises:
    UsageError: videos requested for a task the evaluation rollout cannot drive, or no OpenGL.
  """
  n = config.run.get("video_every", 0) or 0
  if not isinstance(n, int) or isinstance(n, bool) or n < 0:
    raise UsageError(f"config.run.video_every must be an integer >= 0 (0 = off), got {n!r}.")
  if n == 0:
    return None
  from reasan_jax.eval import EvalError  # pylint: disable=import-outside-toplevel
  from reasan_jax.viz import render, video  # pylint: disable=import-outside-toplevel

  try:
    return video.TrainingVideo(trainer, config)
  except (EvalError, render.RenderError) as e:
    reason = str(e).rstrip(".")
    raise UsageError(f"config.run.video_every={n} cannot be honoured: {reason} — or train without "
                     "videos (--config.run.video_every=0).") from e


def _record_video(video, run_dir: pathlib.Path, state: Any, iteration: int, logger) -> None:
  """Writes one training video (:meth:`reasan_jax.viz.video.TrainingVideo.record`); a failure is
  logged, never fatal to the run."""
  try:
    path = video.record(run_dir, state, iteration)
    logger.write(f"video: {path}")
  except Exception as e:  # pylint: disable=broad-except
    logger.write(f"warning: no video for iteration {iteration}: {e}")


_enable_compilation_cache = compile_cache.enable_compilation_cache


def main(argv: Sequence[str] | None = None) -> int:
  """Entry point; returns the process exit code (0 ok, 1 error, 2 bad usage, 130 interrupted)."""
  _enable_compilation_cache()
  try:
    run_training(argv)
  except (UsageError, config_loader.ConfigError, distributed.DistributedError) as e:
    print(f"python -m reasan_jax.train: error: {e}", file=sys.stderr)
    return 2
  except (ckpt_lib.CheckpointError, logs_lib.LoggingError, TrainingDiverged) as e:
    print(f"python -m reasan_jax.train: error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    return 130
  return 0


if __name__ == "__main__":
  sys.exit(main())
