"""The loco task's reward terms (reasan-loco.md "Rewards"), one small function each.

A term takes the step's :class:`StepQuantities` and the static :class:`RewardParams` and returns
its unweighted () value; :data:`TERMS` lists them in REASAN's order, which is also the order of
the weighted sum (float addition is not associative, so the order is part of the behaviour). The
weights live in the config's ``env.reward_scales`` section, the parameters (``tracking_sharpness``,
targets, ``gait_level``, ``clip_min``, ...) in ``env.rewards``. Metrics are ``reward/<term>``.
Generic terms come from :mod:`reasan_jax.tasks.common.rewards`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping

import jax
import jax.numpy as jnp
from flax import struct

from reasan_jax.robots.go2.gait import FootContacts
from reasan_jax.tasks.common import rewards as common


@struct.dataclass
class StepQuantities:
  """What the reward terms read after one policy step (shapes unbatched; REASAN joint order).

  Attributes:
    lin_vel: (3,) base linear velocity, base frame, m/s. ang_vel: (3,) base angular velocity, base
      frame, rad/s. gravity: (3,) projected gravity (unit).
    q, qd: (12,) joint positions (rad) and velocities (rad/s). tau: (12,) torques of the last
      sub-step, N m.
    action, last_action: (12,) raw actions a_t, a_{t-1}. command: (3,) vx, vy (m/s), wz (rad/s).
    foot_force: (4,) normal foot forces, N. feet: the swing bookkeeping of this step.
    feet_z: (4,) foot heights, m (above the terrain or world z, ``rewards.clearance_relative``).
    feet_vel: (4, 3) world foot velocities, m/s. died: () bool termination of this step.
  """

  lin_vel: jax.Array
  ang_vel: jax.Array
  gravity: jax.Array
  q: jax.Array
  qd: jax.Array
  tau: jax.Array
  action: jax.Array
  last_action: jax.Array
  command: jax.Array
  foot_force: jax.Array
  feet: FootContacts
  feet_z: jax.Array
  feet_vel: jax.Array
  died: jax.Array


@dataclasses.dataclass(frozen=True)
class RewardParams:
  """Static parameters of the terms: the config's ``env.rewards`` figures and robot limits.

  Attributes:
    tracking_sharpness: 4 in exp(-4 err^2). foot_height_target: m. air_time_target: s.
    velocity_limit: rad/s (``motor.velocity_limit``).
    soft_lo, soft_hi: (12,) soft joint limits, rad. default_pose: (12,) rad (REASAN order).
  """

  tracking_sharpness: float
  foot_height_target: float
  air_time_target: float
  velocity_limit: float
  soft_lo: jax.Array
  soft_hi: jax.Array
  default_pose: jax.Array


def _cmd_norm(s: StepQuantities) -> jax.Array:
  return jnp.linalg.norm(s.command)


def _moving(s: StepQuantities) -> jax.Array:
  """1.0 while the command is non-zero (the gait terms' ``||cmd|| > 0.01`` gate)."""
  return (_cmd_norm(s) > 0.01).astype(jnp.float32)


def _foot_speed_xy(s: StepQuantities) -> jax.Array:
  return jnp.linalg.norm(s.feet_vel[:, :2], axis=-1)


def lin_vel_z(s: StepQuantities, p: RewardParams) -> jax.Array:
  """v_z^2, base frame (``lin_vel_z_l2``)."""
  return s.lin_vel[2] ** 2


def ang_vel_xy(s: StepQuantities, p: RewardParams) -> jax.Array:
  """w_x^2 + w_y^2 (``ang_vel_xy_l2``)."""
  return common.squared_norm(s.ang_vel[:2])


def flat_orientation(s: StepQuantities, p: RewardParams) -> jax.Array:
  """g_x^2 + g_y^2 of the projected gravity (``flat_orientation_l2``)."""
  return common.squared_norm(s.gravity[:2])


def dof_torques(s: StepQuantities, p: RewardParams) -> jax.Array:
  """sum tau^2 (``dof_torques_l2``)."""
  return common.squared_norm(s.tau)


def power(s: StepQuantities, p: RewardParams) -> jax.Array:
  """sum |tau| |qd|."""
  return jnp.sum(jnp.abs(s.tau) * jnp.abs(s.qd))


def action_rate(s: StepQuantities, p: RewardParams) -> jax.Array:
  """||a_t - a_{t-1}||^2 (``action_rate_l2``)."""
  return common.action_rate(s.action, s.last_action)


def dof_pos_limits(s: StepQuantities, p: RewardParams) -> jax.Array:
  """Total amount of the joint positions outside the soft limits."""
  return common.outside_range(s.q, p.soft_lo, p.soft_hi)


def dof_vel_limits(s: StepQuantities, p: RewardParams) -> jax.Array:
  """sum max(|qd| - 30, 0)."""
  return common.magnitude_excess(s.qd, p.velocity_limit)


def track_lin_vel(s: StepQuantities, p: RewardParams) -> jax.Array:
  """exp(-4 ||cmd_xy - v_xy||^2)."""
  return common.tracking_exp(s.command[:2], s.lin_vel[:2], p.tracking_sharpness)


def track_ang_vel(s: StepQuantities, p: RewardParams) -> jax.Array:
  """exp(-4 (cmd_wz - w_z)^2)."""
  return common.tracking_exp(s.command[2], s.ang_vel[2], p.tracking_sharpness)


def dof_pos(s: StepQuantities, p: RewardParams) -> jax.Array:
  """sum (q - q_default)^2."""
  return common.squared_norm(s.q - p.default_pose)


def alive(s: StepQuantities, p: RewardParams) -> jax.Array:
  """1 unless the robot died at this step."""
  return 1.0 - s.died.astype(jnp.float32)


def trot(s: StepQuantities, p: RewardParams) -> jax.Array:
  """1 if exactly one diagonal pair (FL+RR or FR+RL) is in contact (> 0.5 N), ||cmd|| >= 0.1."""
  fl, fr, rl, rr = (s.foot_force > 0.5)
  diagonal = (fl & rr & ~fr & ~rl) | (fr & rl & ~fl & ~rr)
  return (diagonal & (_cmd_norm(s) >= 0.1)).astype(jnp.float32)


def termination(s: StepQuantities, p: RewardParams) -> jax.Array:
  """1 on a death step."""
  return s.died.astype(jnp.float32)


def stand_still(s: StepQuantities, p: RewardParams) -> jax.Array:
  """1 if ||cmd|| < 0.2 and not all four feet are in contact (stage 2)."""
  return ((_cmd_norm(s) < 0.2) & ~jnp.all(s.feet.contact)).astype(jnp.float32)


def feet_slip(s: StepQuantities, p: RewardParams) -> jax.Array:
  """sum over feet in contact (> 0.05 N) of ||v_foot,xy||^2, while the command is non-zero."""
  slip_contact = (s.foot_force > 0.05).astype(jnp.float32)
  return _moving(s) * jnp.sum(_foot_speed_xy(s) ** 2 * slip_contact)


def feet_clearance(s: StepQuantities, p: RewardParams) -> jax.Array:
  """sum |z_foot - 0.15| sqrt(||v_foot,xy||)."""
  return jnp.sum(jnp.abs(s.feet_z - p.foot_height_target) * jnp.sqrt(_foot_speed_xy(s)))


def feet_height(s: StepQuantities, p: RewardParams) -> jax.Array:
  """max over feet touching down of (peak_z / 0.15 - 1)^2, while the command is non-zero."""
  f = s.feet
  return _moving(s) * jnp.max(
      jnp.where(f.first_contact, (f.peak_height / p.foot_height_target - 1.0) ** 2, 0.0))


def feet_air_time(s: StepQuantities, p: RewardParams) -> jax.Array:
  """sum over feet touching down of (air time - 0.15 s), while the command is non-zero."""
  f = s.feet
  return _moving(s) * jnp.sum(jnp.where(f.first_contact, f.air_time - p.air_time_target, 0.0))


Term = Callable[[StepQuantities, RewardParams], jax.Array]

TERMS: dict[str, Term] = {f.__name__: f for f in (
    lin_vel_z, ang_vel_xy, flat_orientation, dof_torques, power, action_rate, dof_pos_limits,
    dof_vel_limits, track_lin_vel, track_ang_vel, dof_pos, alive, trot, termination, stand_still,
    feet_slip, feet_clearance, feet_height, feet_air_time)}
"""Every loco term by name, in REASAN's order (the order of the reward sum)."""

GAIT_TERMS = ("feet_slip", "feet_clearance", "feet_height", "feet_air_time")
"""Terms switched on once the mean curriculum level reaches ``rewards.gait_level``."""


def reward_terms(s: StepQuantities, p: RewardParams) -> dict[str, jax.Array]:
  """Unweighted () value of every term of :data:`TERMS`, in that order."""
  return {name: term(s, p) for name, term in TERMS.items()}


def term_weights(scales: Mapping[str, float], gait_on: jax.Array,
                 gait_lin_vel_z_factor: float) -> dict[str, float | jax.Array]:
  """Weights of this step: ``scales`` with REASAN's curriculum switch (reasan-loco.md "Rewards").

  Once ``gait_on`` (() float32, 1.0 or 0.0) is on, the gait terms count and ``lin_vel_z`` is
  weighted ``gait_lin_vel_z_factor`` (5) times more; before, the gait terms weigh 0.

  Raises:
    KeyError: a term of :data:`TERMS` missing from ``scales``.
  """
  weights = {k: scales[k] for k in TERMS}
  weights["lin_vel_z"] = scales["lin_vel_z"] * (1.0 + gait_on * (gait_lin_vel_z_factor - 1.0))
  for k in GAIT_TERMS:
    weights[k] = scales[k] * gait_on
  return weights


def total_reward(weighted: Mapping[str, jax.Array], clip_min: float,
                 termination_after_clip: bool) -> jax.Array:
  """The step reward from the weighted (already x dt) reward terms (reasan-loco.md "Rewards").

  REASAN sums every term and clips the sum at ``clip_min`` (0), so the -200 termination term
  can never make a step negative: it is clipped away (reasan-loco.md). With
  ``termination_after_clip`` the other terms are summed and clipped and the weighted
  ``"termination"`` term is added afterwards (legged_gym's order), so a death costs
  200 x 0.02 = 4.0 (docs/deviations.md).

  Args:
    weighted: term name -> () weighted reward, summed in this mapping's order; may hold
      ``"termination"``.
    clip_min: lower bound of the clipped sum.
    termination_after_clip: add the termination term after the clip.

  Returns:
    () float32 reward.
  """
  if termination_after_clip and "termination" in weighted:
    rest = sum(v for k, v in weighted.items() if k != "termination")
    return jnp.maximum(rest, clip_min) + weighted["termination"]
  return jnp.maximum(sum(weighted.values()), clip_min)
