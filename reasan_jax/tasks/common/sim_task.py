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
