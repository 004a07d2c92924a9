"""Nav env step vs loco env step at equal batch, with the share of each frozen policy and of
sensing (issue 14 "Benchmark"; goal: nav step <= 2.0 x the loco step).

Run from the repository root:

  python benchmarks/nav_throughput.py                             # batches 64 256 1024
  python benchmarks/nav_throughput.py --batches 8 --steps 2 --repeats 1   # a quick check

For each batch size, in one process, each as a jitted ``lax.scan`` of ``--steps`` control steps:

* **nav**: ``VecEnv(NavEnv).step`` in REASAN's full-size worlds (half the envs in the 15 x 15
  sub-block grid, half in the 40 x 40 maze), dynamic obstacles on (9 slots in grid envs, level 0
  so parked, which costs the same), REASAN's ``filter_1.onnx`` and ``loco_1.onnx`` frozen, the
  training sensing (1 ray centre); actions = a constant 1 m/s forward command; includes the
  auto-reset branch every step (``VecEnv`` computes a fresh episode for every env each step);
* **loco**: ``VecEnv(LocoEnv).step`` (flat, as ``benchmarks/env_throughput.py``);
* the nav step's parts, each alone on the same batch: **physics** (``Go2Sim.physics_step``, 4
  MJX sub-steps), **filter_policy** and **loco_policy** (the frozen ONNX LSTMs), **sensing**
  (``NavEnv._sense``, the one pass of ``NavEnv.observe``: cull of the pillar world, 540 rays,
  features, TTC; contacts have their own small cull in ``advance``).

Prints a table and writes ``benchmarks/results/nav_throughput.json``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import jax
import jax.numpy as jnp

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402
from benchmarks.filter_throughput import _scan, _time_all  # noqa: E402

PRETRAINED = ROOT.parent / "shared" / "reference" / "pretrained"
PARTS = ("physics", "filter_policy", "loco_policy", "sensing")


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
  p.add_argument("--steps", type=int, default=10, help="control steps per timed call")
  p.add_argument("--repeats", type=int, default=2)
  p.add_argument("--filter_onnx", default=str(PRETRAINED / "filter_1.onnx"))
  p.add_argument("--loco_onnx", default=str(PRETRAINED / "loco_1.onnx"))
  p.add_argument("--small_worlds", action="store_true", help="the CPU config's small worlds")
  p.add_argument("--out", default=None)
  args = p.parse_args(argv)

  from reasan_jax import registry  # pylint: disable=import-outside-toplevel
  from reasan_jax.core import VecEnv  # pylint: disable=import-outside-toplevel
  from reasan_jax.tasks.common import frozen_chain  # pylint: disable=import-outside-toplevel

  nc = registry.get_config("nav", "cpu" if args.small_worlds else "gpu")
  nc.env.filter_policy, nc.env.loco_policy = args.filter_onnx, args.loco_onnx
  nenv = registry.make_env(nc.env)
  lc = registry.get_config("loco", "cpu")
  lc.env.terrain = "flat"
  lenv = registry.make_env(lc.env)
  rows = []
  for n in args.batches:
    row = {"num_envs": n}
    nv, lv = VecEnv(nenv, n), VecEnv(lenv, n)
    ns = jax.jit(nv.reset)(jax.random.PRNGKey(0))
    ls = jax.jit(lv.reset)(jax.random.PRNGKey(0))
    forward = jnp.tile(jnp.array([[1.0, 0.0, 0.0]]), (n, 1))
    sim = nenv.sim
    gains, wrench = ns.info["gains"], ns.info["external_wrench"]
    target = jnp.broadcast_to(sim.default_pose, (n, 12))
    data = ns.data

    def filter_part(c):
      return jax.vmap(lambda d, r, k: frozen_chain.filter_step(
          nenv.filter_policy, d, jnp.array([1.0, 0.0, 0.0]), jnp.zeros(3), r, k)[1])(
              data, ns.obs["rays"], c)

    def loco_part(c):
      return jax.vmap(lambda d, k: frozen_chain.loco_step(
          nenv.loco_policy, d, jnp.array([1.0, 0.0, 0.0]), nenv._limits, jnp.zeros(12), k,  # pylint: disable=protected-access
          nenv.config.loco_obs)[1])(data, c)

    def sensing_part(d):
      return jax.vmap(lambda x, info: x.replace(qpos=x.qpos.at[0].add(
          0.02 + 1e-3 * jnp.sum(nenv._sense(x, info, None).ttc))))(d, {"obstacles": ns.info["obstacles"]})  # pylint: disable=protected-access

    programs = {
        "nav": (_scan(lambda s: nv.step(s, forward), args.steps), ns),
        "loco": (_scan(lambda s: lv.step(s, jnp.zeros((n, 12))), args.steps), ls),
        "physics": (_scan(lambda d: jax.vmap(lambda x, g, w: sim.physics_step(x, target[0], g, w)[0])(
            d, gains, wrench), args.steps), data),
        "filter_policy": (_scan(filter_part, args.steps), ns.info["filter_carry"]),
        "loco_policy": (_scan(loco_part, args.steps), ns.info["loco_carry"]),
        "sensing": (_scan(sensing_part, args.steps), data),
    }
    for name, (compile_s, times) in _time_all(programs, args.repeats).items():
      row[f"{name}_compile_s"] = compile_s
      row[f"{name}_times_s"] = times
      row[f"{name}_us_per_env_step"] = min(times) / (n * args.steps) * 1e6
    f = row["nav_us_per_env_step"]
    row["nav_over_loco"] = f / row["loco_us_per_env_step"]
    row["share"] = {k: row[f"{k}_us_per_env_step"] / f for k in PARTS}
    rows.append(row)
    sh = row["share"]
    print(f"num_envs {n:5d}: nav {f:8.1f} us/env-step | loco {row['loco_us_per_env_step']:8.1f}"
          f" | nav/loco {row['nav_over_loco']:.2f} | " +
          " ".join(f"{k} {sh[k]:.0%}" for k in PARTS), flush=True)

  cols = [("num_envs", "num_envs", "d"), ("nav us", "nav_us_per_env_step", ".1f"),
          ("loco us", "loco_us_per_env_step", ".1f"), ("nav/loco", "nav_over_loco", ".2f")]
  cols += [(f"{k} us", f"{k}_us_per_env_step", ".1f") for k in PARTS]
  print(_common.table(rows, cols))
  result = {"versions": _common.versions(),
            "settings": {"steps_per_call": args.steps, "repeats": args.repeats,
                         "filter_policy": pathlib.Path(args.filter_onnx).name,
                         "loco_policy": pathlib.Path(args.loco_onnx).name,
                         "num_centers": nenv.config.sensors.num_centers,
                         "dynamic_obstacles": True,
                         "worlds": "small" if args.small_worlds else "full"},
            "rows": rows}
  _common.write("nav_throughput", result, args.out)
  return result


if __name__ == "__main__":
  main()
