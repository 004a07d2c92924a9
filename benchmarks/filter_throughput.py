"""Filter env step vs loco env step, with the share of each part, and a filter training iteration
vs its rollout alone (issue "The safety filter").

Run from the repository root:

  python benchmarks/filter_throughput.py                          # batches 64 256 1024
  python benchmarks/filter_throughput.py --batches 8 --steps 2 --repeats 1   # a quick check

For each batch size, in one process, each as a jitted ``lax.scan`` of ``--steps`` control steps:

* **filter**: ``VecEnv(FilterEnv).step`` with dynamic obstacles on (3 slots per env, level 0 so
  parked, which costs the same), REASAN's ``loco_1.onnx`` as the frozen loco policy, the
  training sensing (1 ray centre), actions = the user command; includes the auto-reset branch
  every step (``VecEnv`` computes a fresh episode for every env each step, sensing included);
* **loco**: ``VecEnv(LocoEnv).step`` (flat, as ``benchmarks/env_throughput.py``);
* the filter step's parts, each alone on the same batch: **physics** (``Go2Sim.physics_step``, 4
  MJX sub-steps), **loco_policy** (the frozen ONNX LSTM), **sensing** (``FilterEnv._sense``: cull,
  540 rays, features, TTC, contacts), **obstacles** (``dynamic_obstacles.step``).

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

LOCO_ONNX = ROOT.parent / "shared" / "reference" / "pretrained" / "loco_1.onnx"


def _time(fn, arg, repeats):
  t = time.perf_counter()
  jax.block_until_ready(fn(arg))
  compile_s = time.perf_counter() - t
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(arg))
    times.append(time.perf_counter() - t)
  return compile_s - min(times), times


def _scan(fn, steps):
  return jax.jit(lambda x: jax.lax.scan(lambda c, _: (fn(c), ()), x, None, length=steps)[0])


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
  p.add_argument("--steps", type=int, default=10, help="control steps per timed call")
  p.add_argument("--repeats", type=int, default=2)
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
    programs = {
        "filter": (_scan(lambda s: fv.step(s, s.obs["proprio"][:, 6:9]), args.steps), fs),
        "loco": (_scan(lambda s: lv.step(s, zeros12), args.steps), ls),
        "physics": (_scan(lambda d: jax.vmap(lambda x, g, w: sim.physics_step(x, target[0], g, w)[0])(
            d, gains, wrench), args.steps), fs.data),
        "loco_policy": (_scan(lambda c: jax.vmap(lambda o, k: frozen.act(
            fenv.loco_policy, {"state": o}, k)[1])(loco_obs, c), args.steps), fs.info["loco_carry"]),
        "sensing": (_scan(lambda d: jax.vmap(lambda x, ob: x.replace(qpos=x.qpos.at[0].add(
            0.02 + 1e-3 * jnp.sum(fenv._sense(x, {"obstacles": ob}, None).ttc))))(  # pylint: disable=protected-access
                d, fs.info["obstacles"]), args.steps), fs.data),
        "obstacles": (_scan(lambda ob: jax.vmap(lambda o, xy: dyn.step(o, jax.random.PRNGKey(0), xy))(
            ob, fs.data.qpos[:, :2]), args.steps), fs.info["obstacles"]),
    }
    for name, (fn, arg) in programs.items():
      compile_s, times = _time(fn, arg, args.repeats)
      row[f"{name}_compile_s"] = compile_s
      row[f"{name}_times_s"] = times
      row[f"{name}_us_per_env_step"] = min(times) / (n * args.steps) * 1e6
    f = row["filter_us_per_env_step"]
    row["filter_over_loco"] = f / row["loco_us_per_env_step"]
    row["share"] = {k: row[f"{k}_us_per_env_step"] / f
                    for k in ("physics", "loco_policy", "sensing", "obstacles")}
    if bi == 0 and args.train:
      from reasan_jax.ppo.trainer import Trainer  # pylint: disable=import-outside-toplevel
      fc.ppo.num_envs = n
      trainer = Trainer(VecEnv(fenv, n), fc)
      state = jax.block_until_ready(trainer.init(jax.random.PRNGKey(0)))
      rollout = jax.jit(lambda s: trainer._rollout(  # pylint: disable=protected-access
          s.params, s.normalizer, s.env_state, s.actor_carry, s.critic_carry, s.rng))
      for name, fn in (("iteration", lambda s: trainer.run(s, 1)), ("rollout", rollout)):
        compile_s, times = _time(fn, state, args.repeats)
        row[f"{name}_compile_s"], row[f"{name}_s"] = compile_s, min(times)
      row["iteration_over_rollout"] = row["iteration_s"] / row["rollout_s"]
    rows.append(row)
    sh = row["share"]
    print(f"num_envs {n:5d}: filter {f:8.1f} us/env-step | loco {row['loco_us_per_env_step']:8.1f}"
          f" | filter/loco {row['filter_over_loco']:.2f} | physics {sh['physics']:.0%} loco policy "
          f"{sh['loco_policy']:.0%} sensing {sh['sensing']:.0%} obstacles {sh['obstacles']:.0%}",
          flush=True)
    if "iteration_s" in row:
      print(f"  training iteration {row['iteration_s']:.2f} s vs rollout {row['rollout_s']:.2f} s "
            f"({row['iteration_over_rollout']:.2f}x)", flush=True)

  cols = [("num_envs", "num_envs", "d"), ("filter us", "filter_us_per_env_step", ".1f"),
          ("loco us", "loco_us_per_env_step", ".1f"), ("filter/loco", "filter_over_loco", ".2f"),
          ("physics us", "physics_us_per_env_step", ".1f"),
          ("loco pol us", "loco_policy_us_per_env_step", ".1f"),
          ("sensing us", "sensing_us_per_env_step", ".1f"),
          ("obstacles us", "obstacles_us_per_env_step", ".2f")]
  print(_common.table(rows, cols))
  result = {"versions": _common.versions(),
            "settings": {"steps_per_call": args.steps, "repeats": args.repeats,
                         "loco_policy": pathlib.Path(args.loco_onnx).name,
                         "num_centers": fenv.config.sensors.num_centers,
                         "dynamic_obstacles": True, "filter_config": "cpu"},
            "rows": rows}
  _common.write("filter_throughput", result, args.out)
  return result


if __name__ == "__main__":
  main()
