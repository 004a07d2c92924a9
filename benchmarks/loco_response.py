"""Does REASAN's loco_1 answer sudden commands in our MJX Go2 as it does in plain MuJoCo C?

Run from the repository root (REASAN's ``loco_1.onnx`` from ``../shared/reference/pretrained``):

  python benchmarks/loco_response.py                          # 5 schedules, 4 spawns, 3 simulators
  python benchmarks/loco_response.py --envs 1 --settle 1 --after 1 --sims mjx mujoco   # quick check

Command step schedules (vx, vy m/s, wz rad/s; base frame), each held ``--settle`` s, then switched
at once and held ``--after`` s: ``forward`` 0 -> 1.0 m/s, ``brake`` 1.5 m/s -> 0, ``dodge`` 1.0
m/s forward -> 1.0 m/s lateral with vx 0, ``yaw`` 0 -> 1.5 rad/s, ``reverse`` 2.0 -> -0.5 m/s.
Flat ground; observation noise, pushes and domain randomisation off (the sim2sim setting).

Simulators (``--sims``), all on the same compiled MJCF (``env.sim.mj_model``: timestep, armature and
solver caps as the loco config writes them), the same DC-motor PD law
(:func:`reasan_jax.robots.go2.motor.dc_motor_torque`, nominal gains), the same action -> target map,
decimation 4 and the same observation code (:func:`reasan_jax.tasks.loco.env.policy_observation`),
so only the physics differs:

* ``mjx``: our loco env (``registry.make_env`` through ``eval.env_config``) stepped by THE
  evaluation rollout (:func:`reasan_jax.eval.rollout.rollout`), one env per spawn;
* ``mujoco``: ``mujoco.mj_step`` on a copy of the same ``MjModel`` (MJX's solver options);
* ``mujoco-defaults``: the same with MuJoCo's default solver options (100 iterations, 50 line-search
  steps, impratio 1, eulerdamp on; timestep 0.005 s kept, REASAN loco "Timing");
* ``mujoco-converged``: 100 / 50 iterations but our impratio 100 (separates the caps from impratio);
* ``mujoco-impratio1``: our caps with MuJoCo's default impratio 1 (softer friction);
* ``mujoco-armature``: our options with 0.01 kg m^2 rotor armature (go2-robot.md; the tasks use 0).

Every simulator starts from the same spawns: the MJX env's reset states for seeds ``seed + i``.
Per schedule and simulator (means over the spawns, and each spawn), on the base velocity in the yaw
frame (world velocity rotated by -yaw; wz = world z angular rate), smoothed by a centred moving
average of ``--smooth`` samples: for every command component that changes, the time to 50 % and
90 % of the commanded change (counted from the achieved velocity before the step, the switch at the
start of the policy step), the same relative to the achieved change, overshoot (fraction of the
commanded change) and the steady-state error (mean of the last 1 s minus the command, all three
components). The traces (from 0.5 s before the switch, 50 Hz) and the model settings that matter
(with REASAN's figure where the spec gives one) go into ``benchmarks/results/loco_response.json``.

Last, ``--filter_impratio`` reruns ``benchmarks/filter_dynamic.py``'s level-9 filter case
(``--filter_episodes`` episodes, sim2sim seeds) with the MJX model's impratio replaced, to see
whether the one setting that moves the response also moves the dynamic-scenario collisions.
"""

from __future__ import annotations

import argparse
import copy
import pathlib
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402
from reasan_jax.core import spatial  # noqa: E402

PRETRAINED = ROOT.parent / "shared" / "reference" / "pretrained"

SCHEDULES = {
    "forward": ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0)),
    "brake": ((1.5, 0.0, 0.0), (0.0, 0.0, 0.0)),
    "dodge": ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0)),
    "yaw": ((0.0, 0.0, 0.0), (0.0, 0.0, 1.5)),
    "reverse": ((2.0, 0.0, 0.0), (-0.5, 0.0, 0.0)),
}
"""Schedule name -> (command before, command after the switch), (vx, vy m/s, wz rad/s)."""

MUJOCO_DEFAULTS = {"iterations": 100, "ls_iterations": 50, "tolerance": 1e-8,
                   "ls_tolerance": 0.01, "impratio": 1.0, "eulerdamp": True}
"""MuJoCo's default ``mjOption`` values for the options our MJCF / loco config change."""

SIMS = {
    "mjx": None,
    "mujoco": {},
    "mujoco-defaults": MUJOCO_DEFAULTS,
    "mujoco-converged": {"iterations": 100, "ls_iterations": 50},
    "mujoco-impratio1": {"impratio": 1.0},
    "mujoco-armature": {"armature": 0.01},
}
"""Simulator name -> ``mjOption`` overrides on the env's model (None: the MJX env itself);
``armature`` (kg m^2) is written into the 12 leg dofs instead (go2-robot.md's Menagerie value)."""

COMPONENTS = ("vx", "vy", "wz")
PRE_S = 0.5  # s of trace kept before the switch (also the window of the pre-switch velocity)
STEADY_S = 1.0  # s at the end over which the steady state is averaged


def make_env(episode_steps: int):
  """The sim2sim loco env on flat ground, time limit above ``episode_steps`` (no resets)."""
  from reasan_jax.cli import sim2sim  # pylint: disable=import-outside-toplevel
  from reasan_jax.eval import env_config  # pylint: disable=import-outside-toplevel

  cfg = sim2sim.sim2sim_env_config(None, terrain="flat", duration=episode_steps * 0.02)
  return env_config.make_env(cfg)


def schedule(name: str, settle: float, after: float, dt: float) -> tuple[np.ndarray, int]:
  """(T, 3) commands of a schedule and the index of the first step of the new command."""
  before, new = SCHEDULES[name]
  n0, n1 = int(round(settle / dt)), int(round(after / dt))
  return np.array([before] * n0 + [new] * n1, np.float32), n0


def spawn_states(env, seeds: list[int]) -> list[tuple[np.ndarray, dict]]:
  """Env 0's reset ``qpos`` (19,) and motor gains of ``rollout(..., seed=s, num_envs=1)``."""
  from reasan_jax.core.wrappers import VecEnv  # pylint: disable=import-outside-toplevel

  reset = jax.jit(VecEnv(env, 1).reset)
  out = []
  for s in seeds:
    state = reset(jax.random.PRNGKey(s))
    out.append((np.asarray(state.data.qpos[0], np.float64),
                {k: np.asarray(v[0]) for k, v in state.info["gains"].items()}))
  return out


def yaw_frame_velocity(qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
  """(T, 3) yaw-frame base vx, vy (m/s) and world yaw rate wz (rad/s) from (T, 19)/(T, 18)."""
  q = jnp.asarray(qpos[:, 3:7], jnp.float32)
  yaw = np.asarray(jax.vmap(spatial.yaw_of_quat)(q), np.float64)
  rot = np.asarray(jax.vmap(spatial.quat_to_mat)(q), np.float64)
  c, s = np.cos(yaw), np.sin(yaw)
  vx = c * qvel[:, 0] + s * qvel[:, 1]
  vy = -s * qvel[:, 0] + c * qvel[:, 1]
  wz = np.einsum("tj,tj->t", rot[:, 2, :], qvel[:, 3:6])  # world z of the body angular velocity
  return np.stack([vx, vy, wz], axis=-1)


def run_mjx(env, policy, cmds: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, bool]:
  """(T, 19) qpos, (T, 18) qvel after each step and whether it fell, in our MJX env."""
  from reasan_jax.eval import rollout as rollout_lib  # pylint: disable=import-outside-toplevel

  r = rollout_lib.rollout(env, policy, cmds, num_envs=1, seed=seed)
  return r.qpos.astype(np.float64), r.qvel.astype(np.float64), bool(r.fell.any() or r.done.any())


def mujoco_model(env, overrides: dict):
  """A copy of the env's compiled ``MjModel`` with ``mjOption`` ``overrides`` applied."""
  import mujoco  # pylint: disable=import-outside-toplevel

  m = copy.deepcopy(env.sim.mj_model)
  for key, value in overrides.items():
    if key == "armature":
      m.dof_armature[6:] = value
    elif key == "eulerdamp":
      bit = int(mujoco.mjtDisableBit.mjDSBL_EULERDAMP)
      m.opt.disableflags = (m.opt.disableflags & ~bit) if value else (m.opt.disableflags | bit)
    else:
      setattr(m.opt, key, value)
  return m


class MujocoRunner:
  """Steps the loco policy on a plain MuJoCo C model with our observation and motor code."""

  def __init__(self, env, policy):
    from reasan_jax.robots import go2  # pylint: disable=import-outside-toplevel
    from reasan_jax.robots.go2 import motor  # pylint: disable=import-outside-toplevel
    from reasan_jax.tasks.loco import env as loco_env  # pylint: disable=import-outside-toplevel

    self.env, self.policy = env, policy
    cfg, sim = env.config, env.sim
    scale = motor.action_scale(cfg.action.scale, cfg.action.hip_scale)
    mc = sim.motor

    def act(params, qpos, qvel, command, last_action, carry):
      data = types.SimpleNamespace(qpos=qpos.astype(jnp.float32), qvel=qvel.astype(jnp.float32))
      obs = loco_env.policy_observation(data, command, last_action, cfg.obs)
      action, carry = policy.replace(params=params).apply({"state": obs[None]}, carry)
      action = action[0]
      target = motor.joint_target(action, last_action, scale, cfg.action.blend)
      return action, go2.to_mjcf(target), carry

    def torque(target_mjcf, q, qd, kp, kd, strength):
      return motor.dc_motor_torque(target_mjcf, q.astype(jnp.float32), qd.astype(jnp.float32),
                                   kp, kd, strength, mc.torque_limit, mc.velocity_limit)

    self._act, self._torque = jax.jit(act), jax.jit(torque)
    self._fell = jax.jit(lambda qpos: sim.base_touches_ground(qpos.astype(jnp.float32)))
    self._to_mjcf = go2.to_mjcf

  def run(self, model, qpos0: np.ndarray, gains: dict, cmds: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(T, 19) qpos, (T, 18) qvel after each policy step and whether the base fell."""
    import mujoco  # pylint: disable=import-outside-toplevel

    d = mujoco.MjData(model)
    d.qpos[:] = qpos0
    mujoco.mj_forward(model, d)
    kp, kd, strength = (np.asarray(self._to_mjcf(gains[k]), np.float32)
                        for k in ("kp", "kd", "strength"))
    carry = self.policy.init_carry(1)
    last = np.zeros(12, np.float32)
    qs, vs = [], []
    fell = False
    decimation = self.env.sim.decimation
    for command in cmds:
      action, target, carry = self._act(self.policy.params, d.qpos, d.qvel, command, last, carry)
      for _ in range(decimation):
        d.ctrl[:] = np.asarray(self._torque(target, d.qpos[7:], d.qvel[6:], kp, kd, strength))
        mujoco.mj_step(model, d)
      last = np.asarray(action)
      qs.append(d.qpos.copy())
      vs.append(d.qvel.copy())
      fell = fell or bool(self._fell(d.qpos))
    return np.asarray(qs), np.asarray(vs), fell


def _smooth(v: np.ndarray, n: int) -> np.ndarray:
  """Centred moving average of ``n`` samples along axis 0 (edges averaged over what exists)."""
  if n <= 1:
    return v
  k = np.ones(n) / n
  ones = np.convolve(np.ones(len(v)), k, mode="same")
  return np.stack([np.convolve(v[:, i], k, mode="same") / ones for i in range(v.shape[1])], -1)


def _first_time(frac: np.ndarray, level: float, dt: float) -> float | None:
  """s from the switch until ``frac`` first reaches ``level`` (sample k is at (k + 1) dt)."""
  hit = np.nonzero(frac >= level)[0]
  return float((hit[0] + 1) * dt) if hit.size else None


def response_metrics(v: np.ndarray, cmds: np.ndarray, switch: int, dt: float, smooth: int) -> dict:
  """Step-response figures of one trace (see the module docstring).

  Args:
    v: (T, 3) yaw-frame vx, vy, wz after each step. cmds: (T, 3) commands in effect.
    switch: index of the first step of the new command. dt: s per step. smooth: samples averaged.
  """
  vs = _smooth(v, smooth)
  pre = max(int(round(PRE_S / dt)), 1)
  steady = max(int(round(STEADY_S / dt)), 1)
  v0 = v[switch - pre:switch].mean(axis=0)
  v_ss = v[-steady:].mean(axis=0)
  before, after = cmds[switch - 1], cmds[switch]
  out = {"pre_switch_velocity": v0.round(4).tolist(), "steady_velocity": v_ss.round(4).tolist(),
         "steady_error": (v_ss - after).round(4).tolist()}
  for i, name in enumerate(COMPONENTS):
    delta = float(after[i] - before[i])
    if abs(delta) < 1e-6:
      continue
    frac = (vs[switch:, i] - v0[i]) / delta
    achieved = float((v_ss[i] - v0[i]) / delta)
    rel = frac / achieved if abs(achieved) > 1e-3 else np.zeros_like(frac)
    out[name] = {
        "commanded_change": delta, "achieved_fraction": round(achieved, 4),
        "t50_s": _first_time(frac, 0.5, dt), "t90_s": _first_time(frac, 0.9, dt),
        "t50_of_achieved_s": _first_time(rel, 0.5, dt),
        "t90_of_achieved_s": _first_time(rel, 0.9, dt),
        "overshoot": round(max(float(frac.max()) - 1.0, 0.0), 4),
        "fraction_at_0.2s": round(float(frac[min(int(round(0.2 / dt)) - 1, len(frac) - 1)]), 4),
    }
  return out


def _mean_metrics(rows: list[dict]) -> dict:
  """Mean over spawns of every figure (None where any spawn never reached a level)."""
  out = {}
  for key, val in rows[0].items():
    if isinstance(val, dict):
      out[key] = {}
      for k in val:
        vals = [r[key][k] for r in rows]
        out[key][k] = None if any(x is None for x in vals) else round(float(np.mean(vals)), 4)
    else:
      out[key] = np.mean([r[key] for r in rows], axis=0).round(4).tolist()
  return out


def compare(rows: list[dict], reference: str = "mjx") -> list[dict]:
  """Per schedule and simulator: the largest gap of its spawn-mean trace to ``reference``'s
  (vx, vy m/s; wz rad/s) and its mean t50 / t90 minus the reference's, s."""
  ref = {r["schedule"]: r for r in rows if r["sim"] == reference}
  out = []
  for r in rows:
    base = ref.get(r["schedule"])
    if base is None or r["sim"] == reference:
      continue
    gap = np.array([np.abs(np.subtract(r["trace"][k], base["trace"][k])).max() for k in COMPONENTS])
    item = {"schedule": r["schedule"], "sim": r["sim"], "vs": reference,
            "max_mean_trace_gap": gap.round(4).tolist()}
    for k in COMPONENTS:
      if k in r["mean"]:
        for t in ("t50_s", "t90_s"):
          a, b = r["mean"][k][t], base["mean"][k][t]
          item[f"{k}_{t}_diff"] = None if a is None or b is None else round(a - b, 4)
    out.append(item)
  return out


def filter_dynamic_impratio(impratios: list[float], episodes: int, duration: float, seed: int
                            ) -> list[dict]:
  """The sim2sim ``dynamic`` filter scenario (filter_1 on loco_1, level 9) under each impratio.

  Runs ``benchmarks/filter_dynamic.py``'s rollout and analysis with the MJX model's
  ``opt.impratio`` replaced; the rows carry its collision rate and per-encounter figures.
  """
  from benchmarks import filter_dynamic  # pylint: disable=import-outside-toplevel
  from reasan_jax.eval import filter_eval  # pylint: disable=import-outside-toplevel
  from reasan_jax.policies.load import load_policy  # pylint: disable=import-outside-toplevel
  from reasan_jax.tasks.filter.env import FilterEnv  # pylint: disable=import-outside-toplevel

  pre = filter_dynamic.PRETRAINED
  policy = load_policy(str(pre / "filter_1.onnx"))
  rows = []
  for imp in impratios:
    cfg = filter_eval.scenario_env_config(None, "dynamic", str(pre / "loco_1.onnx"), duration)
    env = FilterEnv(cfg)
    m = env.sim.mjx_model
    env.sim.mjx_model = m.replace(opt=m.opt.replace(impratio=jnp.asarray(imp, jnp.float32)))
    env.sim.mj_model.opt.impratio = imp
    records = filter_dynamic._records(env, policy, episodes, 9, False, seed)  # pylint: disable=protected-access
    r = filter_dynamic.analyse(records)
    row = {"impratio": imp, "level": 9, "episodes": episodes, "duration_s": duration,
           **{k: r[k] for k in ("collision_rate", "encounters", "collisions_per_encounter",
                                "end_time_s_quartiles")}}
    rows.append(row)
    print(f"filter dynamic, impratio {imp:g}: collision rate {row['collision_rate']:.3f}, "
          f"{row['collisions_per_encounter']:.2f} collisions per encounter", flush=True)
  return rows


def model_settings(env, models: dict) -> dict:
  """The settings that plausibly shape the response, per simulator, with REASAN's figures."""
  import mujoco  # pylint: disable=import-outside-toplevel

  sim = env.sim
  m = sim.mj_model
  foot = sim.foot_geoms
  floor = sim.ids.ground_geom
  common = {
      "timestep_s": float(m.opt.timestep), "decimation": sim.decimation,
      "integrator": mujoco.mjtIntegrator(m.opt.integrator).name,
      "solver": mujoco.mjtSolver(m.opt.solver).name, "cone": mujoco.mjtCone(m.opt.cone).name,
      "condim": int(m.geom_condim[foot[0]]),
      "foot_friction": m.geom_friction[foot[0]].round(4).tolist(),
      "floor_friction": m.geom_friction[floor].round(4).tolist(),
      "foot_priority": int(m.geom_priority[foot[0]]),
      "contact_solref": m.geom_solref[foot[0]].round(4).tolist(),
      "contact_solimp": m.geom_solimp[foot[0]].round(4).tolist(),
      "leg_damping": sorted(set(m.dof_damping[6:].round(5).tolist())),
      "leg_frictionloss": sorted(set(m.dof_frictionloss[6:].round(5).tolist())),
      "kp": sim.motor.kp, "kd": sim.motor.kd, "torque_limit": sim.motor.torque_limit,
      "velocity_limit": sim.motor.velocity_limit,
      "action_scale": float(env.config.action.scale),
      "hip_scale": float(env.config.action.hip_scale),
      "action_blend": float(env.config.action.blend),
      "action_delay_steps": 0, "base_mass_kg": round(float(m.body_mass[sim.base_body]), 4),
      "total_mass_kg": round(float(m.body_mass.sum()), 4),
  }
  per_sim = {}
  for name, mm in models.items():
    per_sim[name] = {
        "iterations": int(mm.opt.iterations), "ls_iterations": int(mm.opt.ls_iterations),
        "tolerance": float(mm.opt.tolerance), "ls_tolerance": float(mm.opt.ls_tolerance),
        "impratio": float(mm.opt.impratio),
        "leg_armature": sorted(set(mm.dof_armature[6:].round(5).tolist())),
        "eulerdamp": not bool(mm.opt.disableflags & int(mujoco.mjtDisableBit.mjDSBL_EULERDAMP)),
        "precision": "float32 (JAX)" if name == "mjx" else "float64",
    }
  reasan = {
      "timestep_s": "0.005 (reasan-loco.md Timing)", "decimation": "4 (reasan-loco.md Timing)",
      "solver": "PhysX, 4 position / 0 velocity iterations (reasan-rl-core.md §14)",
      "friction": "terrain 1.0 x foot material, multiply combine (reasan-rl-core.md §15); "
                  "DR buckets U(0.2, 1.25) (reasan-loco.md)",
      "armature": "not set by REASAN, USD value (reasan-rl-core.md §13)",
      "damping_frictionloss": "0 (explicit actuator, reasan-rl-core.md §13)",
      "motor": "Kp 35, Kd 0.5, 23.5 N m, 30 rad/s DC-motor clip (reasan-rl-core.md §13)",
      "action": "q* = default + 0.25 (0.8 a_t + 0.2 a_t-1), hips x0.5 (reasan-loco.md Action)",
      "action_delay": "none (target applied in the same control step, reasan-filter.md §1.1)",
  }
  return {"common": common, "per_sim": per_sim, "reasan": reasan}


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--loco_onnx", default=str(PRETRAINED / "loco_1.onnx"))
  p.add_argument("--schedules", nargs="+", default=list(SCHEDULES), choices=list(SCHEDULES))
  p.add_argument("--sims", nargs="+", default=list(SIMS), choices=list(SIMS))
  p.add_argument("--envs", type=int, default=4, help="spawns (seeds seed .. seed + envs - 1)")
  p.add_argument("--settle", type=float, default=3.0, help="s of the first command")
  p.add_argument("--after", type=float, default=3.0, help="s of the new command")
  p.add_argument("--smooth", type=int, default=5, help="samples of the centred moving average")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--filter_impratio", type=float, nargs="*", default=[100.0, 1.0],
                 help="impratios of the filter dynamic-scenario check (none: skip it)")
  p.add_argument("--filter_episodes", type=int, default=64, help="as filter_dynamic.py")
  p.add_argument("--filter_duration", type=float, default=20.0, help="s per episode")
  p.add_argument("--out", default=None)
  args = p.parse_args(argv)
  if args.after < STEADY_S or args.settle < PRE_S:
    p.error(f"--settle must be >= {PRE_S} s and --after >= {STEADY_S} s (the averaging windows).")

  from reasan_jax.policies.load import load_policy  # pylint: disable=import-outside-toplevel

  dt = 0.02
  steps = int(round((args.settle + args.after) / dt))
  env = make_env(steps + 2)
  dt = float(env.dt)
  policy = load_policy(args.loco_onnx)
  seeds = [args.seed + i for i in range(args.envs)]
  spawns = spawn_states(env, seeds)
  models = {name: (env.sim.mj_model if SIMS[name] is None else mujoco_model(env, SIMS[name]))
            for name in args.sims}
  runner = MujocoRunner(env, policy) if any(SIMS[s] is not None for s in args.sims) else None

  rows = []
  for sched in args.schedules:
    cmds, switch = schedule(sched, args.settle, args.after, dt)
    for sim_name in args.sims:
      t0 = time.perf_counter()
      per_env, traces, falls = [], [], 0
      for seed, (qpos0, gains) in zip(seeds, spawns):
        if SIMS[sim_name] is None:
          qpos, qvel, fell = run_mjx(env, policy, cmds, seed)
        else:
          qpos, qvel, fell = runner.run(models[sim_name], qpos0, gains, cmds)
        v = yaw_frame_velocity(qpos, qvel)
        per_env.append(response_metrics(v, cmds, switch, dt, args.smooth))
        traces.append(v[switch - int(round(PRE_S / dt)):])
        falls += int(fell)
      row = {"schedule": sched, "sim": sim_name, "command_before": list(SCHEDULES[sched][0]),
             "command_after": list(SCHEDULES[sched][1]), "falls": falls,
             "mean": _mean_metrics(per_env), "per_env": per_env,
             "trace": {k: np.mean(traces, axis=0)[:, i].round(3).tolist()
                       for i, k in enumerate(COMPONENTS)},
             "wall_s": round(time.perf_counter() - t0, 2)}
      rows.append(row)
      figs = "; ".join(f"{k} t50 {row['mean'][k]['t50_s']} t90 {row['mean'][k]['t90_s']} s, "
                       f"{row['mean'][k]['achieved_fraction']:.2f} reached"
                       for k in COMPONENTS if k in row["mean"])
      print(f"{sched:8s} {sim_name:16s}: {figs}; falls {falls}", flush=True)
  filter_rows = (filter_dynamic_impratio(args.filter_impratio, args.filter_episodes,
                                         args.filter_duration, args.seed)
                 if args.filter_impratio and args.filter_episodes > 0 else [])
  result = {"versions": _common.versions(),
            "comparison": compare(rows), "filter_dynamic_impratio": filter_rows,
            "settings": {"loco": pathlib.Path(args.loco_onnx).name, "envs": args.envs,
                         "seeds": seeds, "settle_s": args.settle, "after_s": args.after,
                         "smooth_samples": args.smooth, "dt_s": dt,
                         "trace": f"mean over the spawns of the yaw-frame vx, vy (m/s), wz (rad/s) "
                                  f"after each step, from {PRE_S} s before the switch"},
            "model": model_settings(env, models), "rows": rows}
  _common.write("loco_response", result, args.out)
  return result


if __name__ == "__main__":
  main()
