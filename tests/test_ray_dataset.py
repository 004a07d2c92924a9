"""REASAN's sequential ray-estimator HDF5 format: names, shapes, dtypes, attributes, crash safety, errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from reasan_jax.io import ray_dataset as rd


def synthetic_episode(rng: np.random.Generator, t: int):
  """One random episode in the collector's units: grids in metres, rays in [0, 1]."""
  return (rng.uniform(0, 3, (t, 30, 180)).astype(np.float32), rng.normal(size=(t, 3)).astype(np.float32),
          rng.normal(size=(t, 3)).astype(np.float32), rng.uniform(0, 1, (t, 180)).astype(np.float32))


def test_round_trip_has_reasan_names_shapes_dtypes_attributes(tmp_path):
  rng = np.random.default_rng(0)
  path = tmp_path / "train.h5"
  eps = [synthetic_episode(rng, t) for t in (5, 1, 7)]
  with rd.SequentialRayWriter(path, num_envs=3) as w:
    for ep in eps:
      w.write_episode(*ep)
    assert w.frames == 13 and w.episodes == 3
  with h5py.File(path, "r") as f:
    assert sorted(f.keys()) == sorted([*rd.FRAME_DATASETS, rd.BOUNDARIES])
    assert f["grid_maps"].shape == (13, 30, 180) and f["gravity_vectors"].shape == (13, 3)
    assert f["angular_velocity"].shape == (13, 3) and f["ground_truth_rays"].shape == (13, 180)
    for name in rd.FRAME_DATASETS:
      assert f[name].dtype == np.float32
      assert f[name].compression == "gzip" and f[name].compression_opts == 4
    assert f["episode_boundaries"].dtype == np.int64
    np.testing.assert_array_equal(f["episode_boundaries"][...], [[0, 4], [5, 5], [6, 12]])
    assert int(f.attrs["num_envs"]) == 3
    assert tuple(f.attrs["grid_map_shape"]) == (30, 180)
    assert (int(f.attrs["gravity_dim"]), int(f.attrs["ang_vel_dim"]), int(f.attrs["gt_rays_dim"])) == (3, 3, 180)
  data = rd.read_sequential(path)
  assert data.num_frames == 13 and data.num_episodes == 3 and data.num_envs == 3
  np.testing.assert_array_equal(data.episode_lengths, [5, 1, 7])
  for i, name in enumerate(("grid_maps", "gravity", "ang_vel", "gt_rays")):
    np.testing.assert_array_equal(getattr(data, name), np.concatenate([ep[i] for ep in eps]))
  assert data.imu.shape == (13, 6)


def test_refuses_to_overwrite_unless_asked(tmp_path):
  path = tmp_path / "train.h5"
  path.write_bytes(b"user data")
  with pytest.raises(rd.RayDatasetError, match="already exists"):
    rd.SequentialRayWriter(path, num_envs=1)
  assert path.read_bytes() == b"user data"
  with rd.SequentialRayWriter(path, num_envs=1, overwrite=True) as w:
    w.write_episode(*synthetic_episode(np.random.default_rng(1), 2))
  assert rd.read_sequential(path).num_frames == 2


def test_capacity_truncates_last_episode_then_refuses(tmp_path):
  rng = np.random.default_rng(2)
  with rd.SequentialRayWriter(tmp_path / "v.h5", num_envs=1, capacity=8) as w:
    w.write_episode(*synthetic_episode(rng, 5))
    assert not w.full and w.remaining == 3
    w.write_episode(*synthetic_episode(rng, 6))
    assert w.full and w.frames == 8
    with pytest.raises(rd.RayDatasetError, match="capacity"):
      w.write_episode(*synthetic_episode(rng, 1))
  np.testing.assert_array_equal(rd.read_sequential(tmp_path / "v.h5").episode_boundaries, [[0, 4], [5, 7]])


def test_bad_shapes_are_refused(tmp_path):
  rng = np.random.default_rng(3)
  g, gr, av, r = synthetic_episode(rng, 4)
  with rd.SequentialRayWriter(tmp_path / "x.h5", num_envs=1) as w:
    with pytest.raises(rd.RayDatasetError, match="ground_truth_rays"):
      w.write_episode(g, gr, av, r[:3])
    with pytest.raises(rd.RayDatasetError, match="grid_maps"):
      w.write_episode(g[:, :10], gr, av, r)


def test_killed_writer_keeps_every_complete_episode(tmp_path):
  """The process dies (no close, no exception handling) after two episodes; both survive."""
  path = tmp_path / "killed.h5"
  script = textwrap.dedent(f"""
    import os, numpy as np
    from reasan_jax.io.ray_dataset import SequentialRayWriter
    w = SequentialRayWriter({str(path)!r}, num_envs=2)
    rng = np.random.default_rng(0)
    for t in (3, 4):
      w.write_episode(rng.uniform(0, 3, (t, 30, 180)), np.zeros((t, 3)), np.zeros((t, 3)), np.ones((t, 180)))
    os._exit(1)
  """)
  proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
  assert proc.returncode == 1, proc.stderr
  data = rd.read_sequential(path)
  np.testing.assert_array_equal(data.episode_boundaries, [[0, 2], [3, 6]])
  assert data.grid_maps.shape == (7, 30, 180)


def _write_raw(path, grid_shape=(30, 180), drop=None):
  with h5py.File(path, "w") as f:
    for name, tail in (("grid_maps", grid_shape), ("gravity_vectors", (3,)), ("angular_velocity", (3,)),
                       ("ground_truth_rays", (180,))):
      if name != drop:
        f.create_dataset(name, data=np.zeros((4, *tail), np.float32))
    if drop != "episode_boundaries":
      f.create_dataset("episode_boundaries", data=np.array([[0, 3]], np.int64))
    f.attrs["num_envs"] = 1
    f.attrs["grid_map_shape"] = grid_shape
    f.attrs["gravity_dim"], f.attrs["ang_vel_dim"], f.attrs["gt_rays_dim"] = 3, 3, 180


@pytest.mark.parametrize("drop", ["ground_truth_rays", "episode_boundaries"])
def test_missing_dataset_is_one_sentence(tmp_path, drop):
  path = tmp_path / "m.h5"
  _write_raw(path, drop=drop)
  with pytest.raises(rd.RayDatasetError, match=f"no '{drop}' dataset") as err:
    rd.read_sequential(path)
  assert str(err.value).count(". ") == 0 and "\n" not in str(err.value)


def test_other_grid_shape_and_missing_file_are_refused(tmp_path):
  path = tmp_path / "g.h5"
  _write_raw(path, grid_shape=(16, 90))
  with pytest.raises(rd.RayDatasetError, match=r"grid_map_shape = \(16, 90\)"):
    rd.read_sequential(path)
  with pytest.raises(rd.RayDatasetError, match="does not exist"):
    rd.read_sequential(tmp_path / "nope.h5")
  (tmp_path / "t.h5").write_text("not hdf5")
  with pytest.raises(rd.RayDatasetError, match="not a readable HDF5"):
    rd.read_sequential(tmp_path / "t.h5")


def test_windowed_format_is_named(tmp_path):
  path = tmp_path / "w.h5"
  with h5py.File(path, "w") as f:
    f.create_dataset("grid_maps", data=np.zeros((2, 15, 30, 180), np.float32))
    f.create_dataset("ground_truth_rays", data=np.zeros((2, 180), np.float32))
  with pytest.raises(rd.RayDatasetError, match="windowed format"):
    rd.read_sequential(path)
