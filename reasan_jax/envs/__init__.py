"""Environments: the task API (:mod:`base`), the batching wrapper (:mod:`wrappers`) and the tasks.

``make(env_config)`` builds the task named by ``env_config.task``.
"""

from __future__ import annotations

from typing import Callable

from reasan_jax.envs.base import Env, State
from reasan_jax.envs.wrappers import VecEnv


def _loco(cfg):
  from reasan_jax.envs.loco import LocoEnv

  return LocoEnv(cfg)


_TASKS: dict[str, Callable] = {"loco": _loco}


def register(name: str, factory: Callable) -> None:
  """Registers ``factory(env_config) -> Env`` under ``name`` (used by ``env_config.task``)."""
  _TASKS[name] = factory


def tasks() -> list[str]:
  """Names of the registered tasks."""
  return sorted(_TASKS)


def make(env_config) -> Env:
  """Builds the task ``env_config.task`` from its config.

  Raises:
    ValueError: unknown task name (the message lists the registered ones).
  """
  name = env_config.task
  if name not in _TASKS:
    raise ValueError(f"Unknown task {name!r}; registered tasks: {', '.join(tasks())}.")
  return _TASKS[name](env_config)


__all__ = ["Env", "State", "VecEnv", "make", "register", "tasks"]
