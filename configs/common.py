"""Config sections every Go2 task shares: the DC motors, REASAN's PPO, the run, the CPU switch.

Figures: the Go2's from ``reasan_jax.robots.go2`` (their one source of truth); PPO's from
REASAN's rsl_rl settings (``reasan-rl-core.md`` §2, §5-6), which the tasks override where REASAN
does (e.g. the filter's desired KL 0.005).
"""

from __future__ import annotations

from typing import Callable

import ml_collections

from reasan_jax.robots.go2 import constants as go2


def motor_config() -> ml_collections.ConfigDict:
  """REASAN's ``RandomDCMotor`` (reasan-rl-core.md §13) with the Go2's gains and limits."""
  m = ml_collections.ConfigDict()
  m.kp = go2.KP  # 35 N m / rad
  m.kd = go2.KD  # 0.5 N m s / rad
  m.kp_range = go2.KP_RANGE  # (0.9, 1.1) multiplicative, per env and joint, sampled once
  m.kd_range = go2.KD_RANGE
  m.strength_range = go2.STRENGTH_RANGE
  m.torque_limit = go2.TORQUE_LIMIT  # 23.5 N m (saturation = effort limit)
  m.velocity_limit = go2.VELOCITY_LIMIT  # 30 rad/s
  # Rotor armature, kg m^2, written into the model's leg dofs. REASAN's Isaac Go2 (USD from
  # Unitree's URDF) sets none; with Menagerie's 0.01 the released policy reaches 0.80 m/s at a
  # 1.0 m/s command in our model, with 0 it reaches 0.89 (docs/deviations.md, sim2sim).
  m.armature = 0.0
  return m


def ppo_config(**overrides) -> ml_collections.ConfigDict:
  """REASAN's PPO (reasan-rl-core.md §2, §5-6); ``overrides`` set task-specific values."""
  p = ml_collections.ConfigDict()
  p.num_envs = 4096
  p.unroll_length = 24
  p.num_epochs = 10
  p.num_minibatches = 4
  p.learning_rate = 1e-3
  p.schedule = "adaptive"  # "adaptive" (KL) or "fixed"
  p.desired_kl = 0.01
  p.lr_bounds = (1e-5, 1e-2)
  p.lr_factor = 1.5
  p.gamma = 0.99
  p.gae_lambda = 0.95
  p.clip_param = 0.2
  p.value_coef = 1.0
  p.clipped_value_loss = True
  p.entropy_coef = 0.005
  p.max_grad_norm = 1.0
  p.normalize_observations = False
  p.normalize_advantage = "global"  # "global" (REASAN) or "minibatch"
  p.shuffle_minibatches = True
  for key, value in overrides.items():
    p[key] = value
  return p


def ray_network_config() -> ml_collections.ConfigDict:
  """REASAN's ``ActorCriticRecurrentRay`` (reasan-filter.md §8.1, reasan-nav.md §6.1) with our
  recurrent core: the actor reads proprio + the 180 actor rays (``ray_cnn_1x180``, 64 features),
  the critic proprio + privileged + the 540 critic rays (``ray_cnn_3x180``, 128), each through a
  256 recurrent core and an ELU MLP 512-256-128."""
  n = ml_collections.ConfigDict()
  n.rnn = "gru"  # our default core (as loco); "lstm" is REASAN's
  n.rnn_size = 256
  n.actor_hidden = (512, 256, 128)
  n.critic_hidden = (512, 256, 128)
  n.activation = "elu"
  n.init_std = 1.0
  n.actor_obs = ("proprio", "rays")
  n.critic_obs = ("proprio", "privileged", "critic_rays")
  n.encoders = ml_collections.ConfigDict({"rays": "ray_cnn_1x180", "critic_rays": "ray_cnn_3x180"})
  return n


def scale_ray_network_for_cpu(c: ml_collections.ConfigDict) -> None:
  """The CPU sizes of :func:`ray_network_config` (filter and nav CPU defaults): recurrent 128,
  MLPs 256-128-64."""
  c.network.rnn_size = 128
  c.network.actor_hidden = (256, 128, 64)
  c.network.critic_hidden = (256, 128, 64)


def run_config(num_iterations: int, checkpoint_every: int = 200) -> ml_collections.ConfigDict:
  """The training run around the algorithm (iterations, checkpoints, logs)."""
  t = ml_collections.ConfigDict()
  t.seed = 42
  t.num_iterations = num_iterations
  t.iterations_per_call = 10  # iterations fused with lax.scan per compiled call
  t.checkpoint_every = checkpoint_every  # iterations
  t.keep_checkpoints = 3
  t.video_every = 0  # iterations; 0 = off
  t.wandb = False
  t.wandb_project = "reasan_jax"
  t.distributed = False  # multi-host: see docs/training.md "Several GPUs and several machines"
  return t


def full_config(name: str, env: ml_collections.ConfigDict, ppo: ml_collections.ConfigDict,
                network: ml_collections.ConfigDict, run: ml_collections.ConfigDict,
                arg: str | None, scale_for_cpu: Callable[[ml_collections.ConfigDict], None]
                ) -> ml_collections.ConfigDict:
  """The full config of task ``name``. ``arg``: ``"gpu"`` keeps REASAN's sizes, ``"cpu"`` applies
  ``scale_for_cpu``, None/"" picks by ``jax.default_backend()``.

  Raises:
    ValueError: another ``arg``.
  """
  c = ml_collections.ConfigDict()
  c.name = name
  c.env = env
  c.ppo = ppo
  c.network = network
  c.run = run
  if arg == "cpu" or (arg in (None, "") and backend_is_cpu()):
    scale_for_cpu(c)
  elif arg not in (None, "", "gpu"):
    raise ValueError(f"Unknown {name} config argument {arg!r}; use 'cpu' or 'gpu'.")
  return c


def backend_is_cpu() -> bool:
  """True when JAX's default backend is the CPU (imports JAX)."""
  import jax  # pylint: disable=import-outside-toplevel

  return jax.default_backend() == "cpu"
