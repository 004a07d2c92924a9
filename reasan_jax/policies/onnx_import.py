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
``B`` [1, 8H] = input biases then recurrent biases, both added), not PyTorch's i, f, g, o.
GRU nodes (gate order z, r, h; what reasan_jax exports for its GRU policies, with ``c_in`` passed
through as ``c_out``) are read too.

This module is slightly over 400 lines: the graph interpreter and the policy wrapper with its
interface checks belong together; the operator table is in :mod:`.onnx_ops`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from flax import struct
from onnx import numpy_helper

from reasan_jax.policies.onnx_ops import (  # noqa: F401  (OnnxPolicyError, SUPPORTED_OPS are public here too)
    OnnxPolicyError, SUPPORTED_OPS, _NodeError, _OPS, _OpFn, _REFUSED_WHEN_SET)

OBS_INPUT_NAMES = ("obs", "proprio", "ray", "rays", "proprio_obs", "ray_obs")
"""Graph-input names accepted as observations (loco: ``obs``; filter: ``proprio``/``ray``; nav:
``proprio_obs``/``ray_obs``)."""
ACTION_OUTPUT_NAMES = ("actions", "action")
"""Graph-output names accepted as the action (mean) output."""
STATE_INPUT_NAMES = ("h_in", "c_in")
STATE_OUTPUT_NAMES = ("h_out", "c_out")

_DEFAULT_DOMAINS = ("", "ai.onnx")


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
