"""Learning progress of a run from its ``metrics.csv``: first vs last stretch of iterations.

``python -m reasan_jax.run_summary runs/<run>`` prints it; ``train`` prints it at the end.
Episode statistics are count-weighted over all episodes that ended in the stretch (like rsl_rl's
"mean over the last episodes"); per-step figures (``rollout/...``) are plain means.
"""

from __future__ import annotations

import csv
import pathlib
import sys
from typing import Sequence

# (label, column, kind): kind "episode" = count-weighted by episode/count, "step" = plain mean.
FIGURES = (
    ("mean episode length (steps)", "episode/length", "episode"),
    ("mean episode return", "episode/return", "episode"),
    ("tracking reward per step (lin)", "rollout/reward/track_lin_vel", "step"),
    ("tracking reward per step (ang)", "rollout/reward/track_ang_vel", "step"),
    ("reward per step", "rollout/reward", "step"),
    ("final distance to goal (m)", "episode/final_distance", "episode"),
    ("arrival within 1 m at the end", "episode/arrived_1m", "episode"),
)
"""Figures of every task; a run's table shows those whose column its ``metrics.csv`` has (the
tracking rewards are loco's and filter's, the goal figures nav's)."""


def _mean(rows: Sequence[dict], column: str, kind: str) -> float | None:
  values = []
  for row in rows:
    text = row.get(column, "")
    if text in ("", None):
      continue
    weight = float(row.get("episode/count", 0) or 0) if kind == "episode" else 1.0
    values.append((float(text), weight))
  total = sum(w for _, w in values)
  return sum(v * w for v, w in values) / total if total > 0 else None


def summarize(run_dir: str | pathlib.Path, fraction: float = 0.2) -> dict[str, tuple]:
  """First-vs-last figures of a run.

  Args:
    run_dir: the run folder (holding ``metrics.csv``).
    fraction: share of the iterations in each of the first and last stretches (0 < f <= 0.5).

  Returns:
    ``{label: (first, last)}``; a figure is ``None`` where no data exists (e.g. no episode ended).

  Raises:
    FileNotFoundError: no ``metrics.csv`` in ``run_dir``. ValueError: ``fraction`` out of range.
  """
  if not 0 < fraction <= 0.5:
    raise ValueError(f"fraction must be in (0, 0.5], got {fraction}.")
  path = pathlib.Path(run_dir) / "metrics.csv"
  if not path.exists():
    raise FileNotFoundError(f"No metrics.csv in {run_dir}; is it a reasan_jax run folder?")
  with path.open(newline="") as f:
    rows = list(csv.DictReader(f))
  n = max(1, int(round(len(rows) * fraction)))
  first, last = rows[:n], rows[-n:]
  columns = set(rows[0]) if rows else set()
  return {label: (_mean(first, col, kind), _mean(last, col, kind))
          for label, col, kind in FIGURES if col in columns or not rows}


def format_summary(summary: dict[str, tuple], fraction: float = 0.2) -> str:
  """Table text: figure, first stretch, last stretch."""
  pct = int(round(100 * fraction))
  lines = [f"{'learning progress':32s} {'first ' + str(pct) + '%':>12s} {'last ' + str(pct) + '%':>12s}"]
  for label, (a, b) in summary.items():
    fmt = lambda x: "n/a" if x is None else f"{x:.4g}"  # noqa: E731
    lines.append(f"{label:32s} {fmt(a):>12s} {fmt(b):>12s}")
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
  """``python -m reasan_jax.run_summary RUN_DIR``: prints the first-vs-last learning table."""
  argv = list(sys.argv[1:] if argv is None else argv)
  if len(argv) != 1:
    raise SystemExit("usage: python -m reasan_jax.run_summary RUN_DIR")
  print(format_summary(summarize(argv[0])))
  return 0


if __name__ == "__main__":
  sys.exit(main())
