"""A trained ray estimator as a pure function, for use inside an env step (reasan-nav.md §8.6).

``load_estimator(path)`` restores the parameters, BatchNorm running statistics and H of an estimator run and
returns a :class:`FrozenEstimator`; ``est.apply(grid, imu)`` is eval mode (no dropout, running BatchNorm
statistics), jit- and vmap-friendly, with no state: REASAN runs its TorchScript estimator under no_grad
and uses the raw output as the actor rays (not clipped; §8.6).
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import jax
from flax import struct

from reasan_jax.estimator.model import RayPredictor
from reasan_jax.estimator.train import BEST_DIR, restore_state
from reasan_jax.io import run_folders


@struct.dataclass
class FrozenEstimator:
  """Frozen estimator variables plus H (static).

  Attributes:
    params / batch_stats: RayPredictor variables.
    history_frames: H (static, not a pytree leaf).
    imu_padding: how the model was trained to see IMU before an episode start ("first" or "zeros";
      estimator.data), so an env can fill its history FIFOs the same way at reset.
  """

  params: Any
  batch_stats: Any
  history_frames: int = struct.field(pytree_node=False, default=15)
  imu_padding: str = struct.field(pytree_node=False, default="first")

  def apply(self, grid: jax.Array, imu: jax.Array) -> jax.Array:
    """(B, 180) raw normalised rays from grid (B, H, 30, 180) already / 3 and imu (B, H, 6) raw.

    Raises:
      ValueError: the inputs' shapes do not match H (one sentence, at trace time).
    """
    model = RayPredictor(self.history_frames)
    return model.apply({"params": self.params, "batch_stats": self.batch_stats}, grid, imu, False)


def load_estimator(path: str | os.PathLike, history_frames: int | None = None, which: str = "best"
                   ) -> FrozenEstimator:
  """Loads an estimator run's best (default) or last checkpoint, or one given checkpoint folder.

  Args:
    path: an estimator run folder, its ``best`` folder, or a ``checkpoints/<epoch>`` folder.
    history_frames: the H the caller needs (e.g. 15 for the nav/filter envs); None accepts any.
    which: for a run folder, "best" (the lowest validation loss; the last one if the run has no best yet)
      or "last".

  Raises:
    EstimatorError: the checkpoint has another history length or is not an estimator checkpoint.
    CheckpointError: no checkpoint at ``path``.
  """
  path = pathlib.Path(path)
  if which not in ("best", "last"):
    raise ValueError(f"which must be 'best' or 'last', got {which!r}.")
  if which == "best" and (path / BEST_DIR).is_dir() and run_folders.checkpoint_steps(path / BEST_DIR):
    path = path / BEST_DIR
  state, config, _ = restore_state(path, history_frames)
  return FrozenEstimator(params=state.params, batch_stats=state.batch_stats,
                         history_frames=int(config.history_frames), imu_padding=str(config.imu_padding))
