"""Unitree Go2 constants: the one source of truth for names, joint orders, poses, limits and gains.

Figures come from ``go2-robot.md`` (kinematics, joint ranges, collision shapes) and
``reasan-rl-core.md`` §13-14 (motor limits, PD gains, default pose, soft limits).

Joint orders (go2-robot.md, "Joint order conventions"):

* MJCF tree order (qpos[7:], qvel[6:], ctrl, actuators of ``assets/go2/go2.xml``):
  FL_hip, FL_thigh, FL_calf, FR_hip, FR_thigh, FR_calf, RL_hip, ..., RR_calf.
* REASAN / Isaac Lab order (observations, actions, exported policies):
  FL_hip, FR_hip, RL_hip, RR_hip, FL_thigh, ..., RR_thigh, FL_calf, ..., RR_calf.

``to_mjcf`` / ``to_reasan`` are the only conversions between the two; everything else in the
package should call them rather than re-deriving index arrays.

Model layout (every scene/variant of :func:`load_model`): ``nq = 19`` (base position xyz, base
quaternion wxyz, 12 joints), ``nv = 18`` (base linear velocity in the world frame, base angular
velocity in the base frame, 12 joints), ``nu = 12`` torque motors in MJCF order (gear 1, no ctrl
limit — the env clips torques itself). Names: body ``base``; sites ``imu`` and ``FL_foot`` ...
``RR_foot`` (foot-sphere centres); geoms ``base_box``, ``head``, ``{leg}_hip``, ``{leg}_thigh``,
``{leg}_calf``, ``{leg}_calf2``, ``{leg}_foot``; ground geom ``floor`` (flat) or ``terrain``
(rough hfield). Use :func:`robot_ids` for the integer ids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

FEET = ("FL", "FR", "RL", "RR")
"""Leg / foot order used everywhere (go2-robot.md); trot diagonals are (FL, RR) and (FR, RL)."""

FOOT_GEOMS = tuple(f"{leg}_foot" for leg in FEET)
"""Names of the foot collision spheres (r 0.022 m at (-0.002, 0, -0.213) in the calf frame)."""

FOOT_SITES = tuple(f"{leg}_foot" for leg in FEET)
"""Names of the foot-centre sites (same position as the foot spheres)."""

BASE_BODY = "base"
IMU_SITE = "imu"
BASE_GEOMS = ("base_box", "head")
"""Trunk geoms used for REASAN's base-contact termination (collide in "feet_base" and "body")."""

FOOT_RADIUS = 0.022
"""Foot sphere radius in m (go2-robot.md)."""

BASE_BOX_HALF_SIZE = (0.1881, 0.04675, 0.057)
"""Half sizes in m of the ``base_box`` collision box, centred on the base frame (go2-robot.md)."""

HEAD_POS, HEAD_RADIUS = (0.293, 0.0, -0.06), 0.047
"""Centre (base frame, m) and radius (m) of the ``head`` collision sphere (go2-robot.md)."""

FLOOR_GEOM = "floor"
TERRAIN_GEOM = "terrain"
TERRAIN_HFIELD = "terrain"

_JOINT_KINDS = ("hip", "thigh", "calf")

JOINT_NAMES_MJCF = tuple(f"{leg}_{kind}_joint" for leg in FEET for kind in _JOINT_KINDS)
"""The 12 joint names in MJCF tree order (= qpos[7:], qvel[6:], ctrl order)."""

JOINT_NAMES_REASAN = tuple(f"{leg}_{kind}_joint" for kind in _JOINT_KINDS for leg in FEET)
"""The 12 joint names in REASAN / Isaac Lab order (reasan-rl-core.md §14)."""

ACTUATOR_NAMES_MJCF = tuple(n[:-len("_joint")] for n in JOINT_NAMES_MJCF)
"""The 12 motor names in MJCF order (joint names without ``_joint``)."""

REASAN_TO_MJCF = np.array([JOINT_NAMES_REASAN.index(n) for n in JOINT_NAMES_MJCF], np.int32)
"""(12,) gather indices: ``x_mjcf = x_reasan[..., REASAN_TO_MJCF]``.
Value [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]."""

MJCF_TO_REASAN = np.array([JOINT_NAMES_MJCF.index(n) for n in JOINT_NAMES_REASAN], np.int32)
"""(12,) gather indices: ``x_reasan = x_mjcf[..., MJCF_TO_REASAN]``.
Value [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]."""


def _permute(x: Any, idx: np.ndarray) -> Any:
  shape = getattr(x, "shape", None)
  if shape is None:
    x = np.asarray(x)
    shape = x.shape
  if len(shape) == 0 or shape[-1] != 12:
    raise ValueError(f"expected a last axis of size 12 (one entry per joint), got shape {shape}")
  return x[..., idx]


def to_mjcf(x: Any) -> Any:
  """Permutes the last axis from REASAN joint order to MJCF tree order.

  Args:
    x: (..., 12) numpy or JAX array (or a sequence) in REASAN order.

  Returns:
    (..., 12) array of the same kind in MJCF order (a sequence comes back as numpy).

  Raises:
    ValueError: if the last axis is not of size 12.
  """
  return _permute(x, REASAN_TO_MJCF)


def to_reasan(x: Any) -> Any:
  """Permutes the last axis from MJCF tree order to REASAN joint order.

  Args:
    x: (..., 12) numpy or JAX array (or a sequence) in MJCF order.

  Returns:
    (..., 12) array of the same kind in REASAN order (a sequence comes back as numpy).

  Raises:
    ValueError: if the last axis is not of size 12.
  """
  return _permute(x, MJCF_TO_REASAN)


DEFAULT_POSE_REASAN = np.array(
    [0.1, -0.1, 0.1, -0.1, 0.8, 0.8, 1.0, 1.0, -1.5, -1.5, -1.5, -1.5], np.float32)
"""(12,) default joint angles in rad, REASAN order (reasan-rl-core.md §14)."""

DEFAULT_POSE_MJCF = to_mjcf(DEFAULT_POSE_REASAN)
"""(12,) default joint angles in rad, MJCF order (= the ``home`` keyframe's qpos[7:])."""

_HIP_RANGE = (-1.0472, 1.0472)
_FRONT_THIGH_RANGE = (-1.5708, 3.4907)
_REAR_THIGH_RANGE = (-0.5236, 4.5379)
_CALF_RANGE = (-2.7227, -0.83776)


def _joint_range(name: str) -> tuple[float, float]:
  if "_hip" in name:
    return _HIP_RANGE
  if "_thigh" in name:
    return _FRONT_THIGH_RANGE if name.startswith("F") else _REAR_THIGH_RANGE
  return _CALF_RANGE


JOINT_RANGE_MJCF = np.array([_joint_range(n) for n in JOINT_NAMES_MJCF], np.float32)
"""(12, 2) hard joint limits [low, high] in rad, MJCF order (go2-robot.md, "Joints")."""

JOINT_AXES = {"hip": (1.0, 0.0, 0.0), "thigh": (0.0, 1.0, 0.0), "calf": (0.0, 1.0, 0.0)}
"""Joint axes in the child body frame (go2-robot.md): hips about x, thighs and calves about y."""

TORQUE_LIMIT = 23.5
"""Motor torque limit in N·m, also the DC-motor saturation torque (reasan-rl-core.md §13)."""

VELOCITY_LIMIT = 30.0
"""Motor velocity limit in rad/s of the DC-motor torque-speed curve (reasan-rl-core.md §13)."""

KP = 35.0
"""Nominal PD stiffness in N·m/rad (REASAN overwrites the cfg's 25; reasan-rl-core.md §13)."""

KD = 0.5
"""Nominal PD damping in N·m·s/rad (reasan-rl-core.md §13)."""

KP_RANGE = (0.9, 1.1)
"""Multiplicative U(lo, hi) factor on ``KP`` per env and joint, sampled once
(reasan-rl-core.md §13)."""

KD_RANGE = (0.9, 1.1)
"""Multiplicative U(lo, hi) factor on ``KD`` per env and joint, sampled once
(reasan-rl-core.md §13)."""

STRENGTH_RANGE = (0.9, 1.1)
"""Motor-strength U(lo, hi) per env and joint, sampled once (``motor_strengths_range``,
reasan-rl-core.md §13)."""

ARMATURE = 0.01
"""Rotor armature in kg·m² on every joint (go2-robot.md, Menagerie value; the tasks set 0, see
``docs/deviations.md``)."""

SOFT_LIMIT_FACTOR = 0.9
"""``soft_joint_pos_limit_factor``: soft limits = mid ± 0.9·half-range (reasan-rl-core.md §14)."""

ACTION_SCALE = 0.25
"""rad per unit of the loco policy's action: PD target = default + 0.25·u (reasan-loco.md "Action",
reasan-filter.md §1.4, reasan-nav.md §1.3)."""

HIP_ACTION_SCALE = 0.5
"""Extra factor on the four hip entries of the action offset, so hips move 0.125 rad per unit
(reasan-loco.md "Action", reasan-filter.md §1.4)."""

ACTION_BLEND = 0.8
"""PD target from ``u = 0.8·a_t + 0.2·a_{t-1}`` of the loco policy's raw actions (reasan-loco.md
"Action", reasan-filter.md §1.4, reasan-nav.md §1.3)."""

SPAWN_HEIGHT = 0.4
"""Base height in m above the cell origin at reset (reasan-rl-core.md §14-15)."""

HOME_BASE_HEIGHT = 0.3235
"""Base height in m of the ``home`` keyframe: level base, lowest (front) feet touching z = 0."""

COLLISION_VARIANTS = ("feet", "feet_base", "body")
TERRAIN_TYPES = ("flat", "rough")

# Collision bits: robot geoms contype=1 conaffinity=2, ground/obstacles contype=2 conaffinity=1.
# (1 & 2) == 0, so robot-robot and ground-ground pairs are never generated.
ROBOT_CONTYPE, ROBOT_CONAFFINITY = 1, 2
GROUND_CONTYPE, GROUND_CONAFFINITY = 2, 1
COLLISION_GROUP = 3  # MJCF group of the collision primitives (visual meshes are in other groups)


def soft_limits(factor: float = SOFT_LIMIT_FACTOR) -> np.ndarray:
  """Soft joint limits mid ± factor·half-range (reasan-rl-core.md §14).

  Args:
    factor: fraction of the half range kept (0.9 in REASAN's ``soft_joint_pos_limit_factor``).

  Returns:
    (12, 2) float32 [low, high] in rad, MJCF order (apply ``to_reasan`` on the last axis of the
    transposed array for REASAN order).

  Raises:
    ValueError: if ``factor`` is not positive.
  """
  if factor <= 0:
    raise ValueError(f"factor must be > 0, got {factor}")
  mid = JOINT_RANGE_MJCF.mean(axis=1)
  half = 0.5 * (JOINT_RANGE_MJCF[:, 1] - JOINT_RANGE_MJCF[:, 0])
  return np.stack([mid - factor * half, mid + factor * half], axis=1).astype(np.float32)
