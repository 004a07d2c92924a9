"""JAX's persistent compilation cache for the command lines and notebooks (compiles dominate on CPU)."""

from __future__ import annotations

import os

import jax


def enable_compilation_cache() -> None:
  """Turns on the persistent XLA cache unless one is set already or ``REASAN_JAX_NO_CACHE`` is set.

  Folder: ``$REASAN_JAX_CACHE`` or ``~/.cache/reasan_jax/xla``.
  """
  if jax.config.jax_compilation_cache_dir or os.environ.get("REASAN_JAX_NO_CACHE"):
    return
  cache = os.environ.get("REASAN_JAX_CACHE",
                         os.path.join(os.path.expanduser("~"), ".cache", "reasan_jax", "xla"))
  jax.config.update("jax_compilation_cache_dir", cache)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
