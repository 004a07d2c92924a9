"""Judging a ray estimator on a validation file against two baselines (issue 12, "How it will be judged").

Figures, all in metres over every (frame, azimuth) of the file:

* ``mae_m``: mean |prediction − truth| × 3;
* ``over_rate``: among elements whose true distance is below 1.5 m, the fraction predicted more than 0.1 m
  too far (the dangerous error: the robot believes it has room it does not have).

Predictors:

* ``estimator``: the trained model in eval mode on the file's H-frame windows (§8.5 padding);
* ``grid_min``: per azimuth, the minimum over the 30 elevation bins of the newest grid frame (3 m = empty,
  like the truth's 3 m clip; §7.4 / §8.1);
* ``constant``: the training-set mean ray per azimuth (stored in every estimator checkpoint).
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import jax
import numpy as np

from reasan_jax.estimator import data as data_lib
from reasan_jax.estimator.train import EstimatorState, make_steps
from reasan_jax.io.ray_dataset import RayDataset

NEAR_M = 1.5
OVER_M = 0.1
RANGE_M = 3.0


def ray_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
  """MAE (m) and over-estimation rate of normalised (F, 180) predictions against normalised truth.

  ``over_rate`` is NaN when no true distance is below 1.5 m; ``near_count`` says how many there were.
  """
  pred_m, truth_m = np.asarray(pred, np.float64) * RANGE_M, np.asarray(truth, np.float64) * RANGE_M
  err = pred_m - truth_m
  near = truth_m < NEAR_M
  n_near = int(near.sum())
  over = float(np.mean(err[near] > OVER_M)) if n_near else float("nan")
  return {"mae_m": float(np.mean(np.abs(err))), "over_rate": over, "near_count": n_near}


def grid_min_rays(grid_maps: np.ndarray) -> np.ndarray:
  """(F, 180) normalised baseline: per-azimuth minimum of each frame's grid (F, 30, 180) in metres, / 3."""
  return np.min(grid_maps, axis=1) / RANGE_M


def estimator_rays(state: EstimatorState, config, data: RayDataset) -> np.ndarray:
  """(F, 180) eval-mode predictions for every frame of ``data``, in file order (windows as in training)."""
  _, eval_step = make_steps(config)
  device = data_lib.DeviceData.from_dataset(data)
  size = data_lib.batch_length(data, config.batch_size, config.batching)
  out = np.zeros((data.num_frames, 180), np.float32)
  for batch in data_lib.epoch_batches(data, None, config.batch_size, config.history_frames, size, config.batching):
    pred, _ = eval_step(state.params, state.batch_stats, device, batch)
    n = batch.num_frames
    out[batch.frame[:n]] = np.asarray(jax.device_get(pred))[:n]
  return out


def evaluate(state: EstimatorState, config, val: RayDataset) -> dict[str, Any]:
  """The six figures (MAE and over-estimation rate of estimator, grid_min, constant) on ``val``."""
  truth = val.gt_rays
  const = np.broadcast_to(np.asarray(state.ray_mean)[None, :], truth.shape)
  return {
      "frames": val.num_frames,
      "episodes": val.num_episodes,
      "history_frames": int(config.history_frames),
      "estimator": ray_metrics(estimator_rays(state, config, val), truth),
      "grid_min": ray_metrics(grid_min_rays(val.grid_maps), truth),
      "constant": ray_metrics(const, truth),
      "constant_is": "training-set mean ray per azimuth",
  }


def format_report(report: dict[str, Any]) -> str:
  """A small table of the figures."""
  lines = [f"{report['frames']} frames, {report['episodes']} episodes, H = {report['history_frames']}",
           f"{'predictor':<10} {'MAE (m)':>9} {'over>0.1m @<1.5m':>17}"]
  for name in ("estimator", "grid_min", "constant"):
    m = report[name]
    lines.append(f"{name:<10} {m['mae_m']:>9.4f} {m['over_rate']:>17.4f}")
  return "\n".join(lines)


def save_report(report: dict[str, Any], path: str | os.PathLike) -> pathlib.Path:
  """Writes the report as JSON (a new file next to an existing one gets a numbered name; none is replaced)."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  candidate, n = path, 0
  while candidate.exists():
    n += 1
    candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
  candidate.write_text(json.dumps(report, indent=2) + "\n")
  return candidate
