"""``python -m reasan_jax.collect_rays``: the command-line program of :mod:`reasan_jax.cli.collect_rays`."""

import sys

from reasan_jax.cli.collect_rays import main

if __name__ == "__main__":
  sys.exit(main())
