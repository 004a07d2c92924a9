"""Reward terms and reward sums shared by REASAN's tasks (loco, filter, nav).

Each term is a small pure function of already-computed quantities returning a () float32 value,
unweighted: a task multiplies it by its weight (``env.reward_scales.<term>``) and by the policy
step ``dt``, as every REASAN task does (reasan-loco.md "Rewards", reasan-filter.md §4,
reasan-nav.md §5).
"""

from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp


def squared_norm(x: jax.Array) -> jax.Array:
  """() sum of squares of ``x`` (any shape): the ``*_l2`` terms (e.g. ``ang_vel_xy_l2``)."""
  return jnp.sum(x ** 2)


def tracking_exp(target: jax.Array, actual: jax.Array, sharpness: float) -> jax.Array:
  """() ``exp(-sharpness * ||target - actual||^2)``, the velocity-tracking kernel.

  reasan-loco.md ``track_lin_vel``/``track_ang_vel`` (sharpness 4), reasan-filter.md §4.2 (4 and 2).
  ``target``/``actual``: same shape (a vector, or () for the yaw rate).
  """
  return jnp.exp(-sharpness * jnp.sum((target - actual) ** 2))


def action_rate(action: jax.Array, last_action: jax.Array) -> jax.Array:
  """() ``||a_t - a_{t-1}||^2`` (reasan-loco.md ``action_rate_l2``, reasan-filter.md §4.2)."""
  return jnp.sum((action - last_action) ** 2)


def action_smoothness(action: jax.Array, last: jax.Array, before_last: jax.Array) -> jax.Array:
  """() ``||a_t - 2 a_{t-1} + a_{t-2}||^2`` (reasan-filter.md §4.2, reasan-nav.md §5)."""
  return jnp.sum((action - 2.0 * last + before_last) ** 2)


def outside_range(x: jax.Array, lo: jax.Array, hi: jax.Array) -> jax.Array:
  """() total amount by which ``x`` lies below ``lo`` or above ``hi`` (reasan-loco.md
  ``dof_pos_limits``: joint positions outside the soft limits)."""
  return jnp.sum(jnp.maximum(lo - x, 0.0) + jnp.maximum(x - hi, 0.0))


def magnitude_excess(x: jax.Array, limit: float | jax.Array) -> jax.Array:
  """() ``sum max(|x| - limit, 0)`` (reasan-loco.md ``dof_vel_limits``)."""
  return jnp.sum(jnp.maximum(jnp.abs(x) - limit, 0.0))


def squared_magnitude_excess(x: jax.Array, limit: jax.Array) -> jax.Array:
  """() ``sum max(|x| - limit, 0)^2`` (``cmd_limits``, reasan-filter.md §4.2, reasan-nav.md §5)."""
  return jnp.sum(jnp.maximum(jnp.abs(x) - limit, 0.0) ** 2)


def count_above(values: jax.Array, threshold: float) -> jax.Array:
  """() number of entries of ``values`` above ``threshold`` as float32 (reasan-filter.md §4.2
  ``collision``: undesired bodies with contact force > 0.1 N)."""
  return jnp.sum((values > threshold).astype(jnp.float32))


def weighted(terms: Mapping[str, jax.Array], weights: Mapping[str, float | jax.Array],
             dt: float) -> dict[str, jax.Array]:
  """``{name: term * weight * dt}`` in the order of ``terms`` (every REASAN task's scaling).

  Raises:
    KeyError: a term without a weight.
  """
  return {k: v * weights[k] * dt for k, v in terms.items()}
