"""Run folders: creating, finding and naming them, and locating their checkpoints.

Layout of one run (``runs/<run_name>/``): see :mod:`reasan_jax.io.checkpoints`. Run folders are never
reused: :func:`create_run_dir` refuses an existing name, and only a resumed run (:func:`find_run` /
:func:`latest_run`) is written to again. The errors here are the ones every run/checkpoint lookup
raises, typed so callers never match message text.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
from typing import Sequence

import ml_collections

from reasan_jax.io import config_loader

CONFIG_FILE = "config.json"
ORIGIN_FILE = "origin.json"
CHECKPOINT_DIR = "checkpoints"


class CheckpointError(ValueError):
  """A run folder or checkpoint that cannot be used as asked (one-sentence message)."""


class RunNotFoundError(CheckpointError):
  """The named run folder does not exist (attribute ``existing``: the runs that do)."""

  def __init__(self, message: str, existing: Sequence[str] = ()):
    super().__init__(message)
    self.existing = list(existing)


class NoCheckpointError(CheckpointError):
  """The run (or folder) exists but holds no finished checkpoint yet."""


# ---------------------------------------------------------------------------------------------
# Run folders.


def default_run_name() -> str:
  """Local-time stamp ``YYYY-MM-DD_HH-MM-SS`` (REASAN's run-name format)."""
  return datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def create_run_dir(runs_dir: str | os.PathLike, run_name: str, *, unique: bool = False) -> pathlib.Path:
  """Creates ``runs_dir/run_name`` for a new run; never reuses an existing folder.

  Args:
    runs_dir: parent folder of all runs (created if missing).
    run_name: folder name; must not contain path separators.
    unique: append ``_1``, ``_2``, ... instead of failing when the name exists (used for the
      default timestamp name only).

  Returns:
    The new, empty run folder.

  Raises:
    CheckpointError: ``run_name`` is empty/contains a separator, or the folder exists and
      ``unique`` is False (the message suggests ``--resume``).
  """
  if not run_name or "/" in run_name or os.sep in run_name or run_name in (".", ".."):
    raise CheckpointError(f"Run name {run_name!r} must be a non-empty folder name without '/'.")
  runs_dir = pathlib.Path(runs_dir)
  runs_dir.mkdir(parents=True, exist_ok=True)
  candidate, n = run_name, 0
  while True:
    path = runs_dir / candidate
    try:
      path.mkdir()
      return path
    except FileExistsError:
      if not unique:
        raise CheckpointError(
            f"Run folder {path} already exists; pass --resume {run_name} to continue that run, "
            "or choose another --run_name.") from None
      n += 1
      candidate = f"{run_name}_{n}"


def checkpoint_steps(run_dir: str | os.PathLike) -> list[int]:
  """Sorted iterations of the finished checkpoints of a run (empty when there are none)."""
  ckpt_dir = pathlib.Path(run_dir) / CHECKPOINT_DIR
  if not ckpt_dir.is_dir():
    return []
  steps = []
  for child in ckpt_dir.iterdir():
    if child.is_dir() and child.name.isdigit() and _is_finished(child):
      steps.append(int(child.name))
  return sorted(steps)


def _is_finished(step_dir: pathlib.Path) -> bool:
  return (step_dir / "manifest").is_dir() and (step_dir / "state").is_dir()


def _last_activity(run_dir: pathlib.Path) -> float:
  paths = [run_dir, run_dir / CHECKPOINT_DIR, run_dir / "metrics.csv"]
  return max(p.stat().st_mtime for p in paths if p.exists())


def latest_run(runs_dir: str | os.PathLike) -> pathlib.Path:
  """The most recently modified run under ``runs_dir`` that has at least one checkpoint.

  Raises:
    CheckpointError: no such run (nothing to resume).
  """
  runs_dir = pathlib.Path(runs_dir)
  runs = [p for p in runs_dir.iterdir() if p.is_dir() and checkpoint_steps(p)] if runs_dir.is_dir() else []
  if not runs:
    raise NoCheckpointError(
        f"Nothing to resume: no run in {runs_dir}/ has a checkpoint; start a new run without --resume.")
  return max(runs, key=_last_activity)


def find_run(runs_dir: str | os.PathLike, run_name: str) -> pathlib.Path:
  """The existing run ``runs_dir/run_name`` that has a checkpoint (for ``--resume NAME``).

  Raises:
    CheckpointError: the run does not exist (the message lists the existing ones) or has no
      checkpoint yet.
  """
  runs_dir = pathlib.Path(runs_dir)
  path = runs_dir / run_name
  if not path.is_dir():
    existing = sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    shown = ", ".join(existing[-8:]) if existing else "none"
    raise RunNotFoundError(
        f"Cannot resume: there is no run {run_name!r} in {runs_dir}/ (existing runs: {shown}).", existing)
  if not checkpoint_steps(path):
    raise NoCheckpointError(
        f"Cannot resume run {path}: it has no checkpoint yet, so there is nothing to continue from.")
  return path


def write_origin(run_dir: str | os.PathLike, checkpoint: str | os.PathLike, iteration: int) -> pathlib.Path:
  """Records in ``run_dir/origin.json`` the checkpoint a new run was continued from; returns the path."""
  path = pathlib.Path(run_dir) / ORIGIN_FILE
  path.write_text(json.dumps({"continued_from": str(pathlib.Path(checkpoint).resolve()),
                              "iteration": int(iteration)}, indent=2) + "\n")
  return path


def write_run_config(run_dir: str | os.PathLike, config: ml_collections.ConfigDict) -> pathlib.Path:
  """Writes the resolved ``config`` to ``run_dir/config.json`` (atomically); returns the path."""
  path = pathlib.Path(run_dir) / CONFIG_FILE
  tmp = path.with_suffix(".json.tmp")
  tmp.write_text(json.dumps(config_loader.config_to_dict(config), indent=2) + "\n")
  os.replace(tmp, path)
  return path



def resolve_checkpoint(path: str | os.PathLike) -> pathlib.Path:
  """The checkpoint step folder named by ``path``.

  ``path`` may be a run folder (its newest checkpoint), its ``checkpoints/`` folder (newest) or one
  step folder ``.../checkpoints/<iteration>``.

  Raises:
    CheckpointError: the path does not exist or holds no finished checkpoint.
  """
  path = pathlib.Path(path).expanduser()
  if not path.exists():
    raise CheckpointError(f"Checkpoint path {path} does not exist.")
  if path.is_dir() and path.name.isdigit() and _is_finished(path):
    return path
  run_dir = path.parent if path.name == CHECKPOINT_DIR else path
  steps = checkpoint_steps(run_dir)
  if not steps:
    raise NoCheckpointError(
        f"{path} holds no finished checkpoint (expected a run folder, its checkpoints/ folder or "
        "a checkpoints/<iteration> folder).")
  return run_dir / CHECKPOINT_DIR / str(steps[-1])
