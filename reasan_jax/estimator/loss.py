"""REASAN's conservative ray loss (reasan-nav.md §8.4), masked and without the empty-subset NaN.

In normalised units (rays / 3): e = pred − target, h = smooth-L1 (β = 1) per element,

  L = mean_all(w·h) + 0.05 · mean_{target < 0.5}(ReLU(e + 0.1)),  w = 2 where e > 0 else 1.

Over-estimating a clearance is penalised twice as hard, and near rays (< 1.5 m) are pushed to read at least
0.1 (0.3 m) short. REASAN's second term is a mean over an empty set, hence NaN, when a batch has no target
below 0.5 (§10 item 21); here that term is 0 then (docs/deviations.md, "Ray estimator").
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

NEAR_TARGET = 0.5       # 1.5 m in normalised units (§8.4)
NEAR_MARGIN = 0.1       # ReLU(e + 0.1) (§8.4)
NEAR_WEIGHT = 0.05
OVER_WEIGHT = 2.0


def smooth_l1(e: jax.Array) -> jax.Array:
  """Huber / smooth-L1 with β = 1, elementwise: 0.5 e² if |e| < 1 else |e| − 0.5."""
  a = jnp.abs(e)
  return jnp.where(a < 1.0, 0.5 * e * e, a - 0.5)


def conservative_loss(pred: jax.Array, target: jax.Array, sample_mask: jax.Array | None = None) -> jax.Array:
  """The §8.4 loss as a scalar.

  Args:
    pred: (B, 180) raw predictions, normalised units.
    target: (B, 180) ground-truth rays in [0, 1].
    sample_mask: optional (B,) bool/float, False for padding samples (see estimator.data); means run over
      the valid samples only.

  Returns:
    () float32; finite for any batch with at least one valid sample (the near term is 0 when no valid
    target is below 0.5).
  """
  e = pred - target
  valid = jnp.ones(target.shape[:1], jnp.float32) if sample_mask is None else sample_mask.astype(jnp.float32)
  valid = jnp.broadcast_to(valid[:, None], e.shape)
  weighted = jnp.where(e > 0, OVER_WEIGHT, 1.0) * smooth_l1(e)
  main = jnp.sum(weighted * valid) / jnp.maximum(jnp.sum(valid), 1.0)
  near = valid * (target < NEAR_TARGET)
  n_near = jnp.sum(near)
  near_term = jnp.sum(jax.nn.relu(e + NEAR_MARGIN) * near) / jnp.maximum(n_near, 1.0)
  return main + NEAR_WEIGHT * jnp.where(n_near > 0, near_term, 0.0)
