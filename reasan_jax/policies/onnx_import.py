"""REASAN ONNX policies as pure JAX functions.

REASAN exports its actors as ONNX files with a fixed batch of one (``reasan-rl-core.md`` §"Export",
``reasan-nav.md`` §6.3, ``reasan-filter.md`` §9.2):

* locomotion (``pretrained/loco_1.onnx``): inputs ``obs`` [1, 45], ``h_in`` [1, 1, 256],
  ``c_in`` [1, 1, 256]; outputs ``actions`` [1, 12] (the Gaussian mean), ``h_out``, ``c_out``.
  Graph: Unsqueeze -> LSTM(45 -> 256) -> Squeeze -> Squeeze -> (Gemm -> Elu) x 3 -> Gemm.
* filter / navigation: several observation inputs (``proprio`` + ``ray``, or ``proprio_obs`` +
  ``ray_obs``) feeding a 1-D CNN ray encoder before the LSTM.

:func:`load_onnx_policy` turns such a file into an :class:`OnnxPolicy`: the floating-point
initializers (the weights) become a ``params`` pytree and the graph becomes a small interpreter that
evaluates every node with ``jax.numpy``/``jax.lax`` for ONE sample, exactly with the shapes written
in the file, and is ``vmap``-ped over any batch. The result is a pure function, usable under
``jax.jit``, ``jax.vmap`` and ``jax.lax.scan`` with ``params`` passed as a traced argument.

Values inside the interpreter are either *static* (``numpy`` arrays: Constant nodes, integer
initializers, and everything computed only from them, e.g. the ``Shape -> Gather -> Concat ->
Reshape`` chains PyTorch emits for ``view``) or *traced* (``jax`` arrays). Shape-like operands
(Reshape shapes, Slice bounds, Squeeze axes, Pad widths, ...) must be static.

Operator semantics follow the ONNX operator specification (https://onnx.ai/onnx/operators/); in
particular the LSTM uses the ONNX gate order i, o, f, c (``W`` [1, 4H, I], ``R`` [1, 4H, H],
``B`` [1, 8H] = input biases then recurrent biases, both added), not PyTorch's i, f, g, o. GRU
nodes (gate order z, r, h; what reasan_jax exports for its GRU policies, with ``c_in`` passed
through as ``c_out``) are read too.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from flax import struct
from onnx import numpy_helper

OBS_INPUT_NAMES = ("obs", "proprio", "ray", "rays", "proprio_obs", "ray_obs")
"""Graph-input names accepted as observations (loco: ``obs``; filter: ``proprio``/``ray``; nav:
``proprio_obs``/``ray_obs``)."""
ACTION_OUTPUT_NAMES = ("actions", "action")
"""Graph-output names accepted as the action (mean) output."""
STATE_INPUT_NAMES = ("h_in", "c_in")
STATE_OUTPUT_NAMES = ("h_out", "c_out")

_DEFAULT_DOMAINS = ("", "ai.onnx")


class OnnxPolicyError(ValueError):
  """Raised by :func:`load_onnx_policy` for a file that is not a usable REASAN ONNX policy.

  The message is one sentence naming the problem and the fix.
  """


class _NodeError(Exception):
  """A problem inside one node; re-raised as :class:`OnnxPolicyError` naming the node."""


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def _is_static(x: Any) -> bool:
  return isinstance(x, (np.ndarray, np.generic))


def _xp(*values: Any):
  """numpy when every given value is static (constant-folded at trace time), else jax.numpy."""
  return np if all(_is_static(v) for v in values if v is not None) else jnp


def _static(x: Any, what: str) -> np.ndarray | None:
  """Returns a static operand as numpy, or raises if it depends on observations or weights."""
  if x is None:
    return None
  if not _is_static(x):
    raise _NodeError(
        f"needs a constant {what} but it is computed from the observation or the weights; "
        "re-export the policy with constant shapes")
  return np.asarray(x)


def _ints(x: Any, what: str) -> list[int] | None:
  v = _static(x, what)
  return None if v is None else [int(i) for i in v.reshape(-1)]


def _axis(axis: int, rank: int) -> int:
  if not -rank <= axis < rank:
    raise _NodeError(f"has axis {axis} out of range for a rank-{rank} tensor")
  return axis % rank


def _arg(args: Sequence[Any], i: int) -> Any:
  return args[i] if i < len(args) else None


def _one_output(node: _Node, what: str) -> None:
  if any(node.outputs[1:]):
    raise _NodeError(f"requests the optional {what} output, which reasan_jax does not compute; "
                     "re-export the policy in inference mode")


# ------------------------------------------------------------------------------------------------
# Operator implementations (one sample; ONNX semantics from https://onnx.ai/onnx/operators/)
# ------------------------------------------------------------------------------------------------


def _op_identity(node, args):
  del node
  return [args[0]]


def _op_dropout(node, args):
  if _arg(args, 2) is not None and bool(np.any(_static(args[2], "training_mode"))):
    raise _NodeError("runs in training mode; re-export the policy in eval mode")
  _one_output(node, "mask")
  return [args[0]]


def _op_constant(node, args):
  del args
  a = node.attrs
  if "value" in a:
    return [np.asarray(a["value"])]
  if "value_float" in a:
    return [np.asarray(a["value_float"], np.float32)]
  if "value_floats" in a:
    return [np.asarray(a["value_floats"], np.float32)]
  if "value_int" in a:
    return [np.asarray(a["value_int"], np.int64)]
  if "value_ints" in a:
    return [np.asarray(a["value_ints"], np.int64)]
  raise _NodeError("has no value attribute; the file is malformed")


def _op_constant_of_shape(node, args):
  shape = _ints(args[0], "shape")
  value = np.asarray(node.attrs.get("value", np.zeros((1,), np.float32))).reshape(-1)
  return [np.full(shape, value[0], dtype=value.dtype)]


def _op_shape(node, args):
  shape = np.asarray(np.shape(args[0]), np.int64)
  start = node.attrs.get("start", 0)
  end = node.attrs.get("end", len(shape))
  return [shape[start:end]]


def _op_cast(node, args):
  dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(node.attrs["to"]))
  x = args[0]
  if _is_static(x):
    return [np.asarray(x).astype(dtype)]
  return [jnp.asarray(x).astype(jax.dtypes.canonicalize_dtype(dtype))]


def _binary(fn_name: str):
  def op(node, args):
    del node
    a, b = args[0], args[1]
    xp = _xp(a, b)
    if fn_name == "divide" and all(
        np.issubdtype(v.dtype if hasattr(v, "dtype") else np.asarray(v).dtype, np.integer)
        for v in (a, b)):
      # ONNX integer Div truncates toward zero.
      q = xp.abs(a) // xp.abs(b)
      return [xp.where((a < 0) != (b < 0), -q, q)]
    return [getattr(xp, fn_name)(a, b)]
  return op


def _unary(fn: Callable[[Any, dict], Any]):
  def op(node, args):
    x = args[0]
    if _is_static(x):
      with jax.ensure_compile_time_eval():
        return [np.asarray(fn(jnp.asarray(x), node.attrs))]
    return [fn(x, node.attrs)]
  return op


def _elu(x, attrs):
  alpha = attrs.get("alpha", 1.0)
  return jnp.where(x > 0, x, alpha * jnp.expm1(jnp.minimum(x, 0)))


def _leaky_relu(x, attrs):
  return jnp.where(x >= 0, x, attrs.get("alpha", 0.01) * x)


def _op_clip(node, args):
  lo = node.attrs.get("min", _arg(args, 1))
  hi = node.attrs.get("max", _arg(args, 2))
  x = args[0]
  xp = _xp(x, lo, hi)
  if lo is not None:
    x = xp.maximum(x, lo)
  if hi is not None:
    x = xp.minimum(x, hi)
  return [x]


def _op_matmul(node, args):
  del node
  return [_xp(args[0], args[1]).matmul(args[0], args[1])]


def _op_gemm(node, args):
  a, b, c = args[0], args[1], _arg(args, 2)
  attrs = node.attrs
  if attrs.get("transA", 0):
    a = a.T
  if attrs.get("transB", 0):
    b = b.T
  xp = _xp(a, b, c)
  y = xp.matmul(a, b)
  alpha, beta = attrs.get("alpha", 1.0), attrs.get("beta", 1.0)
  if alpha != 1.0:
    y = alpha * y
  if c is not None:
    y = y + (c if beta == 1.0 else beta * c)
  return [y]


def _op_concat(node, args):
  xs = [x for x in args if x is not None]
  xp = _xp(*xs)
  axis = _axis(node.attrs["axis"], np.ndim(xs[0]))
  return [xp.concatenate([xp.asarray(x) for x in xs], axis=axis)]


def _op_reshape(node, args):
  x = args[0]
  shape = _ints(args[1], "shape")
  if not node.attrs.get("allowzero", 0):
    shape = [np.shape(x)[i] if d == 0 else d for i, d in enumerate(shape)]
  return [_xp(x).reshape(x, tuple(shape))]


def _op_flatten(node, args):
  x = args[0]
  shape = np.shape(x)
  axis = node.attrs.get("axis", 1)
  axis = axis + len(shape) if axis < 0 else axis
  outer = int(np.prod(shape[:axis], dtype=np.int64))
  return [_xp(x).reshape(x, (outer, -1 if outer else 0))]


def _op_transpose(node, args):
  x = args[0]
  perm = node.attrs.get("perm", list(range(np.ndim(x)))[::-1])
  return [_xp(x).transpose(x, tuple(perm))]


def _axes_operand(node, args, index: int) -> list[int] | None:
  if "axes" in node.attrs:
    return list(node.attrs["axes"])
  return _ints(_arg(args, index), "axes")


def _op_squeeze(node, args):
  x = args[0]
  axes = _axes_operand(node, args, 1)
  rank = np.ndim(x)
  if axes is None:
    axes = [i for i, d in enumerate(np.shape(x)) if d == 1]
  axes = tuple(sorted(_axis(a, rank) for a in axes))
  for a in axes:
    if np.shape(x)[a] != 1:
      raise _NodeError(f"squeezes axis {a} of size {np.shape(x)[a]}; only size-1 axes can be "
                       "squeezed")
  return [_xp(x).squeeze(x, axis=axes)]


def _op_unsqueeze(node, args):
  x = args[0]
  axes = _axes_operand(node, args, 1)
  rank = np.ndim(x) + len(axes)
  axes = tuple(sorted(_axis(a, rank) for a in axes))
  return [_xp(x).expand_dims(x, axes)]


def _op_slice(node, args):
  x = args[0]
  rank = np.ndim(x)
  if "starts" in node.attrs:  # opset < 10: bounds are attributes
    starts, ends = node.attrs["starts"], node.attrs["ends"]
    axes, steps = node.attrs.get("axes"), None
  else:
    starts, ends = _ints(args[1], "starts"), _ints(args[2], "ends")
    axes, steps = _ints(_arg(args, 3), "axes"), _ints(_arg(args, 4), "steps")
  axes = list(range(len(starts))) if axes is None else [_axis(a, rank) for a in axes]
  steps = [1] * len(starts) if steps is None else steps
  index = [slice(None)] * rank
  for a, s, e, st in zip(axes, starts, ends, steps):
    if st == 0:
      raise _NodeError("has a zero slice step")
    # Python slicing clamps exactly like ONNX Slice (negative bounds count from the end).
    index[a] = slice(int(s), int(e), int(st))
  return [x[tuple(index)]]


def _op_gather(node, args):
  x, idx = args[0], args[1]
  axis = _axis(node.attrs.get("axis", 0), np.ndim(x))
  dim = np.shape(x)[axis]
  if _is_static(idx):
    idx = np.asarray(idx)
    if np.any((idx < -dim) | (idx >= dim)):
      raise _NodeError(f"gathers index out of range for an axis of size {dim}")
    idx = np.where(idx < 0, idx + dim, idx)
    if _is_static(x):
      return [np.take(np.asarray(x), idx, axis=axis)]
    return [jnp.take(x, idx, axis=axis)]
  idx = jnp.where(idx < 0, idx + dim, idx)
  return [jnp.take(x, idx, axis=axis, mode="clip")]


def _op_split(node, args):
  x = args[0]
  axis = _axis(node.attrs.get("axis", 0), np.ndim(x))
  dim = np.shape(x)[axis]
  n = len(node.outputs)
  sizes = node.attrs.get("split")
  if sizes is None:
    sizes = _ints(_arg(args, 1), "split")
  if sizes is None:
    chunk = -(-dim // n)
    sizes = [chunk] * (n - 1) + [dim - chunk * (n - 1)]
  if sum(sizes) != dim or len(sizes) != n:
    raise _NodeError(f"splits an axis of size {dim} into sizes {sizes} for {n} outputs")
  bounds = np.cumsum(sizes)[:-1].tolist()
  return list(_xp(x).split(x, bounds, axis=axis))


def _op_pad(node, args):
  x = args[0]
  rank = np.ndim(x)
  mode = node.attrs.get("mode", "constant")
  if isinstance(mode, bytes):
    mode = mode.decode()
  if mode not in ("constant", "reflect", "edge", "wrap"):
    raise _NodeError(f"uses pad mode '{mode}'; supported modes are constant, reflect, edge, wrap")
  if "pads" in node.attrs:  # opset < 11
    pads, value, axes = list(node.attrs["pads"]), node.attrs.get("value", 0.0), None
  else:
    pads = _ints(args[1], "pads")
    value = _arg(args, 2)
    value = 0.0 if value is None else value
    axes = _ints(_arg(args, 3), "axes")
  axes = list(range(rank)) if axes is None else [_axis(a, rank) for a in axes]
  k = len(axes)
  width = [(0, 0)] * rank
  for j, a in enumerate(axes):
    width[a] = (pads[j], pads[j + k])
  xp = _xp(x, value)
  grow = [(max(b, 0), max(e, 0)) for b, e in width]
  if mode == "constant":
    y = xp.pad(x, grow, mode="constant", constant_values=xp.asarray(value).reshape(()))
  else:
    y = xp.pad(x, grow, mode=mode)
  crop = tuple(slice(-min(b, 0), np.shape(y)[i] + min(e, 0)) for i, (b, e) in enumerate(width))
  return [y[crop]]


def _spatial_padding(attrs, in_shape, kernel, strides, dilations, ceil_mode=False):
  """Explicit (begin, end) padding per spatial axis from ONNX pads/auto_pad/ceil_mode attributes.

  Returns (pads, extra): ``pads`` are the explicit/auto pads; ``extra`` is the additional end
  padding that ``ceil_mode`` needs (windows starting in the end padding are dropped, as the ONNX
  MaxPool spec says).
  """
  n = len(kernel)
  auto_pad = attrs.get("auto_pad", "NOTSET")
  if isinstance(auto_pad, bytes):
    auto_pad = auto_pad.decode()
  eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
  if auto_pad in ("NOTSET", ""):
    p = list(attrs.get("pads", [0] * (2 * n)))
    pads = [(p[i], p[i + n]) for i in range(n)]
  elif auto_pad == "VALID":
    pads = [(0, 0)] * n
  elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
    pads = []
    for size, s, e in zip(in_shape, strides, eff):
      total = max((-(-size // s) - 1) * s + e - size, 0)
      small, big = total // 2, total - total // 2
      pads.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
  else:
    raise _NodeError(f"uses auto_pad '{auto_pad}', which is not an ONNX value")
  extra = [0] * n
  if ceil_mode:
    for i, (size, s, e) in enumerate(zip(in_shape, strides, eff)):
      b, en = pads[i]
      out = -(-(size + b + en - e) // s) + 1
      if (out - 1) * s >= size + b:
        out -= 1
      extra[i] = max((out - 1) * s + e - (size + b + en), 0)
  return pads, extra


def _op_conv(node, args):
  x, w, b = args[0], args[1], _arg(args, 2)
  n = np.ndim(w) - 2
  attrs = node.attrs
  kernel = list(attrs.get("kernel_shape", np.shape(w)[2:]))
  if kernel != list(np.shape(w)[2:]):
    raise _NodeError(f"has kernel_shape {kernel} that disagrees with its weight shape "
                     f"{np.shape(w)}")
  strides = list(attrs.get("strides", [1] * n))
  dilations = list(attrs.get("dilations", [1] * n))
  pads, _ = _spatial_padding(attrs, np.shape(x)[2:], kernel, strides, dilations)
  y = jax.lax.conv_general_dilated(
      jnp.asarray(x), jnp.asarray(w), window_strides=strides, padding=pads,
      rhs_dilation=dilations, feature_group_count=attrs.get("group", 1),
      precision=jax.lax.Precision.HIGHEST)
  if b is not None:
    y = y + jnp.reshape(b, (1, -1) + (1,) * n)
  return [y]


def _op_max_pool(node, args):
  _one_output(node, "Indices")
  x = jnp.asarray(args[0])
  attrs = node.attrs
  kernel = list(attrs["kernel_shape"])
  n = len(kernel)
  strides = list(attrs.get("strides", [1] * n))
  dilations = list(attrs.get("dilations", [1] * n))
  pads, extra = _spatial_padding(attrs, x.shape[2:], kernel, strides, dilations,
                                 bool(attrs.get("ceil_mode", 0)))
  init = -jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min
  y = jax.lax.reduce_window(
      x, jnp.asarray(init, x.dtype), jax.lax.max, (1, 1, *kernel), (1, 1, *strides),
      [(0, 0), (0, 0)] + [(b, e + x_) for (b, e), x_ in zip(pads, extra)],
      window_dilation=(1, 1, *dilations))
  return [y]


def _op_average_pool(node, args):
  x = jnp.asarray(args[0])
  attrs = node.attrs
  kernel = list(attrs["kernel_shape"])
  n = len(kernel)
  strides = list(attrs.get("strides", [1] * n))
  pads, extra = _spatial_padding(attrs, x.shape[2:], kernel, strides, [1] * n,
                                 bool(attrs.get("ceil_mode", 0)))
  full = [(0, 0), (0, 0)] + [(b, e + x_) for (b, e), x_ in zip(pads, extra)]
  window, wstrides = (1, 1, *kernel), (1, 1, *strides)
  total = jax.lax.reduce_window(x, jnp.asarray(0, x.dtype), jax.lax.add, window, wstrides, full)
  # Divisor: window elements inside the input, plus explicit pads when count_include_pad=1; the
  # extra end padding added by ceil_mode never counts.
  ones = np.ones((1, 1, *x.shape[2:]), np.float32)
  pad_value = 1.0 if attrs.get("count_include_pad", 0) else 0.0
  ones = np.pad(ones, [(0, 0), (0, 0)] + pads, constant_values=pad_value)
  ones = np.pad(ones, [(0, 0), (0, 0)] + [(0, x_) for x_ in extra])
  count = jax.lax.reduce_window(jnp.asarray(ones), 0.0, jax.lax.add, window, wstrides, "VALID")
  return [total / count.astype(x.dtype)]


def _op_batch_norm(node, args):
  if node.attrs.get("training_mode", 0) or not node.attrs.get("spatial", 1):
    raise _NodeError("runs in training mode or non-spatial mode; re-export the policy in eval mode")
  _one_output(node, "running statistics")
  x, scale, bias, mean, var = args[:5]
  shape = (1, -1) + (1,) * (np.ndim(x) - 2)
  eps = node.attrs.get("epsilon", 1e-5)
  r = lambda v: jnp.reshape(v, shape)
  return [(x - r(mean)) / jnp.sqrt(r(var) + eps) * r(scale) + r(bias)]


_LSTM_DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "tanh")


def _op_lstm(node, args):
  """ONNX LSTM (forward, one direction), formulas of the ONNX operator spec.

  Per step: ``g = X_t W^T + H_{t-1} R^T + Wb + Rb`` split into gates i, o, f, c;
  ``i = σ(g_i + P_i ⊙ C_{t-1})``, ``f = σ(g_f + P_f ⊙ C_{t-1})``, ``C_t = f ⊙ C_{t-1} +
  i ⊙ tanh(g_c)``, ``o = σ(g_o + P_o ⊙ C_t)``, ``H_t = o ⊙ tanh(C_t)``.
  """
  attrs = node.attrs
  direction = attrs.get("direction", "forward")
  if isinstance(direction, bytes):
    direction = direction.decode()
  if direction != "forward":
    raise _NodeError(f"is a '{direction}' LSTM but only single-layer forward (unidirectional) "
                     "LSTMs are supported; re-export the policy with a unidirectional LSTM")
  acts = attrs.get("activations")
  names = None if acts is None else tuple(
      (a.decode() if isinstance(a, bytes) else a).lower() for a in acts)
  if names is not None and names != _LSTM_DEFAULT_ACTIVATIONS:
    raise _NodeError(f"uses activations {list(acts)} but only the default Sigmoid/Tanh/Tanh are "
                     "supported; re-export the policy with a standard LSTM")
  if attrs.get("input_forget", 0):
    raise _NodeError("uses input_forget=1 (coupled gates), which is not supported; re-export the "
                     "policy with a standard LSTM")
  if attrs.get("layout", 0):
    raise _NodeError("uses layout=1 (batch-major), which is not supported; re-export the policy "
                     "with the default layout")
  if _arg(args, 4) is not None:
    raise _NodeError("has a sequence_lens input, which is not supported; re-export the policy "
                     "without sequence lengths")
  x, w, r = args[0], args[1], args[2]
  b, h0, c0, p = _arg(args, 3), _arg(args, 5), _arg(args, 6), _arg(args, 7)
  if np.shape(w)[0] != 1:
    raise _NodeError(f"has {np.shape(w)[0]} directions but only single-layer forward LSTMs are "
                     "supported; re-export the policy with a unidirectional LSTM")
  hidden = np.shape(r)[-1]
  if attrs.get("hidden_size", hidden) != hidden:
    raise _NodeError(f"has hidden_size {attrs['hidden_size']} but recurrence weights of width "
                     f"{hidden}; the file is malformed")
  batch = np.shape(x)[1]
  w, r = jnp.asarray(w)[0], jnp.asarray(r)[0]
  bias = 0.0 if b is None else jnp.asarray(b)[0, :4 * hidden] + jnp.asarray(b)[0, 4 * hidden:]
  h = jnp.zeros((batch, hidden), jnp.float32) if h0 is None else jnp.asarray(h0)[0]
  c = jnp.zeros((batch, hidden), jnp.float32) if c0 is None else jnp.asarray(c0)[0]
  if p is None:
    p_i = p_o = p_f = 0.0
  else:
    p_i, p_o, p_f = jnp.split(jnp.asarray(p)[0], 3)
  hp = jax.lax.Precision.HIGHEST
  xw = jnp.matmul(jnp.asarray(x), w.T, precision=hp) + bias  # (seq, batch, 4H)

  def step(carry, xw_t):
    h, c = carry
    g = xw_t + jnp.matmul(h, r.T, precision=hp)
    g_i, g_o, g_f, g_c = jnp.split(g, 4, axis=-1)
    i = jax.nn.sigmoid(g_i + p_i * c)
    f = jax.nn.sigmoid(g_f + p_f * c)
    c = f * c + i * jnp.tanh(g_c)
    o = jax.nn.sigmoid(g_o + p_o * c)
    h = o * jnp.tanh(c)
    return (h, c), h

  (h, c), ys = jax.lax.scan(step, (h, c), xw)
  return [ys[:, None], h[None], c[None]]


_GRU_DEFAULT_ACTIVATIONS = ("sigmoid", "tanh")


def _op_gru(node, args):
  """ONNX GRU (forward, one direction), formulas of the ONNX operator spec (gate order z, r, h).

  Per step: ``z = σ(X W_z^T + H R_z^T + Wb_z + Rb_z)``, ``r = σ(X W_r^T + H R_r^T + Wb_r + Rb_r)``;
  ``linear_before_reset = 1`` (PyTorch's GRU, what reasan_jax exports):
  ``h~ = tanh(X W_h^T + Wb_h + r ⊙ (H R_h^T + Rb_h))``, else ``h~ = tanh(X W_h^T + (r ⊙ H) R_h^T +
  Rb_h + Wb_h)``; ``H' = (1 - z) ⊙ h~ + z ⊙ H``.
  """
  attrs = node.attrs
  direction = attrs.get("direction", "forward")
  if isinstance(direction, bytes):
    direction = direction.decode()
  acts = attrs.get("activations")
  names = None if acts is None else tuple(
      (a.decode() if isinstance(a, bytes) else a).lower() for a in acts)
  if direction != "forward" or (names is not None and names != _GRU_DEFAULT_ACTIVATIONS):
    raise _NodeError("is not a single-layer forward GRU with default activations; re-export the "
                     "policy with a standard unidirectional GRU")
  if attrs.get("layout", 0) or _arg(args, 4) is not None:
    raise _NodeError("uses layout=1 or sequence_lens, which are not supported; re-export the "
                     "policy with the default layout and no sequence lengths")
  x, w, r = args[0], args[1], args[2]
  b, h0 = _arg(args, 3), _arg(args, 5)
  if np.shape(w)[0] != 1:
    raise _NodeError(f"has {np.shape(w)[0]} directions but only single-layer forward GRUs are "
                     "supported; re-export the policy with a unidirectional GRU")
  hidden = np.shape(r)[-1]
  batch = np.shape(x)[1]
  w, r = jnp.asarray(w)[0], jnp.asarray(r)[0]
  zeros = jnp.zeros((3 * hidden,), jnp.float32)
  wb, rb = (zeros, zeros) if b is None else (jnp.asarray(b)[0, :3 * hidden],
                                             jnp.asarray(b)[0, 3 * hidden:])
  h = jnp.zeros((batch, hidden), jnp.float32) if h0 is None else jnp.asarray(h0)[0]
  linear_before_reset = bool(attrs.get("linear_before_reset", 0))
  hp = jax.lax.Precision.HIGHEST
  xw = jnp.matmul(jnp.asarray(x), w.T, precision=hp) + wb  # (seq, batch, 3H)
  r_z, r_r, r_h = jnp.split(r, 3, axis=0)
  rb_z, rb_r, rb_h = jnp.split(rb, 3)

  def step(h, xw_t):
    x_z, x_r, x_h = jnp.split(xw_t, 3, axis=-1)
    z = jax.nn.sigmoid(x_z + jnp.matmul(h, r_z.T, precision=hp) + rb_z)
    rr = jax.nn.sigmoid(x_r + jnp.matmul(h, r_r.T, precision=hp) + rb_r)
    if linear_before_reset:
      n = jnp.tanh(x_h + rr * (jnp.matmul(h, r_h.T, precision=hp) + rb_h))
    else:
      n = jnp.tanh(x_h + jnp.matmul(rr * h, r_h.T, precision=hp) + rb_h)
    h = (1.0 - z) * n + z * h
    return h, h

  h, ys = jax.lax.scan(step, h, xw)
  return [ys[:, None], h[None]]


_OpFn = Callable[["_Node", list], list]

# op_type -> (implementation, attributes it understands). An attribute outside the set is refused
# at load time rather than silently ignored.
_OPS: dict[str, tuple[_OpFn, frozenset[str]]] = {
    "Identity": (_op_identity, frozenset()),
    "Dropout": (_op_dropout, frozenset({"ratio", "seed", "is_test"})),
    "Constant": (_op_constant, frozenset(
        {"value", "value_float", "value_floats", "value_int", "value_ints"})),
    "ConstantOfShape": (_op_constant_of_shape, frozenset({"value"})),
    "Shape": (_op_shape, frozenset({"start", "end"})),
    "Cast": (_op_cast, frozenset({"to"})),
    "Add": (_binary("add"), frozenset()),
    "Sub": (_binary("subtract"), frozenset()),
    "Mul": (_binary("multiply"), frozenset()),
    "Div": (_binary("divide"), frozenset()),
    "MatMul": (_op_matmul, frozenset()),
    "Gemm": (_op_gemm, frozenset({"alpha", "beta", "transA", "transB"})),
    "Relu": (_unary(lambda x, a: jnp.maximum(x, 0)), frozenset()),
    "Elu": (_unary(_elu), frozenset({"alpha"})),
    "LeakyRelu": (_unary(_leaky_relu), frozenset({"alpha"})),
    "Tanh": (_unary(lambda x, a: jnp.tanh(x)), frozenset()),
    "Sigmoid": (_unary(lambda x, a: jax.nn.sigmoid(x)), frozenset()),
    "Softplus": (_unary(lambda x, a: jax.nn.softplus(x)), frozenset()),
    "Exp": (_unary(lambda x, a: jnp.exp(x)), frozenset()),
    "Neg": (_unary(lambda x, a: -x), frozenset()),
    "Abs": (_unary(lambda x, a: jnp.abs(x)), frozenset()),
    "Sqrt": (_unary(lambda x, a: jnp.sqrt(x)), frozenset()),
    "Clip": (_op_clip, frozenset({"min", "max"})),
    "Concat": (_op_concat, frozenset({"axis"})),
    "Reshape": (_op_reshape, frozenset({"allowzero"})),
    "Flatten": (_op_flatten, frozenset({"axis"})),
    "Transpose": (_op_transpose, frozenset({"perm"})),
    "Squeeze": (_op_squeeze, frozenset({"axes"})),
    "Unsqueeze": (_op_unsqueeze, frozenset({"axes"})),
    "Slice": (_op_slice, frozenset({"starts", "ends", "axes"})),
    "Gather": (_op_gather, frozenset({"axis"})),
    "Split": (_op_split, frozenset({"axis", "split", "num_outputs"})),
    "Pad": (_op_pad, frozenset({"mode", "pads", "value"})),
    "Conv": (_op_conv, frozenset(
        {"auto_pad", "dilations", "group", "kernel_shape", "pads", "strides"})),
    "MaxPool": (_op_max_pool, frozenset(
        {"auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order",
         "strides"})),
    "AveragePool": (_op_average_pool, frozenset(
        {"auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads", "strides"})),
    "BatchNormalization": (_op_batch_norm, frozenset(
        {"epsilon", "momentum", "spatial", "training_mode"})),
    "LSTM": (_op_lstm, frozenset(
        {"activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size",
         "input_forget", "layout"})),
    "GRU": (_op_gru, frozenset(
        {"activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size",
         "layout", "linear_before_reset"})),
}
SUPPORTED_OPS: tuple[str, ...] = tuple(sorted(_OPS))
"""ONNX operators (default domain) that :func:`load_onnx_policy` can translate."""

# Attributes that are accepted by name but refused when set (checked at load time).
_REFUSED_WHEN_SET = {"LSTM": ("activation_alpha", "activation_beta", "clip"),
                     "GRU": ("activation_alpha", "activation_beta", "clip")}


# ------------------------------------------------------------------------------------------------
# Graph
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class _Node:
  op_type: str
  name: str
  inputs: tuple[str, ...]
  outputs: tuple[str, ...]
  attrs: dict[str, Any]
  fn: _OpFn


@dataclasses.dataclass(frozen=True, eq=False)
class _Graph:
  """Static structure of an ONNX graph (compared and hashed by identity, so it can be jit-static).

  Attributes:
    nodes: nodes in topological order.
    consts: static (numpy) initializers, i.e. the non-floating-point ones.
    input_shapes: graph input name -> per-sample shape as written in the file (batch dim = 1).
    outputs: graph output names.
  """

  nodes: tuple[_Node, ...]
  consts: dict[str, np.ndarray]
  input_shapes: dict[str, tuple[int, ...]]
  outputs: tuple[str, ...]

  def run(self, params: Mapping[str, jax.Array], feeds: Mapping[str, jax.Array]) -> dict[str, Any]:
    """Evaluates the graph once.

    Args:
      params: floating-point initializers, name -> array with the file's shape.
      feeds: graph input name -> array with the file's shape (batch dim 1).

    Returns:
      graph output name -> value.

    Raises:
      _NodeError: a node failed; the message names the node.
    """
    env: dict[str, Any] = dict(self.consts)
    env.update(params)
    env.update(feeds)
    for node in self.nodes:
      args = [env[n] if n else None for n in node.inputs]
      try:
        outs = node.fn(node, args)
      except _NodeError as e:
        raise _NodeError(f"ONNX node '{node.name}' ({node.op_type}) {e}") from e
      except Exception as e:  # pylint: disable=broad-except
        first_line = (str(e).strip().splitlines() or [""])[0].rstrip(".")
        raise _NodeError(f"ONNX node '{node.name}' ({node.op_type}) failed with "
                         f"{type(e).__name__} ({first_line}); the graph is not a supported "
                         "REASAN policy") from e
      for name, value in zip(node.outputs, outs):
        if name:
          env[name] = value
    return {n: env[n] for n in self.outputs}


def _attr_value(attr: onnx.AttributeProto) -> Any:
  value = onnx.helper.get_attribute_value(attr)
  if isinstance(value, onnx.TensorProto):
    return numpy_helper.to_array(value)
  if isinstance(value, bytes):
    return value.decode()
  if isinstance(value, list) and value and isinstance(value[0], bytes):
    return [v.decode() for v in value]
  if isinstance(value, (onnx.GraphProto, onnx.SparseTensorProto)) or (
      isinstance(value, list) and value and isinstance(value[0], onnx.GraphProto)):
    raise TypeError("subgraph or sparse attribute")
  return value


def _dims(value_info: onnx.ValueInfoProto) -> list[int | None]:
  """Static dims of a graph input/output (None for symbolic or missing dims)."""
  shape = value_info.type.tensor_type.shape
  return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]


def _topological(nodes: list[_Node], available: set[str], path: str) -> list[_Node]:
  """Kahn's algorithm keeping the file order among ready nodes."""
  pending, order, known = list(nodes), [], set(available) | {""}
  while pending:
    ready = [n for n in pending if all(i in known for i in n.inputs)]
    if not ready:
      node = pending[0]
      missing = next(i for i in node.inputs if i not in known)
      raise OnnxPolicyError(
          f"{path}: ONNX node '{node.name}' ({node.op_type}) reads '{missing}', which no node, "
          "graph input or initializer produces, so the file is corrupt; re-export the policy.")
    for n in ready:
      order.append(n)
      known.update(n.outputs)
    pending = [n for n in pending if n not in ready]
  return order


# ------------------------------------------------------------------------------------------------
# Policy
# ------------------------------------------------------------------------------------------------


@struct.dataclass
class OnnxPolicy:
  """A REASAN ONNX policy as a pure, batched JAX function.

  ``OnnxPolicy`` is a pytree: ``params`` are its leaves, everything else is static, so the whole
  object can also be passed through ``jax.jit``.

  Attributes:
    params: floating-point initializers (weights), ONNX tensor name -> float32 array with the
      file's shape, e.g. ``"actor.0.weight"`` (512, 256) for ``loco_1.onnx``.
    obs_size: length of the flat observation vector (45 for ``loco_1.onnx``).
    action_size: length of the action vector (12 for ``loco_1.onnx``).
    hidden_size: LSTM width H (256), or 0 for a non-recurrent policy.
    obs_inputs: ``((name, size), ...)``: the observation graph inputs in file order; the flat
      observation is their concatenation, e.g. ``(("obs", 45),)`` or
      ``(("proprio", 12), ("ray", 180))``.
    action_name: the graph output read as action (``"actions"`` or ``"action"``).
    graph: interpreted graph structure (internal).
  """

  params: dict[str, jax.Array]
  obs_size: int = struct.field(pytree_node=False)
  action_size: int = struct.field(pytree_node=False)
  hidden_size: int = struct.field(pytree_node=False)
  obs_inputs: tuple[tuple[str, int], ...] = struct.field(pytree_node=False)
  action_name: str = struct.field(pytree_node=False)
  graph: _Graph = struct.field(pytree_node=False)

  @property
  def recurrent(self) -> bool:
    """True when the policy has LSTM state inputs ``h_in``/``c_in``."""
    return self.hidden_size > 0

  def init_carry(self, batch_size: int | Sequence[int]) -> tuple[jax.Array, jax.Array]:
    """Zero recurrent state (what REASAN uses at start-up and after a reset).

    Args:
      batch_size: B, or a batch shape tuple.

    Returns:
      ``(h, c)``, each float32 ``(*batch, hidden_size)`` zeros; ``(*batch, 0)`` for a
      non-recurrent policy.
    """
    batch = (int(batch_size),) if np.ndim(batch_size) == 0 else tuple(int(b) for b in batch_size)
    zeros = jnp.zeros(batch + (self.hidden_size,), jnp.float32)
    return zeros, zeros

  def apply(
      self,
      params: Mapping[str, jax.Array],
      obs: jax.Array | Mapping[str, jax.Array],
      carry: tuple[jax.Array, jax.Array],
  ) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
    """One policy step: the ONNX graph evaluated for every sample of a batch.

    Pure function of its arguments (``self`` contributes only static structure), safe under
    ``jax.jit``, ``jax.vmap`` and ``jax.lax.scan``.

    Args:
      params: weights, normally ``self.params`` (may be traced or replaced).
      obs: float32 ``(*batch, obs_size)``, the concatenation of ``obs_inputs`` in order; or a
        mapping ``name -> (*batch, size)`` with one entry per observation input.
      carry: ``(h, c)`` float32 ``(*batch, hidden_size)`` each (from :meth:`init_carry` or the
        previous call). Ignored and returned unchanged for a non-recurrent policy.

    Returns:
      ``(action, (h, c))``: action float32 ``(*batch, action_size)`` (the Gaussian mean, raw, in
      the policy's own units/joint order) and the next LSTM state.

    Raises:
      ValueError: ``obs`` or ``carry`` has the wrong shape or names.
    """
    pieces = self._split_obs(obs)
    batch = pieces[0].shape[:-1]
    n = int(np.prod(batch, dtype=np.int64))
    flat = [p.reshape((n, p.shape[-1])) for p in pieces]
    if self.recurrent:
      h, c = carry
      expected = batch + (self.hidden_size,)
      if tuple(np.shape(h)) != expected or tuple(np.shape(c)) != expected:
        raise ValueError(f"carry must be two arrays of shape {expected}, got "
                         f"{np.shape(h)} and {np.shape(c)}.")
      h = jnp.asarray(h, jnp.float32).reshape((n, self.hidden_size))
      c = jnp.asarray(c, jnp.float32).reshape((n, self.hidden_size))
    else:
      h = c = jnp.zeros((n, 0), jnp.float32)
    action, h2, c2 = jax.vmap(self._one, in_axes=(None, 0, 0, 0))(params, flat, h, c)
    action = action.reshape(batch + (self.action_size,))
    if not self.recurrent:
      return action, carry
    shape = batch + (self.hidden_size,)
    return action, (h2.reshape(shape), c2.reshape(shape))

  def _split_obs(self, obs) -> list[jax.Array]:
    if isinstance(obs, Mapping):
      names = [name for name, _ in self.obs_inputs]
      if sorted(obs) != sorted(names):
        raise ValueError(f"obs mapping must have exactly the keys {names}, got {sorted(obs)}.")
      pieces = [jnp.asarray(obs[name], jnp.float32) for name in names]
      for (name, size), p in zip(self.obs_inputs, pieces):
        if p.ndim < 1 or p.shape[-1] != size or p.shape[:-1] != pieces[0].shape[:-1]:
          raise ValueError(f"obs['{name}'] must have shape (*batch, {size}) with the same batch "
                           f"as the other inputs, got {p.shape}.")
      return pieces
    obs = jnp.asarray(obs, jnp.float32)
    if obs.ndim < 1 or obs.shape[-1] != self.obs_size:
      raise ValueError(f"obs must have shape (*batch, {self.obs_size}), got {obs.shape}.")
    bounds = np.cumsum([size for _, size in self.obs_inputs])[:-1].tolist()
    return jnp.split(obs, bounds, axis=-1)

  def _one(self, params, pieces, h, c):
    """One sample: flat pieces (size,) and h, c (H,) -> action (A,), h (H,), c (H,)."""
    shapes = self.graph.input_shapes
    feeds = {name: p.reshape(shapes[name]) for (name, _), p in zip(self.obs_inputs, pieces)}
    if self.recurrent:
      feeds["h_in"] = h.reshape(shapes["h_in"])
      feeds["c_in"] = c.reshape(shapes["c_in"])
    outs = self.graph.run(params, feeds)
    action = jnp.asarray(outs[self.action_name], jnp.float32).reshape((self.action_size,))
    if self.recurrent:
      h = jnp.asarray(outs["h_out"], jnp.float32).reshape((self.hidden_size,))
      c = jnp.asarray(outs["c_out"], jnp.float32).reshape((self.hidden_size,))
    return action, h, c


def load_onnx_policy(path: str | os.PathLike[str]) -> OnnxPolicy:
  """Loads a REASAN ONNX policy (e.g. ``pretrained/loco_1.onnx``) as an :class:`OnnxPolicy`.

  Expected interface (REASAN exporters, opset 11, batch 1): observation inputs named in
  :data:`OBS_INPUT_NAMES` with shape ``[1, ...]``; for recurrent policies ``h_in``/``c_in``
  ``[1, 1, H]`` and outputs ``h_out``/``c_out``; an action output named ``actions`` (or
  ``action``) of shape ``[1, A]``. Floating-point initializers are converted to float32 ``params``.
  The graph is checked end to end with ``jax.eval_shape`` (nothing is compiled).

  Args:
    path: the ``.onnx`` file.

  Returns:
    The policy.

  Raises:
    OnnxPolicyError: the file is missing or not an ONNX model; its inputs/outputs are not named or
      shaped like a REASAN policy; it uses an operator outside :data:`SUPPORTED_OPS` or an
      attribute reasan_jax does not implement; its LSTM has more than one layer/direction or
      non-default options; or a node fails the shape check.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise OnnxPolicyError(f"ONNX policy file {path} does not exist; pass the path of an exported "
                          "REASAN policy such as pretrained/loco_1.onnx.")
  try:
    model = onnx.load(path)
  except Exception as e:  # pylint: disable=broad-except
    raise OnnxPolicyError(f"{path} is not an ONNX model ({type(e).__name__}: {e}); pass a .onnx "
                          "file exported from a REASAN policy.") from e
  g = model.graph
  if not g.node or not g.output:
    raise OnnxPolicyError(f"{path} is not an ONNX model (it contains no graph nodes or outputs); "
                          "pass a .onnx file exported from a REASAN policy.")

  # --- Weights and static initializers.
  params: dict[str, jax.Array] = {}
  consts: dict[str, np.ndarray] = {}
  for init in g.initializer:
    array = numpy_helper.to_array(init)
    if np.issubdtype(array.dtype, np.floating):
      params[init.name] = jnp.asarray(array, jnp.float32)
    else:
      consts[init.name] = np.asarray(array)

  # --- Interface.
  inputs = [i for i in g.input if i.name not in params and i.name not in consts]
  names = [i.name for i in inputs]
  allowed = OBS_INPUT_NAMES + STATE_INPUT_NAMES
  unknown = [n for n in names if n not in allowed]
  obs_vis = [i for i in inputs if i.name in OBS_INPUT_NAMES]
  if unknown or not obs_vis:
    raise OnnxPolicyError(
        f"{path} has graph inputs {names} but a REASAN policy needs an observation input named "
        f"'obs' (or {'/'.join(repr(n) for n in OBS_INPUT_NAMES[1:])}) plus 'h_in'/'c_in' when "
        "recurrent; re-export the policy with those input names.")
  has_h, has_c = "h_in" in names, "c_in" in names
  if has_h != has_c:
    raise OnnxPolicyError(f"{path} has only one of the LSTM state inputs 'h_in'/'c_in'; a "
                          "recurrent REASAN policy needs both (or neither for a feed-forward "
                          "policy).")
  recurrent = has_h
  out_names = [o.name for o in g.output]
  action_names = [n for n in ACTION_OUTPUT_NAMES if n in out_names]
  missing = [n for n in STATE_OUTPUT_NAMES if recurrent and n not in out_names]
  if not action_names or missing:
    need = "'actions'" + (", 'h_out' and 'c_out'" if recurrent else "")
    raise OnnxPolicyError(f"{path} has graph outputs {out_names} but a REASAN policy needs {need}; "
                          "re-export the policy with those output names.")
  action_name = action_names[0]

  input_shapes: dict[str, tuple[int, ...]] = {}
  for vi in inputs:
    if vi.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
      raise OnnxPolicyError(f"{path}: graph input '{vi.name}' is not float32; re-export the policy "
                            "with float32 inputs.")
    dims = _dims(vi)
    if vi.name in STATE_INPUT_NAMES:
      if len(dims) != 3 or dims[0] != 1 or dims[1] not in (1, None) or not dims[2]:
        raise OnnxPolicyError(
            f"{path}: LSTM state input '{vi.name}' has shape {dims} but a single-layer "
            "unidirectional LSTM state is [1, 1, H]; re-export the policy with a one-layer forward "
            "LSTM and batch 1.")
      input_shapes[vi.name] = (1, 1, dims[2])
    else:
      if len(dims) < 2 or dims[0] not in (1, None) or any(d is None or d < 1 for d in dims[1:]):
        raise OnnxPolicyError(
            f"{path}: observation input '{vi.name}' has shape {dims} but REASAN policies take a "
            "batch of one with fixed feature sizes, e.g. [1, 45]; re-export the policy with static "
            "shapes.")
      input_shapes[vi.name] = (1,) + tuple(dims[1:])
  hidden_size = 0
  if recurrent:
    if input_shapes["h_in"] != input_shapes["c_in"]:
      raise OnnxPolicyError(f"{path}: 'h_in' and 'c_in' have different shapes; re-export the "
                            "policy with a standard LSTM whose hidden and cell states match.")
    hidden_size = input_shapes["h_in"][2]
  obs_inputs = tuple((vi.name, int(np.prod(input_shapes[vi.name]))) for vi in obs_vis)

  # --- Operators.
  # Versioned operators (Squeeze, Slice, Pad, Split, Clip, ...) are handled in both their
  # attribute form (old opsets) and their input form (new opsets), so the opset is not needed.
  nodes: list[_Node] = []
  for k, n in enumerate(g.node):
    label = n.name or f"#{k}"
    if n.domain not in _DEFAULT_DOMAINS or n.op_type not in _OPS:
      op = n.op_type if n.domain in _DEFAULT_DOMAINS else f"{n.domain}::{n.op_type}"
      raise OnnxPolicyError(
          f"{path} uses the unsupported ONNX operator '{op}' (node '{label}'); reasan_jax supports "
          f"only {', '.join(SUPPORTED_OPS)}, so re-export the policy with these operators.")
    fn, known = _OPS[n.op_type]
    attrs: dict[str, Any] = {}
    for a in n.attribute:
      bad = a.name not in known or a.name in _REFUSED_WHEN_SET.get(n.op_type, ())
      if not bad:
        try:
          attrs[a.name] = _attr_value(a)
        except TypeError:
          bad = True
      if bad:
        what = ("single-layer forward LSTMs with default activations and no clipping"
                if n.op_type == "LSTM" else f"the attributes {sorted(known)}")
        raise OnnxPolicyError(
            f"{path}: ONNX node '{label}' ({n.op_type}) sets attribute '{a.name}', which "
            f"reasan_jax does not implement (it supports {what}); re-export the policy without it.")
    nodes.append(_Node(n.op_type, label, tuple(n.input), tuple(n.output), attrs, fn))
  lstm_nodes = [n for n in nodes if n.op_type in ("LSTM", "GRU")]
  if len(lstm_nodes) > 1:
    raise OnnxPolicyError(f"{path} has {len(lstm_nodes)} LSTM/GRU nodes (a multi-layer or "
                          "multi-RNN network) but only single-layer recurrent policies are "
                          "supported; re-export the policy with one LSTM (or GRU) layer.")
  if recurrent and not lstm_nodes:
    raise OnnxPolicyError(f"{path} has LSTM state inputs 'h_in'/'c_in' but no LSTM (or GRU) node; "
                          "re-export the policy with its recurrent layer.")
  available = set(params) | set(consts) | set(input_shapes)
  nodes = _topological(nodes, available, path)
  produced = available.union(*(n.outputs for n in nodes))
  for name in out_names:
    if name not in produced:
      raise OnnxPolicyError(f"{path}: graph output '{name}' is produced by no node, so the file is "
                            "corrupt; re-export the policy.")
  graph = _Graph(tuple(nodes), consts, input_shapes, tuple(out_names))

  # --- End-to-end shape check (no compilation) and output sizes.
  feeds = {name: jax.ShapeDtypeStruct(shape, jnp.float32) for name, shape in input_shapes.items()}
  try:
    out_shapes = jax.eval_shape(graph.run, params, feeds)
  except _NodeError as e:
    raise OnnxPolicyError(f"{path}: {e}.") from e
  action_shape = tuple(out_shapes[action_name].shape)
  if len(action_shape) < 1 or action_shape[0] != 1:
    raise OnnxPolicyError(f"{path}: output '{action_name}' has shape {list(action_shape)} but a "
                          "REASAN policy outputs a batch of one, e.g. [1, 12]; re-export the "
                          "policy.")
  if recurrent:
    for name in STATE_OUTPUT_NAMES:
      if tuple(out_shapes[name].shape) != input_shapes["h_in"]:
        raise OnnxPolicyError(f"{path}: output '{name}' has shape {list(out_shapes[name].shape)} "
                              f"but must match 'h_in' {list(input_shapes['h_in'])}; re-export the "
                              "policy so that the LSTM state is fed back unchanged in shape.")
  return OnnxPolicy(
      params=params,
      obs_size=sum(size for _, size in obs_inputs),
      action_size=int(np.prod(action_shape)),
      hidden_size=int(hidden_size),
      obs_inputs=obs_inputs,
      action_name=action_name,
      graph=graph,
  )
