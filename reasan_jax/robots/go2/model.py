"""Unitree Go2 MJCF scenes: collision variants, flat and height-field ground, MJX transfer.

The MJCF files live in the repository's ``assets/go2/`` folder; a wheel carries them as
``reasan_jax/assets/go2/`` (``pyproject.toml`` maps the folder into the package). Constants
(names, joint orders, limits) are in :mod:`reasan_jax.robots.go2.constants`.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Mapping

import mujoco
import numpy as np
from mujoco import mjx

from reasan_jax.robots.go2.constants import (
    ACTUATOR_NAMES_MJCF, BASE_BODY, BASE_GEOMS, COLLISION_VARIANTS, FLOOR_GEOM, FOOT_GEOMS,
    FOOT_SITES, GROUND_CONAFFINITY, GROUND_CONTYPE, IMU_SITE, JOINT_NAMES_MJCF, ROBOT_CONAFFINITY,
    ROBOT_CONTYPE, TERRAIN_GEOM, TERRAIN_HFIELD, TERRAIN_TYPES, COLLISION_GROUP)
from reasan_jax.scenes import terrain as terrain_lib


def _assets_dir() -> pathlib.Path:
  """``reasan_jax/assets/go2`` in an installed wheel, else the checkout's ``assets/go2``."""
  package = pathlib.Path(__file__).resolve().parents[2]  # .../reasan_jax
  installed = package / "assets" / "go2"
  return installed if installed.is_dir() else package.parent / "assets" / "go2"


ASSETS_DIR = _assets_dir()
"""Directory of ``go2.xml`` and ``scene_flat.xml`` (wheel or repository checkout)."""

ROBOT_XML = ASSETS_DIR / "go2.xml"
SCENE_FLAT_XML = ASSETS_DIR / "scene_flat.xml"


def _add_hfield_terrain(spec: mujoco.MjSpec, terrain: terrain_lib.Terrain) -> None:
  """Replaces the ``floor`` plane of ``spec`` by the hfield geom ``terrain``."""
  floor = spec.geom(FLOOR_GEOM)
  material = floor.material
  friction = np.array(floor.friction)
  spec.delete(floor)
  ny, nx = terrain.heights.shape
  spec.add_hfield(name=TERRAIN_HFIELD, size=list(terrain.hfield_size()), nrow=ny, ncol=nx,
                  userdata=terrain.hfield_data().tolist())
  cx, cy = terrain.center
  spec.worldbody.add_geom(name=TERRAIN_GEOM, type=mujoco.mjtGeom.mjGEOM_HFIELD,
                          hfieldname=TERRAIN_HFIELD, pos=[cx, cy, 0.0], material=material,
                          friction=friction, condim=3, contype=GROUND_CONTYPE,
                          conaffinity=GROUND_CONAFFINITY)


def _robot_collides(name: str, collisions: str) -> bool:
  if collisions == "body":
    return True
  if name in FOOT_GEOMS:
    return True
  return collisions == "feet_base" and name in BASE_GEOMS


def load_model(collisions: str = "feet", terrain: str = "flat",
               terrain_config: terrain_lib.Terrain | Mapping[str, Any] | None = None
               ) -> mujoco.MjModel:
  """Builds the Go2 scene with a collision variant and a ground type.

  Collision variants (robot geoms never collide with each other in any of them):

  * ``"feet"``: only the four foot spheres collide, with the ground.
  * ``"feet_base"``: feet + ``base_box`` and ``head`` collide with the ground (REASAN's
    base-contact termination, reasan-loco.md).
  * ``"body"``: every collision primitive collides with the ground and obstacles.

  Ground geoms (the ``floor`` plane or the ``terrain`` hfield, and any geom later added to the
  world body with contype=2, conaffinity=1) collide with robot geoms only.

  MJX cost (CPU, 64 envs, one ``mjx.step``, measured): flat feet 10, feet_base 12, body 16
  CPU-ms (4 / 9 / 37 contacts); rough (hfield) feet 15, feet_base 175, body 257 CPU-ms (16 / 24 /
  88 contacts): the trunk box vs hfield runs a convex collider on 72 terrain prisms per env and
  dominates. On rough ground prefer ``"feet"`` plus a geometric base-contact test (e.g. trunk-box
  points vs :func:`reasan_jax.scenes.terrain.height_at`), see ``BASE_BOX_HALF_SIZE`` / ``HEAD_POS``.

  Args:
    collisions: one of ``COLLISION_VARIANTS``.
    terrain: ``"flat"`` (scene_flat.xml, plane ``floor``) or ``"rough"`` (the plane replaced by
      the hfield geom/asset ``terrain``, reasan-rl-core.md §15).
    terrain_config: for ``"rough"``: a ready :class:`reasan_jax.scenes.terrain.Terrain` (pass the same
      object the env uses for spawn origins), or keyword arguments for
      :func:`reasan_jax.scenes.terrain.make_rough_terrain`, or ``None`` for REASAN's defaults
      (10 x 20 cells of 8 m, 2001 x 1201 vertices). Must be ``None`` for ``"flat"``.

  Returns:
    The compiled ``mujoco.MjModel`` (keyframe ``home`` included).

  Raises:
    ValueError: on an unknown ``collisions`` or ``terrain`` (the message lists the allowed
      values) or a ``terrain_config`` given for the flat scene.
  """
  if collisions not in COLLISION_VARIANTS:
    raise ValueError(f"collisions must be one of {COLLISION_VARIANTS}, got {collisions!r}")
  if terrain not in TERRAIN_TYPES:
    raise ValueError(f"terrain must be one of {TERRAIN_TYPES}, got {terrain!r}")
  spec = mujoco.MjSpec.from_file(str(SCENE_FLAT_XML))
  if terrain == "rough":
    if isinstance(terrain_config, terrain_lib.Terrain):
      ter = terrain_config
    else:
      ter = terrain_lib.make_rough_terrain(**dict(terrain_config or {}))
    _add_hfield_terrain(spec, ter)
  elif terrain_config is not None:
    raise ValueError("terrain_config is only used with terrain='rough'")

  for geom in spec.geoms:
    if geom.parent.name == "world":
      if geom.contype or geom.conaffinity:
        geom.contype, geom.conaffinity = GROUND_CONTYPE, GROUND_CONAFFINITY
      continue
    if geom.group != COLLISION_GROUP:
      geom.contype, geom.conaffinity = 0, 0  # visual geom
      continue
    if _robot_collides(geom.name, collisions):
      geom.contype, geom.conaffinity = ROBOT_CONTYPE, ROBOT_CONAFFINITY
    else:
      geom.contype, geom.conaffinity = 0, 0
  return spec.compile()


def put_model(mj_model: mujoco.MjModel) -> mjx.Model:
  """Moves a model to MJX with the pure-JAX backend (``mjx.put_model(..., impl="jax")``).

  Args:
    mj_model: a model from :func:`load_model`.

  Returns:
    The ``mjx.Model`` on the default JAX device.
  """
  return mjx.put_model(mj_model, impl="jax")


@dataclasses.dataclass(frozen=True, eq=False)
class RobotIds:
  """Integer ids of the named Go2 elements in one compiled model.

  Attributes:
    base_body: id of body ``base``.
    imu_site: id of site ``imu``.
    foot_sites: (4,) site ids, FEET order.
    foot_geoms: (4,) geom ids, FEET order.
    base_geoms: (2,) geom ids of ``base_box`` and ``head``.
    ground_geom: id of ``floor`` or ``terrain``.
    joint_qpos_adr: (12,) qpos addresses of the joints in MJCF order (= 7..18).
    joint_dof_adr: (12,) qvel addresses of the joints in MJCF order (= 6..17).
    actuator_joint: (12,) joint id driven by each actuator (MJCF order).
  """

  base_body: int
  imu_site: int
  foot_sites: np.ndarray
  foot_geoms: np.ndarray
  base_geoms: np.ndarray
  ground_geom: int
  joint_qpos_adr: np.ndarray
  joint_dof_adr: np.ndarray
  actuator_joint: np.ndarray


def robot_ids(mj_model: mujoco.MjModel) -> RobotIds:
  """Looks up the ids the env needs (see :class:`RobotIds`).

  Args:
    mj_model: a model from :func:`load_model`.

  Returns:
    The :class:`RobotIds` of this model.

  Raises:
    KeyError: if a named element is missing (the model is not a Go2 scene of this package).
  """
  def _id(obj: mujoco.mjtObj, name: str) -> int:
    i = mujoco.mj_name2id(mj_model, obj, name)
    if i < 0:
      raise KeyError(f"{obj.name} {name!r} not in model")
    return i

  geom = mujoco.mjtObj.mjOBJ_GEOM
  ground = mujoco.mj_name2id(mj_model, geom, FLOOR_GEOM)
  if ground < 0:
    ground = _id(geom, TERRAIN_GEOM)
  joints = [_id(mujoco.mjtObj.mjOBJ_JOINT, n) for n in JOINT_NAMES_MJCF]
  return RobotIds(
      base_body=_id(mujoco.mjtObj.mjOBJ_BODY, BASE_BODY),
      imu_site=_id(mujoco.mjtObj.mjOBJ_SITE, IMU_SITE),
      foot_sites=np.array([_id(mujoco.mjtObj.mjOBJ_SITE, n) for n in FOOT_SITES]),
      foot_geoms=np.array([_id(geom, n) for n in FOOT_GEOMS]),
      base_geoms=np.array([_id(geom, n) for n in BASE_GEOMS]),
      ground_geom=ground,
      joint_qpos_adr=np.array([mj_model.jnt_qposadr[j] for j in joints]),
      joint_dof_adr=np.array([mj_model.jnt_dofadr[j] for j in joints]),
      actuator_joint=np.array(
          [mj_model.actuator_trnid[_id(mujoco.mjtObj.mjOBJ_ACTUATOR, n), 0]
           for n in ACTUATOR_NAMES_MJCF]),
  )
