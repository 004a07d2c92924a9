"""Recurrent cores for the actor-critic: GRU and LSTM cells scanned over time with per-step resets.

Both follow PyTorch's equations and parameter layout (``torch.nn.GRU``: gates r, z, n;
``torch.nn.LSTM``: gates i, f, g, o; separate input and hidden biases; init U(+-1/sqrt(H))), so
weights export one-to-one to REASAN's ONNX interfaces (reasan-rl-core.md §3). The carry handed in
for a step is always the one from *before* its observation; where ``reset[t]`` is true it is zeroed
before ``inputs[t]`` is consumed.
"""

from __future__ import annotations

import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp


def _uniform(bound: float) -> Callable:
  """Initializer U(-bound, +bound) (PyTorch's default for linear and recurrent layers)."""

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


# GRU


def gru_cell(hidden_kernel: jax.Array, hidden_bias: jax.Array, h: jax.Array,
             x_proj: jax.Array) -> jax.Array:
  """One GRU step on an already-projected input (``torch.nn.GRU`` equations)::

    r = sigmoid(x_r + h W_hr + b_hr)
    z = sigmoid(x_z + h W_hz + b_hz)
    n = tanh(x_n + r * (h W_hn + b_hn))
    h' = (1 - z) * n + z * h

  Args:
    hidden_kernel: (H, 3H) recurrent weights, gate blocks ordered (r, z, n).
    hidden_bias: (3H,) recurrent bias.
    h: (B, H) previous hidden state.
    x_proj: (B, 3H) input projection ``x W_i + b_i``.

  Returns:
    (B, H) new hidden state.
  """
  hh = h @ hidden_kernel + hidden_bias
  x_r, x_z, x_n = jnp.split(x_proj, 3, axis=-1)
  h_r, h_z, h_n = jnp.split(hh, 3, axis=-1)
  r = jax.nn.sigmoid(x_r + h_r)
  z = jax.nn.sigmoid(x_z + h_z)
  n = jnp.tanh(x_n + r * h_n)
  return (1.0 - z) * n + z * h


class ScannedGRU(nn.Module):
  """Single-layer GRU scanned over time, with per-step resets.

  ``(carry (B, H), (inputs (T, B, D), reset (T, B))) -> (carry (B, H), outputs (T, B, H))``.
  Where ``reset[t]`` is true the carry is set to zero **before** step t consumes ``inputs[t]``
  (``reset[t]`` = "inputs[t] is the first observation of an episode"), so the carry handed in for a
  step is always the one from before its observation, as in REASAN (reasan-rl-core.md §3, §6.3).
  The input projection is computed for all T steps in one matmul outside the time loop.

  Parameters (PyTorch layout, transposed): ``input_kernel`` (D, 3H), ``input_bias`` (3H,),
  ``hidden_kernel`` (H, 3H), ``hidden_bias`` (3H,), gate order (r, z, n).
  """

  features: int

  @nn.compact
  def __call__(self, carry: jax.Array, inputs: jax.Array,
               reset: jax.Array) -> tuple[jax.Array, jax.Array]:
    h = self.features
    init = _uniform(1.0 / math.sqrt(h))
    d = inputs.shape[-1]
    input_kernel = self.param("input_kernel", init, (d, 3 * h))
    input_bias = self.param("input_bias", init, (3 * h,))
    hidden_kernel = self.param("hidden_kernel", init, (h, 3 * h))
    hidden_bias = self.param("hidden_bias", init, (3 * h,))

    x_proj = inputs @ input_kernel + input_bias  # (T, B, 3H)

    def step(hc, xs):
      x_t, reset_t = xs
      hc = jnp.where(reset_t[:, None], jnp.zeros_like(hc), hc)
      hc = gru_cell(hidden_kernel, hidden_bias, hc, x_t)
      return hc, hc

    return jax.lax.scan(step, carry, (x_proj, reset.astype(bool)))


# ------------------------------------------------------------------------------------------------
# LSTM (REASAN's recurrent core)


def lstm_cell(hidden_kernel: jax.Array, hidden_bias: jax.Array, h: jax.Array, c: jax.Array,
              x_proj: jax.Array) -> tuple[jax.Array, jax.Array]:
  """One LSTM step on an already-projected input (``torch.nn.LSTM`` equations, REASAN's cell)::

    [g_i, g_f, g_g, g_o] = x_proj + h W_h + b_h
    i = sigmoid(g_i), f = sigmoid(g_f), g = tanh(g_g), o = sigmoid(g_o)
    c' = f * c + i * g
    h' = o * tanh(c')

  Args:
    hidden_kernel: (H, 4H) recurrent weights, gate blocks ordered (i, f, g, o).
    hidden_bias: (4H,) recurrent bias.
    h, c: (B, H) previous hidden and cell state.
    x_proj: (B, 4H) input projection ``x W_i + b_i``.

  Returns:
    ``(h', c')``, each (B, H).
  """
  gates = x_proj + h @ hidden_kernel + hidden_bias
  g_i, g_f, g_g, g_o = jnp.split(gates, 4, axis=-1)
  c = jax.nn.sigmoid(g_f) * c + jax.nn.sigmoid(g_i) * jnp.tanh(g_g)
  return jax.nn.sigmoid(g_o) * jnp.tanh(c), c


class ScannedLSTM(nn.Module):
  """Single-layer LSTM scanned over time, with per-step resets (REASAN's core, reasan-rl-core.md §3).

  ``((h, c) each (B, H), (inputs (T, B, D), reset (T, B))) -> ((h, c), outputs h (T, B, H))``; the
  reset convention is :class:`ScannedGRU`'s (both states zeroed before step t where ``reset[t]``).

  Parameters (PyTorch layout, transposed): ``input_kernel`` (D, 4H), ``input_bias`` (4H,),
  ``hidden_kernel`` (H, 4H), ``hidden_bias`` (4H,), gate order (i, f, g, o), all initialised
  U(+-1/sqrt(H)) like ``torch.nn.LSTM``.
  """

  features: int

  @nn.compact
  def __call__(self, carry: tuple[jax.Array, jax.Array], inputs: jax.Array,
               reset: jax.Array) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
    h = self.features
    init = _uniform(1.0 / math.sqrt(h))
    d = inputs.shape[-1]
    input_kernel = self.param("input_kernel", init, (d, 4 * h))
    input_bias = self.param("input_bias", init, (4 * h,))
    hidden_kernel = self.param("hidden_kernel", init, (h, 4 * h))
    hidden_bias = self.param("hidden_bias", init, (4 * h,))

    x_proj = inputs @ input_kernel + input_bias  # (T, B, 4H)

    def step(hc, xs):
      x_t, reset_t = xs
      keep = ~reset_t[:, None]
      h_t, c_t = hc
      h_t, c_t = lstm_cell(hidden_kernel, hidden_bias, jnp.where(keep, h_t, 0.0),
                           jnp.where(keep, c_t, 0.0), x_t)
      return (h_t, c_t), h_t

    h0, c0 = carry
    return jax.lax.scan(step, (h0, c0), (x_proj, reset.astype(bool)))


RNN_TYPES = ("gru", "lstm")
"""Recurrent cores ``network.rnn`` can name."""


def rnn_type(network_config) -> str:
  """``network.rnn`` of a network config (``"gru"`` when absent), checked.

  Raises:
    ValueError: a name outside :data:`RNN_TYPES`.
  """
  name = str(network_config.get("rnn", "gru"))
  if name not in RNN_TYPES:
    raise ValueError(f"network.rnn = {name!r} is not a recurrent core; choose 'gru' or 'lstm'.")
  return name


# ------------------------------------------------------------------------------------------------
