"""REASAN's navigation task (``nav``) on MJX (REASAN nav §1-5).

One control step (50 Hz) in REASAN's order (REASAN nav §1.3): the nav action ``a_t`` (3,) = (vx,
vy, wz), unclipped, goes to the frozen **filter** (proprio ``[0.25 w_b, g_b, a_t, f_{t-1}]``, rays
= the previous observation's actor rays) whose output ``f_t`` goes, clamped to +-(2.5, 1.5, 3.0)
and scaled by (2, 2, 0.25), to the frozen **loco** policy (:mod:`reasan_jax.tasks.common.frozen_chain`);
the grid envs' dynamic obstacles move; 4 PD sub-steps with the 0.8/0.2 blended target; then
contacts (their own small cull), the goal distance, dones (§3.4), rewards (§5; the TTC field and
guide vector of the previous observation, REASAN's one-step lag, §10 item 3) and pushes --
:meth:`NavEnv.advance`; then, after ``VecEnv``'s auto-reset, ONE sensing pass on the (possibly
fresh) state: rays, TTC, guide and goal vectors and the observation (§2, :mod:`.observations`) --
:meth:`NavEnv.observe` (an auto-reset costs no second ray cast). ``info["final_obs"]`` holds the
post-step proprio / privileged groups and the previous rays. With ``env.mid360.enabled`` /
``env.use_pred_rays`` the Mid-360 histories live in ``info["mid360"]`` and the frozen estimator's
rays replace the actor rays (REASAN nav §8.6; :mod:`reasan_jax.tasks.common.lidar`).

Envs come in two types fixed for the run (§3.2): ``info["region"]`` :data:`~reasan_jax.scenes.nav_worlds.GRID`
(REASAN type 1, with dynamic obstacles) or :data:`~reasan_jax.scenes.nav_worlds.MAZE` (type 3);
``VecEnv`` puts the first ``floor(grid_fraction N)`` envs in the grid (:meth:`NavEnv.initial_persistent`).
The worlds are one :class:`~reasan_jax.scenes.nav_worlds.NavWorld` closed over by the env
(``env.world``). For rendering and evaluation: ``info["goal"]`` (2,), ``info["start_xy"]``,
``info["scan"]``, ``info["obstacles"]`` (dynamic obstacles on). Deviations: ``docs/deviations.md``
("Navigation").
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
import ml_collections
from mujoco import mjx

from reasan_jax.core import spatial
from reasan_jax.core.env import State
from reasan_jax.policies import frozen
from reasan_jax.policies.policy import PolicyError
from reasan_jax.robots.go2 import motor
from reasan_jax.robots.go2 import sim as go2_sim
from reasan_jax.scenes import dynamic_obstacles as dyn
from reasan_jax.scenes import nav_obstacles, nav_worlds
from reasan_jax.sensors import collisions, features, pipeline, rays
from reasan_jax.tasks.common import body, frozen_chain, lidar
from reasan_jax.tasks.common.config_check import check_keys
from reasan_jax.tasks.common.sim_task import CommandTask
from reasan_jax.tasks.nav import observations, rewards

NUM_OBSTACLES = nav_obstacles.NUM_SLOTS
"""Dynamic obstacle slots per grid env; the active count is the curriculum level (REASAN nav §4.8)."""
ARRIVAL_RADII = (0.5, 1.0, 2.0)
"""Per-episode arrival metrics: final distance within 0.5 / 1 / 2 m (issue 14 item 4)."""


class NavConfigError(ValueError):
  """A nav env config that cannot work (the message names the setting and the fix)."""


def load_filter_policy(cfg: ml_collections.ConfigDict):
  """The frozen filter of ``env.filter_policy``: reads ``proprio`` (12,) and ``rays`` (180,),
  outputs 3 (REASAN nav §1.4).

  Raises:
    NavConfigError: not given (the message says how to pass it).
    PolicyError: it cannot be loaded or is of the wrong kind, e.g. a loco or nav policy
      (one sentence naming the frozen filter policy).
  """
  return frozen_chain.load_frozen(
      cfg.filter_policy, task="nav", option="filter_policy", role="frozen filter policy",
      inputs=frozen_chain.FILTER_INPUTS, action_size=frozen_chain.FILTER_ACTIONS,
      example="REASAN's filter_1.onnx", error=NavConfigError)


def load_loco_policy(cfg: ml_collections.ConfigDict):
  """The frozen loco policy of ``env.loco_policy``: reads ``state`` (45,), outputs 12.

  Raises:
    NavConfigError: not given. PolicyError: it cannot be loaded or is of the wrong kind.
  """
  return frozen_chain.load_frozen(
      cfg.loco_policy, task="nav", option="loco_policy", role="frozen loco policy",
      inputs=frozen_chain.LOCO_INPUTS, action_size=frozen_chain.LOCO_ACTIONS,
      example="REASAN's loco_1.onnx", error=NavConfigError)


def load_frozen_policies(cfg: ml_collections.ConfigDict):
  """``(filter, loco)`` of ``env.filter_policy`` and ``env.loco_policy`` (both required; see
  :func:`load_filter_policy`, :func:`load_loco_policy`)."""
  return load_filter_policy(cfg), load_loco_policy(cfg)


class NavEnv(CommandTask):
  """The Go2 navigation task (REASAN ``Unitree-Go2-Navigation``).

  Observations: ``proprio`` (11,), ``privileged`` (5,), ``rays`` (180,), ``critic_rays`` (540,)
  (:data:`.observations.OBS_SIZES`, 736 in all). Action: (3,) raw velocity command (vx m/s,
  vy m/s, wz rad/s), yaw/body frame, unclipped (REASAN nav §1.2).

  Attributes:
    sim: the :class:`~reasan_jax.robots.go2.Go2Sim`. world: the
      :class:`~reasan_jax.scenes.nav_worlds.NavWorld`. filter_policy, loco_policy: the frozen
      :class:`~reasan_jax.policies.policy.Policy` values. shapes: the undesired bodies' collision
      primitives. sensor_config: the :class:`~reasan_jax.sensors.pipeline.SensorConfig`.
      dt: s per control step (0.02).

  Args:
    config: the ``env`` section of ``configs/nav.py``.
    filter_policy, loco_policy: already loaded policies (skip loading the config's).
    world: an already built world (skips ``env.world``).

  Raises:
    NavConfigError: unknown config key, a frozen policy not given, a bad setting.
    PolicyError: a frozen policy that cannot be loaded or is of the wrong kind.
  """

  OBS_SIZES = observations.OBS_SIZES

  def __init__(self, config: ml_collections.ConfigDict, filter_policy=None, loco_policy=None,
               world: nav_worlds.NavWorld | None = None):
    from reasan_jax.configs import nav as nav_config  # pylint: disable=import-outside-toplevel

    check_keys(config.to_dict(), nav_config.env_config().to_dict(), "nav", NavConfigError)
    cfg = self.config = config
    self.dt = cfg.sim_dt * cfg.decimation
    if cfg.obs.actor_rays not in ("centre", "gt"):
      raise NavConfigError(f"env.obs.actor_rays must be 'centre' or 'gt', got "
                           f"{cfg.obs.actor_rays!r}.")
    if not 0.0 <= cfg.grid_fraction <= 1.0:
      raise NavConfigError(f"env.grid_fraction must be in [0, 1], got {cfg.grid_fraction}.")
    filter_policy = filter_policy if filter_policy is not None else load_filter_policy(cfg)
    loco_policy = loco_policy if loco_policy is not None else load_loco_policy(cfg)
    filter_policy.check_fits(frozen_chain.FILTER_INPUTS, frozen_chain.FILTER_ACTIONS,
                             role="frozen filter policy")
    loco_policy.check_fits(frozen_chain.LOCO_INPUTS, frozen_chain.LOCO_ACTIONS,
                           role="frozen loco policy")
    self.filter_policy, self.loco_policy = filter_policy, loco_policy
    self.sim = go2_sim.Go2Sim.from_config(cfg, None)
    w = cfg.world
    self.world = world if world is not None else nav_worlds.make_nav_world(
        w.seed, w.num_pairs, grid_blocks=w.grid_blocks, maze_cells=w.maze_cells)
    self.world = self.world.replace(goal_noise=self.world.goal_noise.at[nav_worlds.GRID].set(
        w.goal_noise))
    self.shapes = collisions.robot_shapes(self.sim.mj_model)
    s = cfg.sensors
    given = {k: int(s[k]) for k in ("num_static", "num_near", "window", "num_contact") if s[k]}
    self.sensor_config = nav_worlds.nav_sensor_config(
        num_centers=s.num_centers, actor_noise=cfg.obs.ray_noise, **given)
    self._init_command(cfg, rewards.TERMS)
    self.lidar = lidar.Mid360Module.from_env_config(cfg)  # None: no Mid-360, no estimator

  # ------------------------------------------------------------------ curriculum and reset
  def persistent(self, state: State) -> dict[str, jax.Array]:
    """The curriculum (REASAN nav §3.5) from the finished episode: level + 1 if the final
    distance < 2 m, else - 1 if it is > 0.5 x the start distance; >= 10 -> random 0..9, < 0 -> 0.
    Also the env's region, gains and obstacle shapes (fixed for the run) and, with the Mid-360
    on, its pattern cursor."""
    info, cu = state.info, self.config.curriculum
    d_end, d_0 = info["last_dist"], info["start_dist"]
    up = d_end < cu.up_distance
    down = ~up & (d_end > cu.down_fraction * d_0)
    level = info["terrain_level"] + up.astype(jnp.int32) - down.astype(jnp.int32)
    wrapped = jax.random.randint(jax.random.fold_in(info["rng"], 7), (), 0, cu.num_levels)
    level = jnp.where(level >= cu.num_levels, wrapped, jnp.maximum(level, 0))
    out = {"terrain_level": level, "region": info["region"], "gains": info["gains"],
           "obstacle_shape": info["obstacle_shape"]}
    if self.lidar is not None:
      out["mid360_cursor"] = info["mid360_cursor"]
    return out

  def first_persistent(self, rng: jax.Array, region: jax.Array | int | None = None
                       ) -> dict[str, jax.Array]:
    """First-episode values: level 0, gains, obstacle shapes and the region (``None``: grid with
    probability ``grid_fraction``; :meth:`initial_persistent` gives exact halves)."""
    keys = jax.random.split(rng, 5)
    if region is None:
      region = jnp.where(jax.random.uniform(keys[3]) < self.config.grid_fraction,
                         nav_worlds.GRID, nav_worlds.MAZE)
    out = {"terrain_level": jnp.zeros((), jnp.int32),
           "region": jnp.asarray(region, jnp.int32), "gains": self.sim.sample_gains(keys[:3]),
           "obstacle_shape": dyn.init_shapes(keys[4], NUM_OBSTACLES)}
    if self.lidar is not None:
      out["mid360_cursor"] = self.lidar.first_cursor()
    return out

  def initial_persistent(self, rng: jax.Array, num_envs: int) -> dict[str, jax.Array]:
    """First-episode values of a batch (leaves (num_envs, ...)): envs ``[0, floor(f N))`` in the
    grid, the rest in the maze, ``f`` = ``env.grid_fraction`` (REASAN nav §3.2: f = 1/2)."""
    n_grid = int(self.config.grid_fraction * num_envs)
    region = jnp.where(jnp.arange(num_envs) < n_grid, nav_worlds.GRID, nav_worlds.MAZE)
    return jax.vmap(self.first_persistent)(jax.random.split(rng, num_envs), region)

  def start(self, rng: jax.Array, persistent: dict[str, jax.Array] | None = None) -> State:
    """New episode in REASAN's order (REASAN nav §3.3), without the observation (zeros until
    :meth:`observe`): wrench, buffers and both frozen recurrent states zeroed, spawn pair (z
    0.4 m, yaw U(-pi, pi), grid goal noise), goal distance, scaled joints, dynamic obstacles."""
    cfg, sim = self.config, self.sim
    keys = jax.random.split(rng, 9)
    if persistent is None:
      persistent = self.first_persistent(keys[0])
    level, region = persistent["terrain_level"], persistent["region"]
    wrench = sim.sample_wrench(keys[1])
    spawn, goal, pair = nav_worlds.sample_pair(keys[2], self.world, region)
    yaw = jax.random.uniform(keys[3], (), minval=-jnp.pi, maxval=jnp.pi)
    q = sim.scaled_default_pose(keys[4], cfg.reset.joint_scale)
    data = sim.spawn(jnp.concatenate([spawn, jnp.array([cfg.reset.height])]), yaw, q)
    dist = jnp.linalg.norm(goal - spawn)
    grid = region == nav_worlds.GRID
    num_active = nav_obstacles.num_active_from_level(level, grid & self._dynamic, NUM_OBSTACLES)
    info = {
        "rng": keys[8], "step": jnp.zeros((), jnp.int32), "goal": goal, "pair": pair,
        "start_xy": spawn, "start_dist": dist, "last_dist": dist,
        "last_action": jnp.zeros(3), "last_action2": jnp.zeros(3),
        "filter_action": jnp.zeros(3), "filter_carry": frozen.initial_carry(self.filter_policy),
        "loco_action": jnp.zeros(12), "loco_carry": frozen.initial_carry(self.loco_policy),
        "external_wrench": wrench, "num_active": num_active,
        "first_arrival": jnp.full((), -1.0),
        "log": {"terrain_level": level.astype(jnp.float32),
                "active_obstacles": num_active.astype(jnp.float32),
                "grid_env": grid.astype(jnp.float32)},
        **persistent,
    }
    if self._dynamic:
      info["obstacles"] = self._reset_obstacles(keys[5], persistent["obstacle_shape"], spawn,
                                                num_active, level)
    # Filled by observe(): the TTC field and guide vector the next step's rewards read
    # (REASAN's one-step lag, REASAN nav §10 item 3), the scan, the observation.
    info["ttc"] = jnp.full((rays.NUM_AZIMUTHS,), features.TTC_MAX)
    info["guide"] = jnp.zeros(2)
    info["scan"] = {"distance": jnp.zeros(rays.NUM_AZIMUTHS),
                    "cls": jnp.zeros(rays.NUM_AZIMUTHS, jnp.int32)}
    if self.lidar is not None:  # zero-filled histories; observe() skips the frame at step 0
      info["mid360"] = self.lidar.reset_info(jax.random.fold_in(keys[8], 360))
    obs = {k: jnp.zeros(v) for k, v in observations.OBS_SIZES.items()}
    z = jnp.zeros(())
    metrics = {f"reward/{k}": z for k in rewards.TERMS}
    metrics.update({k: z for k in _EPISODE_METRICS})
    return State(data=data, obs=obs, reward=z, done=z, truncation=z, metrics=metrics, info=info)

  # ------------------------------------------------------------------ obstacles and sensing
  def _reset_obstacles(self, key, shape, spawn, num_active, level):
    """The grid env's 9 dynamic obstacles at an episode start (REASAN nav §4.8)."""
    k_off, k_place = jax.random.split(key)
    return nav_obstacles.reset_nav(k_place, shape, spawn, level, num_active,
                                   nav_obstacles.sample_no_obstacle(k_off), self._speed_range)

  def _move_obstacles(self, obst, key):
    """One step of the dynamic obstacles, before physics (REASAN nav §4.8)."""
    return nav_obstacles.step_nav(obst, key, self._speed_range, self.dt)

  def _sense(self, data: mjx.Data, info: dict, key: jax.Array | None,
             contacts: bool = False) -> pipeline.Sensing:
    """Rays and TTC (and, with ``contacts``, obstacle contacts) of the current state (REASAN nav
    §2.1, §7.5)."""
    _, _, lin, _ = body.base_frame(data)
    noisy = self.config.obs.noise and self.config.obs.actor_rays == "centre"
    shapes = (self.shapes, data.geom_xpos, data.geom_xmat) if contacts else (None, None, None)
    return pipeline.sense(self.sensor_config, self.world.static, info.get("obstacles"),
                          data.qpos[:3], spatial.yaw_of_quat(data.qpos[3:7]), lin[:2],
                          key if noisy else None, *shapes)

  def _contacts(self, data: mjx.Data, info: dict) -> jax.Array:
    """(B,) bool: undesired body touching a pillar or a dynamic obstacle (REASAN nav §3.4).

    The pillars are the ``sensors.num_contact`` nearest within
    :data:`~reasan_jax.sensors.pipeline.CONTACT_RADIUS` of the base (a small cull of the binned
    world, not the ray cast's 6 m one; exact while at most ``num_contact`` pillars come within
    reach, ``tests/test_nav_worlds.py``)."""
    return body.obstacle_contacts(self.shapes, data, self.world.static,
                                  self.sensor_config.num_contact, info.get("obstacles"))

  def observe(self, state: State) -> State:
    """One sensing pass on ``state`` (REASAN nav §1.3, after resets): cull, ray cast,
    actor / critic rays, TTC and the guide vector (stored in ``info["ttc"]`` / ``info["guide"]``
    for the next step's rewards, REASAN's one-step lag, REASAN nav §10 item 3), ``info["scan"]``,
    the four observation groups (noise keys from ``info["rng"]``) and, when on, the Mid-360 frame
    and predicted rays (:meth:`reasan_jax.tasks.common.lidar.Mid360Module.observe`)."""
    info = dict(state.info)
    data = state.data
    rng, k_ray, k_obs = jax.random.split(info["rng"], 3)
    info["rng"] = rng
    sensing = self._sense(data, info, k_ray)
    guide = nav_worlds.guide_vector(self.world, info["region"], info["pair"], data.qpos[:2])
    info["ttc"], info["guide"] = sensing.ttc, guide
    info["scan"] = {"distance": sensing.min_distance, "cls": sensing.min_class}
    goal_b = observations.goal_in_yaw_frame(data.qpos[:3], data.qpos[3:7], info["goal"])
    obs = observations.observe(data, goal_b, info["last_action"], guide, sensing,
                               self.config.obs, k_obs)
    obs = self._observe_lidar(info, obs, k_obs, self.world.static, data, sensing.gt_rays)
    return state.replace(obs=obs, info=info)

  # ------------------------------------------------------------------ step
  def advance(self, state: State, action: jax.Array) -> State:
    """REASAN nav §1.3 without the observation: filter, loco, obstacle motion, physics,
    contacts (their own small cull) and dones of the post-physics state, rewards (§5) with the
    fresh goal distance but the TTC and guide vector of the previous observation (REASAN's
    one-step lag, §10 item 3), pushes. ``obs`` is the final observation for bootstrapping:
    proprio and privileged of the post-step state, the rays of the previous observation.

    Raises:
      ValueError: ``action`` is not of shape (3,).
    """
    if action.shape != (3,):
      raise ValueError(f"nav action must have shape (3,), got {action.shape}.")
    cfg, sim = self.config, self.sim
    info = dict(state.info)
    data = state.data
    rng, k_dyn, k_push, k_obs = jax.random.split(info["rng"], 4)
    info["rng"] = rng
    xy_before = data.qpos[:2]

    # 1.3 items 3-4: the frozen filter (previous observation's actor rays), then loco.
    filt, info["filter_carry"] = frozen_chain.filter_step(
        self.filter_policy, data, action, info["filter_action"], state.obs["rays"],
        info["filter_carry"], cfg.filter_obs.ang_vel_scale)
    loco_action, info["loco_carry"] = frozen_chain.loco_step(
        self.loco_policy, data, filt, self._limits, info["loco_action"], info["loco_carry"],
        cfg.loco_obs)
    # item 5: dynamic obstacles; 2: physics with the blended target.
    if self._dynamic:
      info["obstacles"] = self._move_obstacles(info["obstacles"], k_dyn)
    target = motor.joint_target(loco_action, info["loco_action"], self._loco_scale,
                                cfg.action.loco_blend)
    data, _, base_hits = sim.physics_step(data, target, info["gains"], info["external_wrench"])
    info["loco_action"], info["filter_action"] = loco_action, filt

    # 3: dones and rewards on the post-physics state; TTC and guide of the previous observation.
    info["step"] = info["step"] + 1
    _, gravity, lin, ang = body.base_frame(data)
    xy = data.qpos[:2]
    d = jnp.linalg.norm(info["goal"] - xy)
    contacts = self._contacts(data, info)
    ground = body.ground_contacts(self.shapes, data.geom_xpos, data.geom_xmat)
    bodies = jnp.sum(contacts | ground)
    died = body.died(base_hits, gravity, bodies, cfg.termination.gravity_z)
    time_out = (info["step"] >= cfg.episode_length) & ~died
    done = died | time_out
    tau = cfg.rewards.horizon - info["step"] * self.dt
    ttc = info["ttc"]
    terms = rewards.terms(
        cfg.rewards, d=d, d_prev=info["last_dist"], tau=tau, v=lin, wz=ang[2], a=action,
        a1=info["last_action"], a2=info["last_action2"], f=filt, g=info["guide"],
        u=rewards.unit(data.qvel[:2]), ttc_field=ttc,
        ttc_vel=features.weighted_ttc(ttc, lin[:2]), bodies=bodies, done=done,
        limits=self._limits)
    weighted = {k: terms[k] * self._weights[k] * self.dt for k in rewards.TERMS}
    reward = sum(weighted.values())
    info["last_action2"], info["last_action"] = info["last_action"], action
    info["last_dist"] = d
    t = info["step"] * self.dt
    arrived = (d < ARRIVAL_RADII[1]) & (info["first_arrival"] < 0)
    info["first_arrival"] = jnp.where(arrived, t, info["first_arrival"])

    # Interval push (training), then the final observation (bootstrap of truncated episodes):
    # fresh proprio / privileged (guide of the post-push state), the previous rays.
    data = body.push(data, info["step"], k_push, cfg.randomization, self.dt)
    goal_b = observations.goal_in_yaw_frame(data.qpos[:3], data.qpos[3:7], info["goal"])
    guide = nav_worlds.guide_vector(self.world, info["region"], info["pair"], data.qpos[:2])
    obs = {**state.obs, "proprio": observations.proprio(data, goal_b, action, cfg.obs, k_obs),
           "privileged": observations.privileged(data, guide)}
    metrics = {f"reward/{k}": v for k, v in weighted.items()}
    metrics.update(self._episode_metrics(done, died, time_out, jnp.any(contacts), d,
                                         info["first_arrival"], xy - xy_before, data))
    return State(data=data, obs=obs, reward=reward, done=done.astype(jnp.float32),
                 truncation=time_out.astype(jnp.float32), metrics=metrics, info=info)

  def _episode_metrics(self, done, died, time_out, hit_obstacle, d, first_arrival, moved, data):
    """Per-step values whose episode sums are the metrics of :data:`_EPISODE_METRICS`."""
    f = lambda x: jnp.asarray(x, jnp.float32)
    end = f(done)
    reached = first_arrival >= 0
    horizon = self.config.episode_length * self.dt
    out = {"died": f(died), "time_out": f(time_out), "collision": f(died & hit_obstacle),
           "speed": jnp.linalg.norm(data.qvel[:3]), "final_distance": d * end,
           "reached_1m": f(reached) * end,
           "time_to_1m": jnp.where(reached, first_arrival, horizon) * end,
           "path_length": jnp.linalg.norm(moved)}
    for r in ARRIVAL_RADII:
      out[f"arrived_{r:g}m"] = f(d < r) * end
    return out


_EPISODE_METRICS = ("died", "time_out", "collision", "speed", "final_distance", "reached_1m",
                    "time_to_1m", "path_length") + tuple(f"arrived_{r:g}m" for r in ARRIVAL_RADII)
"""Episode metrics (sums of the per-step values over an episode): died / time_out / collision
(died touching an obstacle) flags, summed speed, the final distance to the goal (m), arrival
within 0.5 / 1 / 2 m at the end, whether and when (s; the 15 s horizon if never) the robot first
came within 1 m, and the path length (m) (issue 14 item 4, beyond REASAN)."""


__all__ = ["NavEnv", "NavConfigError", "PolicyError", "load_filter_policy", "load_loco_policy",
           "load_frozen_policies", "NUM_OBSTACLES"]
