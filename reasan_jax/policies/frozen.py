"""A :class:`~reasan_jax.policies.policy.Policy` as a frozen low-level controller inside an env step.

REASAN's filter runs the frozen loco policy every control step, and its nav task runs the frozen
filter and loco policies (REASAN filter §1.2-1.4, REASAN nav §1.3-1.4). Tasks are written for one
env (``VecEnv`` vmaps them), so these helpers give a policy a batch of one and take it away again;
the recurrent state lives in the env state (e.g. ``info["loco_carry"]``), is zeroed at reset and
advances once per env step. The parameters are constants of the compiled program (frozen).
"""

from __future__ import annotations

from typing import Any, Mapping

import jax

from reasan_jax.policies.policy import Policy


def initial_carry(policy: Policy) -> Any:
  """The zero recurrent state of one env (leaves (1, ...)), for ``reset``."""
  return policy.init_carry(1)


def act(policy: Policy, obs: Mapping[str, jax.Array], carry: Any) -> tuple[jax.Array, Any]:
  """One step of ``policy`` for a single env.

  Args:
    obs: the groups of ``policy.obs_spec``, each with its per-env shape (no batch axis).
    carry: from :func:`initial_carry` or the previous step (leaves (1, ...)).

  Returns:
    ``(action (A,), next carry)``.
  """
  batched = {name: obs[name][None] for name in policy.obs_groups}
  action, carry = policy.apply(batched, carry)
  return action[0], carry
