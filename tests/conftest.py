"""Test-wide settings: JAX's persistent compilation cache (compiles dominate CPU test time), and
releasing compiled programs after each test module.

Every XLA:CPU executable loaded into a process maps each of its kernels' code and data as separate
memory regions. One pytest process that keeps every program of ~400 tests alive reaches Linux's
default limit of 65,530 mappings per process (``vm.max_map_count``), and the next executable load
aborts the whole run ("Fatal Python error: Aborted" inside ``deserialize_executable``). Clearing
JAX's caches after each module frees the programs no fixture still holds; a later module that needs
one again reads it back from the persistent cache.
"""

from __future__ import annotations

import gc
import os
import pathlib
import warnings

import jax
import pytest

_CACHE = os.environ.get(
    "REASAN_JAX_CACHE", str(pathlib.Path.home() / ".cache" / "reasan_jax" / "jax"))
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

REPO = pathlib.Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"
LOCO_ONNX = REFERENCE / "pretrained" / "loco_1.onnx"


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
  """Frees the module's compiled programs when it ends (see the module docstring)."""
  yield
  jax.clear_caches()
  gc.collect()
  maps = pathlib.Path("/proc/self/maps")
  if maps.exists():
    held = len(maps.read_text().splitlines())
    if held > 30_000:  # half the default vm.max_map_count: the abort is one or two modules away
      warnings.warn(f"the test process still holds {held} memory mappings after clearing JAX's "
                    "caches; a fixture keeps too many compiled programs alive (see conftest.py)")
