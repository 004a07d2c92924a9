"""Thin adapter: one of our single-env tasks (:class:`reasan_jax.core.env.Env`) as a Brax env.

Brax's PPO trainer takes a ``brax.envs.base.Env`` (``reset(rng)``/``step(state, action)`` of ONE env,
``observation_size``, ``action_size``, ``backend``) and wraps it itself with its documented
training wrappers (``brax.envs.wrappers.training.wrap``: Vmap, Episode, AutoReset). The adapter
therefore maps our single-env task one to one:

* ``State(data, obs, reward, done, truncation, metrics, info)`` -> brax
  ``State(pipeline_state=data, obs, reward, done, metrics, info)``.
* ``done`` is reported as *termination only* (our ``done * (1 - truncation)``): Brax's
  ``EpisodeWrapper`` owns the time limit (pass ``episode_length`` = our ``env.episode_length``) and
  marks truncation itself, so the time-out is not double counted as a termination.
* Our per-env domain randomisation of model fields (``Env.randomize``; in our ``VecEnv`` it is
  sampled once per env) is sampled in ``reset`` and kept in ``info``, so Brax's AutoResetWrapper
  (which restores the first state of the env) keeps each env's randomised model, as ours does.
* Our task's curriculum hand-over (``Env.persistent``) and the batch-mean diagnostics
  (``info["batch_log"]``) have no Brax equivalent: Brax resets to the cached first state. For the
  throughput benchmark on flat terrain this changes no physics cost.

Works with any jax that runs both brax and our package (the peers' venv uses jax 0.8.2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from brax.envs import base as brax_base

from reasan_jax.core.env import Env

_FIELDS = "adapter_model_fields"


class BraxAdapter(brax_base.Env):
  """Brax view of one of our single-env tasks.

  Args:
    env: our task, e.g. ``reasan_jax.registry.make_env(reasan_jax.configs.loco.env_config())``.
    randomize: sample ``env.randomize`` per env at reset (our VecEnv's default).
  """

  def __init__(self, env: Env, randomize: bool = True):
    self._env = env
    self._randomize = randomize

  def reset(self, rng: jax.Array) -> brax_base.State:
    """One env's first state (with its domain-randomised model fields in ``info``)."""
    k_model, k_reset = jax.random.split(rng)
    fields = self._env.randomize(k_model) if self._randomize else {}
    ours = self._env.with_model(fields).reset(k_reset, None)
    return self._to_brax(ours, fields)

  def step(self, state: brax_base.State, action: jax.Array) -> brax_base.State:
    """One policy step of our task with this env's model; never resets (Brax's wrapper does)."""
    info = dict(state.info)
    fields = info.pop(_FIELDS)
    # Brax's training wrappers add their own keys; keep them out of our task and restore them.
    brax_keys = {k: info.pop(k) for k in list(info) if k not in self._task_info_keys}
    ours = self._to_ours(state, info)
    nxt = self._env.with_model(fields).step(ours, action)
    out = self._to_brax(nxt, fields)
    out.info.update(brax_keys)
    return out

  @property
  def _task_info_keys(self):
    if not hasattr(self, "_keys"):
      shapes = jax.eval_shape(lambda k: self._env.reset(k, None), jax.random.PRNGKey(0))
      self._keys = frozenset(shapes.info)
    return self._keys

  def _to_brax(self, ours, fields) -> brax_base.State:
    info = dict(ours.info)
    info[_FIELDS] = fields
    termination = ours.done * (1.0 - ours.truncation)
    return brax_base.State(pipeline_state=ours.data, obs=dict(ours.obs), reward=ours.reward,
                           done=termination, metrics=dict(ours.metrics), info=info)

  def _to_ours(self, state: brax_base.State, info):
    from reasan_jax.core.env import State  # pylint: disable=import-outside-toplevel

    zero = jnp.zeros_like(state.reward)
    return State(data=state.pipeline_state, obs=state.obs, reward=state.reward, done=state.done,
                 truncation=zero, metrics=state.metrics, info=info)

  @property
  def observation_size(self):
    """``{"state": shape, "privileged_state": shape}`` (Brax's dict-observation convention)."""
    return self._env.observation_size

  @property
  def action_size(self) -> int:
    return self._env.action_size

  @property
  def backend(self) -> str:
    return "mjx"

  @property
  def unwrapped(self):
    return self
