"""Tests of the recurrent PPO (reasan_jax.ppo): pure pieces against plain references, the compiled
trainer's bookkeeping, a memory task only the GRU can solve, and 1- vs 2-device equivalence.

Run as a script (``python tests/test_ppo.py --worker OUT.npz``) it is the 2-device worker used by
:func:`test_two_devices_match_one_device`.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import toy_envs  # noqa: E402
from reasan_jax.configs import loco  # noqa: E402
from reasan_jax.core.wrappers import VecEnv  # noqa: E402
from reasan_jax.ppo import Trainer, losses, minibatches, networks, recurrent, trainer as trainer_lib  # noqa: E402

# ------------------------------------------------------------------------------------------------
# Configs and shared compiled trainers.


def _point_config():
  """Tiny PPO on PointEnv: 8 envs x 6 steps, 2 epochs x 2 minibatches, obs normalisation on."""
  c = loco.get_config("gpu")
  c.ppo.num_envs = 8
  c.ppo.unroll_length = 6
  c.ppo.num_epochs = 2
  c.ppo.num_minibatches = 2
  c.ppo.normalize_observations = True
  c.network.rnn_size = 8
  c.network.actor_hidden = (16,)
  c.network.critic_hidden = (16,)
  return c


def _point_trainer() -> Trainer:
  c = _point_config()
  return Trainer(VecEnv(toy_envs.PointEnv(), c.ppo.num_envs, randomize=False), c)


@pytest.fixture(scope="module")
def point():
  """(trainer, initial state, state after 2 iterations, metrics of those 2 iterations)."""
  tr = _point_trainer()
  state0 = tr.init(jax.random.PRNGKey(0))
  state2, metrics2 = tr.run(state0, 2)
  return tr, state0, state2, metrics2


def _flat(tree) -> list[np.ndarray]:
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


# ------------------------------------------------------------------------------------------------
# GAE.


def _gae_reference(rewards, values, last_value, final_values, dones, truncs, gamma, lam):
  """Plain Python GAE: next value = V(s_{t+1}) inside an episode, V(final obs) at a time-out,
  0 at a termination, the bootstrap value at the rollout end."""
  T, B = rewards.shape
  adv = np.zeros((T, B))
  for b in range(B):
    running = 0.0
    for t in reversed(range(T)):
      if dones[t, b]:
        next_value = final_values[t, b] if truncs[t, b] else 0.0
        running = 0.0
      else:
        next_value = values[t + 1, b] if t + 1 < T else last_value[b]
      delta = rewards[t, b] + gamma * next_value - values[t, b]
      running = delta + gamma * lam * running
      adv[t, b] = running
  return adv, adv + values


def test_gae_matches_python_loop_with_terminations_and_truncations():
  rng = np.random.default_rng(0)
  T, B, gamma, lam = 7, 5, 0.9, 0.8
  rewards = rng.normal(size=(T, B)).astype(np.float32)
  values = rng.normal(size=(T, B)).astype(np.float32)
  last_value = rng.normal(size=(B,)).astype(np.float32)
  final_values = rng.normal(size=(T, B)).astype(np.float32)  # V(final_obs) where done
  dones = np.zeros((T, B), np.float32)
  truncs = np.zeros((T, B), np.float32)
  dones[2, 0] = 1  # termination
  dones[[2, 5], 1] = 1  # truncation then termination
  truncs[2, 1] = 1
  dones[6, 2] = truncs[6, 2] = 1  # truncation on the last step
  dones[[0, 3], 3] = 1  # two truncations
  truncs[[0, 3], 3] = 1
  # What the rollout hands over: V(final_obs_t), equal to values[t + 1] where nothing ended.
  bootstrap = np.where(dones > 0, final_values, np.concatenate([values[1:], last_value[None]]))
  adv, ret = losses.compute_gae(jnp.asarray(rewards), jnp.asarray(values), jnp.asarray(bootstrap),
                                jnp.asarray(dones), jnp.asarray(truncs), gamma, lam)
  ref_adv, ref_ret = _gae_reference(rewards, values, last_value, final_values, dones, truncs,
                                    gamma, lam)
  np.testing.assert_allclose(adv, ref_adv, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(ret, ref_ret, rtol=1e-5, atol=1e-5)
  # The truncation bootstrap matters: dropping it (REASAN-style done cut only) changes the result.
  no_boot, _ = losses.compute_gae(jnp.asarray(rewards), jnp.asarray(values),
                                  jnp.asarray(bootstrap), jnp.asarray(dones),
                                  jnp.zeros_like(jnp.asarray(truncs)), gamma, lam)
  assert not np.allclose(no_boot[:, 3], ref_adv[:, 3], atol=1e-3)


def test_normalize_advantages_uses_unbiased_std():
  a = jnp.asarray([[1.0, 2.0], [3.0, 6.0]])
  out = np.asarray(losses.normalize_advantages(a))
  ref = (np.asarray(a) - 3.0) / (np.std(np.asarray(a), ddof=1) + 1e-8)
  np.testing.assert_allclose(out, ref, rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# GRU.


def _np_gru_step(p, h, x):
  """torch.nn.GRU equations in numpy, gate order (r, z, n)."""
  sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
  xi = x @ p["input_kernel"] + p["input_bias"]
  hh = h @ p["hidden_kernel"] + p["hidden_bias"]
  H = h.shape[-1]
  r = sig(xi[:, :H] + hh[:, :H])
  z = sig(xi[:, H:2 * H] + hh[:, H:2 * H])
  n = np.tanh(xi[:, 2 * H:] + r * hh[:, 2 * H:])
  return (1 - z) * n + z * h


def test_scanned_gru_with_resets_matches_stepping_the_cell_by_hand():
  T, B, D, H = 6, 3, 4, 5
  k1, k2, k3 = jax.random.split(jax.random.PRNGKey(1), 3)
  x = jax.random.normal(k1, (T, B, D))
  h0 = jax.random.normal(k2, (B, H))
  reset = np.zeros((T, B), bool)
  reset[0, 1] = True  # reset before the very first step
  reset[3, 0] = True
  reset[[2, 4], 2] = True
  gru = recurrent.ScannedGRU(H)
  params = gru.init(k3, h0, x, jnp.asarray(reset))["params"]
  carry, out = gru.apply({"params": params}, h0, x, jnp.asarray(reset))

  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  h = np.asarray(h0, np.float64)
  ref = []
  for t in range(T):
    h = np.where(reset[t][:, None], 0.0, h)  # reset BEFORE consuming obs t
    h = _np_gru_step(p, h, np.asarray(x[t], np.float64))
    ref.append(h)
  np.testing.assert_allclose(out, np.stack(ref), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(carry, ref[-1], rtol=1e-5, atol=1e-5)
  # The resets are effective: without them the outputs differ.
  _, out_no_reset = gru.apply({"params": params}, h0, x, jnp.zeros((T, B), bool))
  assert not np.allclose(out_no_reset[:, 0], out[:, 0], atol=1e-4)


def test_log_std_keeps_sigma_positive_and_starts_at_init_std():
  actor = networks.Actor(action_size=3, rnn_size=4, hidden=(8,), init_std=0.7)
  params = actor.init(jax.random.PRNGKey(0), jnp.zeros((1, 4)), jnp.zeros((1, 1, 2)),
                      jnp.zeros((1, 1), bool))["params"]
  np.testing.assert_allclose(np.exp(params["log_std"]), 0.7, rtol=1e-6)
  # Any real log_std, however far a gradient step pushes it, is a positive sigma.
  assert np.all(np.exp(np.asarray(params["log_std"]) - 100.0) >= 0)
  lp = networks.gaussian_log_prob(jnp.zeros(3), jnp.zeros(3), params["log_std"] - 50.0)
  assert np.isfinite(lp)


# ------------------------------------------------------------------------------------------------
# Minibatches.


def test_minibatches_hold_whole_sequences_each_env_once_and_reshuffle():
  T, N, M = 5, 16, 4
  seq = (np.arange(N)[None, :] * 1000 + np.arange(T)[:, None]).astype(np.int32)  # x[t, n]
  carries = np.arange(N, dtype=np.int32)[:, None] * np.ones((1, 3), np.int32)
  batch = losses.Batch(
      actor_obs=jnp.asarray(seq)[..., None], critic_obs=jnp.asarray(seq), reset=jnp.asarray(seq),
      action=jnp.asarray(seq), log_prob=jnp.asarray(seq), mean=jnp.asarray(seq),
      value=jnp.asarray(seq), advantage=jnp.asarray(seq), target=jnp.asarray(seq),
      actor_carry=jnp.asarray(carries), critic_carry=jnp.asarray(carries))
  epochs = []
  for key in jax.random.split(jax.random.PRNGKey(3), 2):
    perm = minibatches.minibatch_permutation(key, N, M, shuffle=True)
    mbs = minibatches.split_batch(batch, perm)
    idx = np.asarray(minibatches.minibatch_env_indices(perm))
    assert mbs.critic_obs.shape == (M, T, N // M)
    assert mbs.actor_obs.shape == (M, T, N // M, 1)
    assert mbs.actor_carry.shape == (M, N // M, 3)
    envs = []
    for m in range(M):
      block = np.asarray(mbs.critic_obs[m])  # (T, N/M)
      env_ids = block[0] // 1000
      # Every column is one env's complete T-step sequence, in time order.
      np.testing.assert_array_equal(block, env_ids[None, :] * 1000 + np.arange(T)[:, None])
      np.testing.assert_array_equal(env_ids, idx[m])
      # The rollout-start carry travels with its sequence.
      np.testing.assert_array_equal(np.asarray(mbs.actor_carry[m][:, 0]), env_ids)
      np.testing.assert_array_equal(np.asarray(mbs.actor_obs[m][..., 0]), block)
      envs.append(env_ids)
      # Evenly spread over any device count dividing N / M: equal share of every device's shard.
      for devices in (1, 2, 4):
        shard = N // devices
        counts = np.bincount(env_ids // shard, minlength=devices)
        np.testing.assert_array_equal(counts, N // M // devices)
    np.testing.assert_array_equal(np.sort(np.concatenate(envs)), np.arange(N))
    epochs.append(idx)
  assert not np.array_equal(epochs[0], epochs[1]), "shuffling must change between epochs"
  fixed = minibatches.minibatch_env_indices(
      minibatches.minibatch_permutation(jax.random.PRNGKey(0), N, M, shuffle=False))
  np.testing.assert_array_equal(fixed, np.arange(N).reshape(N // M, M).T)


# ------------------------------------------------------------------------------------------------
# Adaptive learning rate.


@pytest.mark.parametrize("lr, kl, expected", [
    (1e-3, 0.03, 1e-3 / 1.5),  # KL > 2 desired: down
    (1e-3, 0.001, 1.5e-3),  # 0 < KL < desired / 2: up
    (1e-3, 0.01, 1e-3),  # in the band: unchanged
    (1e-3, 0.02, 1e-3),  # exactly 2 desired: unchanged (strict >)
    (1e-3, 0.005, 1e-3),  # exactly desired / 2: unchanged (strict <)
    (1e-3, 0.0, 1e-3),  # zero KL: unchanged (REASAN requires KL > 0)
    (1.2e-5, 1.0, 1e-5),  # lower bound
    (9e-3, 1e-4, 1e-2),  # upper bound
])
def test_adaptive_learning_rate_rule(lr, kl, expected):
  out = losses.adaptive_learning_rate(jnp.float32(lr), jnp.float32(kl), 0.01, 1.5, (1e-5, 1e-2))
  np.testing.assert_allclose(float(out), expected, rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# The compiled trainer.


def test_config_errors():
  c = _point_config()
  c.ppo.num_envs = 6
  c.ppo.num_minibatches = 4
  with pytest.raises(ValueError, match="divisible by devices x minibatches"):
    Trainer(VecEnv(toy_envs.PointEnv(), 6, randomize=False), c)
  c = _point_config()
  with pytest.raises(ValueError, match="num_envs"):
    Trainer(VecEnv(toy_envs.PointEnv(), 16, randomize=False), c)
  c = _point_config()
  c.ppo.normalize_advantage = "batch"
  with pytest.raises(ValueError, match="normalize_advantage"):
    Trainer(VecEnv(toy_envs.PointEnv(), 8, randomize=False), c)


def test_run_returns_state_and_metrics(point):
  tr, state0, state2, metrics = point
  assert tr.env_steps_per_iteration == 8 * 6
  assert int(state2.iteration) == 2 and state2.iteration.dtype == jnp.int32
  required = ["loss/policy", "loss/value", "loss/entropy", "learning_rate", "policy/std", "kl",
              "episode/return", "episode/length", "episode/count", "episode/dist", "env/progress"]
  for k in required:
    assert k in metrics, k
  for k, v in metrics.items():
    assert v.shape == (2,), k
    assert np.all(np.isfinite(v)), k
  assert np.all(metrics["episode/count"] > 0)
  assert np.all((metrics["episode/length"] >= 1) & (metrics["episode/length"] <= 5))
  # Episode return = sum of -|pos| over the episode = -(episode sum of dist).
  np.testing.assert_allclose(metrics["episode/return"], -metrics["episode/dist"], rtol=1e-5)
  # The adaptive lr is carried in the state and reported.
  assert float(state2.learning_rate) == pytest.approx(float(metrics["learning_rate"][-1]))
  assert float(state2.learning_rate) != pytest.approx(float(state0.learning_rate))
  # Parameters moved; normaliser saw 2 x 48 samples.
  assert not np.allclose(state0.params["actor"]["log_std"], state2.params["actor"]["log_std"])
  assert int(state2.normalizer.count.lo) == 2 * 8 * 6
  assert tr.critic_groups == ("state",)  # PointEnv has no privileged_state: critic falls back


def test_same_seed_and_chunking_is_bitwise_deterministic(point):
  tr, state0, state2, metrics2 = point
  again, metrics_again = tr.run(tr.init(jax.random.PRNGKey(0)), 2)
  for a, b in zip(_flat((state2, metrics2)), _flat((again, metrics_again))):
    np.testing.assert_array_equal(a, b)
  # Resume semantics: 2 + 2 iterations equal 4 straight, bitwise.
  state4, metrics4 = tr.run(state0, 4)
  state22, metrics22 = tr.run(state2, 2)
  for a, b in zip(_flat(state4), _flat(state22)):
    np.testing.assert_array_equal(a, b)
  for k in metrics4:
    np.testing.assert_array_equal(metrics4[k][2:], metrics22[k])
  # A different seed gives a different run.
  other, _ = tr.run(tr.init(jax.random.PRNGKey(1)), 2)
  assert not np.array_equal(other.params["actor"]["log_std"], state2.params["actor"]["log_std"])


@pytest.fixture(scope="module")
def probe(point):
  """One jitted program on the state after 2 iterations: a rollout, the update-path re-evaluation
  from the stored carries (and from wrong, zeroed carries) and one SGD step."""
  tr, _, state, _ = point

  @jax.jit
  def run_probe(state):
    (env_state, a_carry, c_carry), data, _ = tr._rollout(
        state.params, state.normalizer, state.env_state, state.actor_carry, state.critic_carry,
        jax.random.PRNGKey(7))
    norm = lambda x: trainer_lib._normalize(state.normalizer, "state", x)  # noqa: E731
    norm_groups = lambda d: {"state": norm(d["state"])}  # noqa: E731
    adv, ret = losses.compute_gae(data.reward, data.value, data.bootstrap_value, data.done,
                                  data.truncation, 0.99, 0.95)
    batch = losses.Batch(
        actor_obs=norm_groups(data.actor_obs), critic_obs=norm_groups(data.critic_obs), reset=data.reset,
        action=data.action, log_prob=data.log_prob, mean=data.mean, value=data.value,
        advantage=adv, target=ret, actor_carry=state.actor_carry, critic_carry=state.critic_carry)
    log_std = state.params["actor"]["log_std"]
    kw = dict(actor_apply=tr._actor_apply, critic_apply=tr._critic_apply, clip_param=0.2,
              value_coef=1.0, entropy_coef=0.0, clipped_value_loss=True,
              normalize_advantage_per_minibatch=False)
    _, aux = losses.ppo_loss(state.params, batch, log_std, **kw)
    zero = batch.replace(actor_carry=jnp.zeros_like(batch.actor_carry),
                         critic_carry=jnp.zeros_like(batch.critic_carry))
    _, aux_zero = losses.ppo_loss(state.params, zero, log_std, **kw)
    _, means_update = tr._actor_apply(state.params["actor"], batch.actor_carry, batch.actor_obs,
                                      batch.reset)
    _, values_update = tr._critic_apply(state.params["critic"], batch.critic_carry,
                                        batch.critic_obs, batch.reset)
    # Independent recomputation of V(final_obs_t): replay the env with the recorded actions to get
    # each step's pre-reset observation, and take the critic GRU's carry after obs_t.
    env_s, finals = state.env_state, []
    for t in range(data.action.shape[0]):
      env_s = tr.env.step(env_s, data.action[t])
      finals.append(norm(env_s.info["final_obs"]["state"]))
    gru = recurrent.ScannedGRU(tr.rnn_size)
    carries_after = gru.apply({"params": state.params["critic"]["core"]["gru"]},
                              state.critic_carry, batch.critic_obs["state"], batch.reset)[1]
    expected_bootstrap = jnp.stack([
        tr._critic_apply(state.params["critic"], carries_after[t], {"state": finals[t][None]},
                         jnp.zeros((1, tr.num_envs), bool))[1][0]
        for t in range(len(finals))])
    # One SGD step with the policy moved away from the rollout policy (large KL -> lr down).
    params = jax.tree.map(lambda x: x, state.params)
    params["actor"] = dict(params["actor"], log_std=log_std + 0.5)
    lr0 = jnp.float32(1e-3)
    (new_params, _, new_lr), step_aux = tr._sgd_step((params, state.opt_state, lr0), batch,
                                                     log_std)
    loss_fn = lambda p: losses.ppo_loss(  # noqa: E731
        p, batch, log_std, actor_apply=tr._actor_apply, critic_apply=tr._critic_apply,
        clip_param=tr.ppo.clip_param, value_coef=tr.ppo.value_coef,
        entropy_coef=tr.ppo.entropy_coef, clipped_value_loss=True,
        normalize_advantage_per_minibatch=False)[0]
    grads = jax.grad(loss_fn)(params)
    updates, _ = tr.optimizer.update(grads, state.opt_state, params)
    return dict(data=data, kl=aux["kl"], clip=aux["clip_fraction"], kl_zero=aux_zero["kl"],
                values_update=values_update, means_update=means_update,
                expected_bootstrap=expected_bootstrap,
                params=params, new_params=new_params, new_lr=new_lr,
                step_kl=step_aux["kl"], updates=updates, carries=(a_carry, c_carry),
                env_state=env_state)

  return state, jax.device_get(run_probe(state))


def test_rollout_bookkeeping(probe):
  state, out = probe
  d = out["data"]
  done, trunc = d.done, d.truncation
  assert np.any(trunc > 0) and np.any((done > 0) & (trunc == 0)), "need both episode ends"
  # reset[t] is the previous step's done (and the env state's done at the rollout start).
  np.testing.assert_array_equal(d.reset[1:], done[:-1] > 0)
  np.testing.assert_array_equal(d.reset[0], np.asarray(state.env_state.done) > 0)
  # Bootstrap = V(final_obs_t) with the critic carry after obs_t, at every step (incl. time-outs).
  np.testing.assert_allclose(d.bootstrap_value, out["expected_bootstrap"], rtol=1e-5, atol=1e-5)
  # Inside an episode V(final_obs_t) (post-step carry) is the next step's value.
  inside = done[:-1] == 0
  np.testing.assert_allclose(d.bootstrap_value[:-1][inside], d.value[1:][inside], rtol=1e-5,
                             atol=1e-5)
  # At episode ends it is not (the next obs is the reset obs; the final obs is different).
  ended = done[:-1] > 0
  assert not np.allclose(d.bootstrap_value[:-1][ended], d.value[1:][ended], atol=1e-3)


def test_update_reruns_grus_from_stored_carries(probe):
  _, out = probe
  d = out["data"]
  # Re-running both GRUs over whole sequences from the rollout-start carries reproduces the
  # rollout's policy and values (no clipping; the KL is REASAN's floor sum_d ln(1 + 1e-5)).
  np.testing.assert_allclose(out["means_update"], d.mean, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out["values_update"], d.value, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(float(out["kl"]), 2 * np.log1p(1e-5), rtol=1e-2)
  assert float(out["clip"]) == 0.0
  # ... which is not trivially true: starting from zero carries gives another policy.
  assert float(out["kl_zero"]) > 1e-6


def test_adaptive_lr_is_applied_before_and_used_by_the_step(probe):
  _, out = probe
  assert float(out["step_kl"]) > 0.02  # the moved policy is far from the rollout policy
  np.testing.assert_allclose(float(out["new_lr"]), 1e-3 / 1.5, rtol=1e-6)
  expected = jax.tree.map(lambda p, u: p - out["new_lr"] * u, out["params"], out["updates"])
  for a, b in zip(_flat(out["new_params"]), _flat(expected)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_policy_value_matches_rollout_policy(point):
  tr, state0, _, _ = point
  policy = tr.policy(state0)
  assert policy.obs_spec == (("state", (3,)),) and policy.action_size == 2
  obs = state0.env_state.obs
  action, carry = jax.jit(policy.apply)(obs, policy.init_carry(8), state0.env_state.done)
  _, mean = tr._actor_apply(state0.params["actor"], jnp.zeros((8, 8)), {"state": obs["state"][None]},
                            jnp.zeros((1, 8), bool))
  np.testing.assert_allclose(action, mean[0], rtol=1e-6)
  assert carry.shape == (8, 8) and not np.allclose(carry, 0)
  # Normalised observations are folded into the policy (the point config normalises).
  assert "obs_mean" in policy.params


# ------------------------------------------------------------------------------------------------
# Memory: the GRU solves a task an MLP cannot.


def _memory_config(rnn_size: int):
  c = loco.get_config("gpu")
  c.ppo.num_envs = 32
  c.ppo.unroll_length = 8  # two 4-step episodes per env and rollout
  c.ppo.num_epochs = 4
  c.ppo.num_minibatches = 2
  c.ppo.learning_rate = 3e-3
  c.ppo.entropy_coef = 0.0
  c.network.rnn_size = rnn_size
  c.network.actor_hidden = (32,)
  c.network.critic_hidden = (32,)
  c.network.init_std = 0.5
  return c


def _train_memory(rnn_size: int, iterations: int = 30) -> dict[str, np.ndarray]:
  c = _memory_config(rnn_size)
  tr = Trainer(VecEnv(toy_envs.CueMemoryEnv(4), c.ppo.num_envs, randomize=False), c)
  _, metrics = tr.run(tr.init(jax.random.PRNGKey(0)), iterations)
  return jax.device_get(metrics)


def test_gru_solves_memory_task_that_mlp_cannot():
  gru = _train_memory(16)
  mlp = _train_memory(0)
  # Expected return of a memory-less policy is 0 (chance); the best achievable is 1.
  gru_ret = float(np.mean(gru["episode/return"][-10:]))
  mlp_ret = float(np.mean(mlp["episode/return"][-10:]))
  assert gru_ret > 0.8, gru_ret
  assert abs(mlp_ret) < 0.2, mlp_ret
  assert float(np.mean(gru["episode/correct"][-10:])) > 0.9
  assert abs(float(np.mean(mlp["episode/correct"][-10:])) - 0.5) < 0.15


# ------------------------------------------------------------------------------------------------
# Two devices == one device.

# Sharding only changes the order of float reductions (per-device partial sums + all-reduce), so
# the runs agree to float32 round-off amplified by 2 iterations x 4 Adam steps: Adam divides by
# sqrt(v), so an update's relative error can reach ~1e-4 for tiny gradients, times lr <= 1e-2.
_PARAM_ATOL = 1e-5
_METRIC_RTOL = 1e-4


def _two_device_worker(out_path: str) -> None:
  assert jax.device_count() == 2, jax.devices()
  tr = _point_trainer()
  assert tr.num_devices == 2
  state0 = tr.init(jax.random.PRNGKey(0))
  state, metrics = tr.run(state0, 2)
  shard_devices = len(state.actor_carry.sharding.device_set)
  env_shards = [s.data.shape for s in state.env_state.obs["state"].addressable_shards]
  payload = {f"leaf{i}": x for i, x in enumerate(_flat((state.params, state.learning_rate,
                                                        state.normalizer)))}
  payload.update({f"metric/{k}": np.asarray(v) for k, v in metrics.items()})
  payload["shard_devices"] = np.asarray(shard_devices)
  payload["env_shard_shapes"] = np.asarray(env_shards)
  np.savez(out_path, **payload)


def test_two_devices_match_one_device(point, tmp_path):
  _, _, state2, metrics2 = point
  out = tmp_path / "two_devices.npz"
  env = dict(os.environ)
  env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()
  env["JAX_PLATFORMS"] = "cpu"
  proc = subprocess.run([sys.executable, __file__, "--worker", str(out)], env=env,
                        capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-4000:]
  got = np.load(out)
  assert int(got["shard_devices"]) == 2
  np.testing.assert_array_equal(got["env_shard_shapes"], [[4, 3], [4, 3]])  # 8 envs over 2
  ref = _flat((state2.params, state2.learning_rate, state2.normalizer))
  for i, r in enumerate(ref):
    np.testing.assert_allclose(got[f"leaf{i}"], r, rtol=0, atol=_PARAM_ATOL, err_msg=f"leaf {i}")
  for k, v in metrics2.items():
    np.testing.assert_allclose(got[f"metric/{k}"], v, rtol=_METRIC_RTOL, atol=1e-6, err_msg=k)


if __name__ == "__main__":
  if len(sys.argv) == 3 and sys.argv[1] == "--worker":
    cache = os.environ.get("REASAN_JAX_CACHE",
                           str(pathlib.Path(__file__).resolve().parents[1] / ".jax_cache"))
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    _two_device_worker(sys.argv[2])
  else:
    sys.exit("usage: python tests/test_ppo.py --worker OUT.npz")
