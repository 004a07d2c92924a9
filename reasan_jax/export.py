"""``python -m reasan_jax.export``: the command-line program of :mod:`reasan_jax.cli.export`."""

import sys

from reasan_jax.cli.export import main

if __name__ == "__main__":
  sys.exit(main())
