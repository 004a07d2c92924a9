"""Policies as values: parameters + a pure ``apply`` + ``init_carry`` + the observations they read.

A :class:`Policy` is what evaluation, videos, export and the frozen low-level controllers of the
``filter``/``nav`` tasks use, whatever made it: a training checkpoint of ours
(:func:`reasan_jax.policies.load.load_policy`, reading only the checkpoint's small ``policy`` item:
no trainer, no env) or a REASAN ONNX file (:func:`from_onnx`). It is a ``flax.struct`` pytree whose
leaves are the parameters, so it can be closed over or passed through ``jax.jit``, ``vmap`` and
``lax.scan``; everything else is static.

    policy = load_policy("runs/my_run")
    carry = policy.init_carry(num_envs)
    action, carry = policy.apply(state.obs, carry, reset=state.done)   # deterministic (the mean)

Conventions: observations are the env's observation dict (leaves (B, ...)); ``policy.obs_spec``
lists the groups it reads with their per-env shapes. The carry is zeroed where ``reset`` is true
*before* the observation is consumed (the observation is an episode's first), as in training.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
from flax import struct

ApplyFn = Callable[[Any, Mapping[str, jax.Array], Any], tuple[jax.Array, Any]]


class PolicyError(ValueError):
  """A policy that cannot be built or used as asked (one-sentence message)."""


def reset_carry(carry: Any, reset: jax.Array | None) -> Any:
  """``carry`` with the rows where ``reset`` (B,) is true set to zero (every leaf (B, ...))."""
  if reset is None:
    return carry
  keep = ~jnp.asarray(reset).astype(bool)
  return jax.tree.map(lambda c: c * keep.reshape(keep.shape + (1,) * (c.ndim - keep.ndim)), carry)


@struct.dataclass
class Policy:
  """A deterministic (Gaussian-mean) policy.

  Attributes:
    params: pytree of parameters (the only leaves; traced under jit, so swapping parameters needs
      no recompile).
    apply_fn: ``(params, obs, carry) -> (action (B, A), carry)``; ``obs`` maps each group of
      ``obs_spec`` to (B, ...).
    init_carry_fn: ``B -> zero carry`` (a pytree of (B, ...) arrays; ``(B, 0)`` if memory-less).
    obs_spec: ``((group, per-env shape), ...)`` the observation groups read.
    action_size: A.
    task: the task the policy acts in (``"loco"``, ...; ``""`` if unknown).
    source: what it was loaded from, for printing (``"checkpoint runs/a/checkpoints/60"``).
    env_config_json: the env config it was trained with, as JSON (``""`` if unknown).
  """

  params: Any
  apply_fn: ApplyFn = struct.field(pytree_node=False)
  init_carry_fn: Callable[[int], Any] = struct.field(pytree_node=False)
  obs_spec: tuple[tuple[str, tuple[int, ...]], ...] = struct.field(pytree_node=False)
  action_size: int = struct.field(pytree_node=False)
  task: str = struct.field(pytree_node=False, default="")
  source: str = struct.field(pytree_node=False, default="")
  env_config_json: str = struct.field(pytree_node=False, default="")

  @property
  def obs_groups(self) -> tuple[str, ...]:
    """Names of the observation groups the policy reads."""
    return tuple(name for name, _ in self.obs_spec)

  def env_config(self):
    """The env config it was trained with as a ConfigDict, or None if unknown."""
    if not self.env_config_json:
      return None
    from reasan_jax.io import config_loader  # pylint: disable=import-outside-toplevel

    return config_loader.config_from_dict(json.loads(self.env_config_json))

  def init_carry(self, batch_size: int) -> Any:
    """Zero recurrent state for ``batch_size`` envs."""
    return self.init_carry_fn(int(batch_size))

  def apply(self, obs: Mapping[str, jax.Array], carry: Any,
            reset: jax.Array | None = None) -> tuple[jax.Array, Any]:
    """One step for a batch: ``(action (B, A), next carry)``.

    Args:
      obs: the env observation dict (extra groups are ignored), leaves (B, ...).
      carry: from :meth:`init_carry` or the previous call.
      reset: optional (B,) bool/float; rows where true start from a zero carry.

    Raises:
      PolicyError: a group of ``obs_spec`` is missing from ``obs`` or has another shape.
    """
    picked = {}
    for name, shape in self.obs_spec:
      if name not in obs:
        raise PolicyError(f"The policy ({self.source or self.task}) reads the observation group "
                          f"{name!r}, which the observation lacks (it has {sorted(obs)}).")
      x = obs[name]
      if tuple(x.shape[1:]) != tuple(shape):
        raise PolicyError(f"The policy ({self.source or self.task}) expects observation {name!r} of "
                          f"per-env shape {tuple(shape)}, got {tuple(x.shape[1:])}.")
      picked[name] = x
    return self.apply_fn(self.params, picked, reset_carry(carry, reset))

  def check_fits(self, obs_shapes: Mapping[str, tuple[int, ...]], action_size: int,
                 role: str = "policy") -> None:
    """Checks the policy can act in an env with these per-env observation shapes and action size.

    Raises:
      PolicyError: a group is missing or has another shape, or the action sizes differ (the
        message names ``role``, e.g. "frozen loco policy").
    """
    for name, shape in self.obs_spec:
      if name not in obs_shapes or tuple(obs_shapes[name]) != tuple(shape):
        got = tuple(obs_shapes[name]) if name in obs_shapes else "nothing"
        raise PolicyError(f"The {role} ({self.source}) reads {name!r} of shape {tuple(shape)}, but "
                          f"the env gives {got}; pass a {role} made for this task.")
    if int(action_size) != self.action_size:
      raise PolicyError(f"The {role} ({self.source}) outputs {self.action_size} actions, but the "
                        f"env takes {int(action_size)}; pass a {role} made for this task.")


# ------------------------------------------------------------------------------------------------
# Construction from our networks.


def from_actor(actor, actor_params: Any, *, normalizer_mean: Mapping[str, jax.Array] | None = None,
               normalizer_std: Mapping[str, jax.Array] | None = None,
               obs_shapes: Mapping[str, tuple[int, ...]], task: str = "", source: str = "",
               env_config_json: str = "") -> Policy:
  """A :class:`Policy` from an :class:`reasan_jax.ppo.networks.Actor` and its parameters.

  Args:
    actor: the flax actor module (its ``inputs`` name the groups read).
    actor_params: its flax params (with ``log_std``, unused: the policy is deterministic).
    normalizer_mean, normalizer_std: per-group observation statistics, or None when training did
      not normalise observations; folded into the policy (``(x - mean) / std``).
    obs_shapes: per-env shapes of at least the actor's groups.
    task, source, env_config_json: see :class:`Policy`.
  """
  groups = tuple(actor.inputs)
  params: dict[str, Any] = {"actor": actor_params}
  if normalizer_mean is not None:
    params["obs_mean"] = {g: jnp.asarray(normalizer_mean[g]) for g in groups}
    params["obs_std"] = {g: jnp.asarray(normalizer_std[g]) for g in groups}
  rnn_size = int(actor.rnn_size)

  def apply_fn(p, obs, carry):
    if "obs_mean" in p:
      obs = {g: (obs[g] - p["obs_mean"][g]) / p["obs_std"][g] for g in groups}
    seq = {g: obs[g][None] for g in groups}  # a length-1 time axis
    no_reset = jnp.zeros((1, carry.shape[0]), bool)
    carry, mean = actor.apply({"params": p["actor"]}, carry, seq, no_reset)
    return mean[0], carry

  def init_carry_fn(batch_size):
    return jnp.zeros((batch_size, rnn_size), jnp.float32)

  return Policy(params=params, apply_fn=apply_fn, init_carry_fn=init_carry_fn,
                obs_spec=tuple((g, tuple(int(d) for d in obs_shapes[g])) for g in groups),
                action_size=int(actor.action_size), task=task, source=source,
                env_config_json=env_config_json)


# ------------------------------------------------------------------------------------------------
# Construction from REASAN ONNX files.

REASAN_ONNX_INPUTS = {"obs": "state", "proprio_obs": "proprio", "ray_obs": "rays"}
"""REASAN's ONNX input names -> our observation groups (REASAN's robot nodes: loco ``obs``;
filter/nav ``proprio_obs`` and ``ray_obs``)."""

REASAN_ONNX_TASKS = {(("obs", 45),): ("loco", 12), (("proprio_obs", 12), ("ray_obs", 180)): ("filter", 3),
                     (("proprio_obs", 11), ("ray_obs", 180)): ("nav", 3)}
"""Input signatures of REASAN's released policies -> (task, action size)."""


def from_onnx(onnx_policy, source: str = "") -> Policy:
  """A :class:`Policy` from a loaded REASAN ONNX policy
  (:func:`reasan_jax.policies.onnx_import.load_onnx_policy`).

  Input names map to observation groups through :data:`REASAN_ONNX_INPUTS` (other names are kept
  as they are); the task is recognised from the input signature (:data:`REASAN_ONNX_TASKS`).
  """
  names = {name: REASAN_ONNX_INPUTS.get(name, name) for name, _ in onnx_policy.obs_inputs}
  task, _ = REASAN_ONNX_TASKS.get(tuple(onnx_policy.obs_inputs), ("", 0))

  def apply_fn(p, obs, carry):
    return onnx_policy.apply(p, {name: obs[group] for name, group in names.items()}, carry)

  return Policy(params=onnx_policy.params, apply_fn=apply_fn, init_carry_fn=onnx_policy.init_carry,
                obs_spec=tuple((names[n], (int(s),)) for n, s in onnx_policy.obs_inputs),
                action_size=int(onnx_policy.action_size), task=task, source=source)
