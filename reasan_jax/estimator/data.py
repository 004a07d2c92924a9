"""Batches of H-frame windows from a sequential ray dataset (reasan-nav.md §8.5), in one fixed shape.

REASAN's epoch: shuffle the episode order, accumulate whole episodes until a batch holds at least
``batch_size`` frames (the leftover partial batch is trained on too), expand every frame into the H-frame
window ending at it, divide grids by 3. Missing early frames (before the episode start) get zero grids and
copies of the episode's first IMU reading (§8.5).

§10 item 6: REASAN's env pads both grids and IMU with zeros after a reset while its trainer pads IMU with
first-frame copies. We follow the trainer by default (``imu_padding="first"``) so that models trained here
match REASAN-trained ones; ``"zeros"`` reproduces the env's padding (docs/deviations.md, "Ray estimator").

One compiled step for every batch: a batch is a set of index arrays padded to one length P per dataset,
``P = batch_size + longest episode − 1`` rounded up to a multiple of 8 (the most a batch can hold: it closes
at the first episode that reaches ``batch_size``), with a (P,) sample mask. Padding samples are left out of
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


def epoch_batches(data: RayDataset, key: jax.Array | None, batch_size: int, history_frames: int,
                  size: int) -> Iterator[Batch]:
  """The batches of one epoch: episodes shuffled with ``key`` (None = file order, e.g. validation).

  Raises:
    EstimatorDataError: batch_size < 1 or history_frames < 1.
  """
  if batch_size < 1 or history_frames < 1:
    raise EstimatorDataError(f"batch_size and history_frames must be at least 1, got {batch_size} and "
                             f"{history_frames}.")
  lengths = data.episode_lengths
  order = np.arange(data.num_episodes) if key is None else \
      np.asarray(jax.random.permutation(key, data.num_episodes))
  for episodes in plan_batches(lengths, order, batch_size):
    yield make_batch(data.episode_boundaries, episodes, history_frames, size)


def count_batches(data: RayDataset, batch_size: int) -> int:
  """Batches per epoch (the same for every episode order only approximately; exact for file order)."""
  return len(plan_batches(data.episode_lengths, np.arange(data.num_episodes), batch_size))


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
