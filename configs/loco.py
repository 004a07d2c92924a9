"""REASAN locomotion (`loco`) task and its PPO: every parameter in one ml-collections config.

Figures are REASAN's (``reasan-loco.md``, ``reasan-rl-core.md``) unless a comment says otherwise.
The Go2's own figures (gains, limits, action map, spawn height) are read from
``reasan_jax.robots.go2``, their one source of truth. Reward weights are in ``env.reward_scales``
(one entry per term, metric ``reward/<term>``), reward parameters in ``env.rewards``.
Stage 2 (``--config.env.stage=2``) applies ``env.stage2`` on top of the env section.

On a machine without an accelerator the PPO/run sections are scaled down so that
``python -m reasan_jax.train --config loco`` finishes a real, small run in minutes; on a GPU/TPU
they use REASAN's sizes (see ``_scale_for_cpu``).
"""

from __future__ import annotations

import ml_collections

from reasan_jax.configs import common
from reasan_jax.robots.go2 import constants as go2


def env_config() -> ml_collections.ConfigDict:
  """The loco task's parameters (``reasan-loco.md``)."""
  c = ml_collections.ConfigDict()
  c.task = "loco"
  c.stage = 1
  c.sim_dt = 0.005  # s, physics step (200 Hz)
  c.decimation = 4  # physics steps per policy step -> 50 Hz
  c.episode_length = 1000  # policy steps (20 s); time-out when step counter >= 999
  # go2.load_model variant. "feet": only the feet collide and the base contact is checked
  # geometrically (trunk box/head below the ground); "feet_base" adds trunk/head collisions and
  # checks their contact force instead (12x slower per step on the height field, 1.2x on flat).
  c.collisions = "feet"
  c.terrain = "rough"  # "rough" (REASAN's height field) or "flat"
  # Newton solver caps written into the model (the MJCF carries 4/6). With armature 0 (below),
  # 4 iterations left the contact solve unconverged often enough that the released policy fell
  # on the height field (MuJoCo, 12 spawns: 1-2 falls at 0.5-1.0 m/s); 8 gave none. Cost: ~1.4x
  # per physics step on CPU (docs/deviations.md).
  c.solver_iterations = 8
  c.solver_ls_iterations = 8

  t = c.terrain_config = ml_collections.ConfigDict()
  t.num_rows = 10  # curriculum levels (reasan-rl-core.md §15)
  t.num_cols = 20
  t.cell_size = 8.0  # m
  t.hscale = 0.1  # m between height-field vertices
  t.noise_range = (0.01, 0.03)  # m
  t.noise_step = 0.01  # m
  t.border_width = 0.1  # m of zero height at each cell edge
  t.border = 20.0  # m of flat ground around the grid
  t.seed = 0

  a = c.action = ml_collections.ConfigDict()
  a.scale = go2.ACTION_SCALE  # 0.25 rad per unit action
  a.hip_scale = go2.HIP_ACTION_SCALE  # hips get a further x0.5 -> 0.125 rad
  a.blend = go2.ACTION_BLEND  # PD target uses 0.8 a_t + 0.2 a_{t-1}

  c.motor = common.motor_config()  # reasan-rl-core.md §13, RandomDCMotor (Go2 figures)

  cmd = c.commands = ml_collections.ConfigDict()
  cmd.ranges = (2.5, 1.5, 3.0)  # |vx| m/s, |vy| m/s, |wz| rad/s
  cmd.keep_prob = (0.8, 0.5, 0.5)  # each component kept (not zeroed) with this probability
  cmd.nonnegative_vx = True
  cmd.resample_interval = (4.0, 4.0)  # s, drawn uniformly per env at every resample

  o = c.obs = ml_collections.ConfigDict()
  o.ang_vel_scale = 0.25
  o.cmd_lin_scale = 2.0
  o.cmd_ang_scale = 0.25
  o.joint_vel_scale = 0.05
  o.lin_vel_scale = 2.0
  o.noise = True  # uniform noise on the actor observation
  o.noise_ang_vel = 0.2
  o.noise_gravity = 0.05
  o.noise_joint_pos = 0.01
  o.noise_joint_vel = 0.75  # applied to the already-scaled joint velocity
  o.critic_foot_frame = "base"  # "base" (fix) or "world" (REASAN's wart: absolute coordinates)

  # Reward weights, one per term of reasan_jax.tasks.loco.rewards.TERMS (same names; the sum runs
  # in TERMS' order): each term x weight x step_dt, summed, the sum clipped at >= rewards.clip_min.
  w = c.reward_scales = ml_collections.ConfigDict()
  w.lin_vel_z = -2.0  # x rewards.gait_lin_vel_z_factor once the gait terms are on
  w.ang_vel_xy = -0.05
  w.flat_orientation = -5.0
  w.dof_torques = -0.0002
  w.power = -0.001
  w.action_rate = -0.01
  w.dof_pos_limits = -10.0
  w.dof_vel_limits = -10.0
  w.track_lin_vel = 2.0
  w.track_ang_vel = 1.0
  w.dof_pos = -1.0
  w.alive = 0.2
  w.trot = 1.0
  w.termination = -200.0
  w.stand_still = 0.0  # stage 2: -10
  # Gait terms, on once the mean terrain level >= rewards.gait_level (the curriculum switch).
  w.feet_slip = -1.0
  w.feet_clearance = -2.0
  w.feet_height = -2.0
  w.feet_air_time = 10.0

  r = c.rewards = ml_collections.ConfigDict()  # parameters of the reward terms and of their sum
  r.gait_level = 1.0
  r.gait_lin_vel_z_factor = 5.0
  r.tracking_sharpness = 4.0  # exp(-4 err^2)
  r.foot_height_target = 0.15  # m
  r.air_time_target = 0.15  # s
  r.clip_min = 0.0
  # REASAN clips the whole sum, so its -200 termination term never acts (reasan-loco.md). True adds
  # the termination term after the clip instead (legged_gym's order): a death then costs 4.0.
  r.termination_after_clip = False
  r.clearance_relative = True  # foot height above the terrain below it (fix; REASAN: world z)

  term = c.termination = ml_collections.ConfigDict()
  term.base_contact = "geometric"  # "geometric" (trunk/head touch the ground) or "force"
  term.base_contact_force = 1.0  # N, over the last 3 physics sub-steps ("force" only)
  term.gravity_z = -0.25  # die when projected gravity z > this (tilt > ~75.5 deg)

  rs = c.reset = ml_collections.ConfigDict()
  rs.height = go2.SPAWN_HEIGHT  # 0.4 m above the cell origin
  rs.joint_scale = (0.6, 1.4)  # default pose x U(.) per joint, clamped to the soft limits

  d = c.randomization = ml_collections.ConfigDict()
  d.enabled = True
  d.base_mass_add = (-1.0, 2.0)  # kg, inertia scaled in proportion
  d.com_shift = (0.05, 0.05, 0.02)  # m, +- per axis
  # 64 buckets of U(0.2, 1.25) friction drawn once (NumPy, seed terrain_config.seed); each env
  # takes one. Restitution is not randomised: REASAN multiplies it with the terrain's 0.
  d.friction_range = (0.2, 1.25)
  d.num_friction_buckets = 64
  d.external_force = 1.0  # N, +- per axis, constant per episode
  d.external_torque = 1.0  # N m
  d.pushes = True
  d.push_interval = 5.0  # s
  d.push_velocity = 1.0  # m/s, base xy velocity set to U(+-)

  cu = c.curriculum = ml_collections.ConfigDict()
  cu.up_distance = 4.0  # m from the cell origin at episode end
  cu.down_distance = 1.0

  s2 = c.stage2 = ml_collections.ConfigDict()  # overrides for stage 2 (reasan-loco.md "Stages")
  s2.commands = ml_collections.ConfigDict({"ranges": (2.5, 1.5, 2.0), "resample_interval": (2.0, 3.0)})
  s2.randomization = ml_collections.ConfigDict(
      {"base_mass_add": (-2.0, 5.0), "push_interval": 2.0, "push_velocity": 1.5})
  s2.reward_scales = ml_collections.ConfigDict({"stand_still": -10.0})
  return c


def ppo_config() -> ml_collections.ConfigDict:
  """PPO hyper-parameters (reasan-rl-core.md §2, §5-6)."""
  return common.ppo_config()


def network_config() -> ml_collections.ConfigDict:
  """Actor-critic sizes (reasan-rl-core.md §3 with a GRU in place of the LSTM)."""
  n = ml_collections.ConfigDict()
  n.rnn = "gru"  # recurrent core: "gru" or "lstm" (REASAN's; exports as its ONNX LSTM node)
  n.rnn_size = 256
  n.actor_hidden = (512, 256, 128)
  n.critic_hidden = (512, 256, 128)
  n.activation = "elu"
  n.init_std = 1.0
  return n


def run_config() -> ml_collections.ConfigDict:
  """The training run around the algorithm (iterations, checkpoints, logs)."""
  return common.run_config(num_iterations=5000, checkpoint_every=200)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Full config. ``arg``: ``"gpu"`` forces REASAN's sizes, ``"cpu"`` the small CPU sizes,
  default picks by ``jax.default_backend()``."""
  return common.full_config("loco", env_config(), ppo_config(), network_config(), run_config(),
                            arg, _scale_for_cpu)


def _scale_for_cpu(c: ml_collections.ConfigDict) -> None:
  """CPU-only machines: a real but small run, ~10 min on 2 cores (docs/training.md)."""
  c.ppo.num_envs = 64
  c.network.rnn_size = 128
  c.network.actor_hidden = (256, 128, 64)
  c.network.critic_hidden = (256, 128, 64)
  c.env.terrain = "flat"
  c.env.terrain_config.num_rows = 4
  c.env.terrain_config.num_cols = 8
  # 5 epochs (rsl_rl's default; REASAN runs 10): on 2 cores the GRU update is FLOP-bound and 10
  # epochs cost ~35 % of an iteration (docs/training.md, "What the CPU default scales down").
  c.ppo.num_epochs = 5
  # Commands up to 1.0 m/s forward, 0.5 m/s sideways, 1.0 rad/s (REASAN: 2.5, 1.5, 3.0). Tracking
  # 2.5 m/s is out of reach in a 10-minute run; chasing it, robots fell more as training went on
  # (2 of 3 seeds). With these ranges episode length and tracking rose on all 3 seeds tried.
  c.env.commands.ranges = (1.0, 0.5, 1.0)
  c.run.num_iterations = 300
  c.run.iterations_per_call = 10
  c.run.checkpoint_every = 100
