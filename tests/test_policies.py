"""Policies as values: from a training state, through a checkpoint's policy item, from ONNX, and
frozen inside an env step (recurrent state in the env state, zeroed at reset, one step per step)."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import toy_envs
from reasan_jax.core.env import Env, State
from reasan_jax.core.wrappers import VecEnv
from reasan_jax.io import checkpoints as ckpt_lib
from reasan_jax.io import config_loader
from reasan_jax.policies import frozen, load
from reasan_jax.policies.policy import PolicyError
from reasan_jax.ppo import Trainer

PRETRAINED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference" / "pretrained"
needs_shared = pytest.mark.skipif(not (PRETRAINED / "loco_1.onnx").exists(),
                                  reason="../shared/reference/pretrained (REASAN's ONNX files) is absent")


def _toy_config():
  c = config_loader.config_from_dict({
      "env": {"task": "toy_point"},
      "ppo": {"num_envs": 4, "unroll_length": 4, "num_epochs": 1, "num_minibatches": 2,
              "learning_rate": 1e-3, "schedule": "adaptive", "desired_kl": 0.01,
              "lr_bounds": (1e-5, 1e-2), "lr_factor": 1.5, "gamma": 0.99, "gae_lambda": 0.95,
              "clip_param": 0.2, "value_coef": 1.0, "clipped_value_loss": True,
              "entropy_coef": 0.0, "max_grad_norm": 1.0, "normalize_observations": True,
              "normalize_advantage": "global", "shuffle_minibatches": True},
      "network": {"rnn_size": 8, "actor_hidden": (8,), "critic_hidden": (8,),
                  "activation": "elu", "init_std": 1.0},
      "run": {"seed": 0},
  })
  return c


def test_checkpoint_policy_item_round_trip(tmp_path):
  config = _toy_config()
  trainer = Trainer(VecEnv(toy_envs.PointEnv(), 4, randomize=False), config)
  state, _ = trainer.run(trainer.init(jax.random.PRNGKey(0)), 2)
  ckpt = ckpt_lib.Checkpointer(tmp_path / "run", keep=1)
  ckpt.save(2, state, config, policy=trainer.policy(state))
  ckpt.close()
  policy = load.load_policy(tmp_path / "run")
  assert policy.obs_spec == (("state", (3,)),) and policy.action_size == 2
  assert policy.task == "toy_point" and "checkpoints/2" in policy.source
  reference = trainer.policy(state)
  obs = {"state": jax.random.normal(jax.random.PRNGKey(1), (5, 3))}
  carry = policy.init_carry(5)
  for _ in range(3):
    a, carry = policy.apply(obs, carry)
  ref_carry = reference.init_carry(5)
  for _ in range(3):
    b, ref_carry = reference.apply(obs, ref_carry)
  np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(carry, ref_carry, rtol=1e-6, atol=1e-7)
  assert "obs_mean" in policy.params  # the normaliser is folded in


def test_missing_policy_source_is_one_sentence(tmp_path):
  with pytest.raises(PolicyError, match="No run in .* has a checkpoint yet"):
    load.load_policy(runs_dir=tmp_path)
  with pytest.raises(PolicyError, match="There is no run 'nope'"):
    load.load_policy(run="nope", runs_dir=tmp_path)


class _FrozenProbe(Env):
  """A toy task whose step runs a frozen loco policy on a synthetic 45-d observation.

  The policy's LSTM state lives in ``info["carry"]``; the episode ends after 3 steps.
  """

  def __init__(self, policy):
    self.policy = policy

  @property
  def action_size(self):
    return 1

  def reset(self, rng, persistent=None):
    z = jnp.zeros(())
    info = {"carry": frozen.initial_carry(self.policy), "t": jnp.zeros((), jnp.int32),
            "x": jax.random.normal(rng, (45,)) * 0.1}
    return State(data={}, obs={"state": jnp.zeros(1)}, reward=z, done=z, truncation=z,
                 metrics={}, info=info)

  def step(self, state, action):
    info = dict(state.info)
    command, info["carry"] = frozen.act(self.policy, {"state": info["x"]}, info["carry"])
    info["t"] = info["t"] + 1
    done = (info["t"] >= 3).astype(jnp.float32)
    return state.replace(obs={"state": command[:1]}, done=done, info=info)


@needs_shared
def test_frozen_onnx_policy_inside_a_vmapped_scanned_env_step():
  policy = load.load_policy(PRETRAINED / "loco_1.onnx")
  assert policy.task == "loco" and policy.obs_spec == (("state", (45,)),)
  env = VecEnv(_FrozenProbe(policy), 2, randomize=False)
  state0 = env.reset(jax.random.PRNGKey(0))
  assert all(np.all(np.asarray(c) == 0) for c in jax.tree.leaves(state0.info["carry"]))

  def body(state, _):
    state = env.step(state, jnp.zeros((2, 1)))
    return state, (state.info["carry"], state.info["x"])

  _, (carries, xs) = jax.jit(lambda s: jax.lax.scan(body, s, None, length=4))(state0)
  h = np.asarray(carries[0])[:, :, 0]  # (T, envs, H) LSTM h after each env step
  # Reference: the same policy applied step by step to the env's fixed observation.
  carry = policy.init_carry(2)
  for t in range(2):
    _, carry = policy.apply({"state": state0.info["x"]}, carry)
    np.testing.assert_allclose(h[t], np.asarray(carry[0]), rtol=1e-5, atol=1e-6)
  assert not np.allclose(h[0], h[1])  # it advances once per step
  assert np.all(h[2] == 0)  # the 3rd step ended the episode: the auto-reset zeroed it
  _, fresh = policy.apply({"state": xs[3]}, policy.init_carry(2))  # new episode, new observation
  np.testing.assert_allclose(h[3], np.asarray(fresh[0]), rtol=1e-5, atol=1e-6)


@needs_shared
def test_a_policy_for_another_task_is_refused():
  policy = load.load_policy(PRETRAINED / "loco_1.onnx")
  with pytest.raises(PolicyError, match=r"frozen filter policy .* reads 'state' of shape \(45,\)"):
    policy.check_fits({"proprio": (12,), "rays": (180,)}, 3, role="frozen filter policy")
  with pytest.raises(PolicyError, match="outputs 12 actions, but the env takes 3"):
    policy.check_fits({"state": (45,)}, 3, role="frozen loco policy")
