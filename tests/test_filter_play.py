"""play for safety-filter policies: REASAN's filter_1.onnx on loco_1.onnx in the filter env, with the
obstacle world and the rays drawn."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

import tiny_loco
from reasan_jax.cli import play

PRETRAINED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference" / "pretrained"
pytestmark = pytest.mark.skipif(not (PRETRAINED / "filter_1.onnx").exists(),
                                reason="../shared/reference/pretrained (REASAN's ONNX files) is absent")


def test_filter_onnx_needs_its_loco_policy():
  with pytest.raises(play.PlayError, match="is a safety-filter policy: pass the frozen loco policy"):
    play.load_policy(onnx=str(PRETRAINED / "filter_1.onnx"))


def test_play_filter_onnx_with_obstacles_and_rays(tmp_path, capsys):
  video = tmp_path / "filter.mp4"
  code = play.main(["--onnx", str(PRETRAINED / "filter_1.onnx"), "--loco_onnx",
                    str(PRETRAINED / "loco_1.onnx"), "--command", "wall", "--steps", "30",
                    "--video", str(video), "--rays", "--camera", "top", "--width", "96",
                    "--height", "72"])
  out = capsys.readouterr().out
  assert code == 0, out
  assert "Env: filter" in out and "1 episodes" in out
  frames = tiny_loco.decode(video)
  assert frames.shape == (30, 72, 96, 3)
  # Ray endpoints are drawn red (near) to green (far): both hues appear in the top view.
  reddish = (frames[..., 0] > 150) & (frames[..., 1] < 120) & (frames[..., 2] < 120)
  greenish = (frames[..., 1] > 150) & (frames[..., 0] < 120) & (frames[..., 2] < 120)
  assert greenish.any() and (reddish.any() or ((frames[..., 0] > 150) & (frames[..., 1] > 150)
                                                & (frames[..., 2] < 100)).any())
  assert np.abs(np.diff(frames.astype(np.int16), axis=0)).mean() > 0.05
