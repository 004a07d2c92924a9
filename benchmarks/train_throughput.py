"""Full training iteration vs rollout alone, and compile time (issue "Recurrent PPO ...").

Run from the repository root:

  python benchmarks/train_throughput.py                 # 64 envs, the CPU loco config
  python benchmarks/train_throughput.py --batches 256   # another batch
  python benchmarks/train_throughput.py --epochs 10 --out benchmarks/results/train_throughput_10epochs.json

A front for ``benchmarks/scaling.py`` on one batch size: it times ``Trainer.run(state, 1)``
(rollout + GAE + the CPU config's 5 epochs x 4 minibatches; ``--epochs 10`` for REASAN's) against the trainer's rollout alone on the same env and
batch, reports both compile times, and writes ``benchmarks/results/train_throughput.json``.
Goal: full iteration <= 1.3 x rollout time; compile <= 60 s on this CPU for a small config.
"""

from __future__ import annotations

import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scaling  # noqa: E402


def main(argv=None) -> dict:
  argv = list(sys.argv[1:] if argv is None else argv)
  if "--batches" not in argv:
    argv += ["--batches", "64"]
  if "--out" not in argv:
    argv += ["--out", str(HERE / "results" / "train_throughput.json")]
  result = scaling.main(argv)
  for row in result.get("rows", []):
    if "iteration_s" not in row or "rollout_s" not in row:
      continue
    ratio = row["iteration_s"] / row["rollout_s"]
    print(f"num_envs {row['num_envs']}: iteration / rollout time = {ratio:.2f} (goal <= 1.3); "
          f"compile: iteration {row['iteration_compile_s']:.0f} s, rollout "
          f"{row['rollout_compile_s']:.0f} s (goal <= 60 s)")
  return result


if __name__ == "__main__":
  main()
