"""Rewinding a run's logs to a checkpoint, so a crashed-and-resumed run logs like an uninterrupted one.

A session killed at iteration M (``kill -9``, a lost machine) leaves logs past its newest checkpoint
N < M: ``metrics.csv`` rows N+1 ... M, TensorBoard events at those steps and training videos
``videos/iter_<i>.mp4`` with i > N. ``--resume`` restarts from checkpoint N and recomputes those
iterations bit for bit, so without a rewind they would be logged twice. :func:`rewind` drops them
before the resumed session writes anything:

* ``metrics.csv``: rows with ``iteration > N`` are removed, and a row torn by the kill (a last line
  without its newline, or with the wrong number of fields) too; the header (all columns) is kept.
  The file is rewritten through a temporary file and ``os.replace``, so a second crash during the
  rewind leaves either the old or the new file, never a mix.
* TensorBoard: event files are append-only, so nothing is deleted; the new session's writer gets
  ``purge_step = N + 1`` (tensorboardX ``SummaryWriter(purge_step=...)``), which writes a
  ``SessionLog.START`` event at that step at the top of its new event file. TensorBoard, reading
  the folder's event files in order, discards every earlier event with ``step >= N + 1`` when it
  meets that event (its ``EventAccumulator`` purge of orphaned data).
* videos: ``videos/iter_<i>.<ext>`` with ``i > N`` are deleted (the resumed session records them
  again from the same states).

Nothing else in the run folder is touched, and :meth:`Rewind.describe` gives the one line the
training loop prints about what was dropped, so nothing vanishes silently.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
import re

METRICS_FILE = "metrics.csv"
TB_DIR = "tb"
VIDEO_DIR = "videos"
_VIDEO_RE = re.compile(r"^iter_(\d+)\.(mp4|gif|webm)$")
_EVENTS_GLOB = "events.out.tfevents.*"


def video_path(run_dir: str | os.PathLike, iteration: int) -> pathlib.Path:
  """``<run_dir>/videos/iter_<iteration, 6 digits>.mp4``: where the training video of an iteration goes."""
  return pathlib.Path(run_dir) / VIDEO_DIR / f"iter_{int(iteration):06d}.mp4"


@dataclasses.dataclass(frozen=True)
class Rewind:
  """What :func:`rewind` dropped from a run folder.

  Attributes:
    iteration: the iteration the logs were rewound to (the restored checkpoint's).
    csv_iterations: iterations of the ``metrics.csv`` rows removed (ascending, as found).
    torn_rows: rows removed because the kill cut them short.
    videos: names of the video files deleted.
    tb_purge_step: the ``purge_step`` for the session's TensorBoard writer (``iteration + 1``), or
      None when the run folder has no event files yet (a new run: nothing to hide).
  """

  iteration: int
  csv_iterations: tuple[int, ...] = ()
  torn_rows: int = 0
  videos: tuple[str, ...] = ()
  tb_purge_step: int | None = None

  @property
  def dropped_anything(self) -> bool:
    """True when rows or videos were removed."""
    return bool(self.csv_iterations or self.torn_rows or self.videos)

  def describe(self) -> str | None:
    """One line on what was dropped, or None when nothing was."""
    if not self.dropped_anything:
      return None
    parts = []
    if self.csv_iterations:
      its = self.csv_iterations
      span = f"{its[0]}-{its[-1]}" if len(its) > 1 else f"{its[0]}"
      parts.append(f"{len(its)} {METRICS_FILE} row{'s' if len(its) > 1 else ''} (iteration {span})")
    if self.torn_rows:
      parts.append(f"{self.torn_rows} torn {METRICS_FILE} row{'s' if self.torn_rows > 1 else ''}")
    if self.videos:
      parts.append(f"{len(self.videos)} video{'s' if len(self.videos) > 1 else ''} "
                   f"({', '.join(self.videos[:3])}{', ...' if len(self.videos) > 3 else ''})")
    if self.tb_purge_step is not None:
      parts.append(f"TensorBoard steps >= {self.tb_purge_step} (hidden by purge_step)")
    return (f"Logs rewound to checkpoint {self.iteration}: dropped what the interrupted session logged "
            f"after it: {', '.join(parts)}.")


def rewind_csv(path: str | os.PathLike, iteration: int) -> tuple[tuple[int, ...], int]:
  """Removes the rows with ``iteration`` column > ``iteration`` (and torn rows) from a metrics CSV.

  Rows whose iteration cannot be read as an integer are kept (they are not ours to judge). The file
  is left byte-for-byte unchanged when nothing is dropped; otherwise it is rewritten atomically.

  Args:
    path: the ``metrics.csv`` (a missing or empty file is fine: nothing to do).
    iteration: the last iteration to keep.

  Returns:
    (iterations of the removed rows, number of torn rows removed).
  """
  path = pathlib.Path(path)
  if not path.exists() or path.stat().st_size == 0:
    return (), 0
  with path.open(newline="") as f:
    text = f.read()
  lines = re.findall(r"[^\n]*\n|[^\n]+$", text)  # csv writes "\r\n"; split on "\n" only
  torn = 0
  if lines and not lines[-1].endswith("\n"):  # the kill cut the last write short
    lines, torn = lines[:-1], 1
  if not lines:
    return (), torn
  header = next(csv.reader([lines[0]]))
  if "iteration" not in header:
    return (), 0  # not a reasan_jax metrics file; leave it alone
  col = header.index("iteration")
  kept, dropped = [lines[0]], []
  for line in lines[1:]:
    fields = next(csv.reader([line]), [])
    if len(fields) != len(header):
      torn += 1
      continue
    try:
      it = int(float(fields[col]))
    except ValueError:
      kept.append(line)
      continue
    if it > iteration:
      dropped.append(it)
    else:
      kept.append(line)
  if not dropped and not torn:
    return (), 0
  _atomic_write(path, "".join(kept))
  return tuple(dropped), torn


def _atomic_write(path: pathlib.Path, text: str) -> None:
  """Writes ``text`` to ``path`` through ``<path>.rewind.tmp`` + fsync + ``os.replace``."""
  tmp = path.with_name(path.name + ".rewind.tmp")
  with tmp.open("w", newline="") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def rewind_videos(run_dir: str | os.PathLike, iteration: int) -> tuple[str, ...]:
  """Deletes ``videos/iter_<i>.<mp4|gif|webm>`` with ``i > iteration``; returns their names (sorted)."""
  folder = pathlib.Path(run_dir) / VIDEO_DIR
  if not folder.is_dir():
    return ()
  removed = []
  for child in sorted(folder.iterdir()):
    m = _VIDEO_RE.match(child.name)
    if m and child.is_file() and int(m.group(1)) > iteration:
      child.unlink()
      removed.append(child.name)
  return tuple(removed)


def rewind(run_dir: str | os.PathLike, iteration: int) -> Rewind:
  """Drops every log of a run folder after ``iteration`` (see the module docstring).

  Args:
    run_dir: the run folder (``metrics.csv``, ``tb/``, ``videos/``; any may be missing).
    iteration: the iteration training restarts from (the restored checkpoint's), >= 0.

  Returns:
    A :class:`Rewind` saying what was dropped and the TensorBoard ``purge_step`` to use.

  Raises:
    ValueError: ``iteration`` < 0.
  """
  iteration = int(iteration)
  if iteration < 0:
    raise ValueError(f"Cannot rewind logs to iteration {iteration}; it must be >= 0.")
  run_dir = pathlib.Path(run_dir)
  rows, torn = rewind_csv(run_dir / METRICS_FILE, iteration)
  videos = rewind_videos(run_dir, iteration)
  tb = run_dir / TB_DIR
  has_events = tb.is_dir() and any(tb.glob(_EVENTS_GLOB))
  return Rewind(iteration=iteration, csv_iterations=rows, torn_rows=torn, videos=videos,
                tb_purge_step=iteration + 1 if has_events else None)
