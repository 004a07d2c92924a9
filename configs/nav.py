"""REASAN's navigation task (`nav`) and its PPO: every parameter in one ml-collections config.

Figures are REASAN's (``reasan-nav.md``) unless a comment says otherwise; the Go2's own figures
come from ``reasan_jax.robots.go2``. Reward weights are in ``env.reward_scales`` (one per term of
``reasan_jax.tasks.nav.rewards.TERMS``, metric ``reward/<term>``), their parameters in
``env.rewards``.

The nav policy's command goes through two frozen policies, both required (REASAN nav §1.3-1.4):
``env.filter_policy`` (the safety filter) and ``env.loco_policy`` (locomotion), each a run or
checkpoint folder of ours or an ONNX file such as REASAN's ``filter_1.onnx`` / ``loco_1.onnx``::

  python -m reasan_jax.train --config nav \\
      --config.env.filter_policy=../shared/reference/pretrained/filter_1.onnx \\
      --config.env.loco_policy=../shared/reference/pretrained/loco_1.onnx

On a machine without an accelerator the sizes are scaled down (``_scale_for_cpu``: small worlds,
32 envs, 200 iterations, about a quarter of an hour on 2 cores); on a GPU they are REASAN's (1024 envs,
20000 iterations, the full 15 x 15 sub-block grid and 40 x 40 maze).
"""

from __future__ import annotations

import ml_collections

from reasan_jax.configs import common
from reasan_jax.robots.go2 import constants as go2
from reasan_jax.tasks.common import lidar


def env_config() -> ml_collections.ConfigDict:
  """The nav task's parameters (``reasan-nav.md``)."""
  c = ml_collections.ConfigDict()
  c.task = "nav"
  c.filter_policy = ""  # frozen filter: run folder, checkpoint folder or .onnx (required)
  c.loco_policy = ""  # frozen loco policy: run folder, checkpoint folder or .onnx (required)
  c.sim_dt = 0.005  # s (200 Hz), REASAN nav §1.1
  c.decimation = 4  # -> 50 Hz; nav, filter and loco policies all run once per step
  c.episode_length = 750  # control steps: REASAN hard-codes 15 s (§3.1, §10 item 1)
  c.collisions = "feet"  # MJX contacts feet-vs-ground; obstacle contacts are analytic (sensors)
  # Ground: REASAN 1-3 cm random height field (§4.1); here flat (docs/deviations.md, as filter).
  c.terrain = "flat"
  c.solver_iterations = 8  # as loco (docs/deviations.md)
  c.solver_ls_iterations = 8
  # Fraction of the envs in the grid (type 1, region A); the others are in the maze (type 3,
  # region C). REASAN: envs [0, N/2) grid, [N/2, N) maze (§3.2).
  c.grid_fraction = 0.5

  t = c.terrain_config = ml_collections.ConfigDict()
  t.seed = 0  # seeds the friction buckets

  w = c.world = ml_collections.ConfigDict()  # the navigation worlds (REASAN nav §4)
  w.seed = 0  # REASAN: generator seed 0
  w.num_pairs = 1000  # spawn/goal pairs per region (§4.3-4.4)
  w.grid_blocks = 15  # region A: 15 x 15 sub-blocks of 2 x 2 cells of 1.25 m (§4.3)
  w.maze_cells = 40  # region C: 40 x 40 cells of 1.75 m (§4.4)
  w.goal_noise = 0.25  # m, U(+-) per axis on grid goals only (§3.3 step 4)

  a = c.action = ml_collections.ConfigDict()  # the nav action -> filter -> loco (§1.2-1.3)
  a.limits = (2.5, 1.5, 3.0)  # clamp of the filter's (vx, vy, wz) into the loco observation
  a.loco_scale = go2.ACTION_SCALE  # loco action -> PD target (REASAN nav §1.3 step 2)
  a.loco_hip_scale = go2.HIP_ACTION_SCALE
  a.loco_blend = go2.ACTION_BLEND

  c.motor = common.motor_config()  # REASAN nav §1.5 (Kp 35, Kd 0.5, +-10 %; strength 0.9-1.1)

  lo = c.loco_obs = ml_collections.ConfigDict()  # the frozen loco policy's 45-d input (§1.3)
  lo.ang_vel_scale = 0.25
  lo.cmd_lin_scale = 2.0
  lo.cmd_ang_scale = 0.25
  lo.joint_vel_scale = 0.05

  fo = c.filter_obs = ml_collections.ConfigDict()  # the frozen filter's 12-d proprio (§1.3)
  fo.ang_vel_scale = 0.25  # no noise on the filter's input

  o = c.obs = ml_collections.ConfigDict()  # the nav observation (§2)
  o.ang_vel_scale = 0.25
  o.noise = True  # uniform noise, added after scaling (training)
  o.noise_ang_vel = 0.2
  o.noise_gravity = 0.05
  o.ray_noise = 0.05  # actor rays U(+-0.05) (training)
  # "centre": centre-0 rays, noisy when obs.noise (training); "gt": noise-free min over all
  # sensors.num_centers centres (REASAN's play env, 11 centres; §2.1, §10 item 4).
  o.actor_rays = "centre"

  s = c.sensors = ml_collections.ConfigDict()  # rays (REASAN nav §2.1, §7.2)
  s.num_centers = 1  # 1 (train), 11 (play)
  s.num_static = 0  # 0: the worlds' own choice (scenes.nav_worlds.nav_sensor_config)
  s.num_near = 0
  s.window = 0
  s.num_contact = 0

  # Simulated Livox Mid-360 and the ray estimator's grid / IMU histories (REASAN nav §7.3-7.4,
  # §8.2; reasan_jax.tasks.common.lidar). Off: nothing of it is computed. The nav worlds have up
  # to 283 pillars within the Mid-360's 3 m (the maze; scenes.nav_worlds), so its cull keeps 320.
  c.mid360 = lidar.mid360_config()
  c.mid360.num_static = 320
  # Predicted rays (REASAN nav §8.6): the frozen estimator at env.estimator (a run or checkpoint
  # of python -m reasan_jax.train_estimator) replaces the actor rays; turns the Mid-360 on.
  c.use_pred_rays = False
  c.estimator = ""

  dyn = c.dynamic_obstacles = ml_collections.ConfigDict()  # REASAN nav §4.8 (--with_dyn_obst)
  dyn.enabled = True  # grid envs only; active count = curriculum level (0-9)
  dyn.speed_range = (0.5, 1.2)  # m/s (train_nav.py; play 0.5-1.5)

  r = c.rewards = ml_collections.ConfigDict()  # REASAN nav §5 parameters
  r.horizon = 15.0  # s, T of the arrival bonus (tau / T)^2 and exp(-tau)
  r.goal_radii = (0.5, 1.0, 2.0)  # m, arrival bonus tiers; the last is the "at goal" radius
  r.stay_vel_sharpness = 4.0  # exp(-4 |(vx, vy, wz)|)
  r.stay_dist_sharpness = 2.0  # exp(-2 d)
  r.heading_threshold = 0.2  # unit-velocity x above (forward) / below -x (backward)
  r.guide_valid = 0.1  # |g| above: valid guide
  r.follow_align = 0.7  # align above: follows the guide
  r.not_follow_align = 0.1  # align below: does not
  r.bad_control_sharpness = 2.0  # 1 - exp(-2 |a - f|^2)
  r.ttc_sharpness = 2.0  # exp(-2 min TTC)
  r.bad_vel_sharpness = 2.0  # exp(-2 TTC(v))
  r.termination_distance = 2.0  # m: a reset farther than this is penalised (died or time-out)

  sc = c.reward_scales = ml_collections.ConfigDict()  # REASAN nav §5 (each x 0.02, no clip)
  sc.close_to_goal_1 = 40.0
  sc.close_to_goal_2 = 15.0
  sc.close_to_goal_3 = 5.0
  sc.stop_at_goal = -2.0
  sc.stay_at_goal = 5.0
  sc.forward_vel = 0.5
  sc.backward_vel = -4.0
  sc.progress = 20.0
  sc.follow_guide = 1.0
  sc.not_follow_guide = -5.0
  sc.bad_control = -0.5
  sc.time_spent = -5.0
  sc.action_rate = -0.01
  sc.action_smoothness = -0.01
  sc.cmd_limits = -10.0
  sc.collision = -100.0
  sc.termination = -100.0
  sc.ttc = -0.5
  sc.bad_vel = -2.0

  term = c.termination = ml_collections.ConfigDict()  # REASAN nav §3.4
  term.base_contact = "geometric"  # base vs ground (obstacle contacts: analytic, sensors)
  term.base_contact_force = 1.0
  term.gravity_z = -0.75  # tilt > ~41.4 deg

  rs = c.reset = ml_collections.ConfigDict()  # REASAN nav §3.3
  rs.height = 0.4  # m, base z at spawn
  rs.joint_scale = (0.6, 1.4)

  d = c.randomization = ml_collections.ConfigDict()  # REASAN nav §3.3 (startup-only, per env)
  d.enabled = True
  d.base_mass_add = (-1.0, 2.0)
  d.com_shift = (0.05, 0.05, 0.02)
  d.friction_range = (0.2, 1.25)
  d.num_friction_buckets = 64
  d.external_force = 1.0  # N, constant per episode, U(+-) per axis
  d.external_torque = 1.0  # N m
  d.pushes = True
  d.push_interval = 5.0  # s
  d.push_velocity = 1.0  # m/s added to the world xy base velocity, U(+-)

  cu = c.curriculum = ml_collections.ConfigDict()  # REASAN nav §3.5
  cu.num_levels = 10
  cu.up_distance = 2.0  # m: final distance below -> level + 1
  cu.down_fraction = 0.5  # final distance above this x the start distance -> level - 1
  return c


def ppo_config() -> ml_collections.ConfigDict:
  """PPO for nav (REASAN nav §6.2): 1024 envs, 24 steps, 10 epochs, 8 minibatches, desired KL
  0.005, entropy 0.01, no observation normalisation."""
  return common.ppo_config(num_envs=1024, num_minibatches=8, desired_kl=0.005, entropy_coef=0.01)


def network_config() -> ml_collections.ConfigDict:
  """REASAN's ``ActorCriticRecurrentRay`` for nav (REASAN nav §6.1) with our recurrent core:
  11 + 64 = 75 features into the actor core, 11 + 5 + 128 = 144 into the critic's."""
  return common.ray_network_config()


def run_config() -> ml_collections.ConfigDict:
  """The training run (REASAN nav §6.2: 20000 iterations, checkpoint every 200)."""
  return common.run_config(num_iterations=20000, checkpoint_every=200)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Full config. ``arg``: ``"gpu"`` REASAN's sizes, ``"cpu"`` the small CPU sizes, default by
  ``jax.default_backend()``."""
  return common.full_config("nav", env_config(), ppo_config(), network_config(), run_config(),
                            arg, _scale_for_cpu)


def _scale_for_cpu(c: ml_collections.ConfigDict) -> None:
  """CPU-only machines: a real but small run (docs/training.md): a 4 x 4 sub-block grid and an
  8 x 8 maze (200 pairs each), 32 envs, smaller networks."""
  c.env.world.grid_blocks = 4
  c.env.world.maze_cells = 8
  c.env.world.num_pairs = 200
  # 32 envs x 200 iterations (~150 k steps, ~6 episodes of 750 steps per env): the first and
  # last 20 % of the iterations both hold episode ends (all envs start at step 0, so the first
  # time-outs come at iteration 32). ~170 env steps/s with learning on 2 busy cores.
  c.ppo.num_envs = 32
  c.ppo.num_minibatches = 4
  c.ppo.num_epochs = 5
  common.scale_ray_network_for_cpu(c)
  c.run.num_iterations = 200
  c.run.iterations_per_call = 10
  c.run.checkpoint_every = 50
