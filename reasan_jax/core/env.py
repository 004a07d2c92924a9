"""The environment API every reasan_jax task is written against.

A task is a pure pair of functions over a :class:`State` for **one** environment:

* ``reset(rng, persistent=None) -> State`` starts an episode. ``persistent`` carries per-env values
  that outlive an episode (terrain-curriculum level, ...); ``None`` means "first episode".
* ``step(state, action) -> State`` advances one policy step. It sets ``done`` (the episode ended at
  this step: termination *or* truncation) and ``truncation`` (it ended only because of the time
  limit) but never resets; :class:`reasan_jax.core.wrappers.VecEnv` batches the task with ``vmap``,
  applies per-env domain randomisation of model fields and auto-resets inside ``step``.

Tasks whose observation is expensive (ray casts) may split a step in REASAN's DirectRLEnv order
(REASAN filter §1.1b: dones and rewards, then resets, then ONE observation pass): ``advance`` (the
step without the expensive observation), ``start`` (the reset without it) and ``observe`` (the
observation of a state, reset or not). ``VecEnv`` then calls ``advance``, ``start``, selects, and
``observe`` once, so an auto-reset costs no second observation pass. The defaults
(``advance = step``, ``start = reset``, ``observe`` = identity) keep every other task unchanged.

Layout follows MuJoCo Playground's ``MjxEnv`` (``peers.md`` §1.1) so Brax/Playground users recognise
it: ``obs`` is a dict of named observation groups. Loco has the actor observation under ``"state"``
and the critic (privileged) observation under ``"privileged_state"``; tasks with rays add groups such
as ``"proprio"``, ``"rays"`` and ``"critic_rays"``. Which groups the actor and the critic read is set
by the task's network config (``network.actor_obs``, ``network.critic_obs``).
"""

from __future__ import annotations

import abc
from typing import Any, Mapping

import jax
from flax import struct

Observation = Mapping[str, jax.Array]


@struct.dataclass
class State:
  """State of one environment (leaves gain a leading ``(num_envs,)`` axis when batched).

  Attributes:
    data: physics state (``mjx.Data`` for MJX tasks, any pytree otherwise).
    obs: named float32 observation groups, e.g. ``{"state": (45,), "privileged_state": (88,)}``.
    reward: () float32 reward of the last step.
    done: () float32, 1.0 when the episode ended at the last step (termination or truncation).
    truncation: () float32, 1.0 when the episode ended only because of the time limit.
    metrics: dict of () float32 per-step quantities (e.g. reward terms) summed per episode by the
      wrapper.
    info: dict of task internals (commands, last action, rng, ...), any pytree.
  """

  data: Any
  obs: Observation
  reward: jax.Array
  done: jax.Array
  truncation: jax.Array
  metrics: dict[str, jax.Array]
  info: dict[str, Any]


class Env(abc.ABC):
  """Base class of a single-environment task.

  Subclasses implement :meth:`reset` and :meth:`step` and may override :meth:`randomize` (domain
  randomisation of model fields, sampled once per env) and :meth:`persistent` (values carried
  across auto-resets). Physics models live in ``self.mjx_model``; inside the batched wrapper a
  per-env copy is passed in through :meth:`with_model`, so tasks always read ``self.mjx_model``.
  """

  mjx_model: Any = None

  @abc.abstractmethod
  def reset(self, rng: jax.Array, persistent: dict[str, jax.Array] | None = None) -> State:
    """Starts an episode. ``rng``: PRNG key. ``persistent``: output of :meth:`persistent`."""

  @abc.abstractmethod
  def step(self, state: State, action: jax.Array) -> State:
    """Advances one policy step. ``action``: (action_size,) float32. Never auto-resets."""

  def advance(self, state: State, action: jax.Array) -> State:
    """:meth:`step` up to (not including) the deferred part of the observation; default
    :meth:`step`. ``state.obs`` of the result is the observation the learner bootstraps truncated
    episodes with (``VecEnv``'s ``info["final_obs"]``); :meth:`observe` replaces it."""
    return self.step(state, action)

  def start(self, rng: jax.Array, persistent: dict[str, jax.Array] | None = None) -> State:
    """:meth:`reset` without the deferred observation (filled by :meth:`observe`); default
    :meth:`reset`."""
    return self.reset(rng, persistent)

  def observe(self, state: State) -> State:
    """``state`` with its observation (and whatever the task derives with it) computed from its
    physics state; called by ``VecEnv`` once per step after the auto-reset select. Default: the
    state unchanged (the observation was made by :meth:`advance` / :meth:`start`)."""
    return state

  @property
  @abc.abstractmethod
  def action_size(self) -> int:
    """Number of action dimensions."""

  def persistent(self, state: State) -> dict[str, jax.Array]:
    """Per-env values handed from a finished episode to the next ``reset``; default none."""
    del state
    return {}

  def initial_persistent(self, rng: jax.Array, num_envs: int) -> dict[str, jax.Array] | None:
    """First-episode :meth:`persistent` values of a whole batch (leaves (num_envs, ...)), for
    tasks whose envs differ by their index (the nav task's grid / maze halves); ``None`` (the
    default) lets every env's ``reset`` draw its own."""
    del rng, num_envs
    return None

  def randomize(self, rng: jax.Array) -> dict[str, jax.Array]:
    """Samples one env's domain-randomised model fields.

    Returns a dict ``{mjx.Model field name: new value}`` (unbatched); the wrapper vmaps it over
    envs and substitutes the fields with :meth:`with_model`. Default: no randomisation.
    """
    del rng
    return {}

  def with_model(self, fields: Mapping[str, jax.Array]) -> "Env":
    """Returns a shallow copy of this env whose ``mjx_model`` has ``fields`` replaced."""
    if not fields:
      return self
    clone = object.__new__(type(self))
    clone.__dict__.update(self.__dict__)
    clone.mjx_model = self.mjx_model.replace(**fields)
    return clone

  @property
  def observation_size(self) -> dict[str, tuple[int, ...]]:
    """Shapes of each observation entry, found by tracing :meth:`reset` (no compile)."""
    state = jax.eval_shape(self.reset, jax.random.PRNGKey(0))
    return {k: tuple(v.shape) for k, v in state.obs.items()}
