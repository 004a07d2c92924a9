"""Accuracy of learning: our PPO (GRU and MLP) vs Brax PPO on Playground's CartpoleBalance, seeds 0-2.

Run from the repository root (after ``bash benchmarks/setup_brax_venv.sh`` once; every side runs
in the peers' venv because Playground needs it):

  nice -n 19 python benchmarks/learn_vs_brax.py                               # 3 seeds x 3 sides
  python benchmarks/learn_vs_brax.py --iterations 1 --num-envs 4 --minibatches 1 --epochs 1 --unroll 4 --eval-envs 2 --episode-length 10 --seeds 0 --sides ours-mlp brax-mlp   # tiny

Environment: ``mujoco_playground`` 0.2.0 dm_control suite ``CartpoleBalance`` (its JAX
implementation, ``impl="jax"``), episodes of ``--episode-length`` steps. Sides, one subprocess
per (side, seed), all with the same num_envs, unroll length, minibatches, epochs, hidden sizes,
learning rate (adaptive-KL), entropy, discount, GAE lambda, clip, observation normalisation and
**equal env steps** (iterations x num_envs x unroll):

* ``ours-gru`` / ``ours-mlp``: ``reasan_jax.ppo.Trainer`` (``network.rnn_size`` = ``--rnn`` / 0)
  on ``PlaygroundAdapter(env)`` (below: Playground's MjxEnv as our single-env ``Env``, with the
  time limit as truncation) batched by our ``VecEnv``.
* ``brax-mlp``: ``brax.training.agents.ppo.train.train`` on the Playground env with Playground's
  documented wrapper (``wrap_env_fn=wrapper.wrap_for_brax_training``).

Return = the final policy's mean (Gaussian mean / deterministic) undiscounted return over
``--eval-envs`` episodes of ``--episode-length`` steps, measured by the same evaluation loop for
every side. Prints a table and writes ``benchmarks/results/learn_vs_brax.json``.
Goal: ours >= Brax's at equal steps.
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

ENV_NAME = "CartpoleBalance"


def _playground_env(args):
  from mujoco_playground import registry  # pylint: disable=import-outside-toplevel

  return registry.load(ENV_NAME, config_overrides={"impl": "jax",
                                                   "episode_length": args.episode_length})


def _adapter(pg_env, episode_length):
  """Playground ``MjxEnv`` -> our :class:`reasan_jax.core.env.Env` (time limit = truncation)."""
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  from reasan_jax.core.env import Env, State  # pylint: disable=import-outside-toplevel

  class PlaygroundAdapter(Env):
    """One Playground env as our single-env task."""

    mjx_model = None  # no per-env model randomisation here

    @property
    def action_size(self):
      return pg_env.action_size

    def _wrap(self, s, t, done, trunc):
      obs = s.obs if isinstance(s.obs, dict) else {"state": s.obs}
      return State(data=s.data, obs=dict(obs), reward=s.reward, done=done, truncation=trunc,
                   metrics={}, info={"pg_info": s.info, "pg_metrics": s.metrics, "t": t})

    def reset(self, rng, persistent=None):
      del persistent
      s = pg_env.reset(rng)
      zero = jnp.zeros((), jnp.float32)
      return self._wrap(s, jnp.zeros((), jnp.int32), zero, zero)

    def step(self, state, action):
      import mujoco_playground._src.mjx_env as mjx_env  # pylint: disable=import-outside-toplevel

      obs = state.obs["state"] if set(state.obs) == {"state"} else state.obs
      s = mjx_env.State(data=state.data, obs=obs, reward=state.reward, done=state.done,
                        metrics=state.info["pg_metrics"], info=state.info["pg_info"])
      s = pg_env.step(s, action)
      t = state.info["t"] + 1
      term = (s.done > 0.5).astype(jnp.float32)
      trunc = ((t >= episode_length) & (term < 0.5)).astype(jnp.float32)
      return self._wrap(s, t, jnp.maximum(term, trunc), trunc)

  return PlaygroundAdapter()


def _evaluate(pg_env, policy, params_carry, args, seed):
  """Mean return of ``policy`` over eval envs: ``policy(obs, carry) -> (action, carry)``."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  n = args.eval_envs
  state = jax.jit(jax.vmap(pg_env.reset))(jax.random.split(jax.random.PRNGKey(1000 + seed), n))

  @jax.jit
  def run(state, carry):
    def body(c, _):
      s, h, ret, alive = c
      a, h = policy(s.obs, h)
      s = jax.vmap(pg_env.step)(s, a)
      ret = ret + alive * s.reward
      alive = alive * (1.0 - s.done)
      return (s, h, ret, alive), ()
    init = (state, carry, jnp.zeros(n), jnp.ones(n))
    return jax.lax.scan(body, init, None, length=args.episode_length)[0][2]
  return float(jnp.mean(run(state, params_carry)))


def worker_ours(args, seed, rnn) -> dict:
  import jax  # pylint: disable=import-outside-toplevel

  from reasan_jax.configs import loco  # pylint: disable=import-outside-toplevel
  from reasan_jax.core import VecEnv  # pylint: disable=import-outside-toplevel
  from reasan_jax.ppo.trainer import Trainer  # pylint: disable=import-outside-toplevel

  pg_env = _playground_env(args)
  c = loco.get_config("cpu")
  p = c.ppo
  p.num_envs, p.unroll_length = args.num_envs, args.unroll
  p.num_minibatches, p.num_epochs = args.minibatches, args.epochs
  p.learning_rate, p.entropy_coef, p.normalize_observations = args.lr, args.entropy, True
  c.network.rnn_size = args.rnn if rnn else 0
  c.network.actor_hidden = c.network.critic_hidden = tuple(args.hidden)
  trainer = Trainer(VecEnv(_adapter(pg_env, args.episode_length), args.num_envs, randomize=False), c)
  t0 = time.perf_counter()
  state = trainer.init(jax.random.PRNGKey(seed))
  state, metrics = trainer.run(state, args.iterations)
  jax.block_until_ready(metrics)
  train_s = time.perf_counter() - t0
  policy = trainer.policy(state)  # deterministic (the mean), normaliser folded in
  ret = _evaluate(pg_env, lambda obs, h: policy.apply({"state": obs}, h),
                  policy.init_carry(args.eval_envs), args, seed)
  return {"side": "ours-gru" if rnn else "ours-mlp", "seed": seed, "return": ret,
          "env_steps": args.iterations * trainer.env_steps_per_iteration, "train_s": train_s,
          "train_episode_return_last": float(metrics["episode/return"][-1])}


def worker_brax(args, seed) -> dict:
  import functools  # pylint: disable=import-outside-toplevel

  import flax.linen as nn  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from brax.training.agents.ppo import networks as ppo_networks  # pylint: disable=import-outside-toplevel
  from brax.training.agents.ppo import train as ppo  # pylint: disable=import-outside-toplevel
  from mujoco_playground import wrapper  # pylint: disable=import-outside-toplevel

  pg_env = _playground_env(args)
  factory = functools.partial(
      ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=tuple(args.hidden),
      value_hidden_layer_sizes=tuple(args.hidden), activation=nn.elu)
  t0 = time.perf_counter()
  make_policy, params, _ = ppo.train(
      environment=pg_env, wrap_env_fn=wrapper.wrap_for_brax_training,
      num_timesteps=args.iterations * args.num_envs * args.unroll, num_evals=2, run_evals=False,
      episode_length=args.episode_length, num_envs=args.num_envs,
      batch_size=args.num_envs // args.minibatches, num_minibatches=args.minibatches,
      unroll_length=args.unroll, num_updates_per_batch=args.epochs, learning_rate=args.lr,
      learning_rate_schedule="ADAPTIVE_KL", desired_kl=0.01, entropy_cost=args.entropy,
      discounting=0.99, gae_lambda=0.95, clipping_epsilon=0.2, max_grad_norm=1.0,
      normalize_observations=True, network_factory=factory, seed=seed)
  train_s = time.perf_counter() - t0
  pol = make_policy(params, deterministic=True)  # batched obs -> (action, extras)
  key = jax.random.PRNGKey(0)  # unused by the deterministic policy
  ret = _evaluate(pg_env, lambda obs, h: (pol(obs, key)[0], h), jnp.zeros((args.eval_envs,)),
                  args, seed)
  return {"side": "brax-mlp", "seed": seed, "return": ret,
          "env_steps": args.iterations * args.num_envs * args.unroll, "train_s": train_s}


def _summary(args, bpy, runs, final):
  """Table rows (mean/std over seeds per side), differences to Brax; writes the JSON."""
  rows = []
  for s in args.sides:
    mine = [r for r in runs if r["side"] == s]
    if not mine:
      continue
    rets = [r["return"] for r in mine]
    rows.append({"side": s, **{f"seed{r['seed']}": r["return"] for r in mine},
                 "mean": statistics.mean(rets),
                 "std": statistics.pstdev(rets) if len(rets) > 1 else 0.0,
                 "train_s_mean": statistics.mean(r["train_s"] for r in mine)})
  means = {r["side"]: r["mean"] for r in rows}
  diffs = {f"{s}_minus_brax-mlp": means[s] - means["brax-mlp"]
           for s in ("ours-gru", "ours-mlp") if s in means and "brax-mlp" in means}
  if final:
    cols = [("side", "side", "")] + [(f"seed {x}", f"seed{x}", ".1f") for x in args.seeds] + [
        ("mean", "mean", ".1f"), ("std", "std", ".1f"), ("train s", "train_s_mean", ".0f")]
    print(_common.table(rows, cols))
    for k, v in diffs.items():
      print(f"{k}: {v:+.1f} (goal: >= 0)")
  result = {"complete": final, "settings": {**{k: getattr(args, k) for k in (
      "num_envs", "unroll", "minibatches", "epochs", "iterations", "episode_length", "hidden",
      "rnn", "lr", "entropy", "eval_envs", "seeds")}, "env": f"playground {ENV_NAME} (impl=jax)",
      "env_steps": args.iterations * args.num_envs * args.unroll, "brax_python": str(bpy)},
            "rows": rows, "differences": diffs, "runs": runs}
  _common.write("learn_vs_brax", result, args.out)
  return result


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--num-envs", type=int, default=64)
  p.add_argument("--unroll", type=int, default=32)
  p.add_argument("--minibatches", type=int, default=4)
  p.add_argument("--epochs", type=int, default=4)
  p.add_argument("--iterations", type=int, default=100, help="training iterations (equal steps)")
  p.add_argument("--episode-length", type=int, default=500)
  p.add_argument("--hidden", type=int, nargs="+", default=[64, 64])
  p.add_argument("--rnn", type=int, default=32, help="GRU size of ours-gru")
  p.add_argument("--lr", type=float, default=1e-3)
  p.add_argument("--entropy", type=float, default=0.005)
  p.add_argument("--eval-envs", type=int, default=32)
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  p.add_argument("--sides", nargs="+", default=["ours-gru", "ours-mlp", "brax-mlp"])
  p.add_argument("--brax-python", default=None)
  p.add_argument("--out", default=None)
  p.add_argument("--worker", help=argparse.SUPPRESS)
  p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
  args = p.parse_args(argv)

  if args.worker:
    res = (worker_brax(args, args.seed) if args.worker == "brax-mlp"
           else worker_ours(args, args.seed, args.worker == "ours-gru"))
    _common.emit(res)
    return res

  bpy = _common.brax_python(args.brax_python)
  if bpy is None:
    print(f"skipping everything: {_common.VENV_HINT}")
    return {"skipped": "no venv"}
  fwd = []
  for k in ("num_envs", "unroll", "minibatches", "epochs", "iterations", "episode_length", "rnn",
            "lr", "entropy", "eval_envs"):
    fwd += ["--" + k.replace("_", "-"), str(getattr(args, k))]
  fwd += ["--hidden", *map(str, args.hidden)]
  runs = []
  result = {}
  for seed in args.seeds:
    for s in args.sides:
      res = _common.run_worker(bpy, __file__, fwd + ["--worker", s, "--seed", str(seed)])
      runs.append(res)
      print(f"seed {seed} {s:9s}: return {res['return']:8.2f} after {res['env_steps']} env steps "
            f"({res['train_s']:.0f} s)", flush=True)
      result = _summary(args, bpy, runs, final=False)  # partial results survive an interrupt
  result = _summary(args, bpy, runs, final=True)
  return result


if __name__ == "__main__":
  main()
