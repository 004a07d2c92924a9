"""REASAN's sequential ray-estimator HDF5 format: a crash-safe writer and a validating reader.

The format is the one REASAN's filter env writes while collecting ray-estimator data and the only one its
estimator trainer reads (reasan-nav.md §8.2, "sequential" format, §10 item 5):

* per-frame datasets ``grid_maps`` (F, 30, 180) in metres, ``gravity_vectors`` (F, 3),
  ``angular_velocity`` (F, 3) in rad/s, ``ground_truth_rays`` (F, 180) in [0, 1]; float32, gzip level 4;
* ``episode_boundaries`` (E, 2) int64, inclusive [start, end] frame indices, episodes contiguous;
* file attributes ``num_envs``, ``grid_map_shape``, ``gravity_dim``, ``ang_vel_dim``, ``gt_rays_dim``
  (integers; the grid shape an integer pair), as REASAN writes them.

One deliberate difference (docs/deviations.md, "Ray estimator"): REASAN writes ``episode_boundaries`` only on
``close()``, so an interrupted collection leaves a file without episodes. Here every ``write_episode`` resizes
the datasets, records the boundary and flushes the file, so the file on disk always holds every complete
episode written so far. Frames beyond the last recorded boundary (an episode interrupted mid-write) are
ignored by :func:`read_sequential`.
"""

from __future__ import annotations

import os
from typing import Any

import h5py
import numpy as np
from flax import struct

FRAME_DATASETS = ("grid_maps", "gravity_vectors", "angular_velocity", "ground_truth_rays")
BOUNDARIES = "episode_boundaries"
ATTRIBUTES = ("num_envs", "grid_map_shape", "gravity_dim", "ang_vel_dim", "gt_rays_dim")
GRID_SHAPE = (30, 180)    # REASAN §7.4: 30 elevation x 180 azimuth bins of 2 degrees
GRAVITY_DIM = 3
ANG_VEL_DIM = 3
GT_RAYS_DIM = 180
_COMPRESSION = {"compression": "gzip", "compression_opts": 4}


class RayDatasetError(ValueError):
  """A ray-estimator HDF5 file is missing, malformed, full or would be overwritten (one-sentence message)."""


@struct.dataclass
class RayDataset:
  """A sequential ray-estimator dataset held in host memory (reasan-nav.md §8.2).

  Attributes:
    grid_maps: (F, 30, 180) float32 spherical grids in metres, 3.0 = empty (§7.4).
    gravity: (F, 3) float32 noisy projected gravity (§8.2).
    ang_vel: (F, 3) float32 noisy body angular velocity in rad/s, unscaled (§8.2).
    gt_rays: (F, 180) float32 ground-truth clearance rays in [0, 1] (x 3 = metres; §8.1).
    episode_boundaries: (E, 2) int64 inclusive [start, end] frame indices, contiguous from 0.
    num_envs: the collector's number of parallel envs (a file attribute; informational).
  """

  grid_maps: np.ndarray
  gravity: np.ndarray
  ang_vel: np.ndarray
  gt_rays: np.ndarray
  episode_boundaries: np.ndarray
  num_envs: int = struct.field(pytree_node=False, default=1)

  @property
  def num_frames(self) -> int:
    """F, the number of frames in complete episodes."""
    return int(self.grid_maps.shape[0])

  @property
  def num_episodes(self) -> int:
    """E, the number of episodes."""
    return int(self.episode_boundaries.shape[0])

  @property
  def episode_lengths(self) -> np.ndarray:
    """(E,) int64 frames per episode."""
    return self.episode_boundaries[:, 1] - self.episode_boundaries[:, 0] + 1

  @property
  def imu(self) -> np.ndarray:
    """(F, 6) float32 [gravity (3), angular velocity (3)], the estimator's IMU input order (§8.3)."""
    return np.concatenate([self.gravity, self.ang_vel], axis=-1)


class SequentialRayWriter:
  """Writes whole episodes to a REASAN sequential HDF5 file; the file is valid after every episode.

  Use as a context manager (``with SequentialRayWriter(path, num_envs) as w: w.write_episode(...)``). Each
  :meth:`write_episode` appends one episode contiguously, records its inclusive [start, end] boundary and
  flushes the file (REASAN writes boundaries only on close; see the module docstring). With a ``capacity``
  the episode that does not fit is truncated to the frames that do, as REASAN does, and :attr:`full` turns
  True; writing to a full writer raises :class:`RayDatasetError`.

  Args:
    path: the .h5 file to create; its parent folder is created if missing.
    num_envs: the collector's parallel env count, stored as the ``num_envs`` attribute.
    grid_shape: (elevation bins, azimuth bins) of one grid; REASAN's is (30, 180).
    capacity: maximum frames in the file (REASAN: 500,000 train / 50,000 val), or None for unbounded.
    overwrite: replace an existing file; without it an existing file is refused.

  Raises:
    RayDatasetError: the file exists and overwrite is False, or num_envs / capacity / grid_shape is invalid.
  """

  def __init__(self, path: str | os.PathLike, num_envs: int, grid_shape: tuple[int, int] = GRID_SHAPE,
               capacity: int | None = None, overwrite: bool = False):
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
      raise RayDatasetError(f"{path} already exists; choose another output path or pass overwrite=True "
                            "(--overwrite) to replace it.")
    if int(num_envs) < 1:
      raise RayDatasetError(f"num_envs must be at least 1, got {num_envs}.")
    if capacity is not None and int(capacity) < 1:
      raise RayDatasetError(f"capacity must be a positive number of frames or None, got {capacity}.")
    grid_shape = tuple(int(s) for s in grid_shape)
    if len(grid_shape) != 2 or min(grid_shape) < 1:
      raise RayDatasetError(f"grid_shape must be two positive bin counts such as (30, 180), got {grid_shape}.")
    self.path = path
    self.num_envs = int(num_envs)
    self.grid_shape = grid_shape
    self.capacity = None if capacity is None else int(capacity)
    self.frames = 0
    self.episodes = 0
    self.full = False
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    self._file: h5py.File | None = h5py.File(path, "w")
    f = self._file
    dims = {"grid_maps": grid_shape, "gravity_vectors": (GRAVITY_DIM,), "angular_velocity": (ANG_VEL_DIM,),
            "ground_truth_rays": (GT_RAYS_DIM,)}
    for name, tail in dims.items():
      f.create_dataset(name, shape=(0, *tail), maxshape=(None, *tail), dtype="f4",
                       chunks=(max(1, min(1024, 65536 // int(np.prod(tail)))), *tail), **_COMPRESSION)
    f.create_dataset(BOUNDARIES, shape=(0, 2), maxshape=(None, 2), dtype="i8", chunks=(1024, 2))
    f.attrs["num_envs"] = np.int64(self.num_envs)
    f.attrs["grid_map_shape"] = np.asarray(grid_shape, dtype=np.int64)
    f.attrs["gravity_dim"] = np.int64(GRAVITY_DIM)
    f.attrs["ang_vel_dim"] = np.int64(ANG_VEL_DIM)
    f.attrs["gt_rays_dim"] = np.int64(GT_RAYS_DIM)
    f.flush()

  def __enter__(self) -> SequentialRayWriter:
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()

  @property
  def remaining(self) -> int | None:
    """Frames that still fit (None when unbounded)."""
    return None if self.capacity is None else self.capacity - self.frames

  def write_episode(self, grid_maps, gravity, ang_vel, gt_rays) -> None:
    """Append one whole episode, record its boundary and flush the file.

    Args:
      grid_maps: (T, 30, 180) grids in metres (§7.4).
      gravity: (T, 3) noisy projected gravity.
      ang_vel: (T, 3) noisy body angular velocity, rad/s.
      gt_rays: (T, 180) ground-truth rays in [0, 1].

    An empty episode (T = 0) is skipped. If the episode interrupts mid-write (e.g. Ctrl-C), the datasets are
    cut back to the last complete episode before the exception propagates.

    Raises:
      RayDatasetError: the writer is closed or full, or the arrays' shapes disagree with the format.
    """
    if self._file is None:
      raise RayDatasetError(f"the writer for {self.path} is closed; open a new SequentialRayWriter.")
    arrays = [np.asarray(a, dtype=np.float32) for a in (grid_maps, gravity, ang_vel, gt_rays)]
    tails = [self.grid_shape, (GRAVITY_DIM,), (ANG_VEL_DIM,), (GT_RAYS_DIM,)]
    t = arrays[0].shape[0] if arrays[0].ndim >= 1 else -1
    for name, a, tail in zip(FRAME_DATASETS, arrays, tails):
      if a.shape != (t, *tail):
        raise RayDatasetError(f"{name} must have shape (T, {', '.join(map(str, tail))}) with the same T as "
                              f"grid_maps, got {a.shape}.")
    if t == 0:
      return
    if self.full:
      raise RayDatasetError(f"{self.path} already holds its capacity of {self.capacity} frames; stop "
                            "collecting once writer.full is True.")
    if self.capacity is not None and t >= self.remaining:
      t = self.remaining
      arrays = [a[:t] for a in arrays]
      self.full = True
    f = self._file
    start, end = self.frames, self.frames + t
    try:
      for name, a in zip(FRAME_DATASETS, arrays):
        f[name].resize(end, axis=0)
        f[name][start:end] = a
      f[BOUNDARIES].resize(self.episodes + 1, axis=0)
      f[BOUNDARIES][self.episodes] = (start, end - 1)
      f.flush()
    except BaseException:
      for name in FRAME_DATASETS:
        f[name].resize(start, axis=0)
      f[BOUNDARIES].resize(self.episodes, axis=0)
      f.flush()
      raise
    self.frames = end
    self.episodes += 1

  def close(self) -> None:
    """Flush and close the file (idempotent). Every episode written so far is already on disk."""
    if self._file is not None:
      self._file.flush()
      self._file.close()
      self._file = None


def _check_attr(f: h5py.File, path: str, name: str, expected) -> None:
  if name not in f.attrs:
    raise RayDatasetError(f"{path} lacks the file attribute {name!r}; it is not a REASAN sequential ray "
                          "dataset (write it with SequentialRayWriter or REASAN's collector).")
  value = np.asarray(f.attrs[name]).astype(np.int64).reshape(-1)
  expected = np.asarray(expected, dtype=np.int64).reshape(-1)
  if expected.size and (value.shape != expected.shape or not np.array_equal(value, expected)):
    raise RayDatasetError(f"{path} has {name} = {tuple(value.tolist())}, but the ray estimator needs "
                          f"{tuple(expected.tolist())}; collect the data with REASAN's 30 x 180 grid.")


def read_sequential(path: str | os.PathLike, grid_shape: tuple[int, int] = GRID_SHAPE) -> RayDataset:
  """Load and validate a REASAN sequential ray-estimator file into host memory (reasan-nav.md §8.2).

  Frames after the last episode boundary (an interrupted write) are dropped. Memory: about 21.6 kB per
  frame (the grids dominate), so REASAN's 500,000-frame training file needs ~11 GB.

  Args:
    path: the .h5 file.
    grid_shape: the grid shape the caller needs; REASAN's (30, 180).

  Returns:
    A :class:`RayDataset`.

  Raises:
    RayDatasetError: the file is missing or not HDF5, a dataset or attribute is missing, the grid shape
      differs, the per-frame datasets disagree in length, or the boundaries are not contiguous
      inclusive [start, end] pairs from frame 0.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise RayDatasetError(f"ray dataset {path} does not exist; collect one with python -m "
                          "reasan_jax.collect_rays or pass the right --data / --val path.")
  try:
    f = h5py.File(path, "r")
  except OSError:
    raise RayDatasetError(f"{path} is not a readable HDF5 file; pass a file written by the ray collector."
                          ) from None
  with f:
    if "grid_maps" in f and f["grid_maps"].ndim == 4 and BOUNDARIES not in f:
      raise RayDatasetError(f"{path} is REASAN's windowed format (the nav env's (S, 15, 30, 180) samples, "
                            "nav §10 item 5); the estimator trains on the sequential format with "
                            "episode_boundaries, as the filter env and collect_rays write it.")
    for name in (*FRAME_DATASETS, BOUNDARIES):
      if name not in f:
        raise RayDatasetError(f"{path} has no {name!r} dataset; the estimator reads REASAN's sequential "
                              "format (grid_maps, gravity_vectors, angular_velocity, ground_truth_rays, "
                              "episode_boundaries).")
    _check_attr(f, path, "grid_map_shape", grid_shape)
    for name in ("num_envs", "gravity_dim", "ang_vel_dim", "gt_rays_dim"):
      _check_attr(f, path, name, [])
    tails = {"grid_maps": tuple(grid_shape), "gravity_vectors": (GRAVITY_DIM,),
             "angular_velocity": (ANG_VEL_DIM,), "ground_truth_rays": (GT_RAYS_DIM,)}
    for name, tail in tails.items():
      if tuple(f[name].shape[1:]) != tail:
        raise RayDatasetError(f"{path}: dataset {name!r} has frame shape {tuple(f[name].shape[1:])}, "
                              f"expected {tail}; collect the data with REASAN's 30 x 180 grid.")
    bounds = np.asarray(f[BOUNDARIES][...], dtype=np.int64)
    n_frames = min(int(f[name].shape[0]) for name in FRAME_DATASETS)
    if bounds.ndim != 2 or bounds.shape[1] != 2:
      raise RayDatasetError(f"{path}: episode_boundaries must have shape (E, 2), got {bounds.shape}.")
    if bounds.shape[0] == 0:
      raise RayDatasetError(f"{path} holds no complete episode; collect more frames.")
    starts, ends = bounds[:, 0], bounds[:, 1]
    contiguous = (starts[0] == 0 and np.all(ends >= starts) and np.all(starts[1:] == ends[:-1] + 1))
    if not contiguous or ends[-1] >= n_frames:
      raise RayDatasetError(f"{path}: episode_boundaries are not contiguous inclusive [start, end] pairs "
                            f"from frame 0 within the {n_frames} frames stored; the file is damaged.")
    used = int(ends[-1]) + 1
    data = [np.asarray(f[name][:used], dtype=np.float32) for name in FRAME_DATASETS]
    num_envs = int(np.asarray(f.attrs["num_envs"]).reshape(-1)[0])
  return RayDataset(grid_maps=data[0], gravity=data[1], ang_vel=data[2], gt_rays=data[3],
                    episode_boundaries=bounds, num_envs=num_envs)
