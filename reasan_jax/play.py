"""``python -m reasan_jax.play``: the command-line program of :mod:`reasan_jax.cli.play`."""

import sys

from reasan_jax.cli.play import main

if __name__ == "__main__":
  sys.exit(main())
