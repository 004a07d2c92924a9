"""Recurrent actor-critic for PPO: scanned GRUs, MLP heads and the diagonal Gaussian policy.

Structure follows REASAN's ``ActorCriticRecurrent`` (reasan-rl-core.md §3) with, by default, a GRU
in place of its LSTM: the actor and the critic are fully separate (no shared parameters), each a
single-layer recurrent core followed by an MLP with ELU hidden layers::

  actor:  obs[actor_obs...]  -> [encoders] -> concat -> RNN(rnn_size) -> MLP(actor_hidden, ELU)  -> means
  critic: obs[critic_obs...] -> [encoders] -> concat -> RNN(rnn_size) -> MLP(critic_hidden, ELU) -> value

``network.rnn`` picks the core: ``"gru"`` (default; carry one (B, H) array) or ``"lstm"``, REASAN's
own cell (carry ``(h, c)``, two (B, H) arrays), so a trained policy can be exported as exactly
REASAN's architecture (:mod:`reasan_jax.policies.onnx_export`).

The observation groups each network reads and the encoder of each group come from the task's
network config (``network.actor_obs``, ``network.critic_obs``, ``network.encoders``): loco reads
``state`` / ``privileged_state`` as they are; the filter and nav networks put their 180 and 540 rays
through REASAN's circular CNNs (:mod:`reasan_jax.ppo.encoders`) and concatenate them with the
proprioception, as REASAN's ``ActorCriticRecurrentRay`` does (REASAN filter §8.1).

``rnn_size == 0`` drops the recurrence (pure MLPs, the carry is an empty ``(B, 0)`` array); tests use
it as the memory-less baseline.

Initialisation is PyTorch's default, as in REASAN (reasan-rl-core.md §3): every weight and bias of a
linear layer ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)); every GRU weight and both bias vectors ~
U(-1/sqrt(H), +1/sqrt(H)); the same for the LSTM. The GRU equations and parameter layout are those
of ``torch.nn.GRU`` (gate order r, z, n; separate input and hidden biases), the LSTM's those of
``torch.nn.LSTM`` (gate order i, f, g, o; separate input and hidden biases), so weights can be
exported one-to-one.

Fix of REASAN's warts: the action noise is a state-independent **log** standard deviation
(``log_std``, initialised to ``log(init_std)``), so sigma = exp(log_std) > 0 always; REASAN trains the
raw sigma with no floor, which can go negative and give NaN log-probs (reasan-rl-core.md §12.5).
"""

from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from reasan_jax.ppo import encoders
from reasan_jax.ppo.recurrent import ScannedGRU, ScannedLSTM, rnn_type

_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "elu": nn.elu,
    "relu": nn.relu,
    "tanh": jnp.tanh,
    "silu": nn.silu,
}


def activation_fn(name: str) -> Callable[[jax.Array], jax.Array]:
  """Activation by name ("elu", "relu", "tanh", "silu").

  Raises:
    ValueError: unknown name.
  """
  if name not in _ACTIVATIONS:
    raise ValueError(f"Unknown activation {name!r}; choose from {sorted(_ACTIVATIONS)}.")
  return _ACTIVATIONS[name]


def _uniform(bound: float) -> Callable:
  """Initializer U(-bound, +bound) (PyTorch's default for linear and recurrent layers)."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


# ------------------------------------------------------------------------------------------------
# MLP and the two networks


class MLP(nn.Module):
  """Dense layers ``hidden`` with ``activation`` between them, then a linear output layer.

  Weights and biases use PyTorch's default U(+-1/sqrt(fan_in)) (reasan-rl-core.md §3).
  """

  hidden: Sequence[int]
  out_features: int
  activation: str = "elu"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    act = activation_fn(self.activation)
    kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in", "uniform")
    for i, width in enumerate((*self.hidden, self.out_features)):
      bias_init = _uniform(1.0 / math.sqrt(x.shape[-1]))
      x = nn.Dense(width, kernel_init=kernel_init, bias_init=bias_init, name=f"dense_{i}")(x)
      if i < len(self.hidden):
        x = act(x)
    return x


class ObservationFeatures(nn.Module):
  """Concatenated features of the named observation groups: ``{group: (T, B, ...)} -> (T, B, F)``.

  Groups are read in the order of ``inputs``; a group with an entry in ``encoders`` goes through
  that encoder (:func:`reasan_jax.ppo.encoders.make_encoder`, module name ``encoder_<group>``), the
  others are flattened. A bare array is accepted when there is exactly one input.
  """

  inputs: tuple[str, ...]
  encoders: tuple[tuple[str, str], ...] = ()

  @nn.compact
  def __call__(self, obs) -> jax.Array:
    if not isinstance(obs, Mapping):
      if len(self.inputs) != 1:
        raise ValueError(f"This network reads the observation groups {list(self.inputs)}; pass a dict.")
      obs = {self.inputs[0]: obs}
    named = dict(self.encoders)
    parts = []
    for group in self.inputs:
      x = obs[group]
      if group in named:
        parts.append(encoders.make_encoder(named[group], f"encoder_{group}")(
            x.reshape(x.shape[:2] + (-1,))))
      else:
        parts.append(x.reshape(x.shape[:2] + (-1,)))
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)


class _RecurrentCore(nn.Module):
  """GRU or LSTM (``rnn``) of width rnn_size over (T, B, F) inputs, or the identity (carry
  untouched) if rnn_size == 0. Submodule names ``gru`` / ``lstm``."""

  rnn_size: int
  rnn: str = "gru"

  @nn.compact
  def __call__(self, carry, x, reset):
    if self.rnn_size == 0:
      return carry, x
    if self.rnn == "lstm":
      return ScannedLSTM(self.rnn_size, name="lstm")(carry, x, reset)
    return ScannedGRU(self.rnn_size, name="gru")(carry, x, reset)


class Actor(nn.Module):
  """Policy network: ``(carry, obs {group: (T, B, ...)}, reset (T, B)) -> (carry, mean (T, B, A))``.

  The carry is (B, H) for the GRU core, ``(h, c)`` for the LSTM (``rnn``; :func:`init_carry`).

  Also owns the state-independent ``log_std`` (A,) parameter, initialised to ``log(init_std)``
  (reasan-rl-core.md §12.5 fix: sigma = exp(log_std) can never be negative).
  """

  action_size: int
  rnn_size: int
  hidden: Sequence[int]
  activation: str = "elu"
  init_std: float = 1.0
  inputs: tuple[str, ...] = ("state",)
  encoders: tuple[tuple[str, str], ...] = ()
  rnn: str = "gru"

  @nn.compact
  def __call__(self, carry, obs, reset):
    x = ObservationFeatures(self.inputs, self.encoders, name="features")(obs)
    carry, x = _RecurrentCore(self.rnn_size, self.rnn, name="core")(carry, x, reset)
    mean = MLP(self.hidden, self.action_size, self.activation, name="mlp")(x)
    self.param("log_std", nn.initializers.constant(math.log(self.init_std)), (self.action_size,))
    return carry, mean


class Critic(nn.Module):
  """Value network: ``(carry, obs {group: (T, B, ...)}, reset (T, B)) -> (carry, value (T, B))``
  (carry as for :class:`Actor`)."""

  rnn_size: int
  hidden: Sequence[int]
  activation: str = "elu"
  inputs: tuple[str, ...] = ("privileged_state",)
  encoders: tuple[tuple[str, str], ...] = ()
  rnn: str = "gru"

  @nn.compact
  def __call__(self, carry, obs, reset):
    x = ObservationFeatures(self.inputs, self.encoders, name="features")(obs)
    carry, x = _RecurrentCore(self.rnn_size, self.rnn, name="core")(carry, x, reset)
    return carry, MLP(self.hidden, 1, self.activation, name="mlp")(x)[..., 0]


def network_inputs(network_config, obs_shapes: Mapping[str, tuple[int, ...]]
                   ) -> tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]:
  """(actor groups, critic groups, encoders) of a network config, checked against the env.

  ``network.actor_obs`` / ``network.critic_obs`` name observation groups; a missing
  ``critic_obs`` group list defaults to ``privileged_state`` when the env has it, else the actor's.
  ``network.encoders`` maps groups to encoder names (:data:`reasan_jax.ppo.encoders.ENCODERS`).

  Raises:
    ValueError: a named group the env does not have, or an encoder that does not fit its group.
  """
  actor = tuple(network_config.get("actor_obs", ("state",)))
  default_critic = ("privileged_state",) if "privileged_state" in obs_shapes else actor
  critic = tuple(network_config.get("critic_obs", default_critic))
  for which, groups in (("actor_obs", actor), ("critic_obs", critic)):
    missing = [g for g in groups if g not in obs_shapes]
    if not groups or missing:
      raise ValueError(f"network.{which} names observation groups {missing or list(groups)} but the "
                       f"env observes {sorted(obs_shapes)}; list groups it has.")
  named = dict(network_config.get("encoders", {}) or {})
  for group, name in named.items():
    if group not in obs_shapes:
      raise ValueError(f"network.encoders names the group {group!r} but the env observes "
                       f"{sorted(obs_shapes)}.")
    encoders.check_encoder(name, group, obs_shapes[group])
  return actor, critic, tuple(sorted(named.items()))


def make_actor(network_config, obs_shapes: Mapping[str, tuple[int, ...]], action_size: int) -> Actor:
  """The :class:`Actor` a network config describes (``rnn``, ``rnn_size``, ``actor_hidden``,
  ``activation``, ``init_std``, ``actor_obs``, ``encoders``), for an env with ``obs_shapes`` and
  ``action_size``.

  Raises:
    ValueError: see :func:`network_inputs`; an unknown activation or recurrent core.
  """
  actor_groups, _, named = network_inputs(network_config, obs_shapes)
  activation_fn(network_config.activation)
  return Actor(action_size=int(action_size), rnn_size=int(network_config.rnn_size),
               hidden=tuple(network_config.actor_hidden), activation=network_config.activation,
               init_std=float(network_config.init_std), inputs=actor_groups,
               encoders=tuple(e for e in named if e[0] in actor_groups),
               rnn=rnn_type(network_config))


def make_critic(network_config, obs_shapes: Mapping[str, tuple[int, ...]]) -> Critic:
  """The :class:`Critic` a network config describes (see :func:`make_actor`)."""
  _, critic_groups, named = network_inputs(network_config, obs_shapes)
  activation_fn(network_config.activation)
  return Critic(rnn_size=int(network_config.rnn_size), hidden=tuple(network_config.critic_hidden),
                activation=network_config.activation, inputs=critic_groups,
                encoders=tuple(e for e in named if e[0] in critic_groups),
                rnn=rnn_type(network_config))


def init_carry(batch_size: int, rnn_size: int, rnn: str = "gru"):
  """Zero recurrent carry: GRU (batch_size, rnn_size) float32; LSTM ``(h, c)`` of two such arrays;
  (B, 0) for either when the recurrence is disabled (rnn_size == 0)."""
  zeros = jnp.zeros((batch_size, rnn_size), jnp.float32)
  if rnn == "lstm" and rnn_size > 0:
    return (zeros, jnp.zeros((batch_size, rnn_size), jnp.float32))
  return zeros


# ------------------------------------------------------------------------------------------------
# Diagonal Gaussian (REASAN: independent Normal per action dim, sums over dims; §3)

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def gaussian_log_prob(action: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
  """log N(action; mean, exp(log_std)) summed over the last (action) axis. Shapes (..., A) -> (...)."""
  z = (action - mean) * jnp.exp(-log_std)
  return jnp.sum(-0.5 * jnp.square(z) - log_std - _HALF_LOG_2PI, axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
  """Entropy sum_d (0.5 + 0.5 ln 2 pi + ln sigma_d). ``log_std`` (..., A) -> (...)."""
  return jnp.sum(0.5 + _HALF_LOG_2PI + log_std, axis=-1)


def gaussian_kl(old_mean: jax.Array, old_std: jax.Array, mean: jax.Array,
                std: jax.Array) -> jax.Array:
  """KL(old || new) summed over the action axis, exactly as REASAN's adaptive-lr rule computes it.

  ``sum_d [ln(sigma/sigma_old + 1e-5) + (sigma_old^2 + (mu_old - mu)^2) / (2 sigma^2) - 0.5]``, with
  REASAN's 1e-5 inside the log (reasan-rl-core.md §5). Shapes broadcast over (..., A) -> (...).
  """
  return jnp.sum(
      jnp.log(std / old_std + 1e-5)
      + (jnp.square(old_std) + jnp.square(old_mean - mean)) / (2.0 * jnp.square(std)) - 0.5,
      axis=-1)
