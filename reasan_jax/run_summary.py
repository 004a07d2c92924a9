"""``python -m reasan_jax.run_summary``: the command-line program of :mod:`reasan_jax.io.run_summary`."""

import sys

from reasan_jax.io.run_summary import main

if __name__ == "__main__":
  sys.exit(main())
