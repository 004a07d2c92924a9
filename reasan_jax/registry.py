"""The task registry: one map from a task name to its environment class and its configs.

Each entry registers a task's env and its training config together (as mjlab does): ``--config
loco`` on the command line, ``env_config.task == "loco"`` inside a config and
``registry.make_env(config.env)`` all resolve through :data:`TASKS`, and nothing else lists tasks.
Env classes and config modules are imported lazily, so listing tasks builds nothing.

>>> from reasan_jax import registry
>>> registry.list_tasks()
['filter', 'loco', 'nav']
>>> config = registry.get_config("loco")          # the full config (env, ppo, network, run)
>>> env = registry.make_env(config.env)           # a single-env task; batch it with core.VecEnv
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any, Callable

import ml_collections

if TYPE_CHECKING:  # importing the env API pulls in MuJoCo; keep the registry import-light
  from reasan_jax.core.env import Env


@dataclasses.dataclass(frozen=True)
class Task:
  """One registered task.

  Attributes:
    name: the task name (``--config NAME``, ``env_config.task``).
    env_class: ``"module:Class"`` of the single-env :class:`~reasan_jax.core.env.Env` (or the class
      or any factory itself); built as ``env_class(env_config)``.
    config_module: module (or its dotted name) defining ``get_config(arg=None) -> ConfigDict``
      (the full training config: ``env``, ``ppo``, ``network``, ``run``); None for a task that is
      only built from configs given elsewhere.
    description: one line for ``--list_tasks``.
  """

  name: str
  env_class: str | Callable[[ml_collections.ConfigDict], Env]
  config_module: str | Any | None
  description: str = ""

  def load_env_class(self) -> Callable[[ml_collections.ConfigDict], Env]:
    """Imports and returns the env class (or factory)."""
    if not isinstance(self.env_class, str):
      return self.env_class
    module, cls = self.env_class.split(":")
    return getattr(importlib.import_module(module), cls)

  def load_config_module(self) -> Any:
    """Imports and returns the config module.

    Raises:
      ValueError: the task has no config module.
    """
    if self.config_module is None:
      raise ValueError(f"Task {self.name!r} has no config module; pass a config file instead.")
    if isinstance(self.config_module, str):
      return importlib.import_module(self.config_module)
    return self.config_module


TASKS: dict[str, Task] = {
    "loco": Task(
        name="loco", env_class="reasan_jax.tasks.loco.env:LocoEnv",
        config_module="reasan_jax.configs.loco",
        description="Go2 velocity tracking on flat or rough ground (REASAN locomotion, stages 1-2)"),
    "filter": Task(
        name="filter", env_class="reasan_jax.tasks.filter.env:FilterEnv",
        config_module="reasan_jax.configs.filter",
        description="LiDAR safety filter rewriting velocity commands for a frozen loco policy "
                    "(REASAN filter)"),
    "nav": Task(
        name="nav", env_class="reasan_jax.tasks.nav.env:NavEnv",
        config_module="reasan_jax.configs.nav",
        description="goal reaching through grids and mazes on top of the frozen filter and loco "
                    "policies (REASAN navigation)"),
}
"""Every task of the package, by name."""


def register(task: Task) -> None:
  """Adds (or replaces) ``task`` under ``task.name``, e.g. a user's own task built on this package.

  Raises:
    TypeError: ``task`` is not a :class:`Task`.
  """
  if not isinstance(task, Task):
    raise TypeError(f"register() takes a registry.Task, got {type(task).__name__}.")
  TASKS[task.name] = task


def list_tasks() -> list[str]:
  """Sorted names of the registered tasks."""
  return sorted(TASKS)


def get_task(name: str) -> Task:
  """The :class:`Task` named ``name``.

  Raises:
    ValueError: unknown name (the message lists the registered ones).
  """
  if name not in TASKS:
    raise ValueError(f"Unknown task {name!r}; registered tasks: {', '.join(list_tasks())}.")
  return TASKS[name]


def get_config(name: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """The full training config of task ``name`` (``get_config(arg)`` of its config module).

  Raises:
    ValueError: unknown task name, or an ``arg`` the config module rejects.
  """
  return get_task(name).load_config_module().get_config(arg)


def make_env(env_config: ml_collections.ConfigDict) -> Env:
  """Builds the single-env task ``env_config.task`` from its env config.

  Raises:
    ValueError: the config names no task or an unknown one (the message lists the registered ones).
  """
  name = env_config.get("task") if hasattr(env_config, "get") else None
  if name is None:
    raise ValueError("The env config has no 'task' field; it must name a registered task "
                     f"({', '.join(list_tasks())}).")
  return get_task(name).load_env_class()(env_config)
