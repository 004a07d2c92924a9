"""REASAN's safety filter (`filter`) and its PPO: every parameter in one ml-collections config.

Figures are REASAN's (``reasan-filter.md``) unless a comment says otherwise; the Go2's own figures
come from ``reasan_jax.robots.go2``. Reward weights are in ``env.reward_scales`` (one per term of
``reasan_jax.tasks.filter.rewards.TERMS``, metric ``reward/<term>``), their parameters in
``env.rewards``.

The frozen locomotion policy is ``env.loco_policy``: a loco run folder or checkpoint of ours, or an
ONNX file such as REASAN's ``loco_1.onnx``. REASAN's two phases (README): train with static
obstacles only (the default), then continue from that checkpoint with dynamic obstacles::

  python -m reasan_jax.train --config filter --config.env.loco_policy=runs/loco --run_name filter_static
  python -m reasan_jax.train --checkpoint runs/filter_static --run_name filter_dyn \\
      --config.env.dynamic_obstacles.enabled=true --config.run.num_iterations=...

On a machine without an accelerator the sizes are scaled down (``_scale_for_cpu``); on a GPU they
are REASAN's (1024 envs, 20000 iterations).
"""

from __future__ import annotations

import ml_collections

from reasan_jax.configs import common
from reasan_jax.robots.go2 import constants as go2


def env_config() -> ml_collections.ConfigDict:
  """The filter task's parameters (``reasan-filter.md``)."""
  c = ml_collections.ConfigDict()
  c.task = "filter"
  c.loco_policy = ""  # frozen loco policy: run folder, checkpoint folder or .onnx (required)
  c.sim_dt = 0.005  # s (200 Hz), REASAN filter §1.1
  c.decimation = 4  # -> 50 Hz control; filter and frozen loco policy both run once per step
  c.episode_length = 1000  # control steps (20 s); time-out when step x 0.02 >= 20 s (§5.1)
  c.collisions = "feet"  # MJX contacts feet-vs-ground; obstacle contacts are analytic (sensors)
  # Ground under the obstacles. REASAN: a 1-3 cm random height field; here flat (the periodic
  # obstacle world has no edge a finite height field could follow; docs/deviations.md).
  c.terrain = "flat"
  c.solver_iterations = 8  # as loco (docs/deviations.md)
  c.solver_ls_iterations = 8

  t = c.terrain_config = ml_collections.ConfigDict()
  t.seed = 0  # seeds the static world and the friction buckets
  t.num_tiles = 10  # 10 x 10 tiles of 9 m, repeated periodically (REASAN filter §6.1)
  t.static_obstacles = True  # False: open ground (the spawn points stay; evaluation's "open")

  a = c.action = ml_collections.ConfigDict()  # the filter's action -> the loco command (§3)
  a.limits = (2.5, 1.5, 3.0)  # clamp of (vx, vy, wz) before the loco observation
  # The frozen loco policy's action -> PD target (REASAN filter §1.4, = loco's).
  a.loco_scale = go2.ACTION_SCALE
  a.loco_hip_scale = go2.HIP_ACTION_SCALE
  a.loco_blend = go2.ACTION_BLEND

  c.motor = common.motor_config()  # reasan-rl-core.md §13, RandomDCMotor (Go2 figures)

  lo = c.loco_obs = ml_collections.ConfigDict()  # the frozen policy's 45-d observation (§1.3)
  lo.ang_vel_scale = 0.25
  lo.cmd_lin_scale = 2.0
  lo.cmd_ang_scale = 0.25
  lo.joint_vel_scale = 0.05

  o = c.obs = ml_collections.ConfigDict()  # the filter's observation (§2)
  o.ang_vel_scale = 0.25
  o.noise = True  # uniform noise, added after scaling (training)
  o.noise_ang_vel = 0.2
  o.noise_gravity = 0.05
  o.ray_noise = 0.05  # actor rays U(+-0.05) (training; 0 in play)
  # Actor rays: "centre" = centre-0 rays, noisy when obs.noise (training); "gt" = noise-free min
  # over all sensors.num_centers centres (REASAN's play env, 11 centres; REASAN filter §2.2, §10.3).
  o.actor_rays = "centre"

  s = c.sensors = ml_collections.ConfigDict()  # rays (REASAN filter §2.1; reasan_jax.sensors)
  s.num_centers = 1  # ray centres: 1 (train), 11 (play)
  s.num_static = 192  # nearest static boxes kept per step (covers REASAN's density)
  s.num_near = 32
  s.window = 9
  s.num_contact = 8

  cmd = c.commands = ml_collections.ConfigDict()  # user commands (REASAN filter §6.4)
  cmd.type_thresholds = (0.33, 0.66)
  cmd.fixed = ()  # (vx, vy, wz): every random-command env holds this user command (evaluation)
  # Command types 0, 1, 2: component ranges U(+-range), per-component zeroing probabilities and the
  # next resample delay U(lo, hi) s; type drawn by r ~ U(0, 1) against type_thresholds.
  cmd.type_ranges = ((1.5, 1.2, 3.0), (2.5, 0.5, 0.5), (0.5, 2.0, 0.5))
  cmd.type_zero_probs = ((0.2, 0.5, 0.5), (0.1, 0.5, 0.5), (0.5, 0.1, 0.5))
  cmd.type_delays = ((2.0, 5.0), (4.0, 4.0), (4.0, 4.0))
  cmd.zero_linear_prob = 0.05
  cmd.zero_linear_prob_no_obstacle = 0.2
  ret = cmd.returning = ml_collections.ConfigDict()
  ret.fraction = 1.0 / 3.0  # of the envs, only with dynamic obstacles
  ret.speed = (0.5, 2.0)  # m/s
  ret.delay = (5.0, 10.0)  # s
  ret.heading_zero_prob = 0.1
  ret.heading_back_prob = 0.1
  ret.stop_radius = 0.5  # m
  ret.max_yaw_rate = 3.0  # rad/s

  dyn = c.dynamic_obstacles = ml_collections.ConfigDict()  # REASAN filter §6.3, §7
  dyn.enabled = False  # phase 1: static obstacles only; phase 2: --config.env.dynamic_obstacles.enabled=true
  dyn.speed_range = (0.5, 1.2)  # m/s (train_filter.py; play 0.5-1.5)
  dyn.no_obstacle_prob = 0.1  # "no obstacle" episodes, random-command envs only
  dyn.active_per_level = 0.4  # active slots = floor(0.4 level), clipped to [0, 3]

  w = c.reward_scales = ml_collections.ConfigDict()  # REASAN filter §4.2 (each x 0.02, no clip)
  w.track_lin_vel = 4.0
  w.track_ang_vel = 3.0
  w.action_rate_high = -0.01
  w.action_smoothness_high = -0.01
  w.cmd_limits = -10.0
  w.collision = -100.0
  w.bad_vel_move = -5.0
  w.bad_vel_still = -5.0
  w.bad_vel = -1.0

  r = c.rewards = ml_collections.ConfigDict()
  r.lin_sharpness = 4.0  # exp(-4 |c_xy - v|^2)
  r.ang_sharpness = 2.0  # exp(-2 (c_z - wz)^2)
  r.bad_vel_sharpness = 2.0  # exp(-2 TTC(v))
  r.safe_ttc_move = 2.0  # s, bad_vel_move
  r.safe_ttc_still = 2.5  # s, bad_vel_still
  r.moving_speed = 0.2  # m/s
  r.against_cos = -0.25

  term = c.termination = ml_collections.ConfigDict()  # REASAN filter §5.1
  term.base_contact = "geometric"  # base vs ground (obstacle contacts: analytic, sensors)
  term.base_contact_force = 1.0
  term.gravity_z = -0.75  # tilt > ~41.4 deg

  rs = c.reset = ml_collections.ConfigDict()  # REASAN filter §5.2
  rs.height = 0.5  # m above the spawn point
  rs.joint_scale = (0.6, 1.4)

  d = c.randomization = ml_collections.ConfigDict()  # REASAN filter §6.5
  d.enabled = True
  d.base_mass_add = (-1.0, 2.0)
  d.com_shift = (0.05, 0.05, 0.02)
  d.friction_range = (0.2, 1.25)
  d.num_friction_buckets = 64
  d.external_force = 1.0
  d.external_torque = 1.0
  d.pushes = True
  d.push_interval = 5.0  # s
  d.push_velocity = 1.0  # m/s added to the world xy base velocity, U(+-)

  cu = c.curriculum = ml_collections.ConfigDict()  # REASAN filter §7
  cu.num_levels = 10
  cu.down_before = 0.5  # of the horizon: terminated before 10 s -> level - 1
  return c


def ppo_config() -> ml_collections.ConfigDict:
  """PPO for the filter (REASAN filter §8.2): 1024 envs, 8 minibatches, desired KL 0.005,
  entropy 0.01 (REASAN: empirical normalisation forced off, as everywhere)."""
  return common.ppo_config(num_envs=1024, num_minibatches=8, desired_kl=0.005, entropy_coef=0.01)


def network_config() -> ml_collections.ConfigDict:
  """REASAN's ``ActorCriticRecurrentRay`` (REASAN filter §8.1) with our recurrent core."""
  return common.ray_network_config()


def run_config() -> ml_collections.ConfigDict:
  """The training run (REASAN filter §8.2: 20000 iterations, checkpoint every 200)."""
  return common.run_config(num_iterations=20000, checkpoint_every=200)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Full config. ``arg``: ``"gpu"`` REASAN's sizes, ``"cpu"`` the small CPU sizes, default by
  ``jax.default_backend()``."""
  return common.full_config("filter", env_config(), ppo_config(), network_config(), run_config(),
                            arg, _scale_for_cpu)


def _scale_for_cpu(c: ml_collections.ConfigDict) -> None:
  """CPU-only machines: a real but small run (docs/training.md)."""
  c.ppo.num_envs = 64
  c.ppo.num_minibatches = 4
  c.ppo.num_epochs = 5
  common.scale_ray_network_for_cpu(c)
  c.run.num_iterations = 200
  c.run.iterations_per_call = 10
  c.run.checkpoint_every = 100
