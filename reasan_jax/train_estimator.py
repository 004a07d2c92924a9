"""``python -m reasan_jax.train_estimator``: the command-line program of :mod:`reasan_jax.cli.train_estimator`."""

import sys

from reasan_jax.cli.train_estimator import main

if __name__ == "__main__":
  sys.exit(main())
