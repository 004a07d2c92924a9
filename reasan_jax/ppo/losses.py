"""PPO's pure pieces: GAE, advantage normalisation, the clipped loss and the adaptive learning rate.

Everything follows REASAN's PPO (rsl_rl v2.3.1, reasan-rl-core.md §5) except the documented fixes:

* Time-outs are bootstrapped with the critic's value of the **final observation** reached by the
  truncated step (before the auto-reset), computed with the critic carry at that point:
  target r + gamma * V(final_obs). REASAN instead adds gamma * V(s_t) of the *pre-step* state to the
  reward (reasan-rl-core.md §4.1.3, §12.2).
* The learning rate is a value of the train state (saved and restored), not runner state that is
  lost on resume (reasan-rl-core.md §12.6).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from flax import struct

from reasan_jax.ppo import networks


def compute_gae(rewards: jax.Array, values: jax.Array, bootstrap_values: jax.Array,
                dones: jax.Array, truncations: jax.Array, gamma: float,
                lam: float) -> tuple[jax.Array, jax.Array]:
  """Generalised advantage estimation with a reverse ``lax.scan`` (reasan-rl-core.md §5).

  ``done`` (termination or truncation) cuts the recursion. The one-step target of step t is
  ``r_t + gamma * V(s'_t)`` where ``s'_t`` is the state reached by the step *before* any auto-reset;
  it is ``r_t`` alone if the episode terminated there (not a time-out).

  Args:
    rewards: (T, B) rewards of step t.
    values: (T, B) V(s_t), critic value of the observation the action was taken on.
    bootstrap_values: (T, B) V(s'_t), critic value of ``info["final_obs"]`` of step t with the
      critic carry after s_t. Where step t did not end an episode this equals ``values[t + 1]``
      (same observation, same carry); at t = T - 1 it is the rollout's bootstrap value.
    dones: (T, B) 1.0 where the episode ended at step t (termination or truncation).
    truncations: (T, B) 1.0 where it ended only because of the time limit.
    gamma: discount.
    lam: GAE lambda.

  Returns:
    ``(advantages, returns)``, both (T, B); ``returns = advantages + values`` are the value targets
    (never normalised, as REASAN).
  """
  terminations = dones * (1.0 - truncations)
  deltas = rewards + gamma * (1.0 - terminations) * bootstrap_values - values

  def backward(next_advantage, xs):
    delta, done = xs
    advantage = delta + gamma * lam * (1.0 - done) * next_advantage
    return advantage, advantage

  _, advantages = jax.lax.scan(
      backward, jnp.zeros_like(values[0]), (deltas, dones), reverse=True)
  return advantages, advantages + values


def normalize_advantages(advantages: jax.Array) -> jax.Array:
  """(A - mean) / (std + 1e-8) over all entries, with the unbiased std (torch's, §5)."""
  n = advantages.size
  mean = jnp.mean(advantages)
  var = jnp.sum(jnp.square(advantages - mean)) / max(n - 1, 1)
  return (advantages - mean) / (jnp.sqrt(var) + 1e-8)


def adaptive_learning_rate(lr: jax.Array, kl: jax.Array, desired_kl: float, factor: float = 1.5,
                           bounds: tuple[float, float] = (1e-5, 1e-2)) -> jax.Array:
  """REASAN's KL-adaptive learning rate (rsl_rl "adaptive" schedule, reasan-rl-core.md §5).

  ``kl > 2 desired_kl`` -> ``max(lo, lr / factor)``; ``0 < kl < desired_kl / 2`` ->
  ``min(hi, lr * factor)``; otherwise unchanged. Applied per minibatch, *before* its gradient step,
  and the new value is used for that step.

  Args:
    lr: () current learning rate.
    kl: () mean KL(old || current) over the minibatch.
    desired_kl: target KL.
    factor: multiplicative step (1.5).
    bounds: (lo, hi) learning-rate bounds.
  """
  lo, hi = bounds
  lr = jnp.asarray(lr)
  down = jnp.maximum(lo, lr / factor)
  up = jnp.minimum(hi, lr * factor)
  return jnp.where(kl > 2.0 * desired_kl, down,
                   jnp.where((kl > 0.0) & (kl < 0.5 * desired_kl), up, lr)).astype(lr.dtype)


@struct.dataclass
class Batch:
  """Whole env sequences for the update, time-major ``(T, B, ...)`` (B = envs in the batch).

  Attributes:
    actor_obs: ``{group: (T, B, ...)}`` actor observation groups (already normalised if enabled).
    critic_obs: ``{group: (T, B, ...)}`` critic observation groups (already normalised if enabled).
    reset: (T, B) bool, the GRU carry is zeroed before step t (the previous step ended an episode).
    action: (T, B, A) sampled action.
    log_prob: (T, B) log-prob of ``action`` under the rollout policy.
    mean: (T, B, A) rollout policy mean (for the adaptive-lr KL).
    value: (T, B) rollout critic value (for the clipped value loss).
    advantage: (T, B) advantages (globally normalised unless per-minibatch normalisation is on).
    target: (T, B) value targets (GAE returns).
    actor_carry: (B, H) actor GRU carry at the rollout start.
    critic_carry: (B, H) critic GRU carry at the rollout start.
  """

  actor_obs: Any
  critic_obs: Any
  reset: jax.Array
  action: jax.Array
  log_prob: jax.Array
  mean: jax.Array
  value: jax.Array
  advantage: jax.Array
  target: jax.Array
  actor_carry: jax.Array
  critic_carry: jax.Array


def ppo_loss(params: dict[str, Any], batch: Batch, old_log_std: jax.Array, *,
             actor_apply: Callable, critic_apply: Callable, clip_param: float,
             value_coef: float, entropy_coef: float, clipped_value_loss: bool,
             normalize_advantage_per_minibatch: bool) -> tuple[jax.Array, dict[str, jax.Array]]:
  """PPO loss of one minibatch (reasan-rl-core.md §5), re-running both GRUs from the stored
  rollout-start carries over the stored (obs, reset) sequences.

  ``loss = surrogate + value_coef * value_loss - entropy_coef * mean(entropy)`` with the clipped
  surrogate ``mean(max(-A r, -A clip(r, 1 - eps, 1 + eps)))`` and, if ``clipped_value_loss``, the
  clipped value loss ``mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2))``. All means
  are over every (t, env) entry.

  Args:
    params: ``{"actor": ..., "critic": ...}`` flax params.
    batch: a :class:`Batch` of whole sequences.
    old_log_std: (A,) log-std of the rollout policy (state-independent).
    actor_apply: ``(params, carry, obs, reset) -> (carry, mean)``.
    critic_apply: ``(params, carry, obs, reset) -> (carry, value)``.

  Returns:
    ``(loss, aux)``; ``aux`` holds ``policy``, ``value``, ``entropy`` losses, ``kl`` (mean
    KL(old || current), gradient stopped, computed with the parameters *before* this minibatch's
    step) and ``clip_fraction``.
  """
  _, mean = actor_apply(params["actor"], batch.actor_carry, batch.actor_obs, batch.reset)
  _, value = critic_apply(params["critic"], batch.critic_carry, batch.critic_obs, batch.reset)
  log_std = params["actor"]["log_std"]

  advantage = batch.advantage
  if normalize_advantage_per_minibatch:
    advantage = normalize_advantages(advantage)

  log_prob = networks.gaussian_log_prob(batch.action, mean, log_std)
  ratio = jnp.exp(log_prob - batch.log_prob)
  clipped_ratio = jnp.clip(ratio, 1.0 - clip_param, 1.0 + clip_param)
  policy_loss = jnp.mean(jnp.maximum(-advantage * ratio, -advantage * clipped_ratio))

  if clipped_value_loss:
    value_clipped = batch.value + jnp.clip(value - batch.value, -clip_param, clip_param)
    value_loss = jnp.mean(jnp.maximum(jnp.square(value - batch.target),
                                      jnp.square(value_clipped - batch.target)))
  else:
    value_loss = jnp.mean(jnp.square(value - batch.target))

  entropy = jnp.mean(networks.gaussian_entropy(jnp.broadcast_to(log_std, mean.shape)))
  loss = policy_loss + value_coef * value_loss - entropy_coef * entropy

  kl = jnp.mean(networks.gaussian_kl(
      batch.mean, jnp.exp(old_log_std), jax.lax.stop_gradient(mean),
      jax.lax.stop_gradient(jnp.exp(log_std))))
  clip_fraction = jnp.mean((jnp.abs(ratio - 1.0) > clip_param).astype(jnp.float32))
  aux = {"policy": policy_loss, "value": value_loss, "entropy": entropy, "kl": kl,
         "clip_fraction": jax.lax.stop_gradient(clip_fraction)}
  return loss, aux
