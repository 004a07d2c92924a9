"""Test-wide settings: JAX's persistent compilation cache (compiles dominate CPU test time)."""

from __future__ import annotations

import os
import pathlib

import jax

_CACHE = os.environ.get(
    "REASAN_JAX_CACHE", str(pathlib.Path.home() / ".cache" / "reasan_jax" / "jax"))
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

REPO = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"
LOCO_ONNX = REFERENCE / "pretrained" / "loco_1.onnx"
