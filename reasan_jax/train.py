"""``python -m reasan_jax.train``: the command-line program of :mod:`reasan_jax.cli.train`."""

import sys

from reasan_jax.cli.train import main

if __name__ == "__main__":
  sys.exit(main())
