"""Shared by tests/test_play.py and tests/test_notebooks.py: one tiny loco training setup and video size.

Both files train with exactly these flags and roll out ``STEPS`` steps in one env, so the training
program and the rollout programs are compiled once and then come from JAX's persistent cache
(``tests/conftest.py``), also inside the notebook kernels.
"""

from __future__ import annotations

import pathlib

import numpy as np

CONFIG = "loco:cpu"
OVERRIDES = [
    "--config.ppo.num_envs=2",
    "--config.ppo.num_minibatches=1",
    "--config.ppo.unroll_length=4",
    "--config.ppo.num_epochs=1",
    "--config.network.rnn_size=16",
    "--config.network.actor_hidden=(16,)",
    "--config.network.critic_hidden=(16,)",
    "--config.run.num_iterations=1",
    "--config.run.iterations_per_call=1",
    "--config.run.checkpoint_every=1",
]
"""``--config.*`` flags of a one-iteration loco run with 2 envs and 16-unit networks."""

STEPS = 40  # policy steps (0.8 s) of every test rollout / video
WIDTH, HEIGHT = 160, 120


def decode(path: str | pathlib.Path) -> np.ndarray:
  """All frames of an MP4 as (T, H, W, 3) uint8 (imageio's ffmpeg reader)."""
  import imageio.v3 as iio  # pylint: disable=import-outside-toplevel

  return np.asarray(iio.imread(path, plugin="FFMPEG"))


def assert_moving_video(frames: np.ndarray, steps: int = STEPS, width: int = WIDTH,
                        height: int = HEIGHT) -> None:
  """Expected frame count and size, not blank, consecutive frames differ."""
  assert frames.shape == (steps, height, width, 3), frames.shape
  assert frames.dtype == np.uint8
  assert frames.std() > 10.0, "blank video"
  diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
  assert (diffs > 0.05).mean() > 0.9, f"frames barely change: {np.round(diffs, 3)}"
