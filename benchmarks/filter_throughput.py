"""Filter env step vs loco env step, with the share of each part, and a filter training iteration
vs its rollout alone (issue "The safety filter").

Run from the repository root:

  python benchmarks/filter_throughput.py                          # batches 64 256 1024
  python benchmarks/filter_throughput.py --batches 8 --steps 2 --repeats 1   # a quick check

For each batch size, in one process, each as a jitted ``lax.scan`` of ``--steps`` control steps,
timed round-robin (``--repeats`` rounds over all programs, the best of each kept, so a load spike
on the shared machine hits every program alike):

* **filter**: ``VecEnv(FilterEnv).step`` with dynamic obstacles on (3 slots per env, level 0 so
  parked, which costs the same), REASAN's ``loco_1.onnx`` as the frozen loco policy, the
  training sensing (1 ray centre), actions = the user command. The auto-reset follows REASAN's
  order (REASAN filter §1.1b): ``FilterEnv.advance`` (loco policy, physics, contacts, dones,
  rewards with the previous TTC), ``FilterEnv.start`` (a fresh episode without sensing) for every
  env, the select, then ONE ``FilterEnv.observe`` (cull, ray cast, TTC, observation) per env;
* **loco**: ``VecEnv(LocoEnv).step`` (flat, zero actions, as ``benchmarks/env_throughput.py``),
  the issue's reference; **loco_walking**: the same env driven by the frozen ``loco_1`` policy on
  its own observation (policy included), a walking robot as in the filter env;
* the filter step's parts, each alone on the same batch: **physics** (``Go2Sim.physics_step``, 4
  MJX sub-steps, default-pose target), **loco_policy** (the frozen ONNX LSTM, its action fed back
  so nothing is dead code), **sensing** (``FilterEnv._sense``: cull, 540 rays, features, TTC),
  **contacts** (``FilterEnv._contacts``: the 3 x 3 cell cull and the 13 undesired bodies against
  static and moving obstacles), **obstacles** (``dynamic_obstacles.step``), **reset**
  (``FilterEnv.start``). Sensing and contacts move the base 2 cm per step so XLA cannot hoist them
  out of the loop. The parts are measured alone, so they need not add up to the step (fusion,
  the VecEnv select and episode bookkeeping, and MJX's solver, whose iteration count depends on
  the motion: standing robots converge faster than walking ones).

At the first batch only (``--train``, default on): ``Trainer.run(state, 1)`` of the CPU filter
config vs the trainer's rollout alone (``unroll_length`` steps).

Prints a table and writes ``benchmarks/results/filter_throughput.json``.
Goal (issue 11): filter env step <= 1.6 x the loco env step.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import jax.numpy as jnp

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402

PARTS = ("physics", "loco_policy", "sensing", "contacts", "obstacles", "reset")
LOCO_ONNX = ROOT.parent / "shared" / "reference" / "pretrained" / "loco_1.onnx"


def _time_all(programs, repeats):
  """``{name: (compile_s, times)}``: each program compiled once, then ``repeats`` round-robin
  rounds over all of them."""
  out = {}
  for name, (fn, arg) in programs.items():
    t = time.perf_counter()
    jax.block_until_ready(fn(arg))
    out[name] = [time.perf_counter() - t, []]
  for _ in range(repeats):
    for name, (fn, arg) in programs.items():
      t = time.perf_counter()
      jax.block_until_ready(fn(arg))
      out[name][1].append(time.perf_counter() - t)
  return {k: (c - min(ts), ts) for k, (c, ts) in out.items()}


def _record_times(row, programs, repeats, env_steps):
  """Times ``programs`` (:func:`_time_all`) into ``row``: ``<name>_compile_s``, ``<name>_times_s``
  and ``<name>_us_per_env_step`` (best call / ``env_steps`` env steps per call, in us)."""
  for name, (compile_s, times) in _time_all(programs, repeats).items():
    row[f"{name}_compile_s"] = compile_s
    row[f"{name}_times_s"] = times
    row[f"{name}_us_per_env_step"] = min(times) / env_steps * 1e6


def _scan(fn, steps):
  return jax.jit(lambda x: jax.lax.scan(lambda c, _: (fn(c), ()), x, None, length=steps)[0])


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
  p.add_argument("--steps", type=int, default=10, help="control steps per timed call")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--loco_onnx", default=str(LOCO_ONNX))
  p.add_argument("--no-train", dest="train", action="store_false")
  p.add_argument("--out", default=None)
  args = p.parse_args(argv)

  from reasan_jax import registry  # pylint: disable=import-outside-toplevel
  from reasan_jax.core import VecEnv  # pylint: disable=import-outside-toplevel
  from reasan_jax.policies import frozen  # pylint: disable=import-outside-toplevel
  from reasan_jax.scenes import dynamic_obstacles as dyn  # pylint: disable=import-outside-toplevel
  from reasan_jax.tasks.loco.env import policy_observation  # pylint: disable=import-outside-toplevel

  fc = registry.get_config("filter", "cpu")
  fc.env.loco_policy = args.loco_onnx
  fc.env.dynamic_obstacles.enabled = True
  fenv = registry.make_env(fc.env)
  lc = registry.get_config("loco", "cpu")
  lc.env.terrain = "flat"
  lenv = registry.make_env(lc.env)
  rows = []
  for bi, n in enumerate(args.batches):
    row = {"num_envs": n}
    fv, lv = VecEnv(fenv, n), VecEnv(lenv, n)
    fs = jax.jit(fv.reset)(jax.random.PRNGKey(0))
    ls = jax.jit(lv.reset)(jax.random.PRNGKey(0))
    zeros12 = jnp.zeros((n, 12))
    sim = fenv.sim
    gains, wrench = fs.info["gains"], fs.info["external_wrench"]
    target = jnp.broadcast_to(sim.default_pose, (n, 12))
    loco_obs = jax.vmap(lambda d: policy_observation(d, jnp.zeros(3), jnp.zeros(12),
                                                     fenv.config.loco_obs))(fs.data)

    def policy_step(c):
      carry, obs = c
      act, carry = jax.vmap(lambda o, k: frozen.act(fenv.loco_policy, {"state": o}, k))(obs, carry)
      return carry, obs.at[:, -12:].set(act)

    def moved(fn):  # shift the base 2 cm per step (plus a data dependence on the result)
      return lambda x, ob: x.replace(qpos=x.qpos.at[0].add(0.02 + 1e-6 * fn(x, ob)))

    sense = moved(lambda x, ob: jnp.sum(fenv._sense(x, {"obstacles": ob}, None).ttc))  # pylint: disable=protected-access
    touch = moved(lambda x, ob: jnp.sum(fenv._contacts(x, {"obstacles": ob})))  # pylint: disable=protected-access
    def loco_walking(c):  # the loco env driven by the same frozen policy (a walking robot)
      s, carry = c
      act, carry = jax.vmap(lambda o, k: frozen.act(fenv.loco_policy, {"state": o}, k))(
          s.obs["state"], carry)
      return lv.step(s, act), carry

    reset_keys = jax.random.split(jax.random.PRNGKey(1), n)
    programs = {
        "filter": (_scan(lambda s: fv.step(s, s.obs["proprio"][:, 6:9]), args.steps), fs),
        "loco": (_scan(lambda s: lv.step(s, zeros12), args.steps), ls),
        "loco_walking": (_scan(loco_walking, args.steps), (ls, fs.info["loco_carry"])),
        "physics": (_scan(lambda d: jax.vmap(lambda x, g, w: sim.physics_step(x, target[0], g, w)[0])(
            d, gains, wrench), args.steps), fs.data),
        "loco_policy": (_scan(policy_step, args.steps), (fs.info["loco_carry"], loco_obs)),
        "sensing": (_scan(lambda d: jax.vmap(sense)(d, fs.info["obstacles"]), args.steps), fs.data),
        "contacts": (_scan(lambda d: jax.vmap(touch)(d, fs.info["obstacles"]), args.steps), fs.data),
        "obstacles": (_scan(lambda ob: jax.vmap(lambda o, xy: dyn.step(o, jax.random.PRNGKey(0), xy))(
            ob, fs.data.qpos[:, :2]), args.steps), fs.info["obstacles"]),
        "reset": (_scan(lambda k: jax.vmap(lambda kk: jax.random.fold_in(kk, jnp.sum(
            fenv.start(kk).data.qpos).astype(jnp.uint32)))(k), args.steps), reset_keys),
    }
    _record_times(row, programs, args.repeats, n * args.steps)
    f = row["filter_us_per_env_step"]
    row["filter_over_loco"] = f / row["loco_us_per_env_step"]
    row["filter_over_loco_walking"] = f / row["loco_walking_us_per_env_step"]
    row["share"] = {k: row[f"{k}_us_per_env_step"] / f for k in PARTS}
    if bi == 0 and args.train:
      from reasan_jax.ppo.trainer import Trainer  # pylint: disable=import-outside-toplevel
      fc.ppo.num_envs = n
      trainer = Trainer(VecEnv(fenv, n), fc)
      state = jax.block_until_ready(trainer.init(jax.random.PRNGKey(0)))
      rollout = jax.jit(lambda s: trainer._rollout(  # pylint: disable=protected-access
          s.params, s.normalizer, s.env_state, s.actor_carry, s.critic_carry, s.rng))
      timed = _time_all({"iteration": (lambda s: trainer.run(s, 1), state),
                         "rollout": (rollout, state)}, args.repeats)
      for name, (compile_s, times) in timed.items():
        row[f"{name}_compile_s"], row[f"{name}_s"] = compile_s, min(times)
      row["iteration_over_rollout"] = row["iteration_s"] / row["rollout_s"]
    rows.append(row)
    sh = row["share"]
    print(f"num_envs {n:5d}: filter {f:8.1f} us/env-step | loco {row['loco_us_per_env_step']:8.1f}"
          f" | filter/loco {row['filter_over_loco']:.2f} | filter/loco walking "
          f"{row['filter_over_loco_walking']:.2f} | "
          + " ".join(f"{k} {sh[k]:.0%}" for k in PARTS),
          flush=True)
    if "iteration_s" in row:
      print(f"  training iteration {row['iteration_s']:.2f} s vs rollout {row['rollout_s']:.2f} s "
            f"({row['iteration_over_rollout']:.2f}x)", flush=True)

  cols = [("num_envs", "num_envs", "d"), ("filter us", "filter_us_per_env_step", ".1f"),
          ("loco us", "loco_us_per_env_step", ".1f"), ("filter/loco", "filter_over_loco", ".2f"),
          ("loco walk us", "loco_walking_us_per_env_step", ".1f"),
          ("f/loco walk", "filter_over_loco_walking", ".2f"),
          ("physics us", "physics_us_per_env_step", ".1f"),
          ("loco pol us", "loco_policy_us_per_env_step", ".1f"),
          ("sensing us", "sensing_us_per_env_step", ".1f"),
          ("contacts us", "contacts_us_per_env_step", ".1f"),
          ("obstacles us", "obstacles_us_per_env_step", ".2f"),
          ("reset us", "reset_us_per_env_step", ".1f")]
  print(_common.table(rows, cols))
  result = {"versions": _common.versions(),
            "settings": {"steps_per_call": args.steps, "repeats": args.repeats,
                         "loco_policy": pathlib.Path(args.loco_onnx).name,
                         "num_centers": fenv.config.sensors.num_centers,
                         "dynamic_obstacles": True, "filter_config": "cpu",
                         "timing": "round-robin, best of repeats"},
            "rows": rows}
  _common.write("filter_throughput", result, args.out)
  return result


if __name__ == "__main__":
  main()
