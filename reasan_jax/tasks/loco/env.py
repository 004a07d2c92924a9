"""REASAN's Go2 locomotion task (``loco``) on MJX, fact by fact from ``reasan-loco.md``.

One policy step (50 Hz) = 4 MJX physics steps of 5 ms with the PD target held and torques from
REASAN's DC-motor model (``reasan_jax.robots.go2.motor``). Observations and actions use REASAN's joint order
(all hips, all thighs, all calves); ``reasan_jax.robots.go2`` converts to the MJCF order. Deviations from
the original are listed in ``docs/deviations.md``.
"""

from __future__ import annotations

import difflib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import mujoco
import numpy as np
from mujoco import mjx
from mujoco.mjx._src import support as mjx_support

from reasan_jax.core import spatial
from reasan_jax.robots import go2
from reasan_jax.scenes import terrain as terrain_lib
from reasan_jax.core.env import Env, State
from reasan_jax.robots.go2.motor import dc_motor_torque

_HIPS = np.array([1.0] * 4 + [0.0] * 8, np.float32)  # REASAN order: first four entries are hips


def _check_keys(given: dict, known: dict, prefix: str = "env") -> None:
  """Raises ValueError naming the first key of ``given`` that ``known`` does not have."""
  for key, value in given.items():
    name = f"{prefix}.{key}"
    if key not in known:
      near = difflib.get_close_matches(key, list(known), n=3)
      hint = f" Did you mean {', '.join(prefix + '.' + n for n in near)}?" if near else ""
      raise ValueError(f"Unknown config key {name!r} for the loco task.{hint}")
    if isinstance(value, dict) and isinstance(known[key], dict):
      _check_keys(value, known[key], name)


def resolve_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Checks the env config against ``configs/loco.py`` and applies ``stage2`` when ``stage == 2``.

  Raises:
    ValueError: an unknown key (named, with the closest valid keys) or ``stage`` not in {1, 2}.
  """
  from reasan_jax.configs import loco as loco_config  # pylint: disable=import-outside-toplevel

  _check_keys(config.to_dict(), loco_config.env_config().to_dict())
  cfg = ml_collections.ConfigDict(config.to_dict())
  if cfg.stage not in (1, 2):
    raise ValueError(f"env.stage must be 1 or 2, got {cfg.stage!r}.")
  if cfg.stage == 2:
    for section, values in cfg.stage2.items():
      for key, value in values.items():
        cfg[section][key] = value
  return cfg


def total_reward(weighted: dict[str, jax.Array], clip_min: float,
                 termination_after_clip: bool) -> jax.Array:
  """The step reward from the weighted (already x dt) reward terms (reasan-loco.md "Rewards").

  REASAN sums every term and clips the sum at ``clip_min`` (0), so the -200 termination term
  can never make a step negative: it is clipped away (reasan-loco.md). With
  ``termination_after_clip`` the other terms are summed and clipped and the weighted
  ``"termination"`` term is added afterwards (legged_gym's order), so a death costs
  200 x 0.02 = 4.0 (docs/deviations.md).

  Args:
    weighted: term name -> () weighted reward; may hold ``"termination"``.
    clip_min: lower bound of the clipped sum.
    termination_after_clip: add the termination term after the clip.

  Returns:
    () float32 reward.
  """
  if termination_after_clip and "termination" in weighted:
    rest = sum(v for k, v in weighted.items() if k != "termination")
    return jnp.maximum(rest, clip_min) + weighted["termination"]
  return jnp.maximum(sum(weighted.values()), clip_min)


class LocoEnv(Env):
  """Go2 velocity tracking on flat or rough ground (REASAN ``Unitree-Go2-Locomotion``).

  Observations: ``state`` (45,) actor, ``privileged_state`` (88,) critic (``reasan-loco.md``).
  Action: (12,) raw policy output in REASAN joint order (no clipping).

  Args:
    config: the ``env`` section of ``configs/loco.py``.
  """

  def __init__(self, config: ml_collections.ConfigDict):
    cfg = resolve_config(config)
    self.config = cfg
    self.dt = cfg.sim_dt * cfg.decimation
    tcfg = cfg.terrain_config
    if cfg.terrain == "rough":
      self.terrain = terrain_lib.make_rough_terrain(
          tcfg.num_rows, tcfg.num_cols, tcfg.cell_size, hscale=tcfg.hscale,
          noise_range=tuple(tcfg.noise_range), noise_step=tcfg.noise_step,
          border_width=tcfg.border_width, border=tcfg.border, seed=tcfg.seed)
      origins = self.terrain.origins
    else:
      self.terrain = None
      origins = terrain_lib.flat_terrain_origins(tcfg.num_rows, tcfg.num_cols, tcfg.cell_size)
    self._origins = jnp.asarray(origins, jnp.float32)
    self.mj_model = go2.load_model(
        collisions=cfg.collisions, terrain=cfg.terrain, terrain_config=self.terrain)
    self.mj_model.opt.timestep = cfg.sim_dt
    self.mj_model.dof_armature[6:] = cfg.motor.armature
    self.mj_model.opt.iterations = cfg.solver_iterations
    self.mj_model.opt.ls_iterations = cfg.solver_ls_iterations
    self.mjx_model = go2.put_model(self.mj_model)

    m = self.mj_model
    self._base_body = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "base")
    self._foot_sites = np.array(
        [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, n) for n in go2.FOOT_SITES])
    self._foot_bodies = m.site_bodyid[self._foot_sites]
    self._foot_geoms = np.array(
        [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n) for n in go2.FOOT_GEOMS])
    self._contact_maps()
    self._base_points, self._base_radii = self._base_probe_points()
    if cfg.termination.base_contact not in ("geometric", "force"):
      raise ValueError("env.termination.base_contact must be 'geometric' or 'force', got "
                       f"{cfg.termination.base_contact!r}.")
    if cfg.termination.base_contact == "force" and not self._base_contact.any():
      raise ValueError("env.termination.base_contact='force' needs colliding trunk geoms; set "
                       "env.collisions='feet_base' (or 'body').")

    self._default = jnp.asarray(go2.DEFAULT_POSE_REASAN, jnp.float32)
    lo, hi = go2.soft_limits(0.9).T
    self._soft_lo = jnp.asarray(go2.to_reasan(lo), jnp.float32)
    self._soft_hi = jnp.asarray(go2.to_reasan(hi), jnp.float32)
    self._action_scale = jnp.asarray(
        cfg.action.scale * np.where(_HIPS > 0, cfg.action.hip_scale, 1.0), jnp.float32)
    rng = np.random.default_rng(tcfg.seed)
    d = cfg.randomization
    self._friction_buckets = jnp.asarray(
        rng.uniform(*d.friction_range, size=(d.num_friction_buckets, 2)), jnp.float32)
    self._reward_scales = {k: float(v) for k, v in cfg.rewards.items() if not isinstance(v, bool)}

  # ------------------------------------------------------------------ helpers
  def _contact_maps(self) -> None:
    """Static maps from MJX contact slots to feet / base (contact layout is static in MJX)."""
    d = mjx.make_data(self.mjx_model)
    d = jax.jit(mjx.forward)(self.mjx_model, d)
    impl = d._impl  # pylint: disable=protected-access
    geom = np.asarray(impl.contact.geom)
    dim = np.asarray(impl.contact.dim)
    _, idx = mjx_support.contact_force_dim(self.mjx_model, d, 3)
    idx = np.asarray(idx)
    if np.any(dim != 3):
      raise ValueError("The loco task expects condim-3 contacts only; check the Go2 MJCF.")
    gid = geom[idx]
    body = self.mj_model.geom_bodyid[gid]
    self._foot_contact = np.stack(
        [np.any(gid == g, axis=1) for g in self._foot_geoms], axis=1).astype(np.float32)
    self._base_contact = np.any(body == self._base_body, axis=1).astype(np.float32)

  def _base_probe_points(self) -> tuple[np.ndarray, np.ndarray]:
    """Base-frame points whose contact with the ground ends an episode, with their radii.

    The 8 corners of the trunk box (radius 0) and the head sphere's centre (its radius), taken from
    the model's ``base_box``/``head`` geoms (go2-robot.md collision shapes).
    """
    m = self.mj_model
    points, radii = [], []
    for name in go2.BASE_GEOMS:
      g = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, name)
      pos, size = m.geom_pos[g], m.geom_size[g]
      rot = np.zeros(9)
      mujoco.mju_quat2Mat(rot, m.geom_quat[g])
      if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
        signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
        points += list(pos + (signs * size[:3]) @ rot.reshape(3, 3).T)
        radii += [0.0] * 8
      else:  # sphere / capsule end: centre and radius
        points.append(pos)
        radii.append(size[0])
    return np.asarray(points, np.float32), np.asarray(radii, np.float32)

  def _base_touches_ground(self, qpos: jax.Array) -> jax.Array:
    """() bool: a trunk-box corner or the head sphere is at or below the ground (geometric check)."""
    rot = spatial.quat_to_mat(qpos[3:7])
    world = qpos[:3] + self._base_points @ rot.T
    ground = self._terrain_height(world[:, :2])
    return jnp.any(world[:, 2] - self._base_radii <= ground)

  def _contact_normals(self, data: mjx.Data) -> jax.Array:
    """(ncon,) normal contact force, N, of every condim-3 contact slot."""
    force, _ = mjx_support.contact_force_dim(self.mjx_model, data, 3)
    return force[:, 0]

  def _terrain_height(self, xy: jax.Array) -> jax.Array:
    """Ground height (m) under world points ``xy`` (..., 2); read from the model's height field
    (``mjx_model.hfield_data``) so the grid is not embedded in the program twice."""
    if self.terrain is None:
      return jnp.zeros(xy.shape[:-1])
    t = self.terrain
    ny, nx = t.shape
    m = self.mjx_model
    heights = m.hfield_data[:ny * nx].reshape(ny, nx) * m.hfield_size[0, 2]
    return terrain_lib.height_at(heights, t.hscale, jnp.asarray(t.origin_xy), xy)

  def _sample_command(self, rng: jax.Array) -> jax.Array:
    c = self.config.commands
    k1, k2 = jax.random.split(rng)
    r = jnp.asarray(c.ranges, jnp.float32)
    cmd = jax.random.uniform(k1, (3,), minval=-r, maxval=r)
    if c.nonnegative_vx:
      cmd = cmd.at[0].set(jnp.abs(cmd[0]))
    keep = jax.random.uniform(k2, (3,)) < jnp.asarray(c.keep_prob, jnp.float32)
    return cmd * keep

  def _resample_steps(self, rng: jax.Array) -> jax.Array:
    lo, hi = self.config.commands.resample_interval
    return jnp.round(jax.random.uniform(rng, (), minval=lo, maxval=hi) / self.dt).astype(jnp.int32)

  @property
  def action_size(self) -> int:
    """12 joint actions in REASAN order (reasan-loco.md "Action")."""
    return 12

  # ------------------------------------------------------------------ DR
  def randomize(self, rng: jax.Array) -> dict[str, jax.Array]:
    """Per-env model fields: base mass/inertia/CoM and foot friction (reasan-loco.md DR).

    Restitution is not randomised: REASAN multiplies it with the terrain's 0, so it is always 0.
    """
    d = self.config.randomization
    if not d.enabled:
      return {}
    m = self.mjx_model
    k_mass, k_com, k_fric = jax.random.split(rng, 3)
    b = self._base_body
    mass0 = m.body_mass[b]
    add = jax.random.uniform(k_mass, (), minval=d.base_mass_add[0], maxval=d.base_mass_add[1])
    shift = jax.random.uniform(k_com, (3,), minval=-1.0, maxval=1.0) * jnp.asarray(d.com_shift)
    bucket = jax.random.randint(k_fric, (), 0, d.num_friction_buckets)
    friction = self._friction_buckets[bucket, 1]  # dynamic friction (MuJoCo has one coefficient)
    return {
        "body_mass": m.body_mass.at[b].set(mass0 + add),
        "body_inertia": m.body_inertia.at[b].set(m.body_inertia[b] * (mass0 + add) / mass0),
        "body_ipos": m.body_ipos.at[b].add(shift),
        "geom_friction": m.geom_friction.at[self._foot_geoms, 0].set(friction),
    }

  # ------------------------------------------------------------------ reset
  def persistent(self, state: State) -> dict[str, jax.Array]:
    """Curriculum level (moved up/down by the distance walked) and motor gains (reasan-rl-core §15)."""
    info = state.info
    rows = self.config.terrain_config.num_rows
    cu = self.config.curriculum
    dist = jnp.linalg.norm(state.data.qpos[:2] - info["origin"][:2])
    up = dist > cu.up_distance
    down = (dist < cu.down_distance) & ~up
    level = info["terrain_level"] + up.astype(jnp.int32) - down.astype(jnp.int32)
    wrapped = jax.random.randint(jax.random.fold_in(info["rng"], 7), (), 0, rows)
    level = jnp.where(level >= rows, wrapped, jnp.maximum(level, 0))
    keep = ("terrain_col", "kp", "kd", "strength")
    return {"terrain_level": level, **{k: info[k] for k in keep}}

  def reset(self, rng: jax.Array, persistent: dict[str, jax.Array] | None = None) -> State:
    """New episode (reasan-loco.md "Reset"): spawn on the env's cell, random yaw and joint scale."""
    cfg = self.config
    keys = jax.random.split(rng, 8)
    if persistent is None:
      mc = cfg.motor
      on = cfg.randomization.enabled

      def gain(key, rng_range):
        lo, hi = rng_range if on else (1.0, 1.0)
        return jax.random.uniform(key, (12,), minval=lo, maxval=hi)

      persistent = {
          "terrain_level": jnp.zeros((), jnp.int32),
          "terrain_col": jax.random.randint(keys[0], (), 0, cfg.terrain_config.num_cols),
          "kp": mc.kp * gain(keys[1], mc.kp_range),
          "kd": mc.kd * gain(keys[2], mc.kd_range),
          "strength": gain(keys[3], mc.strength_range),
      }
    origin = self._origins[persistent["terrain_level"], persistent["terrain_col"]]
    yaw = jax.random.uniform(keys[4], (), minval=-jnp.pi, maxval=jnp.pi)
    lo, hi = cfg.reset.joint_scale
    q = self._default * jax.random.uniform(keys[5], (12,), minval=lo, maxval=hi)
    q = jnp.clip(q, self._soft_lo, self._soft_hi)
    qpos = jnp.concatenate([origin + jnp.array([0.0, 0.0, cfg.reset.height]),
                            spatial.yaw_quat(yaw), go2.to_mjcf(q)])
    data = mjx.make_data(self.mjx_model).replace(qpos=qpos)
    data = mjx.kinematics(self.mjx_model, data)

    d = cfg.randomization
    ext = jax.random.uniform(keys[6], (6,), minval=-1.0, maxval=1.0) * jnp.asarray(
        [d.external_force] * 3 + [d.external_torque] * 3) * float(d.enabled)
    k_cmd, k_int, k_next = jax.random.split(keys[7], 3)
    zeros4 = jnp.zeros(4)
    info = {
        "rng": k_next,
        "step": jnp.zeros((), jnp.int32),
        "command": self._sample_command(k_cmd),
        "next_resample": self._resample_steps(k_int),
        "last_action": jnp.zeros(12),
        "torque": jnp.zeros(12),
        "origin": origin,
        "external_wrench": ext,
        "air_time": zeros4,
        "last_air_time": zeros4,
        "peak_height": zeros4,
        "in_contact": zeros4,
        "foot_force": zeros4,
        "log": {"terrain_level": persistent["terrain_level"].astype(jnp.float32)},
        **persistent,
    }
    obs = self._observe(data, info, jnp.zeros((4, 3)), jax.random.fold_in(k_next, 1))
    metrics = {f"reward/{k}": jnp.zeros(()) for k in self._metric_names()}
    metrics.update({"died": jnp.zeros(()), "time_out": jnp.zeros(()), "speed": jnp.zeros(())})
    z = jnp.zeros(())
    return State(data=data, obs=obs, reward=z, done=z, truncation=z, metrics=metrics, info=info)

  def _metric_names(self) -> list[str]:
    return ["lin_vel_z", "ang_vel_xy", "flat_orientation", "dof_torques", "power", "action_rate",
            "dof_pos_limits", "dof_vel_limits", "track_lin_vel", "track_ang_vel", "dof_pos", "alive",
            "trot", "termination", "stand_still", "feet_slip", "feet_clearance", "feet_height",
            "feet_air_time"]

  # ------------------------------------------------------------------ step
  def step(self, state: State, action: jax.Array) -> State:
    """One 50 Hz policy step (reasan-loco.md): PD target, 4 physics steps, rewards, dones.

    Raises:
      ValueError: ``action`` is not of shape (12,).
    """
    if action.shape != (12,):
      raise ValueError(f"loco action must have shape (12,), got {action.shape}.")
    cfg = self.config
    info = dict(state.info)
    m = self.mjx_model
    blended = cfg.action.blend * action + (1.0 - cfg.action.blend) * info["last_action"]
    target = go2.to_mjcf(self._default + self._action_scale * blended)
    kp, kd, strength = (go2.to_mjcf(info[k]) for k in ("kp", "kd", "strength"))
    rot = spatial.quat_to_mat(state.data.qpos[3:7])
    wrench = info["external_wrench"]
    xfrc = jnp.zeros((m.nbody, 6)).at[self._base_body].set(
        jnp.concatenate([rot @ wrench[:3], rot @ wrench[3:]]))
    data = state.data.replace(xfrc_applied=xfrc)

    def substep(data, _):
      tau = dc_motor_torque(target, data.qpos[7:], data.qvel[6:], kp, kd, strength,
                            cfg.motor.torque_limit, cfg.motor.velocity_limit)
      data = mjx.step(m, data.replace(ctrl=tau))
      if cfg.termination.base_contact == "geometric":
        base_hit = self._base_touches_ground(data.qpos)
      else:
        base_hit = self._contact_normals(data) @ self._base_contact > cfg.termination.base_contact_force
      return data, (tau, base_hit)

    data, (taus, base_hits) = jax.lax.scan(substep, data, None, length=cfg.decimation)
    tau = go2.to_reasan(taus[-1])
    foot_force = self._contact_normals(data) @ self._foot_contact  # last sub-step's contacts
    base_hit = jnp.any(base_hits[-3:])  # the last 3 sub-steps, like REASAN's contact history

    info["step"] = info["step"] + 1
    rng, k_cmd, k_int, k_push, k_obs = jax.random.split(info["rng"], 5)
    info["rng"] = rng
    rot = spatial.quat_to_mat(data.qpos[3:7])
    gravity = rot.T @ jnp.array([0.0, 0.0, -1.0])
    died = base_hit | (gravity[2] > cfg.termination.gravity_z)
    time_out = info["step"] >= cfg.episode_length - 1

    # Gait/feet bookkeeping (contact-sensor style air time; reasan-loco.md gait terms).
    contact = foot_force > 1.0
    first_contact = contact & (info["air_time"] > 0)
    air_time = info["air_time"] + self.dt
    info["last_air_time"] = jnp.where(first_contact, air_time, info["last_air_time"])
    feet_pos = data.site_xpos[self._foot_sites]
    feet_z = feet_pos[:, 2] - (self._terrain_height(feet_pos[:, :2])
                               if cfg.rewards.clearance_relative else 0.0)
    peak = jnp.maximum(info["peak_height"], feet_z)
    feet_vel = self._foot_velocities(data)
    terms = self._reward_terms(data, info, action, tau, gravity, foot_force, contact,
                               first_contact, air_time, peak, feet_z, feet_vel, died)
    info["air_time"] = jnp.where(contact, 0.0, air_time)
    info["peak_height"] = jnp.where(contact, 0.0, peak)
    info["in_contact"] = contact.astype(jnp.float32)
    info["foot_force"] = foot_force
    info["torque"] = tau
    info["last_action"] = action

    level_mean = state.info.get("batch_log", info["log"])["terrain_level"]
    gait_on = (level_mean >= cfg.rewards.gait_level).astype(jnp.float32)
    scales = dict(self._reward_scales)
    weights = {k: scales[k] for k in self._metric_names()}
    weights["lin_vel_z"] = scales["lin_vel_z"] * (1.0 + gait_on * (cfg.rewards.gait_lin_vel_z_factor - 1.0))
    for k in ("feet_slip", "feet_clearance", "feet_height", "feet_air_time"):
      weights[k] = scales[k] * gait_on
    weighted = {k: terms[k] * weights[k] * self.dt for k in self._metric_names()}
    reward = total_reward(weighted, cfg.rewards.clip_min, cfg.rewards.termination_after_clip)

    # Command resampling and pushes (interval events act after the rewards, as in Isaac Lab).
    resample = info["step"] >= info["next_resample"]
    info["command"] = jnp.where(resample, self._sample_command(k_cmd), info["command"])
    info["next_resample"] = jnp.where(
        resample, info["step"] + self._resample_steps(k_int), info["next_resample"])
    d = cfg.randomization
    push_every = max(int(round(d.push_interval / self.dt)), 1)
    push = (info["step"] % push_every == 0) & d.pushes
    push_v = jax.random.uniform(k_push, (2,), minval=-d.push_velocity, maxval=d.push_velocity)
    kick = jnp.where(push, push_v - data.qvel[:2], 0.0)  # a base velocity change moves every point
    data = data.replace(qvel=data.qvel.at[:2].add(kick))
    feet_vel = feet_vel.at[:, :2].add(kick)
    obs = self._observe(data, info, feet_vel, k_obs)
    done = (died | time_out).astype(jnp.float32)
    metrics = {f"reward/{k}": v for k, v in weighted.items()}
    metrics.update({"died": died.astype(jnp.float32),
                    "time_out": (time_out & ~died).astype(jnp.float32),
                    "speed": jnp.linalg.norm(data.qvel[:2])})
    return State(data=data, obs=obs, reward=reward, done=done,
                 truncation=(time_out & ~died).astype(jnp.float32), metrics=metrics, info=info)

  def _foot_velocities(self, data: mjx.Data) -> jax.Array:
    """(4, 3) world-frame linear velocities of the foot centres, m/s."""
    def one(site, body):
      jacp, _ = mjx_support.jac(self.mjx_model, data, data.site_xpos[site], body)
      return jacp.T @ data.qvel
    return jnp.stack([one(s, b) for s, b in zip(self._foot_sites, self._foot_bodies)])

  def _reward_terms(self, data, info, action, tau, gravity, foot_force, contact, first_contact,
                    air_time, peak, feet_z, feet_vel, died) -> dict[str, jax.Array]:
    """Unweighted reward terms (reasan-loco.md "Rewards"); weights and x dt applied by the caller."""
    cfg = self.config
    r = cfg.rewards
    rot = spatial.quat_to_mat(data.qpos[3:7])
    lin_vel = rot.T @ data.qvel[:3]
    ang_vel = data.qvel[3:6]
    q = go2.to_reasan(data.qpos[7:])
    qd = go2.to_reasan(data.qvel[6:])
    cmd = info["command"]
    cmd_norm = jnp.linalg.norm(cmd)
    moving = (cmd_norm > 0.01).astype(jnp.float32)
    fl, fr, rl, rr = (foot_force > 0.5)
    trot = ((fl & rr & ~fr & ~rl) | (fr & rl & ~fl & ~rr)) & (cmd_norm >= 0.1)
    slip_contact = (foot_force > 0.05).astype(jnp.float32)
    speed_xy = jnp.linalg.norm(feet_vel[:, :2], axis=-1)
    return {
        "lin_vel_z": lin_vel[2] ** 2,
        "ang_vel_xy": jnp.sum(ang_vel[:2] ** 2),
        "flat_orientation": jnp.sum(gravity[:2] ** 2),
        "dof_torques": jnp.sum(tau ** 2),
        "power": jnp.sum(jnp.abs(tau) * jnp.abs(qd)),
        "action_rate": jnp.sum((action - info["last_action"]) ** 2),
        "dof_pos_limits": jnp.sum(jnp.maximum(self._soft_lo - q, 0.0) + jnp.maximum(q - self._soft_hi, 0.0)),
        "dof_vel_limits": jnp.sum(jnp.maximum(jnp.abs(qd) - cfg.motor.velocity_limit, 0.0)),
        "track_lin_vel": jnp.exp(-r.tracking_sharpness * jnp.sum((cmd[:2] - lin_vel[:2]) ** 2)),
        "track_ang_vel": jnp.exp(-r.tracking_sharpness * (cmd[2] - ang_vel[2]) ** 2),
        "dof_pos": jnp.sum((q - self._default) ** 2),
        "alive": 1.0 - died.astype(jnp.float32),
        "trot": trot.astype(jnp.float32),
        "termination": died.astype(jnp.float32),
        "stand_still": ((cmd_norm < 0.2) & ~jnp.all(contact)).astype(jnp.float32),
        "feet_slip": moving * jnp.sum(speed_xy ** 2 * slip_contact),
        "feet_clearance": jnp.sum(jnp.abs(feet_z - r.foot_height_target) * jnp.sqrt(speed_xy)),
        "feet_height": moving * jnp.max(
            jnp.where(first_contact, (peak / r.foot_height_target - 1.0) ** 2, 0.0)),
        "feet_air_time": moving * jnp.sum(
            jnp.where(first_contact, air_time - r.air_time_target, 0.0)),
    }

  # ------------------------------------------------------------------ observations
  def _observe(self, data: mjx.Data, info: dict[str, Any], feet_vel: jax.Array,
               rng: jax.Array) -> dict[str, jax.Array]:
    """Actor (45,) and critic (88,) observations (reasan-loco.md "Actor/Critic observation").

    ``feet_vel``: (4, 3) world-frame foot velocities, m/s (computed once per step by the caller).
    """
    o = self.config.obs
    rot = spatial.quat_to_mat(data.qpos[3:7])
    gravity = rot.T @ jnp.array([0.0, 0.0, -1.0])
    cmd = info["command"]
    q = go2.to_reasan(data.qpos[7:]) - self._default
    qd = go2.to_reasan(data.qvel[6:]) * o.joint_vel_scale
    ang = data.qvel[3:6] * o.ang_vel_scale
    clean = jnp.concatenate([ang, gravity, cmd[:2] * o.cmd_lin_scale, cmd[2:] * o.cmd_ang_scale,
                             q, qd, info["last_action"]])
    level = jnp.concatenate([jnp.full(3, o.noise_ang_vel), jnp.full(3, o.noise_gravity),
                             jnp.zeros(3), jnp.full(12, o.noise_joint_pos),
                             jnp.full(12, o.noise_joint_vel), jnp.zeros(12)])
    noise = jax.random.uniform(rng, (45,), minval=-1.0, maxval=1.0) * level * float(o.noise)
    feet = data.site_xpos[self._foot_sites]
    if o.critic_foot_frame == "base":
      feet = (feet - data.qpos[:3]) @ rot
    privileged = jnp.concatenate([
        clean, rot.T @ data.qvel[:3] * o.lin_vel_scale,
        (info["foot_force"] > 0.1).astype(jnp.float32), info["torque"],
        feet_vel.reshape(-1), feet.reshape(-1)])
    return {"state": clean + noise, "privileged_state": privileged}
