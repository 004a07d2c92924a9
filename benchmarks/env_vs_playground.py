"""Our Go2 loco env vs MuJoCo Playground's Go1 joystick env: env-steps/s and cost per physics sub-step.

Run from the repository root (after ``bash benchmarks/setup_brax_venv.sh`` once):

  nice -n 19 python benchmarks/env_vs_playground.py                         # batches 64 256 1024
  python benchmarks/env_vs_playground.py --batches 4 --steps 5 --repeats 1  # tiny check

Sides, each in a fresh subprocess, alternated ``--repeats`` times per batch size:

* ``ours@main``: ``VecEnv(LocoEnv)`` of ``configs/loco.py`` (flat, "feet" collisions, 4 x 5 ms
  sub-steps per 20 ms policy step, DC-motor PD, randomised models, auto-reset), main interpreter.
* ``ours@venv``: the same code in the peers' venv (jax 0.8.2), so the comparison with Playground is
  also made at equal jax version.
* ``ours-go1solver@main`` / ``ours-go1solver@venv`` (optional sides): the same env with Go1's Newton
  caps (``iterations=1 ls_iterations=5`` instead of our 8/8), so the env code is compared at equal
  solver work.
* ``go1@venv``: ``mujoco_playground`` 0.2.0 ``locomotion.go1.joystick.Joystick("flat_terrain")``
  (its JAX/MJX implementation, ``impl="jax"``; 5 x 4 ms sub-steps per 20 ms policy step),
  wrapped as Playground documents for Brax training (``wrapper.wrap_for_brax_training`` with
  its Go1 domain randomiser).
  Its Go1 model references Menagerie meshes that are not on PyPI; the script builds a
  **physics-only variant**: the packaged XMLs with every ``<mesh>`` asset and every visual
  (``class="visual"``, contype=conaffinity=0) geom removed. Collision geoms, inertias, joints,
  actuators, sensors and keyframes are unchanged, so the physics is the same as with meshes.

Each side times a jitted ``lax.scan`` of ``--steps`` env steps with zero actions, and a scan of raw
``mjx.step`` on the same model and batch (the physics floor). Cost per physics sub-step =
wall time / (batch x steps x sub-steps). Prints a table and writes
``benchmarks/results/env_vs_playground.json``. Goal: ours' cost per sub-step <= Go1's.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import _common  # noqa: E402


def _timed(fn, arg, repeats):
  import jax  # pylint: disable=import-outside-toplevel

  t = time.perf_counter()
  jax.block_until_ready(fn(arg))
  compile_s = time.perf_counter() - t
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(arg))
    times.append(time.perf_counter() - t)
  return compile_s, min(times)


def _scan(step, steps):
  import jax  # pylint: disable=import-outside-toplevel

  @jax.jit
  def run(s):
    return jax.lax.scan(lambda c, _: (step(c), ()), s, None, length=steps)[0]
  return run


def physics_only_go1_assets() -> dict:
  """Playground's Go1 XML assets without meshes: every <mesh> and visual geom removed."""
  from mujoco_playground._src import mjx_env  # pylint: disable=import-outside-toplevel
  from mujoco_playground._src.locomotion.go1 import go1_constants as consts  # pylint: disable=import-outside-toplevel

  assets = {}
  mjx_env.update_assets(assets, consts.ROOT_PATH / "xmls", "*.xml")
  mjx_env.update_assets(assets, consts.ROOT_PATH / "xmls" / "assets")
  for name in list(assets):
    if not name.endswith(".xml"):
      continue
    text = assets[name].decode()
    text = re.sub(r'\s*meshdir="[^"]*"', "", text)
    text = re.sub(r"<mesh\b[^>]*/>", "", text)
    text = re.sub(r'<geom\b[^>]*class="visual"[^>]*/>', "", text)
    text = re.sub(r'<default class="visual">.*?</default>', "", text, flags=re.S)
    assets[name] = text.encode()
  return assets


def worker_go1(args) -> dict:
  """Playground Go1 joystick (physics-only model) through Playground's Brax training wrapper."""
  import functools  # pylint: disable=import-outside-toplevel

  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from mujoco import mjx  # pylint: disable=import-outside-toplevel
  from mujoco_playground._src import wrapper  # pylint: disable=import-outside-toplevel
  from mujoco_playground._src.locomotion.go1 import base as go1_base  # pylint: disable=import-outside-toplevel
  from mujoco_playground._src.locomotion.go1 import joystick, randomize  # pylint: disable=import-outside-toplevel

  assets = physics_only_go1_assets()
  go1_base.get_assets = lambda: dict(assets)  # the only change: no Menagerie meshes
  # impl="jax": its JAX (MJX) implementation; the packaged default is "warp" (GPU only).
  env = joystick.Joystick(task="flat_terrain", config_overrides={"impl": "jax"})
  substeps = int(round(env._config.ctrl_dt / env._config.sim_dt))  # pylint: disable=protected-access
  rows = []
  for batch in args.batches:
    keys = jax.random.split(jax.random.PRNGKey(0), batch)
    venv = wrapper.wrap_for_brax_training(
        env, episode_length=env._config.episode_length, action_repeat=1,  # pylint: disable=protected-access
        randomization_fn=functools.partial(randomize.domain_randomize, rng=keys))
    state = jax.jit(venv.reset)(keys)
    zeros = jnp.zeros((batch, env.action_size))
    env_c, env_t = _timed(_scan(lambda s: venv.step(s, zeros), args.steps), state, args.repeats)
    model = env.mjx_model
    ctrl = jnp.broadcast_to(env._default_pose, (batch, 12))  # pylint: disable=protected-access

    def raw(d):
      def sub(x, _):
        return jax.vmap(lambda y: mjx.step(model, y))(x.replace(ctrl=ctrl)), ()
      return jax.lax.scan(sub, d, None, length=substeps)[0]
    raw_c, raw_t = _timed(_scan(raw, args.steps), state.data, args.repeats)
    rows.append(_row(batch, args.steps, substeps, env_t, env_c, raw_t, raw_c))
  return {"side": "go1@venv", "substeps": substeps, "sim_dt": env._config.sim_dt,  # pylint: disable=protected-access
          "nbody": int(env.mj_model.nbody), "ngeom": int(env.mj_model.ngeom),
          "solver": [int(env.mj_model.opt.iterations), int(env.mj_model.opt.ls_iterations)],
          "rows": rows}


# Playground Go1's Newton caps (go1_mjx_feetonly.xml: iterations="1" ls_iterations="5"); ours are 8/8.
GO1_SOLVER = (1, 5)


def worker_ours(args, side) -> dict:
  """Our VecEnv(LocoEnv) and raw mjx.step on our model (as benchmarks/env_throughput.py)."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  from mujoco import mjx  # pylint: disable=import-outside-toplevel

  from reasan_jax.configs import loco  # pylint: disable=import-outside-toplevel
  from reasan_jax.robots import go2  # pylint: disable=import-outside-toplevel
  from reasan_jax.core import VecEnv  # pylint: disable=import-outside-toplevel
  from reasan_jax.registry import make_env as make  # pylint: disable=import-outside-toplevel

  cfg = loco.get_config("cpu").env
  if side.startswith("ours-go1solver"):  # Go1's solver caps, to compare the env code at equal physics
    cfg.solver_iterations, cfg.solver_ls_iterations = GO1_SOLVER
  env = make(cfg)
  model = env.mjx_model
  target = jnp.asarray(go2.DEFAULT_POSE_MJCF)
  rows = []
  for batch in args.batches:
    venv = VecEnv(env, batch)
    state = jax.jit(venv.reset)(jax.random.PRNGKey(0))
    zeros = jnp.zeros((batch, env.action_size))
    env_c, env_t = _timed(_scan(lambda s: venv.step(s, zeros), args.steps), state, args.repeats)

    def raw(d):
      def sub(x, _):
        tau = jnp.clip(35.0 * (target - x.qpos[:, 7:]) - 0.5 * x.qvel[:, 6:], -23.5, 23.5)
        return jax.vmap(lambda y: mjx.step(model, y))(x.replace(ctrl=tau)), ()
      return jax.lax.scan(sub, d, None, length=cfg.decimation)[0]
    raw_c, raw_t = _timed(_scan(raw, args.steps), state.data, args.repeats)
    rows.append(_row(batch, args.steps, cfg.decimation, env_t, env_c, raw_t, raw_c))
  return {"side": side, "substeps": int(cfg.decimation), "sim_dt": cfg.sim_dt,
          "solver": [int(env.mj_model.opt.iterations), int(env.mj_model.opt.ls_iterations)],
          "nbody": int(env.mj_model.nbody) if hasattr(env, "mj_model") else None, "rows": rows}


def _row(batch, steps, substeps, env_t, env_c, raw_t, raw_c) -> dict:
  n = batch * steps
  return {"num_envs": batch, "env_steps_per_s": n / env_t,
          "us_per_substep": 1e6 * env_t / (n * substeps),
          "raw_us_per_substep": 1e6 * raw_t / (n * substeps),
          "env_over_raw": env_t / raw_t, "env_compile_s": env_c, "raw_compile_s": raw_c}


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
  p.add_argument("--steps", type=int, default=25, help="policy steps per timed call")
  p.add_argument("--repeats", type=int, default=2, help="timed calls per worker (best kept)")
  p.add_argument("--rounds", type=int, default=1, help="alternating rounds of all sides")
  p.add_argument("--sides", nargs="+", default=["ours@main", "ours@venv", "go1@venv"],
                  help="any of ours@main ours@venv ours-go1solver@main ours-go1solver@venv go1@venv")
  p.add_argument("--brax-python", default=None)
  p.add_argument("--out", default=None)
  p.add_argument("--worker", help=argparse.SUPPRESS)
  args = p.parse_args(argv)

  if args.worker:
    res = worker_go1(args) if args.worker == "go1@venv" else worker_ours(args, args.worker)
    _common.emit(res)
    return res

  bpy = _common.brax_python(args.brax_python)
  sides, skipped = _common.drop_venv_sides(args.sides, lambda s: s.endswith("@venv"), bpy)
  fwd = ["--batches", *map(str, args.batches), "--steps", str(args.steps), "--repeats",
         str(args.repeats)]
  runs = {s: [] for s in sides}
  for r in range(args.rounds):
    for s in sides:
      py = bpy if s.endswith("@venv") else sys.executable
      res = _common.run_worker(py, __file__, fwd + ["--worker", s])
      runs[s].append(res)
      print(f"round {r} {s}: done in {res['process_wall_s']:.0f} s, peak RSS "
            f"{res['peak_rss_mb']:.0f} MB", flush=True)
  rows = []
  for batch in args.batches:
    for s in sides:
      best = min((row for res in runs[s] for row in res["rows"] if row["num_envs"] == batch),
                 key=lambda row: row["us_per_substep"])
      rows.append({"side": s, **best, "substeps": runs[s][0]["substeps"],
                   "solver": "{}/{}".format(*runs[s][0].get("solver", ("?", "?"))),
                   "jax": runs[s][0]["versions"].get("jax")})
  print(_common.table(rows, [
      ("side", "side", ""), ("num_envs", "num_envs", "d"), ("env-steps/s", "env_steps_per_s", ".0f"),
      ("sub-steps", "substeps", "d"), ("solver it/ls", "solver", ""), ("us/sub-step env", "us_per_substep", ".2f"),
      ("us/sub-step raw", "raw_us_per_substep", ".2f"), ("env/raw", "env_over_raw", ".2f"),
      ("jax", "jax", "")]))
  ratios = {}
  for batch in args.batches:
    by = {r["side"]: r for r in rows if r["num_envs"] == batch}
    if "go1@venv" in by:
      for s in [s for s in by if s.startswith("ours")]:
        if s in by:
          ratios[f"{s}_over_go1_per_substep@{batch}"] = (
              by[s]["us_per_substep"] / by["go1@venv"]["us_per_substep"])
  for k, v in ratios.items():
    print(f"{k}: {v:.2f} (goal: <= 1.0)")
  result = {"settings": {"batches": args.batches, "steps_per_call": args.steps,
                         "repeats": args.repeats, "rounds": args.rounds,
                         "go1_model": "playground 0.2.0 go1 feet-only flat terrain, meshes and "
                                      "visual geoms stripped (physics-only)",
                         "brax_python": str(bpy) if bpy else None},
            "versions_main": _common.versions(), "rows": rows, "ratios": ratios,
            "skipped": skipped, "runs": runs}
  _common.write("env_vs_playground", result, args.out)
  return result


if __name__ == "__main__":
  main()
