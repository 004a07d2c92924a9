"""The Unitree Go2: constants (:mod:`.constants`), MJCF scenes (:mod:`.model`), the DC-motor
actuator (:mod:`.motor`) and the physics step shared by every Go2 task (:mod:`.sim`).

``from reasan_jax.robots import go2`` gives the whole robot API in one name (``go2.load_model``,
``go2.to_mjcf``, ``go2.KP``, ...).
"""

from reasan_jax.robots.go2.constants import *  # noqa: F401,F403  (the public constants)
from reasan_jax.robots.go2.constants import soft_limits, to_mjcf, to_reasan  # noqa: F401
from reasan_jax.robots.go2.model import (  # noqa: F401
    ASSETS_DIR, ROBOT_XML, SCENE_FLAT_XML, RobotIds, load_model, put_model, robot_ids)
from reasan_jax.robots.go2.motor import dc_motor_torque  # noqa: F401
