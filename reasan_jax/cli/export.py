"""``python -m reasan_jax.export``: a trained policy as an ONNX file in REASAN's robot interface.

Usage::

  python -m reasan_jax.export --run my_run --out loco.onnx          # newest checkpoint of a run
  python -m reasan_jax.export --checkpoint runs/my_run/checkpoints/300 --out loco.onnx
  python -m reasan_jax.export                                       # newest run, to <run>/exported/

The file computes the deterministic action with the observation normaliser folded in, with
REASAN's input/output names, float32, batch 1, static shapes, opset 11
(:mod:`reasan_jax.policies.onnx_export`, docs/deploy.md). Prints the written path and the
interface. An existing file is never replaced without ``--force``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

PROG = "python -m reasan_jax.export"


REASAN_STATE_SIZE = 256
"""Recurrent width REASAN's nodes allocate for h_in/c_in (reasan-rl-core.md §"Export")."""


def _describe(path) -> tuple[str, list[str]]:
  """(interface summary, notes on where the file differs from REASAN's released files)."""
  import onnx  # pylint: disable=import-outside-toplevel

  model = onnx.load(str(path))
  dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
  ins = ", ".join(f"{v.name} {dims(v)}" for v in model.graph.input)
  outs = ", ".join(f"{v.name} {dims(v)}" for v in model.graph.output)
  ops = sorted({n.op_type for n in model.graph.node})
  meta = {p.key: p.value for p in model.metadata_props}
  notes = []
  size = int(meta.get("rnn_size", "0") or 0)
  if size and size != REASAN_STATE_SIZE:
    notes.append(f"the recurrent state is [1, 1, {size}] but REASAN's nodes allocate "
                 f"[1, 1, {REASAN_STATE_SIZE}]; train with --config.network.rnn_size=256 for a "
                 "drop-in file.")
  if meta.get("recurrent_core") == "gru":
    notes.append("GRU core: c_in is passed through unchanged as c_out; train with "
                 "--config.network.rnn=lstm for REASAN's own LSTM architecture.")
  return f"  inputs:  {ins}\n  outputs: {outs}\n  nodes:   {', '.join(ops)}", notes


def main(argv: Sequence[str] | None = None) -> int:
  """Command-line entry point (see the module docstring); 0 on success, 2 on bad input."""
  p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  src = p.add_mutually_exclusive_group()
  src.add_argument("--run", help="run name under --runs_dir or a run folder (default: newest run)")
  src.add_argument("--checkpoint", help="a run folder, its checkpoints/ folder or checkpoints/<it>")
  p.add_argument("--runs_dir", default="runs", help="parent folder of the runs (default: runs)")
  p.add_argument("--out", help="the .onnx file (default: <run>/exported/policy_<iteration>.onnx)")
  p.add_argument("--force", action="store_true", help="replace an existing --out file")
  args = p.parse_args(argv)

  from reasan_jax.policies.onnx_export import ExportError, export_checkpoint  # pylint: disable=import-outside-toplevel

  try:
    path = export_checkpoint(args.out, run=args.run, checkpoint=args.checkpoint,
                             runs_dir=args.runs_dir, overwrite=args.force)
  except ExportError as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 2
  summary, notes = _describe(path)
  print(f"wrote {path}\n{summary}")
  for note in notes:
    print(f"note: {note}", file=sys.stderr)
  return 0


if __name__ == "__main__":
  sys.exit(main())
