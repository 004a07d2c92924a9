"""Batches of H-frame windows from a sequential ray dataset (reasan-nav.md §8.5), in one fixed shape.

REASAN's epoch: shuffle the episode order, accumulate whole episodes until a batch holds at least
``batch_size`` frames (the leftover partial batch is trained on too), expand every frame into the H-frame
window ending at it, divide grids by 3. Missing early frames (before the episode start) get zero grids and
copies of the episode's first IMU reading (§8.5).

§10 item 6: REASAN's env pads both grids and IMU with zeros after a reset while its trainer pads IMU with
first-frame copies. We follow the trainer by default (``imu_padding="first"``) so that models trained here
match REASAN-trained ones; ``"zeros"`` reproduces the env's padding (docs/deviations.md, "Ray estimator").

The CPU default batches single shuffled frames instead (``batching="frames"``): each frame keeps the
window of its own episode, so only the grouping differs, and a short run gets many more optimiser steps
than whole episodes of hundreds of frames would give.

One compiled step for every batch: a batch is a set of index arrays padded to one length P per dataset
(whole episodes: ``P = batch_size + longest episode − 1`` rounded up to a multiple of 8, the most a batch
can hold since it closes at the first episode that reaches ``batch_size``; frames: ``P = batch_size``),
with a (P,) sample mask. Padding samples are left out of
the loss and of the BatchNorm statistics (``sample_mask``), so results equal REASAN's variable-size batches.
The frames themselves stay on the device once (:class:`DeviceData`); the windows are gathered inside the
jitted step (:func:`windows`), so only small index arrays cross to the device per batch.
"""

from __future__ import annotations

from typing import Iterator, Literal

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from reasan_jax.io.ray_dataset import RayDataset

GRID_SCALE = 3.0   # grids in metres / 3 -> [0, 1] (§8.5)
ImuPadding = Literal["first", "zeros"]
Batching = Literal["episodes", "frames"]


class EstimatorDataError(ValueError):
  """Batching settings that cannot work with the dataset (one-sentence message)."""


@struct.dataclass
class DeviceData:
  """A dataset's frames on the device. grids (F, 30, 180) m, imu (F, 6) raw, gt_rays (F, 180) in [0, 1]."""

  grids: jax.Array
  imu: jax.Array
  gt_rays: jax.Array

  @classmethod
  def from_dataset(cls, data: RayDataset) -> DeviceData:
    """Copies a host :class:`RayDataset` to the default device (grids kept in metres, float32)."""
    return cls(grids=jnp.asarray(data.grid_maps), imu=jnp.asarray(data.imu), gt_rays=jnp.asarray(data.gt_rays))


@struct.dataclass
class Batch:
  """Index arrays of one padded batch (P samples, H frames per window), host numpy or device arrays.

  Attributes:
    frame: (P,) int32 dataset index of each sample's current (newest) frame; 0 for padding.
    history: (P, H) int32 dataset index of each window slot, oldest first, clamped to the episode start.
    present: (P, H) bool, False for slots before the episode start (zero grid, §8.5).
    mask: (P,) bool, False for padding samples.
  """

  frame: np.ndarray
  history: np.ndarray
  present: np.ndarray
  mask: np.ndarray

  @property
  def num_frames(self) -> int:
    """Real (unpadded) samples in the batch."""
    return int(np.sum(self.mask))


def padded_size(lengths: np.ndarray, batch_size: int) -> int:
  """P, the fixed batch length for episodes of these lengths: batch_size + max length − 1, to a multiple of 8."""
  p = int(batch_size) + int(np.max(lengths)) - 1
  return -(-p // 8) * 8


def plan_batches(lengths: np.ndarray, order: np.ndarray, batch_size: int) -> list[np.ndarray]:
  """Groups episodes (taken in ``order``) into batches of at least ``batch_size`` frames (§8.5).

  Returns a list of (n_i,) episode-index arrays; the last one may hold fewer frames (REASAN trains on it).
  """
  batches, current, total = [], [], 0
  for e in order:
    current.append(int(e))
    total += int(lengths[e])
    if total >= batch_size:
      batches.append(np.asarray(current, np.int64))
      current, total = [], 0
  if current:
    batches.append(np.asarray(current, np.int64))
  return batches


def episode_starts(boundaries: np.ndarray) -> np.ndarray:
  """(F,) int64 first frame of each frame's episode, from (E, 2) inclusive boundaries."""
  return np.repeat(boundaries[:, 0], boundaries[:, 1] - boundaries[:, 0] + 1)


def _batch(frames: np.ndarray, starts: np.ndarray, history_frames: int, size: int) -> Batch:
  n = frames.shape[0]
  if n > size:
    raise EstimatorDataError(f"a batch of {n} frames does not fit the padded size {size}; "
                             "compute the size with padded_size over the same episodes.")
  offsets = np.arange(-(history_frames - 1), 1, dtype=np.int64)         # oldest ... newest
  wanted = frames[:, None] + offsets[None, :]
  present = wanted >= starts[:, None]
  history = np.where(present, wanted, starts[:, None])
  pad = size - n
  return Batch(frame=np.pad(frames, (0, pad)).astype(np.int32),
               history=np.pad(history, ((0, pad), (0, 0))).astype(np.int32),
               present=np.pad(present, ((0, pad), (0, 0))),
               mask=np.pad(np.ones(n, bool), (0, pad)))


def make_batch(boundaries: np.ndarray, episodes: np.ndarray, history_frames: int, size: int) -> Batch:
  """The padded :class:`Batch` of whole episodes ``episodes``, every frame expanded into an H-window.

  Args:
    boundaries: (E, 2) inclusive [start, end] frame indices of the dataset's episodes.
    episodes: (n,) indices into ``boundaries``, in batch order.
    history_frames: H.
    size: P, the padded batch length (>= the episodes' total frames).

  Raises:
    EstimatorDataError: the episodes hold more than ``size`` frames.
  """
  starts = np.concatenate([np.full(e - s + 1, s, np.int64) for s, e in boundaries[episodes]])
  frames = np.concatenate([np.arange(s, e + 1, dtype=np.int64) for s, e in boundaries[episodes]])
  return _batch(frames, starts, history_frames, size)


def batch_length(data: RayDataset, batch_size: int, batching: Batching = "episodes") -> int:
  """P for ``data``: :func:`padded_size` for whole-episode batches, ``batch_size`` for frame batches."""
  return padded_size(data.episode_lengths, batch_size) if batching == "episodes" else int(batch_size)


def epoch_batches(data: RayDataset, key: jax.Array | None, batch_size: int, history_frames: int,
                  size: int, batching: Batching = "episodes", max_frames: int = 0) -> Iterator[Batch]:
  """The batches of one epoch, shuffled with ``key`` (None = file order, e.g. validation).

  ``batching="episodes"`` is REASAN's (whole episodes until >= batch_size frames, §8.5);
  ``"frames"`` shuffles single frames into batches of exactly batch_size (the last one padded) — each
  frame's window still starts at its own episode, so the windows are the same, only their grouping differs.
  ``max_frames`` > 0 ends the epoch after the batch that reaches that many frames (0 = every frame).

  Raises:
    EstimatorDataError: batch_size < 1, history_frames < 1 or an unknown batching.
  """
  if batch_size < 1 or history_frames < 1:
    raise EstimatorDataError(f"batch_size and history_frames must be at least 1, got {batch_size} and "
                             f"{history_frames}.")
  if batching not in ("episodes", "frames"):
    raise EstimatorDataError(f"batching must be 'episodes' (REASAN) or 'frames', got {batching!r}.")
  done = 0
  if batching == "episodes":
    order = np.arange(data.num_episodes) if key is None else \
        np.asarray(jax.random.permutation(key, data.num_episodes))
    groups = (make_batch(data.episode_boundaries, eps, history_frames, size)
              for eps in plan_batches(data.episode_lengths, order, batch_size))
  else:
    starts = episode_starts(data.episode_boundaries)
    order = np.arange(data.num_frames) if key is None else \
        np.asarray(jax.random.permutation(key, data.num_frames))
    groups = (_batch(order[i:i + batch_size], starts[order[i:i + batch_size]], history_frames, size)
              for i in range(0, data.num_frames, batch_size))
  for batch in groups:
    yield batch
    done += batch.num_frames
    if 0 < max_frames <= done:
      return


def windows(data: DeviceData, batch: Batch, imu_padding: ImuPadding = "first"
            ) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Gathers a batch's model inputs and targets on the device (jit-able).

  Returns:
    grid: (P, H, 30, 180) float32 grids / 3, zero before the episode start (§8.5);
    imu: (P, H, 6) raw IMU; before the episode start a copy of the first frame's (``"first"``, REASAN's
      trainer) or zeros (``"zeros"``, REASAN's env, §10 item 6);
    target: (P, 180) ground-truth rays of the newest frame.
  """
  present = batch.present.astype(jnp.float32)
  grid = data.grids[batch.history] * (present[..., None, None] / GRID_SCALE)
  imu = data.imu[batch.history]
  if imu_padding == "zeros":
    imu = imu * present[..., None]
  return grid, imu, data.gt_rays[batch.frame]
