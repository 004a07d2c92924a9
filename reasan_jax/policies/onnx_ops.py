"""The ONNX operators REASAN's policies use, evaluated with ``jax.numpy`` / ``jax.lax``.

One small function per operator, all of one shape ``op(node, args) -> list of outputs``, collected in
the table :data:`_OPS` that :mod:`reasan_jax.policies.onnx_import` interprets graphs with. This file
is longer than our ~400-line guideline on purpose: it *is* that table, and splitting it would
scatter operators a reader looks up side by side (the ONNX operator specification,
https://onnx.ai/onnx/operators/, orders them the same flat way).

Values are *static* (``numpy``: constants and what is computed only from them) or *traced* (``jax``);
shape-like operands (Reshape shapes, Slice bounds, Squeeze axes, Pad widths, ...) must be static.
The LSTM follows the ONNX gate order i, o, f, c (``W`` [1, 4H, I], ``R`` [1, 4H, H], ``B`` [1, 8H]).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import onnx

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


def _one_output(node: Any, what: str) -> None:
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


_OpFn = Callable[[Any, list], list]  # (node, args) -> outputs

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
}
SUPPORTED_OPS: tuple[str, ...] = tuple(sorted(_OPS))
"""ONNX operators (default domain) that :func:`load_onnx_policy` can translate."""

# Attributes that are accepted by name but refused when set (checked at load time).
_REFUSED_WHEN_SET = {"LSTM": ("activation_alpha", "activation_beta", "clip")}
