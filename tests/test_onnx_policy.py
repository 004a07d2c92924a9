"""Tests of reasan_jax.policies.onnx_import against onnxruntime.

* REASAN's released ``loco_1.onnx`` (skipped when ``../shared/reference`` is absent): single steps,
  batches, a 20-step recurrent rollout under ``jax.lax.scan``, ``jax.jit`` with replaced params.
* Small graphs built here with ``onnx.helper``: a REASAN-filter-like ray CNN (Slice, circular pad as
  PyTorch's opset-11 export writes it, Conv, Elu, MaxPool, Flatten, Concat, Gemm), a nav-like
  multi-input recurrent policy (Shape/Gather/Reshape chains, Pad, LSTM with peepholes, Split), and
  one graph per operator variant.
* Error cases: each raises :class:`OnnxPolicyError` naming the problem.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from reasan_jax.policies.onnx_import import OnnxPolicyError, SUPPORTED_OPS, load_onnx_policy

ort = pytest.importorskip("onnxruntime")

LOCO_PATH = Path(__file__).resolve().parents[1].parent / "shared/reference/pretrained/loco_1.onnx"
TOL = 1e-5


def _session(model_or_path) -> "ort.InferenceSession":
  if isinstance(model_or_path, (str, Path)):
    src = str(model_or_path)
  else:
    src = model_or_path.SerializeToString()
  return ort.InferenceSession(src, providers=["CPUExecutionProvider"])


def _model(nodes, inputs, outputs, initializers=(), opset=17) -> onnx.ModelProto:
  """Builds and checks a model; ``inputs``/``outputs`` are (name, shape) pairs of float32."""
  graph = helper.make_graph(
      nodes, "test",
      [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
      [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs],
      initializer=list(initializers))
  model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
  model.ir_version = 8
  onnx.checker.check_model(model)
  return model


def _save(model: onnx.ModelProto, tmp_path: Path, name: str = "policy.onnx") -> Path:
  path = tmp_path / name
  onnx.save(model, str(path))
  return path


def _f32(rng, *shape, scale=1.0):
  return (scale * rng.normal(size=shape)).astype(np.float32)


def _init(name, array):
  return numpy_helper.from_array(np.asarray(array), name)


def _max_diff(a, b) -> float:
  return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


# ------------------------------------------------------------------------------------------------
# REASAN loco_1.onnx
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loco():
  if not LOCO_PATH.is_file():
    pytest.skip(f"REASAN reference policy not found at {LOCO_PATH} (the ../shared/reference folder "
                "is only available on the project's CI/dev machines)")
  return load_onnx_policy(LOCO_PATH), _session(LOCO_PATH)


@pytest.fixture(scope="module")
def loco_apply_jit(loco):
  policy, _ = loco
  return jax.jit(policy.apply)


def _ort_loco(sess, obs, h, c):
  a, h2, c2 = sess.run(None, {"obs": obs[None], "h_in": h[None, None], "c_in": c[None, None]})
  return a[0], h2[0, 0], c2[0, 0]


def test_loco_metadata(loco):
  policy, _ = loco
  assert (policy.obs_size, policy.action_size, policy.hidden_size) == (45, 12, 256)
  assert policy.obs_inputs == (("obs", 45),)
  assert policy.params["actor.0.weight"].shape == (512, 256)
  assert all(v.dtype == jnp.float32 for v in policy.params.values())
  h, c = policy.init_carry(3)
  assert h.shape == c.shape == (3, 256) and not np.any(h) and not np.any(c)
  # Same policy from str and Path.
  assert load_onnx_policy(str(LOCO_PATH)).obs_size == 45


def test_loco_batch_matches_onnxruntime_under_jit(loco, loco_apply_jit):
  policy, sess = loco
  rng = np.random.default_rng(0)
  batch = 8
  obs = _f32(rng, batch, 45, scale=0.7)
  h = np.tanh(_f32(rng, batch, 256)).astype(np.float32)
  c = _f32(rng, batch, 256)
  h[0] = c[0] = 0.0  # one env straight after a reset
  action, (h2, c2) = loco_apply_jit(policy.params, obs, (h, c))
  assert action.shape == (batch, 12) and h2.shape == c2.shape == (batch, 256)
  assert action.dtype == jnp.float32
  for i in range(batch):
    ra, rh, rc = _ort_loco(sess, obs[i], h[i], c[i])
    assert _max_diff(action[i], ra) <= TOL
    assert _max_diff(h2[i], rh) <= TOL
    assert _max_diff(c2[i], rc) <= TOL
  # The outputs genuinely depend on the state (guards against ignoring h_in/c_in).
  a0, _ = loco_apply_jit(policy.params, obs, policy.init_carry(batch))
  assert _max_diff(a0[1:], action[1:]) > 1e-3
  np.testing.assert_allclose(a0[0], action[0], atol=1e-6)


def test_loco_recurrent_rollout_in_scan(loco):
  policy, sess = loco
  rng = np.random.default_rng(1)
  steps, batch = 20, 3
  obs_seq = _f32(rng, steps, batch, 45, scale=0.7)

  @jax.jit
  def rollout(params, obs_seq, carry):
    def body(carry, obs):
      action, carry = policy.apply(params, obs, carry)
      return carry, (action, *carry)
    return jax.lax.scan(body, carry, obs_seq)

  _, (actions, hs, cs) = rollout(policy.params, obs_seq, policy.init_carry(batch))
  assert actions.shape == (steps, batch, 12)
  for b in range(batch):
    h = c = np.zeros(256, np.float32)
    for t in range(steps):
      ra, h, c = _ort_loco(sess, obs_seq[t, b], h, c)
      assert _max_diff(actions[t, b], ra) <= TOL, (t, b)
      assert _max_diff(hs[t, b], h) <= TOL, (t, b)
      assert _max_diff(cs[t, b], c) <= TOL, (t, b)


def test_loco_params_are_traced_arguments(loco, loco_apply_jit):
  policy, _ = loco
  params = dict(policy.params)
  params["actor.6.weight"] = jnp.zeros_like(params["actor.6.weight"])
  params["actor.6.bias"] = jnp.arange(12, dtype=jnp.float32)
  obs = np.ones((8, 45), np.float32)
  action, _ = loco_apply_jit(params, obs, policy.init_carry(8))
  np.testing.assert_array_equal(action, np.broadcast_to(np.arange(12, dtype=np.float32), (8, 12)))


def test_loco_batch_shapes_and_pytree(loco):
  policy, sess = loco
  rng = np.random.default_rng(2)
  obs = _f32(rng, 2, 3, 45, scale=0.5)
  carry = policy.init_carry((2, 3))
  # The policy object itself is a pytree (params are leaves).
  action, (h, c) = jax.jit(lambda pol, o, k: pol.apply(pol.params, o, k))(policy, obs, carry)
  assert action.shape == (2, 3, 12) and h.shape == (2, 3, 256)
  ra, rh, _ = _ort_loco(sess, obs[1, 2], np.zeros(256, np.float32), np.zeros(256, np.float32))
  assert _max_diff(action[1, 2], ra) <= TOL and _max_diff(h[1, 2], rh) <= TOL
  # Unbatched single sample.
  a1, (h1, _) = jax.jit(policy.apply)(policy.params, obs[1, 2], policy.init_carry(()))
  assert a1.shape == (12,) and h1.shape == (256,)
  assert _max_diff(a1, ra) <= TOL
  with pytest.raises(ValueError, match=r"\(\*batch, 45\)"):
    policy.apply(policy.params, obs[..., :44], carry)
  with pytest.raises(ValueError, match="carry"):
    policy.apply(policy.params, obs, policy.init_carry(6))


# ------------------------------------------------------------------------------------------------
# Self-built REASAN-like ray CNN policy (feed-forward, opset 11)
# ------------------------------------------------------------------------------------------------


def _ray_cnn_model(rng) -> onnx.ModelProto:
  """obs [1, 12 + 180] -> proprio | rays -> circular-pad Conv1d/Elu/MaxPool x2 -> Gemm.

  Output ``actions`` [1, 3]; feed-forward (no LSTM state).
  """
  big = np.iinfo(np.int64).max
  i64 = lambda v: np.asarray(v, np.int64)
  inits = [
      _init("s_p", i64([0])), _init("e_p", i64([12])), _init("ax1", i64([1])),
      _init("s_r", i64([12])), _init("e_r", i64([192])),
      _init("ray_shape", i64([1, 1, 180])), _init("ax2", i64([2])),
      _init("s_tail", i64([-2])), _init("e_tail", i64([big])),
      _init("s_head", i64([0])), _init("e_head", i64([2])),
      _init("conv1.w", _f32(rng, 4, 1, 5, scale=0.5)), _init("conv1.b", _f32(rng, 4, scale=0.1)),
      _init("conv2.w", _f32(rng, 8, 4, 3, scale=0.4)), _init("conv2.b", _f32(rng, 8, scale=0.1)),
      _init("fc1.w", _f32(rng, 16, 240, scale=0.1)), _init("fc1.b", _f32(rng, 16, scale=0.1)),
      _init("fc2.w", _f32(rng, 3, 28, scale=0.3)), _init("fc2.b", _f32(rng, 3, scale=0.1)),
  ]
  n = helper.make_node
  nodes = [
      n("Slice", ["obs", "s_p", "e_p", "ax1"], ["proprio"], name="slice_proprio"),
      n("Slice", ["obs", "s_r", "e_r", "ax1"], ["rays"], name="slice_rays"),
      n("Reshape", ["rays", "ray_shape"], ["rays3"], name="view"),
      # Circular padding by 2 as torch's opset-11 exporter writes it: Slice tail/head + Concat.
      n("Slice", ["rays3", "s_tail", "e_tail", "ax2"], ["tail"], name="pad_tail"),
      n("Slice", ["rays3", "s_head", "e_head", "ax2"], ["head"], name="pad_head"),
      n("Concat", ["tail", "rays3", "head"], ["padded"], axis=2, name="pad_cat"),
      n("Conv", ["padded", "conv1.w", "conv1.b"], ["c1"], kernel_shape=[5], name="conv1"),
      n("Elu", ["c1"], ["e1"], alpha=1.0, name="elu1"),
      n("MaxPool", ["e1"], ["p1"], kernel_shape=[2], strides=[2], name="pool1"),
      n("Conv", ["p1", "conv2.w", "conv2.b"], ["c2"], kernel_shape=[3], pads=[1, 1], name="conv2"),
      n("Relu", ["c2"], ["r2"], name="relu2"),
      n("MaxPool", ["r2"], ["p2"], kernel_shape=[3], strides=[3], name="pool2"),
      n("Flatten", ["p2"], ["flat"], axis=1, name="flatten"),
      n("Gemm", ["flat", "fc1.w", "fc1.b"], ["f1"], transB=1, name="fc1"),
      n("Elu", ["f1"], ["latent"], name="elu3"),
      n("Concat", ["proprio", "latent"], ["feat"], axis=1, name="cat"),
      n("Gemm", ["feat", "fc2.w", "fc2.b"], ["actions"], transB=1, alpha=1.5, beta=0.5,
        name="fc2"),
  ]
  return _model(nodes, [("obs", [1, 192])], [("actions", [1, 3])], inits, opset=11)


def test_ray_cnn_matches_onnxruntime(tmp_path):
  rng = np.random.default_rng(3)
  model = _ray_cnn_model(rng)
  policy = load_onnx_policy(_save(model, tmp_path))
  sess = _session(model)
  assert (policy.obs_size, policy.action_size, policy.hidden_size) == (192, 3, 0)
  assert "ray_shape" not in policy.params and "conv1.w" in policy.params
  obs = np.concatenate([_f32(rng, 5, 12), rng.uniform(0, 1, (5, 180)).astype(np.float32)], 1)
  carry = policy.init_carry(5)
  assert carry[0].shape == (5, 0)
  action, carry2 = jax.jit(policy.apply)(policy.params, obs, carry)
  assert carry2[0].shape == (5, 0)
  for i in range(5):
    (ref,) = sess.run(None, {"obs": obs[i:i + 1]})
    assert _max_diff(action[i], ref[0]) <= TOL
  # Different samples give different actions (guards against a constant or batch-mixed output).
  assert _max_diff(action[0], action[1]) > 1e-3


# ------------------------------------------------------------------------------------------------
# Self-built nav-like recurrent policy with two observation inputs (opset 17)
# ------------------------------------------------------------------------------------------------


def _nav_like_model(rng, hidden=16) -> onnx.ModelProto:
  i64 = lambda v: np.asarray(v, np.int64)
  n = helper.make_node
  feat = 11 + 8
  inits = [
      _init("ax1", i64([1])), _init("ax0", i64([0])), _init("pads", i64([0, 0, 2, 0, 0, 1])),
      _init("minus1", i64([-1])), _init("zero", i64(0)),
      _init("conv.w", _f32(rng, 4, 1, 3, scale=0.5)),
      _init("enc.w", _f32(rng, 180, 8, scale=0.05)), _init("enc.b", _f32(rng, 8, scale=0.1)),
      _init("W", _f32(rng, 1, 4 * hidden, feat, scale=0.3)),
      _init("R", _f32(rng, 1, 4 * hidden, hidden, scale=0.3)),
      _init("B", _f32(rng, 1, 8 * hidden, scale=0.2)),
      _init("P", _f32(rng, 1, 3 * hidden, scale=0.3)),
      _init("head.w", _f32(rng, hidden, 6, scale=0.4)),
      _init("half", np.asarray(0.5, np.float32)),
  ]
  nodes = [
      n("Unsqueeze", ["ray_obs", "ax1"], ["r3"]),                         # [1, 1, 180]
      n("Pad", ["r3", "pads"], ["rp"], mode="reflect"),                 # [1, 1, 183]
      n("Conv", ["rp", "conv.w"], ["rc"], strides=[2], dilations=[2]),  # [1, 4, 90]
      n("LeakyRelu", ["rc"], ["rl"], alpha=0.1),
      n("Shape", ["rl"], ["shp"]),
      n("Gather", ["shp", "zero"], ["b0"], axis=0),
      n("Unsqueeze", ["b0", "ax0"], ["b1"]),
      n("Concat", ["b1", "minus1"], ["newshape"], axis=0),
      n("Reshape", ["rl", "newshape"], ["flat"]),                       # [1, 360]
      n("Transpose", ["flat"], ["flat_t"], perm=[1, 0]),                # [360, 1]
      n("Split", ["flat_t"], ["even_half", "odd_half"], axis=0),        # 2 x [180, 1]
      n("Sub", ["even_half", "odd_half"], ["diff_t"]),
      n("Transpose", ["diff_t"], ["diff"]),                             # [1, 180]
      n("MatMul", ["diff", "enc.w"], ["enc0"]),
      n("Add", ["enc0", "enc.b"], ["enc1"]),
      n("Tanh", ["enc1"], ["latent"]),
      n("Concat", ["proprio_obs", "latent"], ["x"], axis=1),            # [1, 19]
      n("Unsqueeze", ["x", "ax0"], ["x3"]),                             # [1, 1, 19]
      n("LSTM", ["x3", "W", "R", "B", "", "h_in", "c_in", "P"], ["y", "h_out", "c_out"],
        hidden_size=hidden),
      n("Squeeze", ["y", "ax0"], ["y1"]),
      n("Squeeze", ["y1", "ax0"], ["y2"]),                              # [1, H]
      n("MatMul", ["y2", "head.w"], ["head"]),                          # [1, 6]
      n("Split", ["head"], ["mean", "gate"], axis=1),
      n("Sigmoid", ["gate"], ["g"]),
      n("Softplus", ["mean"], ["sp"]),
      n("Mul", ["sp", "g"], ["m"]),
      n("Div", ["m", "half"], ["actions"]),
  ]
  state = [1, 1, hidden]
  return _model(nodes, [("proprio_obs", [1, 11]), ("ray_obs", [1, 180]), ("h_in", state),
                        ("c_in", state)],
                [("actions", [1, 3]), ("h_out", state), ("c_out", state)], inits, opset=17)


def test_nav_like_recurrent_multi_input_matches_onnxruntime(tmp_path):
  rng = np.random.default_rng(4)
  model = _nav_like_model(rng)
  policy = load_onnx_policy(_save(model, tmp_path))
  sess = _session(model)
  assert policy.obs_inputs == (("proprio_obs", 11), ("ray_obs", 180))
  assert (policy.obs_size, policy.action_size, policy.hidden_size) == (191, 3, 16)
  steps, batch = 6, 3
  proprio = _f32(rng, steps, batch, 11)
  rays = rng.uniform(0, 1, (steps, batch, 180)).astype(np.float32)

  @jax.jit
  def rollout(params, proprio, rays, carry):
    def body(carry, x):
      action, carry = policy.apply(params, {"proprio_obs": x[0], "ray_obs": x[1]}, carry)
      return carry, (action, *carry)
    return jax.lax.scan(body, carry, (proprio, rays))

  _, (actions, hs, cs) = rollout(policy.params, proprio, rays, policy.init_carry(batch))
  flat_action, _ = jax.jit(policy.apply)(
      policy.params, np.concatenate([proprio[0], rays[0]], -1), policy.init_carry(batch))
  np.testing.assert_allclose(flat_action, actions[0], atol=1e-6)
  for b in range(batch):
    h = c = np.zeros((1, 1, 16), np.float32)
    for t in range(steps):
      ra, h, c = sess.run(None, {"proprio_obs": proprio[t, b:b + 1], "ray_obs": rays[t, b:b + 1],
                                 "h_in": h, "c_in": c})
      assert _max_diff(actions[t, b], ra[0]) <= TOL
      assert _max_diff(hs[t, b], h[0, 0]) <= TOL
      assert _max_diff(cs[t, b], c[0, 0]) <= TOL


# ------------------------------------------------------------------------------------------------
# Operator variants, one small graph each: obs -> Reshape(in_shape) -> op -> Flatten -> actions
# ------------------------------------------------------------------------------------------------


def _op_case(in_shape, op, attrs=None, weights=(), consts=(), out_shape=None, opset=17):
  return dict(in_shape=in_shape, op=op, attrs=attrs or {}, weights=weights, consts=consts,
              out_shape=out_shape, opset=opset)


def _op_cases():
  r = np.random.default_rng(5)
  i64 = lambda v: np.asarray(v, np.int64)
  return {
      "maxpool_ceil_pads_dil": _op_case(
          [1, 2, 11], "MaxPool", dict(kernel_shape=[3], strides=[2], pads=[1, 1], ceil_mode=1,
                                      dilations=[2])),
      "maxpool_same_upper_2d": _op_case(
          [1, 2, 5, 7], "MaxPool",
          dict(kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_UPPER")),
      "avgpool_include_pad_ceil": _op_case(
          [1, 3, 10], "AveragePool", dict(kernel_shape=[3], strides=[2], pads=[1, 1], ceil_mode=1,
                                          count_include_pad=1)),
      "avgpool_exclude_pad": _op_case(
          [1, 3, 9], "AveragePool", dict(kernel_shape=[4], strides=[3], pads=[2, 1])),
      "conv_group_stride_same_lower": _op_case(
          [1, 4, 13], "Conv", dict(group=2, strides=[2], auto_pad="SAME_LOWER"),
          weights=[_f32(r, 6, 2, 4), _f32(r, 6)]),
      "conv2d_pads_dilation": _op_case(
          [1, 2, 6, 7], "Conv", dict(pads=[1, 0, 2, 1], dilations=[2, 1]),
          weights=[_f32(r, 3, 2, 3, 3)]),
      "pad_edge_negative": _op_case([1, 2, 6], "Pad", dict(mode="edge"),
                                    consts=[i64([0, 1, 3, 0, -1, 2])]),
      "pad_constant_value": _op_case([1, 3, 4], "Pad", {},
                                     consts=[i64([0, 0, 1, 0, 0, 2])],
                                     weights=[np.asarray(0.25, np.float32)]),
      "pad_wrap_axes": _op_case([1, 2, 5], "Pad", dict(mode="wrap"),
                                consts=[i64([2, 3]), None, i64([-1])], opset=19),
      "slice_negative_step": _op_case([1, 4, 9], "Slice", {},
                                      consts=[i64([-2, 3]), i64([-100, 0]), i64([2, 1]),
                                              i64([-2, -1])]),
      "gather_negative": _op_case([1, 5, 3], "Gather", dict(axis=1),
                                  consts=[i64([[-1, 0], [2, -3]])]),
      "split_uneven": _op_case([1, 7, 2], "Split", dict(axis=1, num_outputs=2), opset=18),
      "clip": _op_case([1, 10], "Clip", {}, weights=[np.float32(-0.3), np.float32(0.5)]),
      "batchnorm": _op_case([1, 3, 4], "BatchNormalization", dict(epsilon=1e-3),
                            weights=[_f32(r, 3), _f32(r, 3), _f32(r, 3),
                                     r.uniform(0.5, 2, 3).astype(np.float32)]),
      "flatten_negative_axis": _op_case([1, 2, 3, 4], "Flatten", dict(axis=-3)),
      "transpose_3d": _op_case([1, 3, 5], "Transpose", dict(perm=[0, 2, 1])),
      "gemm_transA": _op_case([6, 1], "Gemm", dict(transA=1, alpha=0.5),
                              weights=[_f32(r, 6, 4), _f32(r, 4)]),
  }


@pytest.mark.parametrize("case", list(_op_cases()))
def test_operator_variants_match_onnxruntime(case, tmp_path):
  spec = _op_cases()[case]
  rng = np.random.default_rng(6)
  in_shape = spec["in_shape"]
  size = int(np.prod(in_shape))
  inits = [_init("in_shape", np.asarray(in_shape, np.int64))]
  op_inputs = ["x"]
  for k, w in enumerate(spec["consts"]):
    if w is None:
      op_inputs.append("")
      continue
    inits.append(_init(f"k{k}", w))
    op_inputs.append(f"k{k}")
  for k, w in enumerate(spec["weights"]):
    inits.append(_init(f"w{k}", w))
    op_inputs.append(f"w{k}")
  n_out = 2 if spec["op"] == "Split" else 1
  outs = [f"y{k}" for k in range(n_out)]
  nodes = [helper.make_node("Reshape", ["obs", "in_shape"], ["x"]),
           helper.make_node(spec["op"], op_inputs, outs, name="op_under_test", **spec["attrs"])]
  flat = []
  for k, y in enumerate(outs):
    nodes.append(helper.make_node("Flatten", [y], [f"f{k}"], axis=1))
    flat.append(f"f{k}")
  nodes.append(helper.make_node("Concat", flat, ["actions"], axis=1))
  model = _model(nodes, [("obs", [1, size])], [("actions", [1, "n"])], inits, opset=spec["opset"])
  sess = _session(model)
  policy = load_onnx_policy(_save(model, tmp_path))
  obs = _f32(rng, 3, size)
  action, _ = policy.apply(policy.params, obs, policy.init_carry(3))  # eager (op by op)
  for i in range(3):
    (ref,) = sess.run(None, {"obs": obs[i:i + 1]})
    assert action.shape[1] == ref.shape[1] == policy.action_size
    assert _max_diff(action[i], ref[0]) <= TOL


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


def _tiny(nodes=None, inputs=(("obs", [1, 4]),), outputs=(("actions", [1, 4]),), inits=(),
          opset=17):
  nodes = nodes or [helper.make_node("Relu", [inputs[0][0]], [outputs[0][0]])]
  return _model(nodes, list(inputs), list(outputs), inits, opset=opset)


def test_error_missing_file(tmp_path):
  with pytest.raises(OnnxPolicyError, match="does not exist"):
    load_onnx_policy(tmp_path / "nope.onnx")


def test_error_not_an_onnx_file(tmp_path):
  path = tmp_path / "policy.onnx"
  path.write_text("this is a checkpoint, not an ONNX model\n")
  with pytest.raises(OnnxPolicyError, match="is not an ONNX model") as e:
    load_onnx_policy(path)
  assert ".onnx file exported from a REASAN policy" in str(e.value)
  empty = tmp_path / "empty.onnx"
  empty.write_bytes(b"")
  with pytest.raises(OnnxPolicyError, match="is not an ONNX model"):
    load_onnx_policy(empty)


def test_error_wrong_input_names(tmp_path):
  path = _save(_tiny(inputs=(("x", [1, 4]),)), tmp_path)
  with pytest.raises(OnnxPolicyError, match=r"graph inputs \['x'\]") as e:
    load_onnx_policy(path)
  assert "'obs'" in str(e.value) and "h_in" in str(e.value)


def test_error_wrong_output_names(tmp_path):
  path = _save(_tiny(outputs=(("y", [1, 4]),)), tmp_path)
  with pytest.raises(OnnxPolicyError, match=r"graph outputs \['y'\].*'actions'"):
    load_onnx_policy(path)


def test_error_only_h_in(tmp_path):
  model = _tiny(inputs=(("obs", [1, 4]), ("h_in", [1, 1, 4])))
  with pytest.raises(OnnxPolicyError, match="only one of the LSTM state inputs"):
    load_onnx_policy(_save(model, tmp_path))


def test_error_obs_shape(tmp_path):
  model = _tiny(inputs=(("obs", [1, "n"]),), outputs=(("actions", [1, "n"]),))
  with pytest.raises(OnnxPolicyError, match=r"observation input 'obs' has shape \[1, None\]"):
    load_onnx_policy(_save(model, tmp_path))


def test_error_unsupported_operator(tmp_path):
  nodes = [helper.make_node("Softmax", ["obs"], ["actions"], name="probs")]
  with pytest.raises(OnnxPolicyError, match="unsupported ONNX operator 'Softmax'") as e:
    load_onnx_policy(_save(_tiny(nodes), tmp_path))
  msg = str(e.value)
  assert "node 'probs'" in msg and all(op in msg for op in ("Gemm", "LSTM", "Conv", "MaxPool"))
  assert all(op in msg for op in SUPPORTED_OPS)


def test_error_unsupported_attribute(tmp_path):
  nodes = [helper.make_node("MaxPool", ["obs"], ["p"], kernel_shape=[1], name="pool"),
           helper.make_node("Relu", ["p"], ["actions"])]
  model = _tiny(nodes, inputs=(("obs", [1, 1, 4]),), outputs=(("actions", [1, 1, 4]),))
  # Fine as is; with an attribute reasan_jax does not know, it must refuse.
  load_onnx_policy(_save(model, tmp_path))
  model.graph.node[0].attribute.append(helper.make_attribute("mystery", 1))
  with pytest.raises(OnnxPolicyError, match="sets attribute 'mystery'"):
    load_onnx_policy(_save(model, tmp_path, "bad.onnx"))


def _lstm_policy(tmp_path, layers=1, directions=1, **lstm_attrs):
  rng = np.random.default_rng(7)
  hidden, feat = 4, 3
  state = [layers * directions, 1, hidden]
  inits = [_init("W", _f32(rng, directions, 4 * hidden, feat)),
           _init("R", _f32(rng, directions, 4 * hidden, hidden)),
           _init("ax", np.asarray([0], np.int64))]
  nodes = [helper.make_node("Unsqueeze", ["obs", "ax"], ["x"]),
           helper.make_node("LSTM", ["x", "W", "R", "", "", "h_in", "c_in"],
                            ["y", "h_out", "c_out"], hidden_size=hidden, name="rnn", **lstm_attrs),
           helper.make_node("Reshape", ["y", "shape"], ["actions"])]
  inits.append(_init("shape", np.asarray([1, -1], np.int64)))
  model = _model(nodes, [("obs", [1, feat]), ("h_in", state), ("c_in", state)],
                 [("actions", [1, "n"]), ("h_out", state), ("c_out", state)], inits)
  return load_onnx_policy(_save(model, tmp_path))


def test_error_lstm_variants(tmp_path):
  policy = _lstm_policy(tmp_path)  # the plain variant loads
  assert policy.hidden_size == 4 and policy.action_size == 4
  with pytest.raises(OnnxPolicyError, match=r"'h_in' has shape \[2, 1, 4\].*unidirectional"):
    _lstm_policy(tmp_path, directions=2, direction="bidirectional")
  with pytest.raises(OnnxPolicyError, match="node 'rnn' \\(LSTM\\) is a 'reverse' LSTM.*forward"):
    _lstm_policy(tmp_path, direction="reverse")
  with pytest.raises(OnnxPolicyError, match=r"'h_in' has shape \[2, 1, 4\].*single-layer"):
    _lstm_policy(tmp_path, layers=2)
  with pytest.raises(OnnxPolicyError, match="node 'rnn' \\(LSTM\\) sets attribute 'clip'"):
    _lstm_policy(tmp_path, clip=3.0)
  with pytest.raises(OnnxPolicyError, match="activations"):
    _lstm_policy(tmp_path, activations=["Relu", "Tanh", "Tanh"])
