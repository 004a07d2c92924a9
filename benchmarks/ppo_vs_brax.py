"""Our GRU-PPO (and MLP-PPO) vs Brax's MLP-PPO on our Go2 loco env: training env-steps/s, compile, RSS.

Run from the repository root (after ``bash benchmarks/setup_brax_venv.sh`` once):

  nice -n 19 python benchmarks/ppo_vs_brax.py                                   # 64 envs, 3 rounds
  nice -n 19 python benchmarks/ppo_vs_brax.py --num-envs 256 --repeats 2        # a bigger batch
  python benchmarks/ppo_vs_brax.py --num-envs 4 --minibatches 1 --epochs 1 --unroll 4 \
      --iterations 1 --repeats 1 --hidden 16 --rnn 16                        # tiny check

Both sides train on the same task (``configs/loco.py``, CPU config: flat terrain, "feet"
collisions, 4 physics sub-steps per policy step, domain randomisation on) with the same
``num_envs``, ``unroll_length``, ``num_minibatches``, ``num_epochs`` and hidden sizes:

* ``ours-gru``: ``reasan_jax.ppo.Trainer`` with the config's GRU (``network.rnn_size``), the main
  interpreter (jax 0.10).
* ``ours-mlp``: the same trainer with ``network.rnn_size = 0`` (MLP policy), for the like-for-like
  network comparison.
* ``brax-mlp``: ``brax.training.agents.ppo.train.train`` (brax 0.14.2) on
  ``benchmarks/brax_adapter.BraxAdapter(our env)``, wrapped by Brax's own training wrappers, with
  ``batch_size = num_envs / num_minibatches`` so one Brax training step is exactly one of our
  iterations (num_envs x unroll env steps, minibatches x epochs Adam steps); run in
  ``benchmarks/.venv-brax`` (jax 0.8.2, see ``setup_brax_venv.sh``) because brax 0.14.2's PPO needs
  ``jax.device_put_replicated``, removed in jax 0.10.

Each side runs in a fresh subprocess, alternating ``--repeats`` rounds. Timing: one compiled call of
``--iterations`` iterations is made twice (ours: ``Trainer.run(state, K)``; Brax: training
epochs of K training steps, ``num_evals=4, run_evals=False``); steps/s from the last call,
compile time = first call - last call. Brax gets three epochs because brax 0.14.2 on jax 0.8.2
recompiles its epoch program on the second call (the train state's sharding changes from
``device_put_replicated``'s mesh to the pmap output's mesh; found with ``JAX_LOG_COMPILES=1``), which
also makes Brax's own ``training/sps`` of the 2nd epoch meaningless; that recompile is reported as
``recompile_2nd_epoch_s`` and not counted in steps/s. Peak RSS is the worker's ``ru_maxrss``. Prints a table and
writes ``benchmarks/results/ppo_vs_brax.json``. Goal: ours-gru steps/s >= 1.0 x brax-mlp.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import _common  # noqa: E402


def _config(args):
  from reasan_jax.configs import loco  # pylint: disable=import-outside-toplevel

  c = loco.get_config("cpu")
  c.ppo.num_envs = args.num_envs
  c.ppo.unroll_length = args.unroll
  c.ppo.num_minibatches = args.minibatches
  c.ppo.num_epochs = args.epochs
  if args.hidden:
    c.network.actor_hidden = c.network.critic_hidden = tuple(args.hidden)
  if args.rnn:
    c.network.rnn_size = args.rnn
  return c


SIDES = ["ours-gru", "ours-mlp", "brax-mlp", "ours-gru@venv", "ours-mlp@venv"]


def _in_venv(side: str) -> bool:
  """Sides that run in the peers' interpreter (jax 0.8.2)."""
  return side == "brax-mlp" or side.endswith("@venv")


def worker_ours(args, rnn: bool) -> dict:
  """Our trainer: two calls of run(state, K); returns timings."""
  import jax  # pylint: disable=import-outside-toplevel

  from reasan_jax.core import VecEnv  # pylint: disable=import-outside-toplevel
  from reasan_jax.registry import make_env as make  # pylint: disable=import-outside-toplevel
  from reasan_jax.ppo.trainer import Trainer  # pylint: disable=import-outside-toplevel

  c = _config(args)
  if not rnn:
    c.network.rnn_size = 0
  t0 = time.perf_counter()
  trainer = Trainer(VecEnv(make(c.env), c.ppo.num_envs), c)
  state = jax.block_until_ready(trainer.init(jax.random.PRNGKey(args.seed)))
  init_s = time.perf_counter() - t0
  times = []
  for _ in range(2):
    t = time.perf_counter()
    state, metrics = trainer.run(state, args.iterations)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t)
  steps = args.iterations * trainer.env_steps_per_iteration
  return {"side": args.worker, "init_s": init_s, "call_s": times,
          "env_steps_per_call": steps, "env_steps_per_s": steps / times[1],
          "compile_s": times[0] - times[1], "network": {
              "rnn_size": int(c.network.rnn_size), "actor_hidden": list(c.network.actor_hidden),
              "critic_hidden": list(c.network.critic_hidden), "activation": c.network.activation}}


def worker_brax(args) -> dict:
  """Brax PPO on the adapted env: two training epochs of K training steps; returns timings."""
  import functools  # pylint: disable=import-outside-toplevel

  import flax.linen as nn  # pylint: disable=import-outside-toplevel
  from brax.training.agents.ppo import networks as ppo_networks  # pylint: disable=import-outside-toplevel
  from brax.training.agents.ppo import train as ppo  # pylint: disable=import-outside-toplevel

  from brax_adapter import BraxAdapter  # pylint: disable=import-outside-toplevel
  from reasan_jax.registry import make_env as make  # pylint: disable=import-outside-toplevel

  c = _config(args)
  p, n = c.ppo, c.network
  env = BraxAdapter(make(c.env))
  factory = functools.partial(
      ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=tuple(n.actor_hidden),
      value_hidden_layer_sizes=tuple(n.critic_hidden), activation=nn.elu,
      policy_obs_key="state", value_obs_key="privileged_state")
  per_step = p.num_envs * p.unroll_length
  marks = []

  def progress(step, metrics):
    marks.append((time.perf_counter(), int(step), float(metrics.get("training/walltime", 0.0)),
                  float(metrics.get("training/sps", 0.0))))

  t0 = time.perf_counter()
  ppo.train(
      environment=env, num_timesteps=args.brax_epochs * args.iterations * per_step,
      num_evals=args.brax_epochs + 1,
      run_evals=False, progress_fn=progress, episode_length=c.env.episode_length,
      num_envs=p.num_envs, batch_size=p.num_envs // p.num_minibatches,
      num_minibatches=p.num_minibatches, unroll_length=p.unroll_length,
      num_updates_per_batch=p.num_epochs, learning_rate=p.learning_rate,
      learning_rate_schedule="ADAPTIVE_KL", desired_kl=p.desired_kl,
      entropy_cost=p.entropy_coef, discounting=p.gamma, gae_lambda=p.gae_lambda,
      clipping_epsilon=p.clip_param, max_grad_norm=p.max_grad_norm, normalize_advantage=True,
      normalize_observations=False, network_factory=factory,
      seed=args.seed)
  total = time.perf_counter() - t0
  if len(marks) != args.brax_epochs:
    raise RuntimeError(f"expected {args.brax_epochs} training epochs, got {marks}")
  walls = [0.0] + [m[2] for m in marks]
  times = [b - a for a, b in zip(walls[:-1], walls[1:])]
  steps = marks[-1][1] - marks[-2][1]
  return {"side": "brax-mlp", "init_s": total - walls[-1], "call_s": times,
          "env_steps_per_call": steps, "env_steps_per_s": steps / times[-1],
          "compile_s": times[0] - times[-1],
          "recompile_2nd_epoch_s": times[1] - times[-1] if len(times) > 2 else None,
          "brax_reported_sps": [m[3] for m in marks],
          "network": {"rnn_size": 0, "actor_hidden": list(n.actor_hidden),
                      "critic_hidden": list(n.critic_hidden), "activation": "elu"}}


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--num-envs", type=int, default=64)
  p.add_argument("--unroll", type=int, default=24)
  p.add_argument("--minibatches", type=int, default=4)
  p.add_argument("--epochs", type=int, default=10)
  p.add_argument("--iterations", type=int, default=2, help="training iterations per timed call")
  p.add_argument("--repeats", type=int, default=3, help="alternating rounds of all sides")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--hidden", type=int, nargs="+", default=None,
                 help="actor/critic hidden sizes (default: the CPU config's (256, 128, 64))")
  p.add_argument("--rnn", type=int, default=0, help="GRU size of ours-gru (default: config's 128)")
  p.add_argument("--brax-epochs", type=int, default=3,
                 help="Brax training epochs of --iterations steps (the last one is timed; >= 3, "
                      "brax 0.14.2 on jax 0.8.2 recompiles its epoch program on the 2nd call)")
  p.add_argument("--sides", nargs="+", default=["ours-gru", "ours-mlp", "brax-mlp"],
                 help=f"any of {' '.join(SIDES)}; '@venv' runs our trainer in the peers' jax 0.8.2")
  p.add_argument("--brax-python", default=None, help="peers' interpreter (default .venv-brax)")
  p.add_argument("--out", default=None)
  p.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
  args = p.parse_args(argv)

  if args.worker:
    res = (worker_brax(args) if args.worker == "brax-mlp"
           else worker_ours(args, args.worker.startswith("ours-gru")))
    _common.emit(res)
    return res

  bpy = _common.brax_python(args.brax_python)
  sides, skipped = _common.drop_venv_sides(args.sides, _in_venv, bpy)
  fwd = ["--num-envs", str(args.num_envs), "--unroll", str(args.unroll), "--minibatches",
         str(args.minibatches), "--epochs", str(args.epochs), "--iterations", str(args.iterations),
         "--seed", str(args.seed), "--brax-epochs", str(args.brax_epochs),
         "--rnn", str(args.rnn)] + (["--hidden", *map(str, args.hidden)] if args.hidden else [])
  runs = {s: [] for s in sides}
  for r in range(args.repeats):
    for s in sides:
      py = bpy if _in_venv(s) else sys.executable
      res = _common.run_worker(py, __file__, fwd + ["--worker", s])
      runs[s].append(res)
      print(f"round {r} {s:9s}: {res['env_steps_per_s']:8.0f} env-steps/s, compile "
            f"{res['compile_s']:5.1f} s, peak RSS {res['peak_rss_mb']:6.0f} MB", flush=True)

  rows = []
  for s in sides:
    rs = runs[s]
    sps = [x["env_steps_per_s"] for x in rs]
    rows.append({"side": s, "env_steps_per_s": max(sps), "env_steps_per_s_median": statistics.median(sps),
                 "compile_s": statistics.median(x["compile_s"] for x in rs),
                 "peak_rss_mb": max(x["peak_rss_mb"] for x in rs),
                 "jax": rs[0]["versions"].get("jax"), "network": rs[0]["network"]})
  best = {r["side"]: r["env_steps_per_s"] for r in rows}
  ratios = {}
  if "brax-mlp" in best:
    for s in [s for s in best if s.startswith("ours")]:
      ratios[f"{s}_over_brax-mlp"] = best[s] / best["brax-mlp"]
  print(_common.table(rows, [("side", "side", ""), ("env-steps/s (best)", "env_steps_per_s", ".0f"),
                             ("median", "env_steps_per_s_median", ".0f"),
                             ("compile s", "compile_s", ".1f"), ("peak RSS MB", "peak_rss_mb", ".0f"),
                             ("jax", "jax", "")]))
  for k, v in ratios.items():
    print(f"{k}: {v:.2f} (goal for ours-gru: >= 1.0)")
  result = {"settings": {"num_envs": args.num_envs, "unroll_length": args.unroll,
                         "num_minibatches": args.minibatches, "num_epochs": args.epochs,
                         "iterations_per_call": args.iterations, "repeats": args.repeats,
                         "seed": args.seed, "hidden": args.hidden, "rnn": args.rnn, "env": "loco (configs/loco.py cpu: flat, feet collisions)",
                         "brax_python": str(bpy) if bpy else None},
            "versions_main": _common.versions(), "rows": rows, "ratios": ratios,
            "skipped": skipped, "runs": runs}
  _common.write("ppo_vs_brax", result, args.out)
  return result


if __name__ == "__main__":
  main()
