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
* **loco**: ``VecEnv(LocoEnv).step`` (flat, zero actions: a standing robot, as
  ``benchmarks/env_throughput.py``); **loco_walking**: the same env driven by the frozen
  ``loco_1`` on its own observation (policy included), a walking robot as in the nav env;
* the nav step's parts, each alone on the same batch: **physics** (``Go2Sim.physics_step``, 4
  MJX sub-steps), **filter_policy** and **loco_policy** (the frozen ONNX LSTMs), **sensing**
  (``NavEnv._sense``, the one pass of ``NavEnv.observe``: cull of the pillar world, 540 rays,
  features, TTC; contacts have their own small cull in ``advance``);
* the rest of the step, each alone on the same batch, so that the **breakdown** adds up to the
  step: **chain** (frozen filter -> frozen loco -> ``Go2Sim.physics_step`` on the robot those
  policies drive: a walking robot, whose MJX solver takes more iterations than the standing one of
  **physics**; the chain replaces filter_policy + loco_policy + physics in the breakdown),
  **contacts** (``NavEnv._contacts``: the small cull and the 13 undesired bodies against pillars
  and dynamic obstacles), **obstacles** (``NavEnv._move_obstacles``), **reset** (``VecEnv``'s
  fresh episode for every env: ``NavEnv.persistent`` + ``NavEnv.start``), **guide** (the two
  guide-field lookups of a step). ``breakdown`` = those parts' times over the nav step, plus
  ``rest`` = 1 - their sum (rewards, observation assembly, the VecEnv select and episode sums,
  and what fusing the parts into one program gains or loses). Sensing and contacts move the
  base 2 cm per step so XLA cannot hoist them out of the loop.

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
from benchmarks.filter_throughput import _record_times, _scan  # noqa: E402

PRETRAINED = ROOT.parent / "shared" / "reference" / "pretrained"
PARTS = ("physics", "filter_policy", "loco_policy", "sensing")
BREAKDOWN = ("chain", "sensing", "contacts", "obstacles", "reset", "guide")


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
  from reasan_jax.policies import frozen  # pylint: disable=import-outside-toplevel
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

    from reasan_jax.robots.go2 import motor  # pylint: disable=import-outside-toplevel
    from reasan_jax.scenes import nav_worlds  # pylint: disable=import-outside-toplevel
    cfg = nenv.config
    cmd = jnp.array([1.0, 0.0, 0.0])

    def chain_one(c, rays_obs, g, w):  # one env: frozen filter -> frozen loco -> physics
      d, fcar, lcar, fa, la = c
      filt, fcar = frozen_chain.filter_step(nenv.filter_policy, d, cmd, fa, rays_obs, fcar,
                                            cfg.filter_obs.ang_vel_scale)
      act, lcar = frozen_chain.loco_step(nenv.loco_policy, d, filt, nenv._limits, la, lcar,  # pylint: disable=protected-access
                                         cfg.loco_obs)
      tgt = motor.joint_target(act, la, nenv._loco_scale, cfg.action.loco_blend)  # pylint: disable=protected-access
      return sim.physics_step(d, tgt, g, w)[0], fcar, lcar, filt, act

    def chain_part(c):
      return jax.vmap(chain_one)(c, ns.obs["rays"], gains, wrench)

    def moved(fn):  # shift the base 2 cm per step (plus a data dependence on the result)
      return lambda x, info: x.replace(qpos=x.qpos.at[0].add(0.02 + 1e-6 * fn(x, info)))

    contacts_part = moved(lambda x, info: jnp.sum(nenv._contacts(x, info)))  # pylint: disable=protected-access
    task_info = {k: ns.info[k] for k in ("obstacles", "region", "pair")}

    def guide_one(x, info):
      g = [nav_worlds.guide_vector(nenv.world, info["region"], info["pair"], x.qpos[:2] + o)
           for o in (0.0, 0.01)]
      return jnp.sum(g[0] + g[1])

    def reset_part(s):  # VecEnv's fresh episode for every env (persistent, then start)
      fresh = jax.vmap(lambda st, k: nenv.start(k, nenv.persistent(st)))(
          s, jax.random.split(s.info["rng"][0], n))
      return s.replace(info={**s.info, "step": fresh.info["step"] + s.info["step"],
                             "rng": jax.vmap(jax.random.fold_in, in_axes=(0, None))(
                                 s.info["rng"], jnp.sum(fresh.data.qpos).astype(jnp.uint32))})

    def loco_walking(c):  # the loco env driven by the frozen loco policy (a walking robot)
      s, carry = c
      act, carry = jax.vmap(lambda o, k: frozen.act(nenv.loco_policy, {"state": o}, k))(
          s.obs["state"], carry)
      return lv.step(s, act), carry

    task_state = ns.replace(info={k: v for k, v in ns.info.items()
                                  if k in ("last_dist", "start_dist", "terrain_level", "rng",
                                           "region", "gains", "obstacle_shape", "step")})
    chain0 = (data, ns.info["filter_carry"], ns.info["loco_carry"], ns.info["filter_action"],
              ns.info["loco_action"])
    programs = {
        "nav": (_scan(lambda s: nv.step(s, forward), args.steps), ns),
        "loco": (_scan(lambda s: lv.step(s, jnp.zeros((n, 12))), args.steps), ls),
        "loco_walking": (_scan(loco_walking, args.steps), (ls, ns.info["loco_carry"])),
        "physics": (_scan(lambda d: jax.vmap(lambda x, g, w: sim.physics_step(x, target[0], g, w)[0])(
            d, gains, wrench), args.steps), data),
        "filter_policy": (_scan(filter_part, args.steps), ns.info["filter_carry"]),
        "loco_policy": (_scan(loco_part, args.steps), ns.info["loco_carry"]),
        "sensing": (_scan(sensing_part, args.steps), data),
        "chain": (_scan(chain_part, args.steps), chain0),
        "contacts": (_scan(lambda d: jax.vmap(contacts_part)(d, task_info), args.steps), data),
        "obstacles": (_scan(lambda ob: jax.vmap(nenv._move_obstacles)(  # pylint: disable=protected-access
            ob, jax.random.split(jax.random.PRNGKey(2), n)), args.steps), ns.info["obstacles"]),
        "reset": (_scan(reset_part, args.steps), task_state),
        "guide": (_scan(lambda d: jax.vmap(moved(guide_one))(d, task_info), args.steps), data),
    }
    _record_times(row, programs, args.repeats, n * args.steps)
    f = row["nav_us_per_env_step"]
    row["nav_over_loco"] = f / row["loco_us_per_env_step"]
    row["nav_over_loco_walking"] = f / row["loco_walking_us_per_env_step"]
    row["share"] = {k: row[f"{k}_us_per_env_step"] / f for k in PARTS}
    row["breakdown"] = {k: row[f"{k}_us_per_env_step"] / f for k in BREAKDOWN}
    row["breakdown"]["rest"] = 1.0 - sum(row["breakdown"].values())
    rows.append(row)
    sh = row["share"]
    print(f"num_envs {n:5d}: nav {f:8.1f} us/env-step | loco {row['loco_us_per_env_step']:8.1f}"
          f" | nav/loco {row['nav_over_loco']:.2f} | nav/loco walking "
          f"{row['nav_over_loco_walking']:.2f} | " +
          " ".join(f"{k} {sh[k]:.0%}" for k in PARTS), flush=True)
    print("  breakdown: " + " ".join(f"{k} {v:.0%}" for k, v in row["breakdown"].items()),
          flush=True)

  cols = [("num_envs", "num_envs", "d"), ("nav us", "nav_us_per_env_step", ".1f"),
          ("loco us", "loco_us_per_env_step", ".1f"), ("nav/loco", "nav_over_loco", ".2f"),
          ("loco walk us", "loco_walking_us_per_env_step", ".1f"),
          ("nav/loco walk", "nav_over_loco_walking", ".2f")]
  cols += [(f"{k} us", f"{k}_us_per_env_step", ".1f")
           for k in PARTS + tuple(b for b in BREAKDOWN if b not in PARTS)]
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
