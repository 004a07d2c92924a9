"""Minibatches of whole env sequences for recurrent PPO, evenly spread over devices.

A minibatch is a set of whole T-step env sequences (re-run through the GRU from the stored
rollout-start carries), so no padding or masks are needed (REASAN's split/pad/unpad gives the same
GRU outputs, reasan-rl-core.md §6). Minibatch composition does not depend on the device count.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from reasan_jax.ppo import losses


def minibatch_permutation(rng: jax.Array, num_envs: int, num_minibatches: int,
                          shuffle: bool) -> jax.Array:
  """Assignment of envs to minibatches for one epoch, as (num_envs // M, M) int32.

  Envs are grouped in blocks of M = ``num_minibatches`` consecutive indices; ``perm[k, m]`` is the
  offset inside block k of the env that goes to minibatch m, so minibatch m is the envs
  ``{k M + perm[k, m]}``: one env from every block. Because every device shard of the env axis
  holds whole blocks (``num_envs`` divisible by devices x M), each minibatch is spread evenly over
  the devices whatever their number, and the assignment does not depend on the device count.
  ``shuffle=False`` gives the fixed strided split ``perm[k, m] = m``; otherwise each block is
  permuted independently (fresh every epoch from ``rng``).
  """
  num_blocks = num_envs // num_minibatches
  if not shuffle:
    return jnp.broadcast_to(jnp.arange(num_minibatches, dtype=jnp.int32),
                            (num_blocks, num_minibatches))
  keys = jax.random.uniform(rng, (num_blocks, num_minibatches))
  return jnp.argsort(keys, axis=1).astype(jnp.int32)


def minibatch_env_indices(perm: jax.Array) -> jax.Array:
  """Env indices of each minibatch, (M, num_envs // M), from :func:`minibatch_permutation`."""
  num_blocks, m = perm.shape
  return (jnp.arange(num_blocks)[None, :] * m + perm.T).astype(jnp.int32)


def split_minibatches(x: jax.Array, perm: jax.Array, env_axis: int) -> jax.Array:
  """Gathers ``x``'s env axis into minibatches: shape (..., N, ...) -> (M, ..., N // M, ...).

  Minibatch m, position k holds env ``k M + perm[k, m]`` (see :func:`minibatch_permutation`). The
  gather only moves data inside blocks, which never straddle devices.
  """
  num_blocks, m = perm.shape
  x = jnp.moveaxis(x, env_axis, 0)
  x = x.reshape((num_blocks, m) + x.shape[1:])
  index = perm.reshape(perm.shape + (1,) * (x.ndim - 2))
  x = jnp.take_along_axis(x, index, axis=1)
  x = jnp.moveaxis(x, 1, 0)  # (M, N // M, ...)
  return jnp.moveaxis(x, 1, env_axis + 1)


def split_batch(batch: losses.Batch, perm: jax.Array) -> losses.Batch:
  """:func:`split_minibatches` over a :class:`losses.Batch` (sequences: env axis 1, carries: 0)."""
  seqs = batch.replace(actor_carry=None, critic_carry=None)
  seqs = jax.tree.map(lambda x: split_minibatches(x, perm, 1), seqs)
  carries = lambda c: jax.tree.map(lambda x: split_minibatches(x, perm, 0), c)  # noqa: E731
  return seqs.replace(actor_carry=carries(batch.actor_carry),
                      critic_carry=carries(batch.critic_carry))
