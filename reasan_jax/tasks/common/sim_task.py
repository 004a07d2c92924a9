"""The base of the tasks that drive the Go2 through a :class:`reasan_jax.robots.go2.sim.Go2Sim`."""

from __future__ import annotations

from mujoco import mjx

from reasan_jax.core.env import Env


class Go2SimTask(Env):
  """An :class:`Env` whose physics lives in ``self.sim`` (a ``Go2Sim``).

  Gives the env API's model access and per-env model substitution (``VecEnv``'s domain
  randomisation) once for every Go2 task.
  """

  sim = None

  @property
  def mjx_model(self) -> mjx.Model:
    """The (per-env, inside ``VecEnv``) MJX model: the sim's."""
    return self.sim.mjx_model

  @property
  def mj_model(self):
    """The nominal MuJoCo model of the scene (rendering, MuJoCo-side checks)."""
    return self.sim.mj_model

  def with_model(self, fields) -> "Go2SimTask":
    """A shallow copy whose sim's model has ``fields`` replaced (see :meth:`Env.with_model`)."""
    if not fields:
      return self
    clone = object.__new__(type(self))
    clone.__dict__.update(self.__dict__)
    clone.sim = self.sim.with_model(fields)
    return clone


class CommandTask(Go2SimTask):
  """A Go2 task whose action is a raw (vx m/s, vy m/s, wz rad/s) command that frozen low-level
  policies turn into joint targets (the filter and nav tasks, REASAN filter §3, REASAN nav §1.2).

  Subclasses set :attr:`OBS_SIZES` and call :meth:`_init_command` from their constructor.
  """

  OBS_SIZES: dict = {}

  def _init_command(self, cfg, reward_terms) -> None:
    """The loco action map, the command clamp, the reward weights and the dynamic-obstacle
    switch of the ``env`` config ``cfg`` (``action``, ``reward_scales``, ``dynamic_obstacles``)."""
    import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

    from reasan_jax.robots.go2 import motor  # pylint: disable=import-outside-toplevel

    self._loco_scale = motor.action_scale(cfg.action.loco_scale, cfg.action.loco_hip_scale)
    self._limits = jnp.asarray(cfg.action.limits, jnp.float32)
    self._weights = {k: float(cfg.reward_scales[k]) for k in reward_terms}
    self._dynamic = bool(cfg.dynamic_obstacles.enabled)
    self._speed_range = tuple(cfg.dynamic_obstacles.speed_range)

  @property
  def action_size(self) -> int:
    """3: (vx, vy, wz)."""
    return 3

  @property
  def observation_size(self) -> dict[str, tuple[int, ...]]:
    """:attr:`OBS_SIZES` (per-env group shapes)."""
    return dict(self.OBS_SIZES)

  def randomize(self, rng):
    """Per-env base mass / inertia / CoM and friction bucket, once at start-up (REASAN filter
    §6.5, REASAN nav §3.3)."""
    return self.sim.randomize(rng)

  def reset(self, rng, persistent=None):
    """New episode: :meth:`start`, then :meth:`observe` (the one sensing pass and the
    observation)."""
    return self.observe(self.start(rng, persistent))

  def step(self, state, action):
    """One 50 Hz control step in REASAN's order (REASAN filter §1.1b, REASAN nav §1.3):
    :meth:`advance`, then :meth:`observe` (``VecEnv`` puts its auto-reset between the two).

    Raises:
      ValueError: ``action`` is not of shape (3,).
    """
    return self.observe(self.advance(state, action))

  def _observe_lidar(self, info, obs, key, world, data, gt_rays):
    """With the Mid-360 on (``self.lidar``), this observation's frame into ``info`` and, with an
    estimator, the predicted actor rays in ``obs`` (REASAN nav §8.2, §8.6); else ``obs``."""
    if self.lidar is None:
      return obs
    import jax  # pylint: disable=import-outside-toplevel

    from reasan_jax.scenes import dynamic_obstacles as dyn  # pylint: disable=import-outside-toplevel

    dprims = dyn.primitives(info["obstacles"]) if self._dynamic else None
    return self.lidar.observe(info, obs, jax.random.fold_in(key, 360), world, dprims, data,
                              gt_rays)
