"""ONNX export in REASAN's robot interfaces (issue 13): the LSTM core, onnxruntime vs our JAX policy
over 100-step recurrent rollouts of real env observations, round trip through our importer, the
signature of REASAN's loco_1.onnx, deployment metadata, and bad input."""

from __future__ import annotations

import contextlib
import io
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import onnx
import pytest

import tiny_loco
import toy_envs
from conftest import LOCO_ONNX
from reasan_jax.cli import export as export_cli
from reasan_jax.core.wrappers import VecEnv
from reasan_jax.io import checkpoints as ckpt_lib
from reasan_jax.io import config_loader
from reasan_jax.policies import load, onnx_export
from reasan_jax.ppo import Trainer, networks, recurrent

ort = pytest.importorskip("onnxruntime")
needs_shared = pytest.mark.skipif(not LOCO_ONNX.exists(),
                                  reason="../shared/reference/pretrained (REASAN's ONNX files) is absent")
STEPS = 100
TOL = 1e-5


def _call(fn, argv) -> tuple[int, str, str]:
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
    code = fn(argv)
  return code, out.getvalue(), err.getvalue()


def _config(task: str, rnn: str, network: dict | None = None) -> ml_collections.ConfigDict:
  return config_loader.config_from_dict({
      "env": {"task": task, "sim_dt": 0.005, "decimation": 4},
      "ppo": {"num_envs": 4, "unroll_length": 4, "num_epochs": 1, "num_minibatches": 2,
              "learning_rate": 1e-3, "schedule": "adaptive", "desired_kl": 0.01,
              "lr_bounds": (1e-5, 1e-2), "lr_factor": 1.5, "gamma": 0.99, "gae_lambda": 0.95,
              "clip_param": 0.2, "value_coef": 1.0, "clipped_value_loss": True,
              "entropy_coef": 0.0, "max_grad_norm": 1.0, "normalize_observations": True,
              "normalize_advantage": "global", "shuffle_minibatches": True},
      "network": {"rnn": rnn, "rnn_size": 8, "actor_hidden": (16, 8), "critic_hidden": (8,),
                  "activation": "elu", "init_std": 1.0, **(network or {})},
      "run": {"seed": 0},
  })


RAY_NETWORK = {"actor_obs": ("proprio", "rays"), "critic_obs": ("proprio", "rays"),
               "encoders": {"rays": "ray_cnn_1x180"}}
CASES = {  # name -> (env, rnn, extra network config)
    "lstm_rays": (toy_envs.RayToyEnv, "lstm", RAY_NETWORK),  # the filter/nav layout
    "gru_point": (toy_envs.PointEnv, "gru", None),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def trained(request, tmp_path_factory):
  """A 2-iteration run with a checkpoint (normaliser on), exported through the library."""
  env_cls, rnn, net = CASES[request.param]
  config = _config(f"toy_{request.param}", rnn, net)
  trainer = Trainer(VecEnv(env_cls(), 4, randomize=False), config)
  state, _ = trainer.run(trainer.init(jax.random.PRNGKey(0)), 2)
  run_dir = tmp_path_factory.mktemp("runs") / "toy"
  ckpt = ckpt_lib.Checkpointer(run_dir, keep=1)
  ckpt.save(2, state, config, policy=trainer.policy(state))
  ckpt.close()
  path = onnx_export.export_checkpoint(run_dir.parent / "exported.onnx", checkpoint=run_dir)
  return dict(name=request.param, env=env_cls(), rnn=rnn, policy=load.load_policy(run_dir),
              path=path, trainer=trainer, state=state)


def _rollout_obs(env, policy, steps: int = STEPS, seed: int = 1):
  """Real observations of one env driven by ``policy`` (JAX), with its actions and carries."""
  venv = VecEnv(env, 1, randomize=False)

  def body(carry, _):
    state, pc = carry
    obs = {g: state.obs[g] for g in policy.obs_groups}
    action, pc = policy.apply(obs, pc)  # REASAN's nodes never reset the state: neither do we
    return (venv.step(state, action), pc), (obs, action, pc)

  init = (venv.reset(jax.random.PRNGKey(seed)), policy.init_carry(1))
  _, (obs, actions, carries) = jax.jit(lambda c: jax.lax.scan(body, c, None, length=steps))(init)
  return jax.device_get((obs, actions, carries))


def _ort_rollout(path, obs_seq, input_names):
  """Feeds the observations one step at a time, h_out/c_out back as h_in/c_in (REASAN's nodes)."""
  sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
  hidden = [i for i in sess.get_inputs() if i.name == "h_in"][0].shape[-1]
  h = c = np.zeros((1, 1, hidden), np.float32)
  actions, hs, cs = [], [], []
  steps = len(next(iter(obs_seq.values())))
  for t in range(steps):
    feeds = {input_names[g]: np.asarray(obs_seq[g][t], np.float32) for g in obs_seq}
    a, h, c = sess.run(["actions", "h_out", "c_out"], {**feeds, "h_in": h, "c_in": c})
    actions.append(a), hs.append(h[0]), cs.append(c[0])
  return np.stack(actions), np.stack(hs), np.stack(cs)


def test_onnxruntime_matches_jax_over_a_recurrent_rollout(trained):
  policy = trained["policy"]
  obs, actions, carries = _rollout_obs(trained["env"], policy)
  a, h, c = _ort_rollout(trained["path"], obs, onnx_export.ONNX_INPUT_NAMES)
  assert a.shape == (STEPS, 1, policy.action_size)
  np.testing.assert_allclose(a, actions, rtol=0, atol=TOL)
  if trained["rnn"] == "lstm":
    np.testing.assert_allclose(h, carries[0], rtol=0, atol=TOL)
    # The cell state is unbounded when never reset (it drifts to |c| ~ 40 here, where one float32
    # ulp is 4e-6): 1e-5 absolute up to |c| = 1, relative beyond.
    assert np.all(np.abs(c - carries[1]) <= TOL * np.maximum(1.0, np.abs(carries[1])))
  else:  # GRU: h is the state, c passes through unchanged (zeros)
    np.testing.assert_allclose(h, carries, rtol=0, atol=TOL)
    assert np.all(c == 0)
  assert np.abs(np.diff(h, axis=0)).max() > 1e-3, "the recurrent state never changed"
  # The checkpoint policy is the trainer's (normaliser folded in identically).
  ref = trained["trainer"].policy(trained["state"])
  a_ref, _ = ref.apply({g: obs[g][0] for g in ref.obs_groups}, ref.init_carry(1))
  np.testing.assert_allclose(np.asarray(a_ref), actions[0], rtol=0, atol=1e-6)


def test_export_has_the_interface_and_core_node(trained):
  model = onnx.load(str(trained["path"]))
  assert model.opset_import[0].version == 11
  names = [i.name for i in model.graph.input]
  expected = (["proprio_obs", "ray_obs"] if "rays" in trained["name"] else ["obs"]) + ["h_in", "c_in"]
  dims = [[d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input]
  assert dims[-2:] == [[1, 1, 8], [1, 1, 8]]
  assert dims[:-2] == ([[1, 12], [1, 180]] if "rays" in trained["name"] else [[1, 3]])
  assert names == expected
  assert [o.name for o in model.graph.output] == ["actions", "h_out", "c_out"]
  ops = [n.op_type for n in model.graph.node]
  assert ops.count("LSTM" if trained["rnn"] == "lstm" else "GRU") == 1
  if trained["rnn"] == "gru":
    gru = [n for n in model.graph.node if n.op_type == "GRU"][0]
    assert {a.name: a.i for a in gru.attribute}["linear_before_reset"] == 1
  if "rays" in trained["name"]:
    assert ops.count("Conv") == 3 and ops.count("MaxPool") == 3  # REASAN's ray encoder
  meta = {p.key: p.value for p in model.metadata_props}
  assert meta["task"] == f"toy_{trained['name']}" and meta["iteration"] == "2"
  assert meta["run"] == "toy" and meta["policy_rate_hz"] == "50"
  assert meta["recurrent_core"] == trained["rnn"] and meta["observation_normalizer"] == "folded"


def test_round_trip_through_our_importer(trained):
  policy = trained["policy"]
  imported = load.load_policy(trained["path"])
  assert imported.obs_spec == policy.obs_spec and imported.action_size == policy.action_size
  obs, actions, _ = _rollout_obs(trained["env"], policy, steps=20, seed=3)
  carry = imported.init_carry(1)
  step = jax.jit(imported.apply)
  for t in range(20):
    a, carry = step({g: obs[g][t] for g in policy.obs_groups}, carry)
    np.testing.assert_allclose(np.asarray(a), actions[t], rtol=0, atol=TOL)


# ------------------------------------------------------------------------------------------------
# The LSTM core.


def test_lstm_cell_is_pytorchs():
  """torch.nn.LSTM's equations, gate order i, f, g, o (written out in numpy)."""
  rng = np.random.default_rng(0)
  h_size, batch = 5, 3
  wh = rng.normal(size=(h_size, 4 * h_size)).astype(np.float32)
  bh = rng.normal(size=(4 * h_size,)).astype(np.float32)
  h, c, xp = (rng.normal(size=s).astype(np.float32) for s in
              ((batch, h_size), (batch, h_size), (batch, 4 * h_size)))
  g = xp + h @ wh + bh
  sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
  i, f, gg, o = np.split(g, 4, axis=-1)
  c_ref = sig(f) * c + sig(i) * np.tanh(gg)
  h_ref = sig(o) * np.tanh(c_ref)
  h2, c2 = recurrent.lstm_cell(jnp.asarray(wh), jnp.asarray(bh), jnp.asarray(h), jnp.asarray(c),
                              jnp.asarray(xp))
  np.testing.assert_allclose(np.asarray(h2), h_ref, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(c2), c_ref, rtol=1e-5, atol=1e-6)


def test_lstm_train_state_checkpoint_round_trip(trained, tmp_path):
  """The (h, c) carries of an LSTM run are saved and restored bit for bit."""
  if trained["rnn"] != "lstm":
    pytest.skip("LSTM runs only")
  trainer, state = trained["trainer"], trained["state"]
  assert isinstance(state.actor_carry, tuple) and len(state.critic_carry) == 2
  ckpt = ckpt_lib.Checkpointer(tmp_path / "run", keep=1)
  ckpt.save(2, state, trainer.config)
  ckpt.close()
  restored = ckpt_lib.restore(tmp_path / "run", jax.eval_shape(trainer.init, jax.random.PRNGKey(0)))
  for a, b in zip(jax.tree.leaves((state.actor_carry, state.critic_carry, state.params)),
                  jax.tree.leaves((restored.actor_carry, restored.critic_carry, restored.params))):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_rnn_option_params_and_carry():
  net = ml_collections.ConfigDict({"rnn_size": 6, "actor_hidden": (4,), "activation": "elu",
                                   "init_std": 1.0})
  shapes = {"state": (3,)}
  gru = networks.make_actor(net, shapes, 2)  # no rnn key: the GRU, unchanged names
  assert gru.rnn == "gru"
  carry = networks.init_carry(1, 6)
  p = gru.init(jax.random.PRNGKey(0), carry, {"state": jnp.zeros((1, 1, 3))}, jnp.zeros((1, 1), bool))
  assert sorted(p["params"]["core"]["gru"]) == ["hidden_bias", "hidden_kernel", "input_bias",
                                                "input_kernel"]
  net.rnn = "lstm"
  lstm = networks.make_actor(net, shapes, 2)
  carry = networks.init_carry(2, 6, "lstm")
  assert isinstance(carry, tuple) and [x.shape for x in carry] == [(2, 6), (2, 6)]
  p = lstm.init(jax.random.PRNGKey(0), networks.init_carry(1, 6, "lstm"),
                {"state": jnp.zeros((1, 1, 3))}, jnp.zeros((1, 1), bool))["params"]["core"]["lstm"]
  assert p["input_kernel"].shape == (3, 24) and p["hidden_bias"].shape == (24,)
  bound = 1.0 / np.sqrt(6)
  assert all(np.abs(np.asarray(v)).max() <= bound for v in p.values())
  # A reset zeroes both states before the step: same output as starting from zeros.
  xs = {"state": jnp.ones((1, 2, 3))}
  params = {"params": lstm.init(jax.random.PRNGKey(1), carry, xs, jnp.zeros((1, 2), bool))["params"]}
  busy = (jnp.full((2, 6), 0.7), jnp.full((2, 6), -0.3))
  (_, _), m_reset = lstm.apply(params, busy, xs, jnp.ones((1, 2), bool))
  (_, _), m_zero = lstm.apply(params, carry, xs, jnp.zeros((1, 2), bool))
  np.testing.assert_array_equal(np.asarray(m_reset), np.asarray(m_zero))
  net.rnn = "transformer"
  with pytest.raises(ValueError, match="network.rnn"):
    networks.make_actor(net, shapes, 2)


@needs_shared
def test_lstm_export_has_loco_1s_signature(tmp_path):
  """REASAN's loco architecture (LSTM 256, MLP 512-256-128, obs 45, actions 12) exports to a file
  whose inputs/outputs (names, shapes, dtypes) and node sequence are those of loco_1.onnx."""
  net = ml_collections.ConfigDict({"rnn": "lstm", "rnn_size": 256, "actor_hidden": (512, 256, 128),
                                   "activation": "elu", "init_std": 1.0})
  actor = networks.make_actor(net, {"state": (45,)}, 12)
  params = actor.init(jax.random.PRNGKey(0), networks.init_carry(1, 256, "lstm"),
                      {"state": jnp.zeros((1, 1, 45))}, jnp.zeros((1, 1), bool))["params"]
  model = onnx_export.build_model(actor, {"actor": params}, (("state", (45,)),))
  path = onnx_export.save_model(model, tmp_path / "loco_lstm.onnx")
  ref = onnx.load(str(LOCO_ONNX))
  mine = onnx.load(str(path))

  def signature(m):
    vi = lambda v: (v.name, [d.dim_value for d in v.type.tensor_type.shape.dim],  # noqa: E731
                    v.type.tensor_type.elem_type)
    return [vi(v) for v in m.graph.input], [vi(v) for v in m.graph.output]

  assert signature(mine) == signature(ref)
  assert [n.op_type for n in mine.graph.node] == [n.op_type for n in ref.graph.node]
  assert mine.opset_import[0].version == ref.opset_import[0].version == 11
  # And our importer reads it as REASAN's loco policy.
  assert load.load_policy(path).task == "loco"


# ------------------------------------------------------------------------------------------------
# A real loco checkpoint (the tiny setup of tests/test_play.py: its training compile is cached).


@pytest.fixture(scope="module")
def tiny_loco_run(tmp_path_factory):
  from reasan_jax.cli import train  # pylint: disable=import-outside-toplevel

  runs = tmp_path_factory.mktemp("runs")
  argv = ["--config", tiny_loco.CONFIG, "--runs_dir", str(runs), "--run_name", "tiny",
          "--no_progress", *tiny_loco.OVERRIDES]
  code, _, err = _call(train.main, argv)
  assert code == 0, err
  return runs


def test_loco_checkpoint_exports_and_matches(tiny_loco_run, tmp_path):
  out = tmp_path / "loco.onnx"
  code, stdout, err = _call(export_cli.main, ["--runs_dir", str(tiny_loco_run), "--run", "tiny",
                                              "--out", str(out)])
  assert code == 0, err
  assert "[1, 1, 16] but REASAN's nodes allocate [1, 1, 256]" in err and "GRU core" in err
  assert str(out) in stdout and "obs [1, 45]" in stdout and "actions [1, 12]" in stdout
  meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
  from reasan_jax.robots import go2  # pylint: disable=import-outside-toplevel

  assert meta["task"] == "loco" and meta["run"] == "tiny" and meta["iteration"] == "1"
  assert meta["joint_names"].split(",") == list(go2.JOINT_NAMES_REASAN)
  np.testing.assert_allclose([float(v) for v in meta["default_joint_pos"].split(",")],
                             go2.DEFAULT_POSE_REASAN, atol=1e-6)
  assert meta["action_scale"].split(",")[:4] == ["0.125"] * 4 and meta["action_blend"] == "0.8"
  assert meta["joint_stiffness"].split(",") == ["35"] * 12 and meta["policy_rate_hz"] == "50"
  assert meta["observation_scales"] == "0.25,1,2,0.25,1,0.05,1"
  assert sum(int(t.split(":")[1]) for t in meta["observation_layout"].split(",")) == 45

  policy = load.load_policy(tiny_loco_run / "tiny")
  env = load.default_env_config(policy)
  from reasan_jax import registry  # pylint: disable=import-outside-toplevel

  obs, actions, carries = _rollout_obs(registry.make_env(env), policy)
  a, h, c = _ort_rollout(out, obs, onnx_export.ONNX_INPUT_NAMES)
  np.testing.assert_allclose(a, actions, rtol=0, atol=TOL)
  np.testing.assert_allclose(h, carries, rtol=0, atol=TOL)
  assert np.all(c == 0)


# ------------------------------------------------------------------------------------------------
# Bad input: one sentence, nothing left behind.


def test_missing_run_or_checkpoint_fails_cleanly(tmp_path):
  out = tmp_path / "x.onnx"
  code, stdout, err = _call(export_cli.main, ["--runs_dir", str(tmp_path), "--run", "nope",
                                              "--out", str(out)])
  assert code == 2 and stdout == "" and err.count("\n") == 1 and "no run 'nope'" in err
  empty = tmp_path / "empty_run"
  empty.mkdir()
  code, _, err = _call(export_cli.main, ["--checkpoint", str(empty), "--out", str(out)])
  assert code == 2 and err.count("\n") == 1 and "no finished checkpoint" in err
  assert os.listdir(tmp_path) == ["empty_run"]


def test_unwritable_or_existing_out_leaves_nothing(tmp_path):
  net = ml_collections.ConfigDict({"rnn": "lstm", "rnn_size": 4, "actor_hidden": (4,),
                                   "activation": "elu", "init_std": 1.0})
  actor = networks.make_actor(net, {"state": (3,)}, 2)
  params = actor.init(jax.random.PRNGKey(0), networks.init_carry(1, 4, "lstm"),
                      {"state": jnp.zeros((1, 1, 3))}, jnp.zeros((1, 1), bool))["params"]
  model = onnx_export.build_model(actor, {"actor": params}, (("state", (3,)),))
  with pytest.raises(onnx_export.ExportError, match="do not fit its network"):
    onnx_export.build_model(actor, {"actor": {"mlp": params["mlp"]}}, (("state", (3,)),))
  with pytest.raises(onnx_export.ExportError, match="no REASAN ONNX input name"):
    onnx_export.build_model(actor.clone(inputs=("odd",)), {"actor": params}, (("odd", (3,)),))
  blocker = tmp_path / "a_file"
  blocker.write_text("not a folder")
  with pytest.raises(onnx_export.ExportError, match="Cannot write"):
    onnx_export.save_model(model, blocker / "policy.onnx")
  existing = tmp_path / "keep.onnx"
  existing.write_bytes(b"user data")
  with pytest.raises(onnx_export.ExportError, match="already exists"):
    onnx_export.save_model(model, existing)
  assert existing.read_bytes() == b"user data"
  with pytest.raises(onnx_export.ExportError, match=r"\.onnx"):
    onnx_export.save_model(model, tmp_path / "policy.txt")
  assert sorted(os.listdir(tmp_path)) == ["a_file", "keep.onnx"]  # no temporary files
  onnx_export.save_model(model, existing, overwrite=True)
  assert onnx.load(str(existing)).graph.output[0].name == "actions"
