"""Scaling of our training iteration with num_envs on this CPU, and where the time goes.

Run from the repository root (main interpreter only, no venv needed):

  nice -n 19 python benchmarks/scaling.py                                   # 64 256 1024 4096 envs
  nice -n 19 python benchmarks/scaling.py --batches 64 256                  # the quick part
  nice -n 19 python benchmarks/scaling.py --epochs 10                       # REASAN's 10 epochs
  python benchmarks/scaling.py --batches 4 --unroll 4 --epochs 1 --minibatches 1   # tiny check
  python benchmarks/scaling.py --config gpu --batches 4096 --programs iteration rollout  # as gpu_suite.sh

For each batch size (one fresh subprocess each, so its peak RSS is its own) it compiles and times,
with the CPU loco config (``configs/loco.py``; ``--config gpu`` for REASAN's sizes: GRU 256, MLPs
512-256-128, 10 epochs, rough terrain; GRU policy unless ``--mlp``) these programs (``--programs``
picks some; the others' figures are then absent):

* ``iteration``: ``Trainer.run(state, 1)`` - rollout + GAE + epochs x minibatches update.
* ``rollout``: the trainer's rollout alone (``unroll_length`` steps of actor/critic GRU + env).
* ``env``: ``unroll_length`` ``VecEnv.step`` calls with zero actions (task + physics + auto-reset).
* ``physics``: ``unroll_length`` x ``decimation`` raw ``mjx.step`` on the same model and batch.

Breakdown of one iteration: physics; env overhead = env - physics; policy = rollout - env
(actor/critic forward, sampling, bootstrap value); update = iteration - rollout (GAE, minibatch
gathers, forward/backward, Adam). Each timed twice (best kept). Prints a table and writes
``benchmarks/results/scaling.json``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402

if _common.use_tree():
  sys.path.insert(0, str(HERE.parent))

PROGRAMS = ("iteration", "rollout", "env", "physics")


def worker(args) -> dict:
  """Times the four programs for one batch size (``args.batches[0]``)."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from mujoco import mjx  # pylint: disable=import-outside-toplevel

  from reasan_jax.configs import loco  # pylint: disable=import-outside-toplevel
  from reasan_jax.robots import go2  # pylint: disable=import-outside-toplevel
  from reasan_jax.core import VecEnv  # pylint: disable=import-outside-toplevel
  from reasan_jax.registry import make_env as make  # pylint: disable=import-outside-toplevel
  from reasan_jax.ppo.trainer import Trainer  # pylint: disable=import-outside-toplevel

  if args.cpu_devices > 1:  # before anything initialises the CPU backend
    jax.config.update("jax_num_cpu_devices", args.cpu_devices)
  n = args.batches[0]
  c = loco.get_config(args.config)
  c.ppo.num_envs, c.ppo.unroll_length = n, args.unroll
  c.ppo.num_minibatches, c.ppo.num_epochs = args.minibatches, args.epochs
  if args.mlp:
    c.network.rnn_size = 0
  venv = VecEnv(make(c.env), n)
  trainer = Trainer(venv, c)
  state = jax.block_until_ready(trainer.init(jax.random.PRNGKey(0)))
  model = venv.env.mjx_model
  target = jnp.asarray(go2.DEFAULT_POSE_MJCF)
  zeros = jnp.zeros((n, venv.action_size))
  T = args.unroll  # noqa: N806

  programs = {
      "iteration": (lambda s: trainer.run(s, 1), state),
      "rollout": (jax.jit(lambda s: trainer._rollout(  # pylint: disable=protected-access
          s.params, s.normalizer, s.env_state, s.actor_carry, s.critic_carry, s.rng)), state),
      "env": (jax.jit(lambda e: jax.lax.scan(
          lambda x, _: (venv.step(x, zeros), ()), e, None, length=T)[0]), state.env_state),
  }

  def raw(d):
    def sub(x, _):
      tau = jnp.clip(35.0 * (target - x.qpos[:, 7:]) - 0.5 * x.qvel[:, 6:], -23.5, 23.5)
      return jax.vmap(lambda y: mjx.step(model, y))(x.replace(ctrl=tau)), ()
    return jax.lax.scan(sub, d, None, length=T * c.env.decimation)[0]
  programs["physics"] = (jax.jit(raw), state.env_state.data)

  out = {"num_envs": n, "env_steps_per_iteration": n * T}
  for name in args.programs:
    fn, arg = programs[name]
    times = []
    for _ in range(1 + args.repeats):
      t = time.perf_counter()
      jax.block_until_ready(fn(arg))
      times.append(time.perf_counter() - t)
    out[f"{name}_s"] = min(times[1:])
    out[f"{name}_compile_s"] = times[0] - min(times[1:])
  for name, key in (("iteration", "train"), ("rollout", "rollout"), ("env", "env"), ("physics", "physics")):
    if f"{name}_s" in out:
      out[f"{key}_env_steps_per_s"] = n * T / out[f"{name}_s"]
  if all(f"{name}_s" in out for name in PROGRAMS):
    it = out["iteration_s"]
    out["share"] = {"physics": out["physics_s"] / it,
                    "env_overhead": (out["env_s"] - out["physics_s"]) / it,
                    "policy": (out["rollout_s"] - out["env_s"]) / it,
                    "update": (it - out["rollout_s"]) / it}
  return out


def build_parser() -> argparse.ArgumentParser:
  """The command line (also used by ``gpu_suite.py``'s plan check)."""
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024, 4096])
  p.add_argument("--config", choices=("cpu", "gpu"), default="cpu",
                 help="loco config sizes: cpu (default) or gpu (REASAN's)")
  p.add_argument("--programs", nargs="+", choices=PROGRAMS, default=list(PROGRAMS),
                 help="programs to time (default all four)")
  p.add_argument("--unroll", type=int, default=24)
  p.add_argument("--minibatches", type=int, default=4)
  p.add_argument("--epochs", type=int, default=None,
                  help="update epochs (default: the chosen loco config's: cpu 5, gpu 10 as REASAN)")
  p.add_argument("--repeats", type=int, default=1, help="timed calls after the compiling one")
  p.add_argument("--mlp", action="store_true", help="network.rnn_size = 0")
  p.add_argument("--cpu-devices", type=int, default=1,
                 help="XLA CPU devices (the trainer shards the env batch over them)")
  p.add_argument("--out", default=None)
  p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
  return p


def main(argv=None) -> dict:
  args = build_parser().parse_args(argv)
  if args.epochs is None:
    from reasan_jax.configs import loco  # pylint: disable=import-outside-toplevel

    args.epochs = int(loco.get_config(args.config).ppo.num_epochs)

  if args.worker:
    res = worker(args)
    _common.emit(res)
    return res

  rows = []
  for n in args.batches:
    res = _common.run_worker(sys.executable, __file__, [
        "--worker", "--batches", str(n), "--unroll", str(args.unroll), "--minibatches",
        str(args.minibatches), "--epochs", str(args.epochs), "--repeats", str(args.repeats),
        "--cpu-devices", str(args.cpu_devices), "--config", args.config, "--programs", *args.programs]
        + (["--mlp"] if args.mlp else []))
    res.update({f"share_{k}": v for k, v in res.pop("share", {}).items()})
    rows.append(res)
    figures = ", ".join(f"{key} {res[f'{key}_env_steps_per_s']:.0f}" for key in
                        ("train", "rollout", "env", "physics") if f"{key}_env_steps_per_s" in res)
    print(f"num_envs {n}: env-steps/s {figures}; peak RSS {res['peak_rss_mb']:.0f} MB", flush=True)
  print(_common.table(rows, [
      ("num_envs", "num_envs", "d"), ("train steps/s", "train_env_steps_per_s", ".0f"),
      ("rollout steps/s", "rollout_env_steps_per_s", ".0f"), ("env steps/s", "env_env_steps_per_s", ".0f"),
      ("physics steps/s", "physics_env_steps_per_s", ".0f"), ("physics", "share_physics", ".0%"),
      ("env ovh", "share_env_overhead", ".0%"), ("policy", "share_policy", ".0%"),
      ("update", "share_update", ".0%"), ("RSS MB", "peak_rss_mb", ".0f")]))
  result = {"settings": {"batches": args.batches, "unroll_length": args.unroll,
                         "num_minibatches": args.minibatches, "num_epochs": args.epochs,
                         "repeats": args.repeats, "cpu_devices": args.cpu_devices,
                         "network": "mlp" if args.mlp else f"gru ({args.config} config)",
                         "programs": list(args.programs),
                         "env": f"loco (configs/loco.py {args.config}: "
                                f"{'flat' if args.config == 'cpu' else 'rough'}, feet collisions)"},
            "versions": _common.versions(), "rows": rows}
  _common.write("scaling", result, args.out)
  return result


if __name__ == "__main__":
  main()
