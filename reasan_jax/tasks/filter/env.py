"""REASAN's safety filter task (``filter``) on MJX (REASAN filter, the whole specification).

One control step (50 Hz, REASAN filter §1.1b): the filter's action ``a`` (3,) = (vx, vy, wz) is
clamped to +-(2.5, 1.5, 3.0) and fed, scaled, into the frozen loco policy's 45-d observation
(§1.3); the loco policy runs once (its recurrent state in ``info["loco_carry"]``); user commands
advance (§6.4); dynamic obstacles move (§6.3); 4 PD sub-steps with the 0.8/0.2 blended target
(§1.4); obstacle contacts, dones (§5.1), rewards (§4, with the TTC field of the previous
observation: REASAN's one-step lag, kept), pushes (§6.5) -- :meth:`FilterEnv.advance`; then,
after ``VecEnv``'s auto-reset, ONE sensing pass on the (possibly fresh) state: rays, classes, TTC
(:func:`reasan_jax.sensors.pipeline.sense`) and the observation (§2, :mod:`.observations`) --
:meth:`FilterEnv.observe`. So an auto-reset costs no second ray cast, as in REASAN's DirectRLEnv
(§1.1b items 6, 7, 9). ``info["final_obs"]`` (the bootstrap of truncated episodes) holds the
post-step proprio / privileged groups and the rays of the observation before the step.

The static world is one periodic :func:`~reasan_jax.scenes.obstacles.make_tiled_world` closed
over by the env (``env.world``); MJX contacts are feet-vs-ground only, obstacle and ground contacts
of the 13 undesired bodies are analytic. For rendering: ``env.world`` (static boxes,
``obstacles.world_boxes``), ``state.info["obstacles"]`` (a
:class:`~reasan_jax.scenes.dynamic_obstacles.DynamicObstacles`, only with dynamic obstacles on),
``state.info["scan"]`` (``distance`` (180,) per-azimuth min in m, ``cls`` (180,)),
``state.info["start_xy"]``. Deviations are listed in ``docs/deviations.md`` ("Safety filter").

Ray estimator (``env.mid360.enabled`` / ``env.use_pred_rays``, off by default and then not
computed at all): the simulated Mid-360's grid and IMU histories live in ``state.info["mid360"]``
(newest grid ``info["mid360"]["history"].newest_grid``) and, with predicted rays, the frozen
estimator's output replaces the actor rays (REASAN filter §2.2, §9.3; REASAN nav §8.6;
:mod:`reasan_jax.tasks.common.lidar`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
from mujoco import mjx

from reasan_jax.core import spatial
from reasan_jax.core.env import State
from reasan_jax.tasks.common import body, frozen_chain, lidar
from reasan_jax.tasks.common.config_check import check_keys
from reasan_jax.tasks.common.sim_task import CommandTask
from reasan_jax.policies import frozen
from reasan_jax.policies.policy import PolicyError
from reasan_jax.robots.go2 import motor
from reasan_jax.robots.go2 import sim as go2_sim
from reasan_jax.scenes import dynamic_obstacles as dyn
from reasan_jax.scenes import obstacles
from reasan_jax.sensors import collisions, features, pipeline, rays
from reasan_jax.tasks.filter import commands, observations, rewards


class FilterConfigError(ValueError):
  """A filter env config that cannot work (the message names the setting and the fix)."""


def load_loco_policy(path: str):
  """The frozen loco policy of ``env.loco_policy``, checked to read ``state`` (45,) and output 12.

  Raises:
    FilterConfigError: no path given.
    PolicyError: the file/run cannot be loaded or does not fit (one sentence).
  """
  return frozen_chain.load_frozen(
      path, task="filter", option="loco_policy", role="frozen loco policy",
      inputs=frozen_chain.LOCO_INPUTS, action_size=frozen_chain.LOCO_ACTIONS,
      example="REASAN's loco_1.onnx", error=FilterConfigError)


class FilterEnv(CommandTask):
  """The Go2 safety filter (REASAN ``Unitree-Go2-Filter``).

  Observations: ``proprio`` (12,), ``privileged`` (6,), ``rays`` (180,), ``critic_rays`` (540,)
  (:data:`.observations.OBS_SIZES`). Action: (3,) raw replacement command (vx m/s, vy m/s,
  wz rad/s), body frame, unclipped (REASAN filter §3).

  Attributes:
    sim: the :class:`~reasan_jax.robots.go2.Go2Sim` (feet-ground MJX contacts).
    world: the static :class:`~reasan_jax.scenes.obstacles.StaticWorld`.
    loco_policy: the frozen loco :class:`~reasan_jax.policies.policy.Policy`.
    shapes: the undesired bodies' collision primitives (:func:`collisions.robot_shapes`).
    dt: s per control step (0.02).

  Args:
    config: the ``env`` section of ``configs/filter.py``.
    loco_policy: an already loaded loco policy (skips loading ``config.loco_policy``).

  Raises:
    FilterConfigError: unknown config key, no loco policy.
    PolicyError: a loco policy that cannot be loaded or has the wrong sizes.
  """

  OBS_SIZES = observations.OBS_SIZES

  def __init__(self, config: ml_collections.ConfigDict, loco_policy=None):
    from reasan_jax.configs import filter as filter_config  # pylint: disable=import-outside-toplevel

    check_keys(config.to_dict(), filter_config.env_config().to_dict(), "filter",
               FilterConfigError)
    cfg = self.config = config
    self.dt = cfg.sim_dt * cfg.decimation
    if cfg.obs.actor_rays not in ("centre", "gt"):
      raise FilterConfigError(f"env.obs.actor_rays must be 'centre' or 'gt', got "
                              f"{cfg.obs.actor_rays!r}.")
    if loco_policy is None:
      loco_policy = load_loco_policy(cfg.loco_policy)
    else:
      loco_policy.check_fits(frozen_chain.LOCO_INPUTS, frozen_chain.LOCO_ACTIONS,
                             role="frozen loco policy")
    self.loco_policy = loco_policy
    self.sim = go2_sim.Go2Sim.from_config(cfg, None)
    world = obstacles.make_tiled_world(cfg.terrain_config.num_tiles, cfg.terrain_config.seed)
    if not cfg.terrain_config.static_obstacles:  # open ground: every static primitive invalid
      world = world.replace(prims=world.prims.replace(valid=jnp.zeros_like(world.prims.valid)))
    self.world = world
    fixed = tuple(cfg.commands.fixed)
    if fixed and len(fixed) != 3:
      raise FilterConfigError(f"env.commands.fixed must be empty or (vx, vy, wz), got {fixed}.")
    self._fixed = jnp.asarray(fixed, jnp.float32) if fixed else None
    self.shapes = collisions.robot_shapes(self.sim.mj_model)
    s = cfg.sensors
    self.sensor_config = pipeline.SensorConfig(
        num_static=s.num_static, num_near=s.num_near, window=s.window, num_centers=s.num_centers,
        num_contact=s.num_contact, actor_noise=cfg.obs.ray_noise)
    self._init_command(cfg, rewards.TERMS)
    # Configs stored by older runs lack these keys: their defaults (off) apply.
    self._fixed_level = int(cfg.curriculum.get("fixed_level", -1))
    self.lidar = lidar.Mid360Module.from_env_config(cfg)  # None: no Mid-360, no estimator

  # ------------------------------------------------------------------ curriculum and reset
  def persistent(self, state: State) -> dict[str, jax.Array]:
    """Terrain level (REASAN filter §7: +1 on time-out, -1 if terminated before 10 s, clip 0,
    10 -> random 0..9; ``env.curriculum.fixed_level >= 0`` holds that level instead), motor
    gains, obstacle shapes, the returning flag and the Mid-360 cursor (when on)."""
    info = state.info
    cfg = self.config
    up = info["step"] >= cfg.episode_length
    down = (info["step"] < cfg.curriculum.down_before * cfg.episode_length) & ~up
    level = info["terrain_level"] + up.astype(jnp.int32) - down.astype(jnp.int32)
    n = cfg.curriculum.num_levels
    wrapped = jax.random.randint(jax.random.fold_in(info["rng"], 7), (), 0, n)
    level = jnp.where(level >= n, wrapped, jnp.maximum(level, 0))
    if self._fixed_level >= 0:
      level = jnp.full((), self._fixed_level, jnp.int32)
    out = {"terrain_level": level, "gains": info["gains"], "returning": info["returning"],
           "obstacle_shape": info["obstacle_shape"]}
    if self.lidar is not None:
      out["mid360_cursor"] = info["mid360_cursor"]
    return out

  def first_persistent(self, rng: jax.Array) -> dict[str, jax.Array]:
    """Per-env values of the first episode: level 0 (``env.curriculum.fixed_level`` when set),
    gains, obstacle shapes, the returning flag ``U < 1/3`` when dynamic obstacles are on (REASAN:
    env ids < N/3; docs/deviations.md) and, with the Mid-360 on, its pattern cursor (row 12000)."""
    keys = jax.random.split(rng, 5)
    frac = self.config.commands.returning.fraction
    out = {"terrain_level": jnp.full((), max(self._fixed_level, 0), jnp.int32),
           "gains": self.sim.sample_gains(keys[:3]),
           "returning": (jax.random.uniform(keys[3]) < frac) & self._dynamic,
           "obstacle_shape": dyn.init_shapes(keys[4])}
    if self.lidar is not None:
      out["mid360_cursor"] = self.lidar.first_cursor()
    return out

  def start(self, rng: jax.Array, persistent: dict[str, jax.Array] | None = None) -> State:
    """New episode in REASAN's order (REASAN filter §5.2), without the observation (zeros until
    :meth:`observe`): level -> active obstacles, wrench, filter and loco actions zeroed, spawn
    + 0.5 m with random yaw, the "no obstacle" flag, then the commands (flag first: quirk #9
    fixed), obstacles, scaled joints, zero loco carry."""
    cfg = self.config
    sim = self.sim
    keys = jax.random.split(rng, 10)
    if persistent is None:
      persistent = self.first_persistent(keys[0])
    level = persistent["terrain_level"]
    num_active = dyn.num_active_from_level(level)
    wrench = sim.sample_wrench(keys[1])
    spawn = obstacles.sample_spawn(keys[2], self.world)
    yaw = jax.random.uniform(keys[3], (), minval=-jnp.pi, maxval=jnp.pi)
    returning = persistent["returning"]
    no_obstacle = dyn.sample_no_obstacle(keys[4], ~returning)
    cmd = self._fix(commands.reset_commands(keys[5], cfg.commands, returning, no_obstacle))
    q = sim.scaled_default_pose(keys[7], cfg.reset.joint_scale)
    data = sim.spawn(jnp.concatenate([spawn, jnp.array([cfg.reset.height])]), yaw, q)
    info = {
        "rng": keys[9], "step": jnp.zeros((), jnp.int32), "commands": cmd,
        "command": cmd.command, "no_obstacle": no_obstacle, "start_xy": spawn,
        "last_action": jnp.zeros(3), "last_action2": jnp.zeros(3),
        "loco_action": jnp.zeros(12), "loco_carry": frozen.initial_carry(self.loco_policy),
        "external_wrench": wrench, "num_active": num_active,
        "log": {"terrain_level": level.astype(jnp.float32),
                "active_obstacles": num_active.astype(jnp.float32)},
        **persistent,
    }
    if self._dynamic:
      info["obstacles"] = dyn.reset(keys[6], persistent["obstacle_shape"], spawn, num_active,
                                    no_obstacle, self._speed_range)
    # Filled by observe(): the TTC field the next step's rewards read, the scan, the observation.
    info["ttc"] = jnp.full((rays.NUM_AZIMUTHS,), features.TTC_MAX)
    info["scan"] = {"distance": jnp.zeros(rays.NUM_AZIMUTHS),
                    "cls": jnp.zeros(rays.NUM_AZIMUTHS, jnp.int32)}
    obs = {k: jnp.zeros(v) for k, v in observations.OBS_SIZES.items()}
    if self.lidar is not None:  # zero-filled histories; observe() skips the frame at step 0
      info["mid360"] = self.lidar.reset_info(jax.random.fold_in(keys[9], 360))
    z = jnp.zeros(())
    metrics = {f"reward/{k}": z for k in rewards.TERMS}
    metrics.update({"died": z, "time_out": z, "collision": z, "speed": z})
    return State(data=data, obs=obs, reward=z, done=z, truncation=z, metrics=metrics, info=info)

  def with_command(self, state: State, command: jax.Array) -> State:
    """``state`` with the user command set to ``command`` (3,) and its resampling frozen (play and
    evaluation schedules); the actor observation shows it at once (``proprio[6:9]``)."""
    cmd = info_cmd = jnp.asarray(command, jnp.float32)
    held = state.info["commands"].replace(command=cmd, returning=jnp.zeros((), bool),
                                          timer=jnp.zeros(()), delay=jnp.full((), jnp.inf))
    obs = dict(state.obs)
    obs["proprio"] = obs["proprio"].at[6:9].set(cmd)
    return state.replace(obs=obs, info={**state.info, "commands": held, "command": info_cmd})

  def _fix(self, cmd: commands.CommandState) -> commands.CommandState:
    """Random-command envs hold ``env.commands.fixed`` when it is set (evaluation scenarios)."""
    if self._fixed is None:
      return cmd
    return cmd.replace(command=jnp.where(cmd.returning, cmd.command, self._fixed))

  # ------------------------------------------------------------------ sensing
  def _sense(self, data: mjx.Data, info: dict, key: jax.Array | None,
             contacts: bool = False) -> pipeline.Sensing:
    """Rays and TTC (and, with ``contacts``, obstacle contacts) of the current state (REASAN
    filter §1.1b item 9)."""
    _, _, lin, _ = observations.base_frame(data)
    noisy = self.config.obs.noise and self.config.obs.actor_rays == "centre"
    shapes = (self.shapes, data.geom_xpos, data.geom_xmat) if contacts else (None, None, None)
    return pipeline.sense(self.sensor_config, self.world, info.get("obstacles"), data.qpos[:3],
                          spatial.yaw_of_quat(data.qpos[3:7]), lin[:2], key if noisy else None,
                          *shapes)

  def _contacts(self, data: mjx.Data, info: dict) -> jax.Array:
    """(B,) bool: undesired body touching a static or dynamic obstacle (REASAN filter §5.1).

    The static primitives are the ``sensors.num_contact`` nearest within
    :data:`pipeline.CONTACT_RADIUS` of the base (a 3 x 3 cell cull, not the ray cast's 6.45 m
    one): the same set the ray cull's first entries gave whenever at most ``num_contact``
    primitives come that close (an undesired geom reaches ~0.45 m from the base).
    """
    return body.obstacle_contacts(self.shapes, data, self.world, self.sensor_config.num_contact,
                                  info.get("obstacles"))

  def observe(self, state: State) -> State:
    """One sensing pass on ``state`` (REASAN filter §1.1b item 9, after resets): cull, ray cast,
    actor/critic rays, per-azimuth classes and the TTC field (stored in ``info["ttc"]`` for the
    next step's rewards, REASAN's one-step lag), ``info["scan"]`` and the four observation groups
    (noise keys from ``info["rng"]``)."""
    info = dict(state.info)
    rng, k_ray, k_obs = jax.random.split(info["rng"], 3)
    info["rng"] = rng
    sensing = self._sense(state.data, info, k_ray)
    info["ttc"] = sensing.ttc
    info["scan"] = {"distance": sensing.min_distance, "cls": sensing.min_class}
    obs = observations.observe(state.data, info["command"], info["last_action"], sensing,
                               self.config.obs, k_obs)
    obs = self._observe_lidar(info, obs, k_obs, self.world, state.data, sensing.gt_rays)
    return state.replace(obs=obs, info=info)

  # ------------------------------------------------------------------ step
  def advance(self, state: State, action: jax.Array) -> State:
    """REASAN filter §1.1b items 1-6 and 8: loco policy, commands, obstacle motion, physics,
    dones (contacts of the post-physics state), rewards with the TTC field of the previous
    observation (REASAN's one-step lag), pushes. ``obs`` is the final observation for
    bootstrapping: proprio and privileged of the post-step state, rays of the previous
    observation (the rays are cast once per step, by :meth:`observe`).

    Raises:
      ValueError: ``action`` is not of shape (3,).
    """
    if action.shape != (3,):
      raise ValueError(f"filter action must have shape (3,), got {action.shape}.")
    cfg = self.config
    sim = self.sim
    info = dict(state.info)
    data = state.data
    rng, k_cmd, k_dyn, k_push, k_obs = jax.random.split(info["rng"], 5)
    info["rng"] = rng

    # 1-2: the frozen loco policy on the clamped filter action (REASAN filter §1.3).
    loco_action, info["loco_carry"] = frozen_chain.loco_step(
        self.loco_policy, data, action, self._limits, info["loco_action"], info["loco_carry"],
        cfg.loco_obs)
    # 3: user commands.
    yaw = spatial.yaw_of_quat(data.qpos[3:7])
    cmd = commands.advance_commands(k_cmd, info["commands"], cfg.commands, self.dt,
                                    info["no_obstacle"], info["start_xy"], data.qpos[:2], yaw)
    cmd = self._fix(cmd)
    info["commands"], info["command"] = cmd, cmd.command
    # 4: dynamic obstacles.
    if self._dynamic:
      info["obstacles"] = dyn.step(info["obstacles"], k_dyn, data.qpos[:2], self._speed_range,
                                   self.dt)
    # 5: physics with the blended target (REASAN filter §1.4).
    target = motor.joint_target(loco_action, info["loco_action"], self._loco_scale,
                                cfg.action.loco_blend)
    data, _, base_hits = sim.physics_step(data, target, info["gains"], info["external_wrench"])
    info["loco_action"] = loco_action

    # 6: dones and rewards; the TTC field is the previous observation's (REASAN's one-step lag).
    info["step"] = info["step"] + 1
    _, gravity, lin, ang = observations.base_frame(data)
    contacts = self._contacts(data, info)
    hit_obstacle = jnp.any(contacts)
    ground = observations.ground_contacts(self.shapes, data.geom_xpos, data.geom_xmat)
    bodies = jnp.sum(contacts | ground)
    died = body.died(base_hits, gravity, bodies, cfg.termination.gravity_z)
    time_out = (info["step"] >= cfg.episode_length) & ~died
    terms = self._terms(cmd.command, lin[:2], ang[2], action, info["last_action"],
                        info["last_action2"], info["ttc"], bodies)
    weighted = {k: terms[k] * self._weights[k] * self.dt for k in rewards.TERMS}
    reward = sum(weighted.values())
    info["last_action2"], info["last_action"] = info["last_action"], action

    # 8: pushes (interval events, training only).
    data = body.push(data, info["step"], k_push, cfg.randomization, self.dt)
    # The final observation (bootstrap of truncated episodes): fresh proprio / privileged, the
    # previous rays; observe() (item 9) casts this step's rays.
    obs = {**state.obs, "proprio": observations.proprio(data, cmd.command, action, cfg.obs, k_obs),
           "privileged": observations.privileged(data)}
    done = died | time_out
    metrics = {f"reward/{k}": v for k, v in weighted.items()}
    metrics.update({"died": died.astype(jnp.float32), "time_out": time_out.astype(jnp.float32),
                    "collision": (died & hit_obstacle).astype(jnp.float32),
                    "speed": jnp.linalg.norm(data.qvel[:3])})
    return State(data=data, obs=obs, reward=reward, done=done.astype(jnp.float32),
                 truncation=time_out.astype(jnp.float32), metrics=metrics, info=info)

  def _terms(self, c, v, wz, a, a1, a2, ttc, bodies) -> dict[str, jax.Array]:
    """The nine unweighted terms of REASAN filter §4.2 (:mod:`.rewards`)."""
    r = self.config.rewards
    return {
        "track_lin_vel": rewards.track_lin_vel(c, v, r.lin_sharpness),
        "track_ang_vel": rewards.track_ang_vel(c, wz, r.ang_sharpness),
        "action_rate_high": rewards.action_rate_high(a, a1),
        "action_smoothness_high": rewards.action_smoothness_high(a, a1, a2),
        "cmd_limits": rewards.cmd_limits(a, self._limits),
        "collision": rewards.collision(bodies),
        "bad_vel_move": rewards.bad_vel_move(c, v, features.weighted_ttc(ttc, c[:2]),
                                             r.safe_ttc_move, r.moving_speed, r.against_cos),
        "bad_vel_still": rewards.bad_vel_still(c, v, ttc, r.moving_speed, r.safe_ttc_still),
        "bad_vel": rewards.bad_vel(features.weighted_ttc(ttc, v), r.bad_vel_sharpness),
    }


__all__ = ["FilterEnv", "FilterConfigError", "PolicyError", "load_loco_policy"]
