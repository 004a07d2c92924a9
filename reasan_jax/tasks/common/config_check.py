"""Checking a task's env config against its defaults (every Go2 task's constructor)."""

from __future__ import annotations

import difflib
from typing import Mapping


def check_keys(given: Mapping, known: Mapping, task: str, error: type[ValueError] = ValueError,
               prefix: str = "env") -> None:
  """Raises ``error`` naming the first key of ``given`` (nested dicts) that ``known`` lacks.

  Args:
    given: the user's env config as a dict. known: the task's default env config as a dict.
    task: the task name for the message (``"loco"``, ``"filter"``, ``"nav"``).
    error: the ValueError subclass to raise. prefix: the dotted path of ``given``.

  Raises:
    error: one sentence with the unknown key and the closest known ones.
  """
  for key, value in given.items():
    name = f"{prefix}.{key}"
    if key not in known:
      near = difflib.get_close_matches(key, list(known), n=3)
      hint = f" Did you mean {', '.join(prefix + '.' + n for n in near)}?" if near else ""
      raise error(f"Unknown config key {name!r} for the {task} task.{hint}")
    if isinstance(value, Mapping) and isinstance(known[key], Mapping):
      check_keys(value, known[key], task, error, name)
