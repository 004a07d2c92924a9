"""Why a safety filter collides in the sim2sim ``dynamic`` scenario: per-encounter figures.

Run from the repository root (REASAN's filter_1 on loco_1 by default):

  python benchmarks/filter_dynamic.py                                  # levels 9 and 3, filter + bypass
  python benchmarks/filter_dynamic.py --levels 9 --speed_range 0.5 0.8  # slow obstacles
  python benchmarks/filter_dynamic.py --episodes 4 --duration 2 --levels 9 --modes bypass  # quick check

The scenario is :func:`reasan_jax.eval.filter_eval.scenario_env_config` ``"dynamic"`` (returning
commands, play sensing, REASAN's play speeds 0.5-1.5 m/s), with the curriculum level forced to
``--levels`` (9: 3 active obstacles, 5: 2, 3: 1; REASAN filter §7) and the same seeds as
``python -m reasan_jax.sim2sim --task filter``. For each level and mode (``filter`` or ``bypass``),
over every env's first episode:

* ``collision_rate`` (the sim2sim figure) and the episode end times (s);
* ``encounters``: times an ACTIVE obstacle's centre comes within 1 m of the base (a contact needs
  about 0.45-0.6 m), and ``collisions_per_encounter`` -- the episode figure compounds this over
  the 20 s in which every obstacle keeps re-targeting the robot (REASAN filter §6.3);
* at the colliding step: the obstacle's closing speed and the robot's (towards the obstacle;
  negative = moving away), the share of hits while the user command is zero;
* the loco chain: correlation and gain of the body velocity against the clamped filter action
  0.2 s earlier (10 steps), and the mean change of the action per step.

Prints one line per row and writes ``benchmarks/results/filter_dynamic.json``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402

PRETRAINED = ROOT.parent / "shared" / "reference" / "pretrained"
LIMITS = np.array([2.5, 1.5, 3.0])  # the loco command clamp (REASAN filter §3)


def _records(env, policy, n, level, bypass, seed):
  from reasan_jax.core.wrappers import VecEnv  # pylint: disable=import-outside-toplevel

  venv = VecEnv(env, n, randomize=False)
  steps = int(env.config.episode_length)

  @jax.jit
  def roll(key):
    keys = jax.random.split(jax.random.fold_in(key, 1), n)  # as filter_eval._rollout
    persistent = jax.vmap(env.first_persistent)(keys)
    persistent["terrain_level"] = jnp.full((n,), level, jnp.int32)
    state = venv.reset(key, persistent)

    def body(carry, _):
      state, pc = carry
      if bypass:
        action = state.obs["proprio"][:, 6:9]
      else:
        action, pc = policy.apply(state.obs, pc, reset=state.done > 0.5)
      nxt = venv.step(state, action)
      ob = state.info["obstacles"]
      q = state.data.qpos
      rec = {"action": action, "command": state.obs["proprio"][:, 6:9], "xy": q[:, :2],
             "yaw": jnp.arctan2(2 * (q[:, 3] * q[:, 6] + q[:, 4] * q[:, 5]),
                                1 - 2 * (q[:, 5] ** 2 + q[:, 6] ** 2)),
             "oxy": ob.xy, "active": ob.active, "vel": state.obs["privileged"][:, :2],
             "done": nxt.done, "coll": nxt.metrics["collision"]}
      return (nxt, pc), rec

    return jax.lax.scan(body, (state, policy.init_carry(n)), None, length=steps)[1]

  return jax.tree.map(np.asarray, roll(jax.random.PRNGKey(seed)))


def analyse(r: dict, dt: float = 0.02) -> dict:
  """The figures of the module docstring from the per-step records (leaves (T, n, ...))."""
  done = r["done"] > 0.5
  steps, n = done.shape
  first = np.where(done.any(0), done.argmax(0), steps)
  coll = np.array([first[i] < steps and r["coll"][first[i], i] > 0.5 for i in range(n)])
  d = np.linalg.norm(r["oxy"] - r["xy"][:, :, None], axis=-1)  # (T, n, J)
  active = r["active"][0]
  entries = 0
  for i in range(n):
    for j in np.where(active[i])[0]:
      inside = d[: min(first[i] + 1, steps), i, j] < 1.0
      entries += int(inside[0]) + int(np.sum(inside[1:] & ~inside[:-1]))
  closing = []
  for i in np.where(coll)[0]:
    t = first[i]
    j = int(np.argmin(np.where(active[i], d[t, i], np.inf)))
    t0 = max(t - 5, 0)
    ov = (r["oxy"][t, i, j] - r["oxy"][t0, i, j]) / max((t - t0) * dt, dt)
    c, s = np.cos(r["yaw"][t, i]), np.sin(r["yaw"][t, i])
    vb = r["vel"][t, i]
    vw = np.array([c * vb[0] - s * vb[1], s * vb[0] + c * vb[1]])
    u = r["oxy"][t, i, j] - r["xy"][t, i]
    u = u / max(np.linalg.norm(u), 1e-6)
    closing.append((-ov @ u, vw @ u, np.linalg.norm(r["command"][t, i, :2]) < 1e-6))
  closing = np.array(closing, float).reshape(-1, 3)
  alive = np.arange(steps)[:, None] < first[None]
  lag = 10
  m = alive[:-lag] & alive[lag:]
  a = np.clip(r["action"], -LIMITS, LIMITS)
  chain = {}
  for k, name in ((0, "vx"), (1, "vy")):
    x, y = a[:-lag, :, k][m], r["vel"][lag:, :, k][m]
    chain[name] = {"corr": float(np.corrcoef(x, y)[0, 1]) if x.size > 1 else float("nan"),
                   "gain": float(x @ y / max(x @ x, 1e-9))}
  m1 = alive[1:] & alive[:-1]
  return {
      "episodes": int(n), "collision_rate": float(coll.mean()),
      "end_time_s_quartiles": [float(v) for v in np.percentile(first * dt, [25, 50, 75])],
      "encounters": int(entries),
      "collisions_per_encounter": float(coll.sum() / max(entries, 1)),
      "obstacle_closing_speed": float(closing[:, 0].mean()) if len(closing) else None,
      "robot_closing_speed": float(closing[:, 1].mean()) if len(closing) else None,
      "hits_with_zero_command": float(closing[:, 2].mean()) if len(closing) else None,
      "velocity_vs_action_after_0.2s": chain,
      "mean_action_change_per_step": np.abs(np.diff(r["action"], axis=0))[m1].mean(0).tolist(),
  }


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--filter_onnx", default=str(PRETRAINED / "filter_1.onnx"))
  p.add_argument("--loco_onnx", default=str(PRETRAINED / "loco_1.onnx"))
  p.add_argument("--levels", type=int, nargs="+", default=[9, 3])
  p.add_argument("--modes", nargs="+", default=["filter", "bypass"], choices=["filter", "bypass"])
  p.add_argument("--episodes", type=int, default=64)
  p.add_argument("--duration", type=float, default=20.0, help="s per episode")
  p.add_argument("--speed_range", type=float, nargs=2, default=None, help="m/s (default 0.5 1.5)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--out", default=None)
  args = p.parse_args(argv)

  from reasan_jax.eval import filter_eval  # pylint: disable=import-outside-toplevel
  from reasan_jax.policies.load import load_policy  # pylint: disable=import-outside-toplevel
  from reasan_jax.tasks.filter.env import FilterEnv  # pylint: disable=import-outside-toplevel

  cfg = filter_eval.scenario_env_config(None, "dynamic", args.loco_onnx, args.duration)
  if args.speed_range:
    cfg.dynamic_obstacles.speed_range = tuple(args.speed_range)
  env = FilterEnv(cfg)
  policy = load_policy(args.filter_onnx)
  rows = []
  for level in args.levels:
    for mode in args.modes:
      row = {"level": level, "mode": mode,
             **analyse(_records(env, policy, args.episodes, level, mode == "bypass", args.seed))}
      rows.append(row)
      print(f"level {level} {mode:6s}: collision rate {row['collision_rate']:.3f}, end time median "
            f"{row['end_time_s_quartiles'][1]:.1f} s, {row['encounters']} encounters, "
            f"{row['collisions_per_encounter']:.2f} collisions per encounter", flush=True)
  result = {"versions": _common.versions(),
            "settings": {"filter": pathlib.Path(args.filter_onnx).name,
                         "loco": pathlib.Path(args.loco_onnx).name, "episodes": args.episodes,
                         "duration_s": args.duration,
                         "speed_range": list(cfg.dynamic_obstacles.speed_range),
                         "seed": args.seed},
            "rows": rows}
  _common.write("filter_dynamic", result, args.out)
  return result


if __name__ == "__main__":
  main()
