"""Loco env cost vs raw MJX physics, side by side in one run.

Run from the repository root:

  python benchmarks/env_throughput.py                      # batches 64 256 1024
  python benchmarks/env_throughput.py --batches 8 --steps 10 --repeats 1   # a quick check
  python benchmarks/env_throughput.py --batches 4096 --terrain rough --no-raw  # as gpu_suite.sh

For each batch size it times (a) ``VecEnv(LocoEnv).step`` (PD target, 4 physics sub-steps with the
DC-motor model, observations, rewards, terminations, auto-reset, per-env randomised models) and
(b) raw ``mjx.step`` x 4 on the same MJX model and batch with a plain PD torque, both as a jitted
``lax.scan`` of ``--steps`` policy steps, alternating (a) and (b) ``--repeats`` times. Prints a table
and writes ``benchmarks/results/env_throughput.json`` (machine, versions, figures). ``--no-raw`` times
(a) alone (half the compiles; ``raw_*`` figures are then null).
Goal (issue "The Go2 on MJX"): env cost <= 1.15 x raw physics cost.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import sys
import time

import jax
import jax.numpy as jnp
import mujoco
from mujoco import mjx

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import _common  # noqa: E402

if _common.use_tree():
  sys.path.insert(0, str(ROOT))

from reasan_jax.configs import loco  # noqa: E402
from reasan_jax.robots import go2  # noqa: E402
from reasan_jax.core import VecEnv  # noqa: E402
from reasan_jax.registry import make_env as make  # noqa: E402


def _env_program(venv: VecEnv, steps: int):
  zeros = jnp.zeros((venv.num_envs, 12))

  @jax.jit
  def run(state):
    def body(s, _):
      return venv.step(s, zeros), ()
    return jax.lax.scan(body, state, None, length=steps)[0]
  return run


def _raw_program(model: mjx.Model, decimation: int, steps: int):
  target = jnp.asarray(go2.DEFAULT_POSE_MJCF)

  def one(data):
    def sub(d, _):
      tau = jnp.clip(35.0 * (target - d.qpos[7:]) - 0.5 * d.qvel[6:], -23.5, 23.5)
      return mjx.step(model, d.replace(ctrl=tau)), ()
    return jax.lax.scan(sub, data, None, length=decimation)[0]

  @jax.jit
  def run(data):
    def body(d, _):
      return jax.vmap(one)(d), ()
    return jax.lax.scan(body, data, None, length=steps)[0]
  return run


def _time(fn, arg, repeats: int) -> list[float]:
  out = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(arg))
    out.append(time.perf_counter() - t)
  return out


def build_parser() -> argparse.ArgumentParser:
  """The command line (also used by ``gpu_suite.py``'s plan check)."""
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
  p.add_argument("--steps", type=int, default=50, help="policy steps per timed call")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--terrain", choices=("flat", "rough"), default="flat")
  p.add_argument("--no-raw", action="store_true", help="time the env alone, not raw mjx.step")
  p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "env_throughput.json"))
  return p


def main(argv=None) -> dict:
  args = build_parser().parse_args(argv)

  cfg = loco.env_config()
  cfg.terrain = args.terrain
  env = make(cfg)
  rows = []
  for batch in args.batches:
    venv = VecEnv(env, batch)
    state = jax.jit(venv.reset)(jax.random.PRNGKey(0))
    env_run = _env_program(venv, args.steps)
    raw_run = _raw_program(env.mjx_model, cfg.decimation, args.steps)
    data = state.data  # same initial poses for the raw physics

    t0 = time.perf_counter()
    jax.block_until_ready(env_run(state))
    env_compile = time.perf_counter() - t0
    raw_compile = None
    if not args.no_raw:
      t0 = time.perf_counter()
      jax.block_until_ready(raw_run(data))
      raw_compile = time.perf_counter() - t0

    env_t, raw_t = [], []
    for _ in range(args.repeats):  # alternate so both see the same machine load
      env_t += _time(env_run, state, 1)
      if not args.no_raw:
        raw_t += _time(raw_run, data, 1)
    env_best = min(env_t)
    raw_best = min(raw_t) if raw_t else None
    row = {
        "num_envs": batch,
        "env_steps_per_s": batch * args.steps / env_best,
        "raw_steps_per_s": batch * args.steps / raw_best if raw_best else None,
        "ratio_env_over_raw": env_best / raw_best if raw_best else None,
        "env_compile_s": env_compile,
        "raw_compile_s": raw_compile,
        "env_times_s": env_t,
        "raw_times_s": raw_t,
    }
    rows.append(row)
    raw_text = (f"raw mjx.step x{cfg.decimation} {row['raw_steps_per_s']:10.0f} steps/s | env/raw cost "
                f"{row['ratio_env_over_raw']:.3f} | compile env {env_compile:.0f} s raw {raw_compile:.0f} s"
                if raw_best else f"compile env {env_compile:.0f} s (raw physics not timed)")
    print(f"num_envs {batch:5d}: env {row['env_steps_per_s']:10.0f} steps/s | {raw_text}", flush=True)

  result = {
      "benchmark": "env_throughput",
      "machine": {"platform": platform.platform(), "processor": platform.processor(),
                  "cpu_count": __import__("os").cpu_count(), "backend": jax.default_backend(),
                  "devices": [str(d) for d in jax.devices()]},
      "versions": {"jax": jax.__version__, "mujoco": mujoco.__version__,
                   "python": platform.python_version()},
      "settings": {"steps_per_call": args.steps, "repeats": args.repeats, "terrain": args.terrain,
                   "raw_timed": not args.no_raw,
                   "collisions": cfg.collisions, "decimation": cfg.decimation},
      "rows": rows,
  }
  out = pathlib.Path(args.out)
  out.parent.mkdir(parents=True, exist_ok=True)
  out.write_text(json.dumps(result, indent=2))
  print(f"wrote {out}")
  return result


if __name__ == "__main__":
  main()
