"""Files a run writes and reads: configs, checkpoints, logs, the compile cache, run summaries."""
