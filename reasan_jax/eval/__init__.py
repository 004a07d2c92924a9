"""Evaluation: the one rollout behind play, sim2sim and training videos; command schedules; metrics.

* :mod:`reasan_jax.eval.schedules` — command schedules (``figure8``, ..., ``"vx,vy,wz"``).
* :mod:`reasan_jax.eval.env_config` — the evaluation env config (noise, randomisation and pushes
  off unless asked, rough grids shrunk) and a cached env per config.
* :mod:`reasan_jax.eval.rollout` — :func:`~reasan_jax.eval.rollout.rollout`, a deterministic
  :class:`~reasan_jax.policies.policy.Policy` in an auto-resetting env batch for T steps.
* :mod:`reasan_jax.eval.metrics` — episode tables, tracking errors, falls, sim2sim tables.
"""


class EvalError(ValueError):
  """An evaluation request that cannot be honoured (one sentence naming the fix)."""
