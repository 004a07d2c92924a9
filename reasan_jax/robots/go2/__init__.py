"""The Unitree Go2: constants (:mod:`.constants`), MJCF scenes (:mod:`.model`), the DC-motor
actuator and action map (:mod:`.motor`), the feet's swing bookkeeping (:mod:`.gait`) and the
simulation shared by every Go2 task (:mod:`.sim`).

``from reasan_jax.robots import go2`` gives the whole robot API in one name (``go2.load_model``,
``go2.to_mjcf``, ``go2.KP``, ``go2.Go2Sim``, ...). The constants load at once (NumPy only, so config
files can read them); the MuJoCo-backed names load on first use, so importing a config does not
load MuJoCo before a command line has chosen its OpenGL backend.
"""

from __future__ import annotations

import importlib

from reasan_jax.robots.go2.constants import *  # noqa: F401,F403  (the public constants)
from reasan_jax.robots.go2.constants import soft_limits, to_mjcf, to_reasan  # noqa: F401

_LAZY = {
    "model": ("ASSETS_DIR", "ROBOT_XML", "SCENE_FLAT_XML", "RobotIds", "load_model", "put_model",
              "robot_ids"),
    "motor": ("action_scale", "dc_motor_torque", "joint_target"),
    "gait": ("FootContacts", "foot_contacts"),
    "sim": ("Go2Sim", "Go2SimError", "MotorConfig", "RandomizationConfig", "projected_gravity"),
}
_OWNER = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str):
  if name in _OWNER:
    return getattr(importlib.import_module(f"{__name__}.{_OWNER[name]}"), name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted(set(globals()) | set(_OWNER))
