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
