"""Ray-estimator training and inference speed (reasan-nav.md §8.3 model): frames per second per step.

  python benchmarks/estimator_throughput.py                      # H = 15, batches of 64 and 512
  python benchmarks/estimator_throughput.py --batch 64 --repeats 5

Times one compiled train step (forward, conservative loss, backward, Adam) and one eval-mode forward on
random windows, after a warm-up call (the compile time is reported separately). What it is for: sizing
the CPU default of ``python -m reasan_jax.train_estimator`` (frames per epoch × epochs ÷ train frames/s).
"""

from __future__ import annotations

import argparse
import time

import _common


def measure(history: int, batch: int, repeats: int) -> dict:
  """Compile and per-step times of the train and eval steps at (H, batch)."""
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel

  from reasan_jax.estimator import data as dl  # pylint: disable=import-outside-toplevel
  from reasan_jax.estimator import train as tr  # pylint: disable=import-outside-toplevel
  from reasan_jax.io.ray_dataset import RayDataset  # pylint: disable=import-outside-toplevel

  rng = np.random.default_rng(0)
  f = batch + history
  ds = RayDataset(grid_maps=rng.uniform(0, 3, (f, 30, 180)).astype(np.float32),
                  gravity=rng.normal(size=(f, 3)).astype(np.float32), ang_vel=rng.normal(size=(f, 3)).astype(np.float32),
                  gt_rays=rng.uniform(0, 1, (f, 180)).astype(np.float32),
                  episode_boundaries=np.array([[0, f - 1]], np.int64))
  config = tr.default_config(True)
  config.history_frames, config.batch_size = history, batch
  state = tr.init_state(config, ds.gt_rays.mean(0))
  train_step, eval_step = tr.make_steps(config)
  device = dl.DeviceData.from_dataset(ds)
  b = next(dl.epoch_batches(ds, None, batch, history, batch, "frames"))
  out = {"history": history, "batch": batch}
  t0 = time.perf_counter()
  state, loss = train_step(state, device, b, jax.random.key(0))
  loss.block_until_ready()
  out["train_compile_s"] = time.perf_counter() - t0
  t0 = time.perf_counter()
  for i in range(repeats):
    state, loss = train_step(state, device, b, jax.random.key(i + 1))
  loss.block_until_ready()
  out["train_step_s"] = (time.perf_counter() - t0) / repeats
  out["train_frames_per_s"] = batch / out["train_step_s"]
  t0 = time.perf_counter()
  eval_step(state.params, state.batch_stats, device, b)[1].block_until_ready()
  out["eval_compile_s"] = time.perf_counter() - t0
  t0 = time.perf_counter()
  for _ in range(repeats):
    loss = eval_step(state.params, state.batch_stats, device, b)[1]
  loss.block_until_ready()
  out["eval_step_s"] = (time.perf_counter() - t0) / repeats
  out["eval_frames_per_s"] = batch / out["eval_step_s"]
  out["backend"] = jax.default_backend()
  return out


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--history", type=int, default=15)
  p.add_argument("--batch", type=int, nargs="+", default=[64, 512])
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default=None, help="JSON path (default benchmarks/results/estimator_throughput.json)")
  args = p.parse_args(argv)
  if _common.use_tree():
    import sys  # pylint: disable=import-outside-toplevel
    sys.path.insert(0, str(_common.ROOT))
  rows = [measure(args.history, b, args.repeats) for b in args.batch]
  print(_common.table(rows, [("H", "history", "d"), ("batch", "batch", "d"),
                             ("train frames/s", "train_frames_per_s", ".1f"),
                             ("eval frames/s", "eval_frames_per_s", ".1f"),
                             ("train compile s", "train_compile_s", ".1f")]))
  _common.write("estimator_throughput", {"versions": _common.versions(), "rows": rows}, args.out)


if __name__ == "__main__":
  main()
