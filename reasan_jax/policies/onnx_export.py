"""Export our trained policies as ONNX files in REASAN's robot interfaces.

REASAN's onboard nodes (ONNX Runtime, TensorRT on the Go2's Jetson) load policies with fixed
contracts (reasan-rl-core.md §"Export", REASAN filter §9, REASAN nav §6.3): float32, batch 1,
static shapes, opset 11, the recurrent state fed back every step::

  loco:   obs [1,45], h_in [1,1,H], c_in [1,1,H]                 -> actions [1,12], h_out, c_out
  filter: proprio_obs [1,12], ray_obs [1,180], h_in, c_in        -> actions [1,3],  h_out, c_out
  nav:    proprio_obs [1,11], ray_obs [1,180], h_in, c_in        -> actions [1,3],  h_out, c_out

(REASAN's files have H = 256.) The graph computes the deterministic action (the Gaussian mean) of
an :class:`reasan_jax.ppo.networks.Actor`:

  inputs (one per observation group, named by :data:`ONNX_INPUT_NAMES`)
    -> [observation normaliser: Sub, Div]  (folded in: the nodes feed raw, scaled observations)
    -> [ray encoder per group: Reshape, circular pad as Slice+Concat, Conv, Elu, MaxPool, ...,
        Reshape, (Gemm, Elu)..., Gemm]     (REASAN's exported ray CNN layout)
    -> Concat -> Unsqueeze -> LSTM | GRU -> Squeeze -> Squeeze -> (Gemm, activation)... -> Gemm

An LSTM core (``network.rnn = "lstm"``) becomes ONNX's ``LSTM`` node exactly as REASAN's files
have it (PyTorch's gate order i, f, g, o re-ordered to ONNX's i, o, f, c; biases [W_b, R_b]). A GRU
core becomes ONNX's ``GRU`` node with ``linear_before_reset = 1``, which is PyTorch's (and our)
GRU (PyTorch's r, z, n re-ordered to ONNX's z, r, h); ``c_in`` is passed through unchanged as
``c_out`` so the file keeps the interface. A memory-less actor (``rnn_size = 0``) has no state
inputs. Weights are stored as PyTorch stores them (Gemm ``transB = 1``, Conv ``[out, in, k]``).

The file carries deployment facts in ``metadata_props`` (as mjlab's exporter does): see
:func:`deploy_metadata` and docs/deploy.md.

Why ``onnx.helper`` and not an exporter library: jax2onnx (on PyPI) converts a traced jaxpr
primitive by primitive, so the scanned recurrent cell comes out as a loop / unrolled matmuls rather
than the single ONNX ``LSTM`` node with the ``h_in``/``c_in``/``h_out``/``c_out`` names REASAN's
nodes and TensorRT use, and it targets newer opsets than REASAN's 11; onnxscript is not a
dependency of this project and would only wrap the same operators. The graph is a fixed chain of
about 15-50 nodes, built here from the network's structure, so each node is the one the contract
names.

This module is slightly over 400 lines: one graph builder per network part (normaliser, ray
encoders, recurrent node, MLP) plus the metadata; splitting it would scatter one graph's layout.
"""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import tempfile
from typing import Any, Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from reasan_jax.ppo import encoders as encoders_lib

OPSET = 11
"""ONNX opset of REASAN's policy files."""

ONNX_INPUT_NAMES = {"state": "obs", "proprio": "proprio_obs", "rays": "ray_obs"}
"""Our observation groups -> REASAN's ONNX input names (the inverse of
:data:`reasan_jax.policies.policy.REASAN_ONNX_INPUTS`)."""

_ACTIVATION_OPS = {"elu": "Elu", "relu": "Relu", "tanh": "Tanh"}


class ExportError(ValueError):
  """A policy that cannot be exported as asked (one-sentence message)."""


class _Builder:
  """Accumulates nodes and initializers with unique, readable names."""

  def __init__(self):
    self.nodes: list[onnx.NodeProto] = []
    self.inits: list[onnx.TensorProto] = []
    self._count = 0

  def const(self, name: str, value: Any, dtype=np.float32) -> str:
    self.inits.append(numpy_helper.from_array(np.ascontiguousarray(np.asarray(value, dtype)), name))
    return name

  def node(self, op: str, inputs: Sequence[str], scope: str, outputs: Sequence[str] | None = None,
           **attrs) -> list[str]:
    self._count += 1
    name = f"/{scope}/{op}_{self._count}"
    outputs = list(outputs) if outputs is not None else [f"{name}_output_0"]
    self.nodes.append(helper.make_node(op, list(inputs), outputs, name=name, **attrs))
    return outputs

  def one(self, op: str, inputs: Sequence[str], scope: str, output: str | None = None,
          **attrs) -> str:
    return self.node(op, inputs, scope, None if output is None else [output], **attrs)[0]


def _np(tree: Any) -> Any:
  if isinstance(tree, Mapping):
    return {k: _np(v) for k, v in tree.items()}
  return np.asarray(tree, np.float32)


def _activation(b: _Builder, x: str, name: str, scope: str) -> str:
  if name == "silu":
    return b.one("Mul", [x, b.one("Sigmoid", [x], scope)], scope)
  if name not in _ACTIVATION_OPS:
    raise ExportError(f"The activation {name!r} has no ONNX export; train with elu, relu, tanh or silu.")
  attrs = {"alpha": 1.0} if name == "elu" else {}
  return b.one(_ACTIVATION_OPS[name], [x], scope, **attrs)


def _dense_stack(b: _Builder, x: str, layers: Mapping[str, Any], count: int, activation: str,
                 scope: str, output: str | None = None) -> str:
  """``count`` Gemm layers ``dense_0..`` with ``activation`` between them (none after the last)."""
  for i in range(count):
    p = layers[f"dense_{i}"]
    w = b.const(f"{scope}.{i}.weight", np.asarray(p["kernel"]).T)  # PyTorch layout (out, in)
    bias = b.const(f"{scope}.{i}.bias", p["bias"])
    last = i == count - 1
    x = b.one("Gemm", [x, w, bias], f"{scope}/dense_{i}", output if last else None,
              alpha=1.0, beta=1.0, transB=1)
    if not last:
      x = _activation(b, x, activation, f"{scope}/dense_{i}")
  return x


def _ray_encoder(b: _Builder, x: str, spec: encoders_lib.RayCNNSpec, params: Mapping[str, Any],
                 scope: str) -> str:
  """REASAN's circular ray CNN (:class:`reasan_jax.ppo.encoders.RayCNN`) as ONNX nodes."""
  h = b.one("Reshape", [x, b.const(f"{scope}.shape_in", [1, spec.channels_in, spec.width], np.int64)],
            scope)
  width = spec.width
  for i, (_, k, pool) in enumerate(spec.convs):
    lo, hi = (k - 1) // 2, k - 1 - (k - 1) // 2  # flax CIRCULAR padding of a stride-1 conv
    s = f"{scope}/conv_{i}"
    axes = b.const(f"{scope}.conv_{i}.pad_axes", [2], np.int64)
    parts = []
    if lo:
      parts.append(b.one("Slice", [h, b.const(f"{scope}.conv_{i}.lo_start", [width - lo], np.int64),
                                   b.const(f"{scope}.conv_{i}.lo_end", [width], np.int64), axes], s))
    parts.append(h)
    if hi:
      parts.append(b.one("Slice", [h, b.const(f"{scope}.conv_{i}.hi_start", [0], np.int64),
                                   b.const(f"{scope}.conv_{i}.hi_end", [hi], np.int64), axes], s))
    padded = b.one("Concat", parts, s, axis=2) if len(parts) > 1 else h
    p = params[f"conv_{i}"]
    w = b.const(f"{scope}.conv_{i}.weight", np.transpose(np.asarray(p["kernel"]), (2, 1, 0)))
    bias = b.const(f"{scope}.conv_{i}.bias", p["bias"])
    h = b.one("Conv", [padded, w, bias], s, dilations=[1], group=1, kernel_shape=[k], pads=[0, 0],
              strides=[1])
    h = b.one("Elu", [h], s, alpha=1.0)
    h = b.one("MaxPool", [h], s, ceil_mode=0, kernel_shape=[pool], pads=[0, 0], strides=[pool])
    width //= pool
  flat = spec.convs[-1][0] * width
  h = b.one("Reshape", [h, b.const(f"{scope}.shape_flat", [1, flat], np.int64)], scope)
  return _dense_stack(b, h, params, len(spec.hidden) + 1, "elu", f"{scope}/mlp")


def _gates(w: np.ndarray, order: Sequence[int], n: int) -> np.ndarray:
  """Re-orders the gate blocks of the last axis (n blocks of equal width) into ``order``."""
  blocks = np.split(w, n, axis=-1)
  return np.concatenate([blocks[i] for i in order], axis=-1)


def build_model(actor, params: Mapping[str, Any], obs_spec: Sequence[tuple[str, Sequence[int]]],
                metadata: Mapping[str, str] | None = None,
                input_names: Mapping[str, str] | None = None) -> onnx.ModelProto:
  """The ONNX model of an actor's deterministic action, in REASAN's interface (module docstring).

  Args:
    actor: the :class:`reasan_jax.ppo.networks.Actor` (its ``inputs``, ``encoders``, ``rnn``,
      ``rnn_size``, ``hidden``, ``activation``, ``action_size`` give the structure).
    params: a :class:`~reasan_jax.policies.policy.Policy`'s params: ``{"actor": flax params}``
      plus, when observations were normalised, ``"obs_mean"`` / ``"obs_std"`` per group.
    obs_spec: ``((group, per-env shape), ...)`` of at least the actor's groups.
    metadata: string key/values for ``metadata_props`` (e.g. :func:`deploy_metadata`).
    input_names: overrides of :data:`ONNX_INPUT_NAMES` (group -> input name).

  Returns:
    A checked ``onnx.ModelProto`` (opset 11, IR 6 like REASAN's files).

  Raises:
    ExportError: a group with no ONNX input name, an unknown encoder or activation, or parameters
      that do not match the actor's structure.
  """
  try:
    return _build(actor, params, obs_spec, metadata, input_names)
  except (KeyError, ValueError) as e:
    if isinstance(e, ExportError):
      raise
    raise ExportError(f"The policy's parameters do not fit its network ({type(e).__name__}: {e}); "
                      "export the checkpoint with the network config it was trained with.") from e


def _build(actor, params, obs_spec, metadata, input_names) -> onnx.ModelProto:
  names = {**ONNX_INPUT_NAMES, **dict(input_names or {})}
  shapes = {g: tuple(int(d) for d in s) for g, s in obs_spec}
  p = _np(params)
  ap = p.get("actor", {})
  b = _Builder()
  inputs, features = [], []
  encoders = dict(actor.encoders)
  for group in actor.inputs:
    if group not in names:
      raise ExportError(f"The observation group {group!r} has no REASAN ONNX input name; pass "
                        f"input_names={{{group!r}: 'name'}} (known: {sorted(names)}).")
    size = int(np.prod(shapes[group]))
    inputs.append(helper.make_tensor_value_info(names[group], TensorProto.FLOAT, [1, size]))
    x = names[group]
    if "obs_mean" in p:
      scope = f"normalize/{group}"
      mean = b.const(f"obs_mean.{group}", np.reshape(p["obs_mean"][group], (1, size)))
      std = b.const(f"obs_std.{group}", np.reshape(p["obs_std"][group], (1, size)))
      x = b.one("Div", [b.one("Sub", [x, mean], scope), std], scope)
    if group in encoders:
      if encoders[group] not in encoders_lib.ENCODERS:
        raise ExportError(f"The encoder {encoders[group]!r} of group {group!r} has no ONNX export.")
      x = _ray_encoder(b, x, encoders_lib.ENCODERS[encoders[group]],
                       ap["features"][f"encoder_{group}"], f"encoder_{group}")
    features.append(x)
  x = features[0] if len(features) == 1 else b.one("Concat", features, "features", axis=-1)

  outputs = []
  hidden = int(actor.rnn_size)
  rnn = str(getattr(actor, "rnn", "gru"))
  if hidden:
    core = ap["core"][rnn]
    state = [1, 1, hidden]
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, state) for n in ("h_in", "c_in")]
    seq = b.one("Unsqueeze", [x], "rnn", axes=[0])  # [seq 1, batch 1, D]
    if rnn == "lstm":  # ours (PyTorch): i, f, g, o -> ONNX: i, o, f, c
      order = (0, 3, 1, 2)
      w = b.const("rnn.W", _gates(core["input_kernel"], order, 4).T[None])
      r = b.const("rnn.R", _gates(core["hidden_kernel"], order, 4).T[None])
      bias = b.const("rnn.B", np.concatenate([_gates(core["input_bias"], order, 4),
                                              _gates(core["hidden_bias"], order, 4)])[None])
      y = b.node("LSTM", [seq, w, r, bias, "", "h_in", "c_in"], "rnn",
                 [f"/rnn/LSTM_output_0", "h_out", "c_out"], hidden_size=hidden)[0]
    else:  # ours (PyTorch): r, z, n -> ONNX: z, r, h
      order = (1, 0, 2)
      w = b.const("rnn.W", _gates(core["input_kernel"], order, 3).T[None])
      r = b.const("rnn.R", _gates(core["hidden_kernel"], order, 3).T[None])
      bias = b.const("rnn.B", np.concatenate([_gates(core["input_bias"], order, 3),
                                              _gates(core["hidden_bias"], order, 3)])[None])
      y = b.node("GRU", [seq, w, r, bias, "", "h_in"], "rnn", ["/rnn/GRU_output_0", "h_out"],
                 hidden_size=hidden, linear_before_reset=1)[0]
      b.one("Identity", ["c_in"], "rnn", "c_out")  # the interface's cell state, unchanged
    x = b.one("Squeeze", [b.one("Squeeze", [y], "rnn", axes=[1])], "rnn", axes=[0])
  mlp = ap["mlp"]
  x = _dense_stack(b, x, mlp, len(tuple(actor.hidden)) + 1, actor.activation, "actor", "actions")
  outputs.append(helper.make_tensor_value_info("actions", TensorProto.FLOAT,
                                               [1, int(actor.action_size)]))
  if hidden:
    outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1, hidden])
                for n in ("h_out", "c_out")]

  graph = helper.make_graph(b.nodes, "reasan_jax_policy", inputs, outputs, b.inits)
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                            producer_name="reasan_jax", ir_version=6)
  helper.set_model_props(model, dict(metadata or {}))
  try:
    onnx.checker.check_model(model, full_check=True)
  except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
    raise ExportError(f"The exported graph is not valid ONNX ({e}); this is a bug, please report "
                      "it with the run's network config.") from e
  return model


def save_model(model: onnx.ModelProto, path: str | os.PathLike, overwrite: bool = False) -> pathlib.Path:
  """Writes ``model`` to ``path`` atomically (a temporary file in the same folder, then
  ``os.replace``), creating the folder; nothing partial is ever left at ``path``.

  Raises:
    ExportError: ``path`` exists and ``overwrite`` is false, or it cannot be written.
  """
  path = pathlib.Path(path).expanduser()
  if path.suffix != ".onnx":
    raise ExportError(f"The output {path} must end in .onnx; pass --out FILE.onnx.")
  if path.exists() and not overwrite:
    raise ExportError(f"{path} already exists and is not overwritten; pass another --out or --force.")
  data = model.SerializeToString()
  tmp = None
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
    tmp = None
  except OSError as e:
    raise ExportError(f"Cannot write {path} ({e.strerror or e}); pass an --out in a writable "
                      "folder.") from e
  finally:
    if tmp is not None and os.path.exists(tmp):
      os.unlink(tmp)
  return path


# ------------------------------------------------------------------------------------------------
# Metadata and export of checkpoints.


def _floats(values) -> str:
  return ",".join(f"{float(v):.6g}" for v in np.asarray(values).reshape(-1))


def _get(cfg: Any, *keys, default=None):
  for k in keys:
    if cfg is None:
      return default
    cfg = cfg.get(k, None) if hasattr(cfg, "get") else None
  return default if cfg is None else cfg


def _loco_metadata(env: Any) -> dict[str, str]:
  """Deployment facts of the loco task (reasan-loco.md "Actor observation", "Actions";
  reasan-rl-core.md §13) from its env config and :mod:`reasan_jax.robots.go2`."""
  from reasan_jax.robots import go2  # pylint: disable=import-outside-toplevel

  hips = np.array([n.endswith("_hip_joint") for n in go2.JOINT_NAMES_REASAN])
  scale = float(_get(env, "action", "scale", default=0.25))
  hip_scale = float(_get(env, "action", "hip_scale", default=0.5))
  kp = float(_get(env, "motor", "kp", default=go2.KP))
  kd = float(_get(env, "motor", "kd", default=go2.KD))
  o = lambda k, d: float(_get(env, "obs", k, default=d))  # noqa: E731
  layout = (("base_ang_vel", 3, o("ang_vel_scale", 0.25)), ("projected_gravity", 3, 1.0),
            ("command_vxy", 2, o("cmd_lin_scale", 2.0)), ("command_wz", 1, o("cmd_ang_scale", 0.25)),
            ("joint_pos_minus_default", 12, 1.0), ("joint_vel", 12, o("joint_vel_scale", 0.05)),
            ("last_action", 12, 1.0))
  return {
      "joint_names": ",".join(go2.JOINT_NAMES_REASAN),
      "default_joint_pos": _floats(go2.DEFAULT_POSE_REASAN),
      "action_scale": _floats(np.where(hips, scale * hip_scale, scale)),
      "action_blend": f"{float(_get(env, 'action', 'blend', default=0.8)):.6g}",
      "action_formula": ("q_target = default_joint_pos + action_scale * (action_blend * a_t + "
                         "(1 - action_blend) * a_{t-1}), REASAN joint order"),
      "joint_stiffness": _floats(np.full(12, kp)),
      "joint_damping": _floats(np.full(12, kd)),
      "torque_limit": f"{float(_get(env, 'motor', 'torque_limit', default=go2.TORQUE_LIMIT)):.6g}",
      "observation_layout": ",".join(f"{n}:{s}" for n, s, _ in layout),
      "observation_scales": _floats([sc for _, _, sc in layout]),
  }


_TASK_METADATA = {"loco": _loco_metadata}
"""Task -> function of its env config giving the task's deployment metadata keys."""


def _version() -> str:
  try:
    return importlib.metadata.version("reasan_jax")
  except importlib.metadata.PackageNotFoundError:
    return "unknown"


def deploy_metadata(actor, obs_spec, *, task: str = "", env_config: Any = None, run: str = "",
                    iteration: int | None = None, normalized: bool = False,
                    input_names: Mapping[str, str] | None = None) -> dict[str, str]:
  """``metadata_props`` of an exported policy (all values strings; lists comma-separated).

  Every file: ``exporter``, ``task``, ``run``, ``iteration``, ``policy_rate_hz`` (1 / (sim_dt x
  decimation)), ``inputs`` (``name:size`` per observation input, with the group it comes from),
  ``recurrent_core`` (lstm / gru / none), ``rnn_size``, ``observation_normalizer`` (folded / none).
  loco adds ``joint_names`` (REASAN order), ``default_joint_pos`` (rad), ``action_scale`` (rad per
  unit), ``action_blend``, ``action_formula``, ``joint_stiffness`` (N m/rad), ``joint_damping``
  (N m s/rad), ``torque_limit`` (N m), ``observation_layout`` (``term:size``) and
  ``observation_scales`` (per term, applied by the node before the graph).
  """
  names = {**ONNX_INPUT_NAMES, **dict(input_names or {})}
  shapes = dict(obs_spec)
  sim_dt, decimation = _get(env_config, "sim_dt"), _get(env_config, "decimation")
  meta = {
      "exporter": f"reasan_jax {_version()}",
      "task": task,
      "run": run,
      "iteration": "" if iteration is None else str(int(iteration)),
      "policy_rate_hz": "" if sim_dt is None or decimation is None else
                        f"{1.0 / (float(sim_dt) * int(decimation)):.6g}",
      "inputs": ",".join(f"{names.get(g, g)}:{int(np.prod(shapes[g]))}:{g}" for g in actor.inputs),
      "recurrent_core": str(getattr(actor, "rnn", "gru")) if int(actor.rnn_size) else "none",
      "rnn_size": str(int(actor.rnn_size)),
      "observation_normalizer": "folded" if normalized else "none",
  }
  if task in _TASK_METADATA:
    meta.update(_TASK_METADATA[task](env_config))
  return meta


def export_checkpoint(out: str | os.PathLike | None = None, *, run: str | None = None,
                      checkpoint: str | os.PathLike | None = None,
                      runs_dir: str | os.PathLike = "runs", overwrite: bool = False) -> pathlib.Path:
  """Exports the policy of a run's newest checkpoint (or of one checkpoint) as an ONNX file.

  Only the checkpoint's small ``policy`` item is read (:func:`reasan_jax.policies.load.load_policy`
  machinery); no env or trainer is built.

  Args:
    out: the ``.onnx`` file; default ``<run>/exported/policy_<iteration>.onnx``.
    run, checkpoint, runs_dir: which checkpoint (:func:`reasan_jax.policies.load.find_checkpoint`).
    overwrite: replace an existing ``out``.

  Returns:
    The path written.

  Raises:
    ExportError: no such run or checkpoint, a checkpoint without a policy item, a network this
      exporter cannot express, or an ``out`` that exists or cannot be written (nothing is left
      behind).
  """
  from reasan_jax.io import checkpoints as ckpt_lib  # pylint: disable=import-outside-toplevel
  from reasan_jax.io import config_loader  # pylint: disable=import-outside-toplevel
  from reasan_jax.policies import load  # pylint: disable=import-outside-toplevel
  from reasan_jax.ppo import networks  # pylint: disable=import-outside-toplevel

  try:
    step_dir = load.find_checkpoint(run, checkpoint, runs_dir)
    policy = load.load_checkpoint_policy(step_dir)
    spec, _ = ckpt_lib.read_policy_item(step_dir)
    obs_shapes = {name: tuple(shape) for name, shape in spec["obs_spec"]}
    actor = networks.make_actor(config_loader.config_from_dict(spec["network"]), obs_shapes,
                                int(spec["action_size"]))
  except (ValueError, ckpt_lib.CheckpointError) as e:  # PolicyError is a ValueError
    raise ExportError(str(e)) from e
  run_dir = step_dir.parent.parent
  iteration = int(step_dir.name)
  env = spec.get("env") or None
  meta = deploy_metadata(actor, policy.obs_spec, task=policy.task, env_config=env,
                         run=run_dir.name, iteration=iteration,
                         normalized="obs_mean" in policy.params)
  model = build_model(actor, policy.params, policy.obs_spec, meta)
  if out is None:
    out = run_dir / "exported" / f"policy_{iteration}.onnx"
  return save_model(model, out, overwrite=overwrite)
