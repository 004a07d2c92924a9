"""REASAN's Go2 locomotion task (``loco``) on MJX, fact by fact from ``reasan-loco.md``.

One policy step (50 Hz) = 4 MJX physics steps of 5 ms with the PD target held and torques from
REASAN's DC-motor model; the robot's physics, contacts, foot kinematics and domain randomisation
are :class:`reasan_jax.robots.go2.Go2Sim`, shared with the other Go2 tasks. The reward terms are in
:mod:`reasan_jax.tasks.loco.rewards`. Observations and actions use REASAN's joint order (all hips,
all thighs, all calves); ``reasan_jax.robots.go2`` converts to the MJCF order. Deviations from the
original are listed in ``docs/deviations.md``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from mujoco import mjx

from reasan_jax.core import spatial
from reasan_jax.core.env import State
from reasan_jax.tasks.common.config_check import check_keys
from reasan_jax.tasks.common.sim_task import Go2SimTask
from reasan_jax.robots import go2
from reasan_jax.robots.go2 import gait, motor
from reasan_jax.robots.go2 import sim as go2_sim
from reasan_jax.scenes import terrain as terrain_lib
from reasan_jax.tasks.common import rewards as common_rewards
from reasan_jax.tasks.loco import rewards
from reasan_jax.tasks.loco.rewards import total_reward  # noqa: F401  (public from here too)

_RETIRED_KEYS = ("randomization.restitution_range",)
"""Keys of older loco configs that no longer mean anything (dropped when a run's config loads)."""


def upgrade_config(env_config: dict) -> dict:
  """An env config dict written before reward weights had their own section, in today's layout.

  Runs saved earlier (their ``config.json``) hold the weights as ``rewards.<term>``; they move to
  ``reward_scales.<term>`` (also inside ``stage2``), and :data:`_RETIRED_KEYS` are dropped. A
  config in today's layout comes back unchanged.
  """
  cfg = {k: dict(v) if isinstance(v, dict) else v for k, v in env_config.items()}

  def move(section: dict) -> None:
    old = section.get("rewards", {})
    weights = {k: old[k] for k in rewards.TERMS if k in old}
    if weights and "reward_scales" not in section:
      section["reward_scales"] = weights
      section["rewards"] = {k: v for k, v in old.items() if k not in weights}
      if not section["rewards"]:  # stage2 held weights only
        del section["rewards"]

  move(cfg)
  if isinstance(cfg.get("stage2"), dict):
    cfg["stage2"] = {k: dict(v) if isinstance(v, dict) else v for k, v in cfg["stage2"].items()}
    move(cfg["stage2"])
  for key in _RETIRED_KEYS:
    section, name = key.split(".")
    if isinstance(cfg.get(section), dict):
      cfg[section].pop(name, None)
  return cfg


def resolve_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Checks the env config against ``configs/loco.py`` and applies ``stage2`` when ``stage == 2``.

  Older run configs are read through :func:`upgrade_config` first.

  Raises:
    ValueError: an unknown key (named, with the closest valid keys) or ``stage`` not in {1, 2}.
  """
  from reasan_jax.configs import loco as loco_config  # pylint: disable=import-outside-toplevel

  given = upgrade_config(config.to_dict())
  check_keys(given, loco_config.env_config().to_dict(), "loco")
  cfg = ml_collections.ConfigDict(given)
  if cfg.stage not in (1, 2):
    raise ValueError(f"env.stage must be 1 or 2, got {cfg.stage!r}.")
  if cfg.stage == 2:
    for section, values in cfg.stage2.items():
      for key, value in values.items():
        cfg[section][key] = value
  return cfg


def policy_observation(data: mjx.Data, command: jax.Array, last_action: jax.Array,
                       obs: ml_collections.ConfigDict) -> jax.Array:
  """The loco policy's (45,) observation without noise (reasan-loco.md "Actor observation").

  ``[ang vel x 0.25 (3), projected gravity (3), vx, vy x 2.0, wz x 0.25 (3), q - q_default (12),
  qd x 0.05 (12), last action (12)]``, REASAN joint order. The filter and nav tasks build the same
  vector for their frozen loco policy (reasan-filter.md §1.3, reasan-nav.md §1.3).

  Args:
    data: physics state. command: (3,) m/s, m/s, rad/s. last_action: (12,) raw a_{t-1}.
    obs: the ``env.obs`` config section (scales).
  """
  rot = spatial.quat_to_mat(data.qpos[3:7])
  gravity = go2_sim.projected_gravity(rot)
  q = go2.to_reasan(data.qpos[7:]) - jnp.asarray(go2.DEFAULT_POSE_REASAN, jnp.float32)
  qd = go2.to_reasan(data.qvel[6:]) * obs.joint_vel_scale
  ang = data.qvel[3:6] * obs.ang_vel_scale
  return jnp.concatenate([ang, gravity, command[:2] * obs.cmd_lin_scale,
                          command[2:] * obs.cmd_ang_scale, q, qd, last_action])


class LocoEnv(Go2SimTask):
  """Go2 velocity tracking on flat or rough ground (REASAN ``Unitree-Go2-Locomotion``).

  Observations: ``state`` (45,) actor, ``privileged_state`` (88,) critic (``reasan-loco.md``).
  Action: (12,) raw policy output in REASAN joint order (no clipping).

  Attributes:
    sim: the :class:`reasan_jax.robots.go2.Go2Sim` (model, physics, contacts, randomisation).
    terrain: the rough :class:`~reasan_jax.scenes.terrain.Terrain`, or None on flat ground.
    dt: s per policy step (0.02).

  Args:
    config: the ``env`` section of ``configs/loco.py``.

  Raises:
    ValueError: an invalid config (unknown key, stage, base-contact mode; one sentence).
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
    self.sim = go2_sim.Go2Sim.from_config(cfg, self.terrain)
    self._action_scale = motor.action_scale(cfg.action.scale, cfg.action.hip_scale)
    self._reward_scales = {k: float(cfg.reward_scales[k]) for k in rewards.TERMS}
    sim = self.sim
    self._reward_params = rewards.RewardParams(
        tracking_sharpness=cfg.rewards.tracking_sharpness,
        foot_height_target=cfg.rewards.foot_height_target,
        air_time_target=cfg.rewards.air_time_target, velocity_limit=cfg.motor.velocity_limit,
        soft_lo=sim.soft_lo, soft_hi=sim.soft_hi, default_pose=sim.default_pose)

  @property
  def action_size(self) -> int:
    """12 joint actions in REASAN order (reasan-loco.md "Action")."""
    return 12

  # ------------------------------------------------------------------ commands
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

  # ------------------------------------------------------------------ DR and reset
  def randomize(self, rng: jax.Array) -> dict[str, jax.Array]:
    """Per-env model fields: base mass/inertia/CoM and foot friction (:meth:`Go2Sim.randomize`)."""
    return self.sim.randomize(rng)

  def persistent(self, state: State) -> dict[str, jax.Array]:
    """Curriculum level (moved up/down by the distance walked), cell column and motor gains
    (reasan-rl-core.md §15, §13)."""
    info = state.info
    rows = self.config.terrain_config.num_rows
    cu = self.config.curriculum
    dist = jnp.linalg.norm(state.data.qpos[:2] - info["origin"][:2])
    up = dist > cu.up_distance
    down = (dist < cu.down_distance) & ~up
    level = info["terrain_level"] + up.astype(jnp.int32) - down.astype(jnp.int32)
    wrapped = jax.random.randint(jax.random.fold_in(info["rng"], 7), (), 0, rows)
    level = jnp.where(level >= rows, wrapped, jnp.maximum(level, 0))
    return {"terrain_level": level, "terrain_col": info["terrain_col"], "gains": info["gains"]}

  def reset(self, rng: jax.Array, persistent: dict[str, jax.Array] | None = None) -> State:
    """New episode (reasan-loco.md "Reset"): spawn on the env's cell, random yaw and joint scale."""
    cfg = self.config
    sim = self.sim
    keys = jax.random.split(rng, 8)
    if persistent is None:
      persistent = {
          "terrain_level": jnp.zeros((), jnp.int32),
          "terrain_col": jax.random.randint(keys[0], (), 0, cfg.terrain_config.num_cols),
          "gains": sim.sample_gains(keys[1:4]),
      }
    origin = self._origins[persistent["terrain_level"], persistent["terrain_col"]]
    yaw = jax.random.uniform(keys[4], (), minval=-jnp.pi, maxval=jnp.pi)
    q = sim.scaled_default_pose(keys[5], cfg.reset.joint_scale)
    data = sim.spawn(origin + jnp.array([0.0, 0.0, cfg.reset.height]), yaw, q)
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
        "external_wrench": sim.sample_wrench(keys[6]),
        "air_time": zeros4,
        "peak_height": zeros4,
        "foot_force": zeros4,
        # VecEnv hands the batch mean back as info["batch_log"]: REASAN's gait rewards switch on
        # the mean curriculum level over all envs; the trainer logs it as env/terrain_level.
        "log": {"terrain_level": persistent["terrain_level"].astype(jnp.float32)},
        **persistent,
    }
    obs = self._observe(data, info, jnp.zeros((4, 3)), jax.random.fold_in(k_next, 1))
    metrics = {f"reward/{k}": jnp.zeros(()) for k in rewards.TERMS}
    metrics.update({"died": jnp.zeros(()), "time_out": jnp.zeros(()), "speed": jnp.zeros(())})
    z = jnp.zeros(())
    return State(data=data, obs=obs, reward=z, done=z, truncation=z, metrics=metrics, info=info)

  # ------------------------------------------------------------------ step
  def step(self, state: State, action: jax.Array) -> State:
    """One 50 Hz policy step (reasan-loco.md): PD target, 4 physics steps, rewards, dones.

    Raises:
      ValueError: ``action`` is not of shape (12,).
    """
    if action.shape != (12,):
      raise ValueError(f"loco action must have shape (12,), got {action.shape}.")
    cfg = self.config
    sim = self.sim
    info = dict(state.info)
    target = motor.joint_target(action, info["last_action"], self._action_scale, cfg.action.blend)
    data, taus, base_hits = sim.physics_step(state.data, target, info["gains"],
                                             info["external_wrench"])
    tau = go2.to_reasan(taus[-1])
    foot_force = sim.foot_forces(data)  # last sub-step's contacts
    base_hit = jnp.any(base_hits[-3:])  # the last 3 sub-steps, like REASAN's contact history

    info["step"] = info["step"] + 1
    rng, k_cmd, k_int, k_push, k_obs = jax.random.split(info["rng"], 5)
    info["rng"] = rng
    rot = spatial.quat_to_mat(data.qpos[3:7])
    gravity = go2_sim.projected_gravity(rot)
    died = base_hit | (gravity[2] > cfg.termination.gravity_z)
    time_out = info["step"] >= cfg.episode_length - 1

    # Gait/feet bookkeeping (contact-sensor style air time; reasan-loco.md gait terms).
    feet_pos = sim.foot_positions(data)
    feet_z = feet_pos[:, 2] - (sim.terrain_height(feet_pos[:, :2])
                               if cfg.rewards.clearance_relative else 0.0)
    feet = gait.foot_contacts(info["air_time"], info["peak_height"], foot_force, feet_z, self.dt)
    feet_vel = sim.foot_velocities(data)
    quantities = rewards.StepQuantities(
        lin_vel=rot.T @ data.qvel[:3], ang_vel=data.qvel[3:6], gravity=gravity,
        q=go2.to_reasan(data.qpos[7:]), qd=go2.to_reasan(data.qvel[6:]), tau=tau, action=action,
        last_action=info["last_action"], command=info["command"], foot_force=foot_force,
        feet=feet, feet_z=feet_z, feet_vel=feet_vel, died=died)
    terms = rewards.reward_terms(quantities, self._reward_params)
    info["air_time"], info["peak_height"] = feet.carry()
    info["foot_force"] = foot_force
    info["torque"] = tau
    info["last_action"] = action

    level_mean = state.info.get("batch_log", info["log"])["terrain_level"]
    gait_on = (level_mean >= cfg.rewards.gait_level).astype(jnp.float32)
    weights = rewards.term_weights(self._reward_scales, gait_on, cfg.rewards.gait_lin_vel_z_factor)
    weighted = common_rewards.weighted(terms, weights, self.dt)  # in TERMS' order
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

  # ------------------------------------------------------------------ observations
  def _observe(self, data: mjx.Data, info: dict[str, Any], feet_vel: jax.Array,
               rng: jax.Array) -> dict[str, jax.Array]:
    """Actor (45,) and critic (88,) observations (reasan-loco.md "Actor/Critic observation").

    ``feet_vel``: (4, 3) world-frame foot velocities, m/s (computed once per step by the caller).
    """
    o = self.config.obs
    clean = policy_observation(data, info["command"], info["last_action"], o)
    level = jnp.concatenate([jnp.full(3, o.noise_ang_vel), jnp.full(3, o.noise_gravity),
                             jnp.zeros(3), jnp.full(12, o.noise_joint_pos),
                             jnp.full(12, o.noise_joint_vel), jnp.zeros(12)])
    noise = jax.random.uniform(rng, (45,), minval=-1.0, maxval=1.0) * level * float(o.noise)
    rot = spatial.quat_to_mat(data.qpos[3:7])
    feet = self.sim.foot_positions(data)
    if o.critic_foot_frame == "base":
      feet = (feet - data.qpos[:3]) @ rot
    privileged = jnp.concatenate([
        clean, rot.T @ data.qvel[:3] * o.lin_vel_scale,
        (info["foot_force"] > 0.1).astype(jnp.float32), info["torque"],
        feet_vel.reshape(-1), feet.reshape(-1)])
    return {"state": clean + noise, "privileged_state": privileged}
