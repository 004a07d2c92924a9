"""Training logs: a tqdm progress bar, TensorBoard event files, ``metrics.csv`` and optional wandb.

Every iteration produces one record: the trainer's metrics for that iteration (losses, learning
rate, action std, episode reward terms, terrain level, ...; whatever keys ``Trainer.run`` returns)
plus four bookkeeping columns added here:

* ``iteration``: completed training iterations (1-based; checkpoint ``N`` holds the state after
  the row with ``iteration == N``);
* ``env_steps``: total environment steps so far (``iteration * Trainer.env_steps_per_iteration``);
* ``wall_time``: seconds since the run first started, summed over resumed sessions;
* ``env_steps_per_second``: throughput of the compiled call that produced the row (the first call
  of a session includes compilation).

Files in the run folder: ``metrics.csv`` (one row per iteration) and ``tb/`` (tensorboardX event
files; a resumed session adds a new event file to the same folder). A session starting at
iteration N first rewinds the logs to N (:mod:`reasan_jax.io.log_rewind`): rows, TensorBoard steps
and training videos past N, left by a session killed after its last checkpoint, are dropped (and
one line says so), so a crashed-and-resumed run logs exactly what an uninterrupted one does.
With ``config.run.wandb`` the same records go to wandb (imported lazily; wandb ignores steps below
the newest it has received, so it keeps the killed session's values of a rewound range).
"""

from __future__ import annotations

import collections
import csv
import math
import os
import pathlib
import sys
from typing import Any, Mapping, Sequence

import ml_collections
import numpy as np

from reasan_jax.io import log_rewind
from reasan_jax.io.log_rewind import METRICS_FILE, TB_DIR

WANDB_ID_FILE = "wandb_id.txt"
BOOKKEEPING = ("iteration", "env_steps", "wall_time", "env_steps_per_second")

# Keys shown in the progress bar, matched case-insensitively against the trainer's metric names.
_RETURN_KEYS = ("episode/return", "train/mean_reward", "mean_reward", "episode_return", "return")
_LENGTH_KEYS = ("episode/length", "train/mean_episode_length", "mean_episode_length", "episode_length",
                "length")


class LoggingError(RuntimeError):
  """A logging backend that cannot be used (one-sentence message)."""


def flatten_metrics(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
  """Nested metric dicts become ``"a/b"`` keys; values become host numpy arrays."""
  out = {}
  for key, value in metrics.items():
    name = f"{prefix}{key}"
    if isinstance(value, Mapping):
      out.update(flatten_metrics(value, name + "/"))
    else:
      out[name] = np.asarray(value)
  return out


def _pick(keys: Sequence[str], wanted: Sequence[str]) -> str | None:
  lower = {k.lower(): k for k in keys}
  for w in wanted:
    if w in lower:
      return lower[w]
  for w in wanted:  # fall back to a suffix match ("ppo/episode/return")
    for lk, k in lower.items():
      if lk.endswith("/" + w):
        return k
  return None


def _format_float(value: float | str) -> str:
  if isinstance(value, str):
    return value
  if isinstance(value, (int, np.integer)):
    return str(int(value))
  return repr(float(value))


class RecentEpisodes:
  """Count-weighted means over the last ``window`` finished episodes (rsl_rl's progress figures).

  Iterations report per-iteration means over the episodes that ended in them; this keeps the
  newest iterations whose episodes add up to at least ``window`` (fewer early in a run), so the
  progress bar shows "mean over the last ~100 episodes" instead of one noisy iteration.

  Raises:
    ValueError: ``window`` < 1.
  """

  def __init__(self, window: int = 100):
    if window < 1:
      raise ValueError(f"window must be >= 1 episode, got {window}.")
    self.window = int(window)
    self._entries: collections.deque = collections.deque()
    self._total = 0.0

  def add(self, count: float, means: Mapping[str, float]) -> None:
    """Adds one iteration: ``count`` episodes ended, with per-key means ``means``."""
    if count <= 0:
      return
    self._entries.append((float(count), dict(means)))
    self._total += float(count)
    while self._total - self._entries[0][0] >= self.window:
      self._total -= self._entries.popleft()[0]

  def mean(self, key: str) -> float | None:
    """Count-weighted mean of ``key`` over the kept episodes (None if none has it)."""
    pairs = [(c, m[key]) for c, m in self._entries if key in m]
    total = sum(c for c, _ in pairs)
    return sum(c * v for c, v in pairs) / total if total > 0 else None


class Logger:
  """Writes per-iteration records of one training session of a run.

  On creation it rewinds the run folder's logs to ``start_iteration``
  (:func:`reasan_jax.io.log_rewind.rewind`: ``metrics.csv`` rows and training videos after it are
  removed, the TensorBoard writer purges later steps) and prints one line when anything was
  dropped; ``self.rewind`` holds what was. ``wall_time`` continues from the last row kept.

  Args:
    run_dir: the run folder.
    config: the resolved config (``run.wandb``, ``run.wandb_project`` and the upload to wandb).
    start_iteration: completed iterations before this session (0 for a new run; the restored
      checkpoint's iteration on resume).
    total_iterations: the run's target (``run.num_iterations``), for the progress bar.
    env_steps_per_iteration: environment steps per training iteration.
    progress: show the tqdm bar (on stderr).

  Raises:
    LoggingError: ``config.run.wandb`` is true but wandb is not installed.
    ValueError: ``start_iteration`` < 0.
  """

  def __init__(self, run_dir: str | os.PathLike, config: ml_collections.ConfigDict, *,
               start_iteration: int, total_iterations: int, env_steps_per_iteration: int,
               progress: bool = True):
    self.run_dir = pathlib.Path(run_dir)
    self.config = config
    self.env_steps_per_iteration = int(env_steps_per_iteration)
    self.csv_path = self.run_dir / METRICS_FILE
    self.rewind = log_rewind.rewind(self.run_dir, start_iteration)
    self._columns, self._time_offset = self._read_existing_csv()
    self._session_time = 0.0
    self._wandb = self._init_wandb() if _run_field(config, "wandb", False) else None
    self._shown: dict[str, str] = {}
    self._recent = RecentEpisodes(100)

    from tensorboardX import SummaryWriter  # pylint: disable=import-outside-toplevel

    # tensorboardX names event files by the second they were opened and opens them with "wb": the
    # session index in the name keeps two sessions started within one second from overwriting
    # each other, and sorts them in order (TensorBoard reads a folder's files by name).
    tb_dir = self.run_dir / TB_DIR
    session = len(list(tb_dir.glob("events.out.tfevents.*"))) if tb_dir.is_dir() else 0
    self._tb = SummaryWriter(logdir=str(tb_dir), purge_step=self.rewind.tb_purge_step,
                             filename_suffix=f".{session:03d}")
    self._bar = None
    if progress:
      from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel

      self._bar = tqdm(total=int(total_iterations), initial=int(start_iteration), unit="it",
                       desc="train", dynamic_ncols=True, file=sys.stderr)
    message = self.rewind.describe()
    if message:
      self.write(message)

  # -- metrics.csv --------------------------------------------------------------------------------

  def _read_existing_csv(self) -> tuple[list[str] | None, float]:
    if not self.csv_path.exists() or self.csv_path.stat().st_size == 0:
      return None, 0.0
    with self.csv_path.open(newline="") as f:
      reader = csv.DictReader(f)
      columns = list(reader.fieldnames or [])
      last = None
      for last in reader:
        pass
    offset = 0.0
    if last and last.get("wall_time"):
      try:
        offset = float(last["wall_time"])
      except ValueError:
        offset = 0.0
    return columns or None, offset if math.isfinite(offset) else 0.0

  def _ensure_columns(self, keys: Sequence[str]) -> None:
    """Creates the CSV header, or widens an existing file to new keys by copying it (no data lost)."""
    if self._columns is None:
      self._columns = list(BOOKKEEPING) + sorted(k for k in keys if k not in BOOKKEEPING)
      with self.csv_path.open("w", newline="") as f:
        csv.writer(f).writerow(self._columns)
      return
    new = [k for k in keys if k not in self._columns]
    if not new:
      return
    columns = self._columns + sorted(new)
    tmp = self.csv_path.with_suffix(".csv.tmp")
    with self.csv_path.open(newline="") as src, tmp.open("w", newline="") as dst:
      writer = csv.DictWriter(dst, fieldnames=columns, restval="")
      writer.writeheader()
      for row in csv.DictReader(src):
        writer.writerow(row)
    os.replace(tmp, self.csv_path)
    self._columns = columns

  def _append_rows(self, rows: Sequence[Mapping[str, Any]]) -> None:
    self._ensure_columns(list(rows[0].keys()))
    with self.csv_path.open("a", newline="") as f:
      writer = csv.DictWriter(f, fieldnames=self._columns, restval="", extrasaction="raise")
      for row in rows:
        writer.writerow({k: _format_float(v) for k, v in row.items()})

  # -- wandb -----------------------------------------------------------------------------------------

  def _init_wandb(self):
    wandb = import_wandb()
    from reasan_jax.io import config_loader  # pylint: disable=import-outside-toplevel

    id_file = self.run_dir / WANDB_ID_FILE
    run_id = id_file.read_text().strip() if id_file.exists() else None
    if not run_id:
      run_id = wandb.util.generate_id()
      id_file.write_text(run_id + "\n")
    return wandb.init(
        project=_run_field(self.config, "wandb_project", "reasan_jax"), name=self.run_dir.name,
        id=run_id, resume="allow", dir=str(self.run_dir),
        config=config_loader.config_to_dict(self.config))

  # -- public ----------------------------------------------------------------------------------------

  def log(self, metrics: Mapping[str, Any], first_iteration: int, seconds: float) -> list[dict[str, Any]]:
    """Records the metrics of one ``Trainer.run`` call.

    Args:
      metrics: the trainer's metrics, each an array with leading axis [K] (K iterations of this
        call); extra axes are averaged; nested dicts become ``"a/b"`` names.
      first_iteration: completed iterations *before* this call (its rows are numbered
        ``first_iteration + 1 ... first_iteration + K``).
      seconds: wall-clock duration of the call (including any compilation), split evenly over
        its K iterations.

    Returns:
      The K records written (dicts of Python numbers).
    """
    flat = flatten_metrics(metrics)
    if not flat:
      return []
    k = int(next(iter(flat.values())).shape[0]) if next(iter(flat.values())).ndim else 1
    per_iter = float(seconds) / max(k, 1)
    steps_per_s = self.env_steps_per_iteration / per_iter if per_iter > 0 else float("nan")
    rows = []
    for j in range(k):
      self._session_time += per_iter
      it = int(first_iteration) + j + 1
      row: dict[str, Any] = {
          "iteration": it,
          "env_steps": it * self.env_steps_per_iteration,
          "wall_time": self._time_offset + self._session_time,
          "env_steps_per_second": steps_per_s,
      }
      for name, values in flat.items():
        v = values[j] if values.ndim else values
        v = np.asarray(v)
        value = v.item() if v.size == 1 else float(np.mean(v))
        if isinstance(value, bool):
          value = int(value)
        row[name] = value  # the trainer's own env_steps etc. win over the bookkeeping columns
      if row.get("episode/count", 1) == 0:
        # No episode ended in this iteration: its episode statistics are undefined, not 0.
        for name in list(row):
          if name.startswith("episode/") and name != "episode/count":
            row[name] = ""
      rows.append(row)

    self._append_rows(rows)
    for row in rows:
      it = row["iteration"]
      for name, value in row.items():
        if name != "iteration" and value != "":
          self._tb.add_scalar(name if "/" in name else f"Perf/{name}" if name in BOOKKEEPING else name,
                              value, global_step=it)
      if self._wandb is not None:
        self._wandb.log({k: v for k, v in row.items() if v != ""}, step=it)
    self._tb.flush()
    if self._bar is not None:
      self._update_bar_fields(rows, steps_per_s)
      self._bar.update(k)
    return rows

  def _update_bar_fields(self, rows: Sequence[Mapping[str, Any]], steps_per_s: float) -> None:
    """Progress-bar postfix: throughput, and mean return / episode length over the last ~100
    finished episodes (:class:`RecentEpisodes`; without an ``episode/count`` column every
    iteration counts as one episode). Iterations in which no episode ended leave them unchanged.
    """
    keys = list(rows[-1])
    ret_key, len_key = _pick(keys, _RETURN_KEYS), _pick(keys, _LENGTH_KEYS)
    count_key = _pick(keys, ("episode/count",))
    for row in rows:
      count = float(row[count_key] or 0) if count_key is not None else 1.0
      self._recent.add(count, {k: float(row[k]) for k in (ret_key, len_key)
                               if k is not None and row[k] != ""})
    for name, key, fmt in (("return", ret_key, ".3g"), ("ep_len", len_key, ".1f")):
      value = self._recent.mean(key) if key is not None else None
      if value is not None:
        self._shown[name] = format(value, fmt)
    self._bar.set_postfix({"steps/s": f"{steps_per_s:,.0f}", **self._shown}, refresh=False)

  def write(self, message: str) -> None:
    """Prints ``message`` without breaking the progress bar."""
    if self._bar is not None:
      self._bar.write(message, file=sys.stderr)
    else:
      print(message, file=sys.stderr)

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
      self._bar = None
    self._tb.close()
    if self._wandb is not None:
      self._wandb.finish()
      self._wandb = None


def import_wandb():
  """Imports wandb (only needed when ``config.run.wandb`` is true).

  Raises:
    LoggingError: wandb is not installed.
  """
  try:
    import wandb  # pylint: disable=import-outside-toplevel
  except ImportError as e:
    raise LoggingError(
        "config.run.wandb is true but the wandb package is not installed; install it "
        "(pip install wandb) or set --config.run.wandb=false.") from e
  return wandb


def check_backends(config: ml_collections.ConfigDict) -> None:
  """Fails early (before a run folder is created) if a configured logging backend is missing.

  Raises:
    LoggingError: ``config.run.wandb`` is true but wandb is not installed.
  """
  if _run_field(config, "wandb", False):
    import_wandb()


def _run_field(config: ml_collections.ConfigDict, name: str, default: Any) -> Any:
  run = config.get("run") if hasattr(config, "get") else None
  if run is None:
    return default
  return run.get(name, default)
