"""Batching, domain randomisation, auto-reset and episode statistics for any :class:`Env`.

:class:`VecEnv` turns a single-env task into a batched, auto-resetting environment:

* ``reset(rng) -> State`` samples ``num_envs`` domain-randomised model-field sets (once per env, as
  REASAN does at start-up, ``reasan-loco.md`` "Domain randomisation") and starts every episode.
* ``step(state, action) -> State`` steps every env with its own model and, where the episode ended,
  replaces the env's state by a fresh ``reset`` (a full re-randomised reset of the initial
  conditions, not a cached first state) handing over the task's :meth:`Env.persistent` values.
  Inside, a step is ``Env.advance``, ``Env.start`` (the fresh episode), the select, then
  ``Env.observe`` once on the selected state: tasks with a deferred observation (the filter's ray
  casts) pay for one observation per step, not two (REASAN filter §1.1b order); for the others
  ``advance``/``start`` are ``step``/``reset`` and ``observe`` is the identity.

What the learner reads after a step (all batched along axis 0):

* ``state.obs`` — observation to act on next (already the reset observation where ``done``).
* ``state.info["final_obs"]`` — the observation reached by the step, *before* the auto-reset, used to
  bootstrap truncated episodes (``Env.advance``'s observation: for a task with a deferred
  observation, whatever that task documents, e.g. the filter's previous rays).
* ``state.info["log"]`` (optional, task-provided) — per-env diagnostics; their batch means are
  given back to the task as ``info["batch_log"]`` during the next step (REASAN's gait rewards switch
  on the mean curriculum level over all envs).
* ``state.info["episode"]`` — dict with ``return``, ``length`` and the per-episode sums of every
  ``metrics`` entry for the episode that ended at this step (valid where ``state.done == 1``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from mujoco import mjx

from reasan_jax.core.env import Env, State

_WRAPPER_KEYS = ("model_fields", "autoreset_rng", "episode_sums", "final_obs", "episode")

# On an auto-reset of an MJX env only these ``mjx.Data`` fields are taken from the fresh episode:
# the integration state (what ``mjx.step`` reads) and the kinematic outputs observers use. All other
# fields (contacts, constraint rows, forces, velocities of the com frames, ...) are derived and are
# recomputed from ``qpos``/``qvel`` by the next physics step, so copying them would only cost memory
# bandwidth (the select over the whole ``Data`` made the env ~10% slower at 1024 envs).
MJX_RESET_FIELDS = (
    "time", "qpos", "qvel", "act", "history", "qacc_warmstart", "plugin_state", "ctrl",
    "qfrc_applied", "xfrc_applied", "eq_active", "mocap_pos", "mocap_quat", "userdata",
    "xpos", "xquat", "xmat", "geom_xpos", "geom_xmat", "site_xpos", "site_xmat",
)


def select_data(done: jax.Array, fresh: Any, old: Any) -> Any:
  """``fresh`` where ``done`` else ``old``, for one env's physics data.

  For an ``mjx.Data`` only :data:`MJX_RESET_FIELDS` are selected (derived fields keep ``old``'s
  values until the next physics step recomputes them); any other pytree is selected leaf by leaf.
  """
  if isinstance(old, mjx.Data):
    return old.replace(**{
        f: jnp.where(done, getattr(fresh, f), getattr(old, f)) for f in MJX_RESET_FIELDS})
  return jax.tree.map(lambda a, b: jnp.where(done, a, b), fresh, old)


class VecEnv:
  """Batched auto-resetting view of a single-env task.

  Args:
    env: the task (an :class:`Env`).
    num_envs: batch size.
    randomize: apply :meth:`Env.randomize` per env (False: every env uses the nominal model).

  Raises:
    ValueError: ``num_envs`` < 1.
  """

  def __init__(self, env: Env, num_envs: int, randomize: bool = True):
    if int(num_envs) < 1:
      raise ValueError(f"num_envs must be >= 1, got {num_envs}.")
    self.env = env
    self.num_envs = int(num_envs)
    self.randomize = randomize

  @property
  def action_size(self) -> int:
    """Action dimensions of the wrapped task (the batch adds a leading num_envs axis)."""
    return self.env.action_size

  @property
  def observation_size(self) -> dict[str, tuple[int, ...]]:
    """Per-env observation shapes of the wrapped task, ``{key: shape}``."""
    return self.env.observation_size

  def _env_for(self, state: State) -> Env:
    return self.env.with_model(state.info["model_fields"])

  def _reset_one(self, rng: jax.Array, persistent: dict[str, jax.Array] | None = None) -> State:
    k_model, k_reset, k_auto = jax.random.split(rng, 3)
    fields = self.env.randomize(k_model) if self.randomize else {}
    state = self.env.with_model(fields).reset(k_reset, persistent)
    return self._decorate(state, fields, k_auto)

  def _decorate(self, state: State, fields, rng) -> State:
    zeros = jnp.zeros((), jnp.float32)
    sums = {k: jnp.zeros_like(v) for k, v in state.metrics.items()}
    info = dict(state.info)
    info["model_fields"] = fields
    info["autoreset_rng"] = rng
    info["episode_sums"] = {"return": zeros, "length": zeros, **sums}
    info["final_obs"] = state.obs
    info["episode"] = {"return": zeros, "length": zeros, **sums}
    return state.replace(info=info)

  def _step_one(self, state: State, action: jax.Array) -> State:
    env = self._env_for(state)
    wrapper_info = {k: state.info[k] for k in _WRAPPER_KEYS}
    task_state = state.replace(
        info={k: v for k, v in state.info.items() if k not in _WRAPPER_KEYS})
    nxt = env.advance(task_state, action)
    nxt = nxt.replace(info={k: v for k, v in nxt.info.items() if k != "batch_log"})

    sums = wrapper_info["episode_sums"]
    sums = {
        "return": sums["return"] + nxt.reward,
        "length": sums["length"] + 1.0,
        **{k: sums[k] + v for k, v in nxt.metrics.items()},
    }
    rng, k_reset = jax.random.split(wrapper_info["autoreset_rng"])
    fresh = env.start(k_reset, env.persistent(nxt))
    done = nxt.done > 0.5

    def pick(a, b):  # `done` is a scalar per env inside vmap, so it broadcasts.
      return jnp.where(done, a, b)

    # Episode-level outputs of the finished step (pre-reset), then swap in the fresh episode.
    out = State(
        data=select_data(done, fresh.data, nxt.data),
        obs=jax.tree.map(pick, fresh.obs, nxt.obs),
        reward=nxt.reward,
        done=nxt.done,
        truncation=nxt.truncation,
        metrics=nxt.metrics,
        info=jax.tree.map(pick, fresh.info, nxt.info),
    )
    out = env.observe(out)  # one observation pass on the post-reset state (identity for most)
    info = dict(out.info)
    info["model_fields"] = wrapper_info["model_fields"]
    info["autoreset_rng"] = rng
    info["final_obs"] = nxt.obs
    info["episode"] = sums
    info["episode_sums"] = jax.tree.map(lambda s: jnp.where(done, jnp.zeros_like(s), s), sums)
    return out.replace(info=info)

  def reset(self, rng: jax.Array, persistent: dict[str, jax.Array] | None = None) -> State:
    """Resets all envs; returns a State batched along axis 0.

    Args:
      rng: PRNG key.
      persistent: optional task :meth:`Env.persistent` values for every env's first episode,
        leaves (num_envs, ...) (e.g. evaluation spawning every robot on chosen terrain cells);
        None = the task's own first-episode values (:meth:`Env.initial_persistent` of the batch,
        else each env's own). The same ``rng`` gives the same model fields and initial
        conditions either way.
    """
    keys = jax.random.split(rng, self.num_envs)
    if persistent is None:
      persistent = self.env.initial_persistent(jax.random.fold_in(rng, 1), self.num_envs)
    if persistent is None:
      return jax.vmap(self._reset_one)(keys)
    return jax.vmap(self._reset_one)(keys, persistent)

  def step(self, state: State, action: jax.Array) -> State:
    """Steps all envs with ``action`` of shape (num_envs, action_size); auto-resets ended ones.

    Raises:
      ValueError: ``action`` does not have shape (num_envs, action_size).
    """
    expected = (self.num_envs, self.action_size)
    if tuple(action.shape) != expected:
      raise ValueError(
          f"action has shape {tuple(action.shape)}, expected {expected} (num_envs, action_size).")
    if "log" in state.info:
      # Batch means of the tasks' diagnostics (e.g. the mean terrain level that switches REASAN's
      # gait rewards on) are handed to every env as info["batch_log"] for this step only.
      means = jax.tree.map(
          lambda x: jnp.broadcast_to(jnp.mean(x, axis=0), x.shape), state.info["log"])
      state = state.replace(info={**state.info, "batch_log": means})
    return jax.vmap(self._step_one)(state, action)


def episode_means(state: State) -> dict[str, Any]:
  """Mean of each per-episode statistic over the envs whose episode ended at this step.

  Returns ``(sums, count)``-weighted means as a dict of () arrays plus ``"count"``; 0 where no
  episode ended. Used by the learner's logs.
  """
  done = state.done
  count = jnp.sum(done)
  means = {k: jnp.sum(v * done) / jnp.maximum(count, 1.0) for k, v in state.info["episode"].items()}
  means["count"] = count
  return means
