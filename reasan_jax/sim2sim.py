"""``python -m reasan_jax.sim2sim``: the command-line program of :mod:`reasan_jax.cli.sim2sim`."""

import sys

from reasan_jax.cli.sim2sim import main

if __name__ == "__main__":
  sys.exit(main())
