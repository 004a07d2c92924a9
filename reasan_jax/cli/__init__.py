"""Command-line programs (thin): train, play, sim2sim, run_summary. Each also runs as
``python -m reasan_jax.<name>`` and as a console script ``reasan-<name>``."""
