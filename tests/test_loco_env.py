"""The loco task and the batched env API on a tiny flat-ground batch (one compile of reset/step)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import ml_collections
import pytest

from reasan_jax.configs import loco
from reasan_jax.robots import go2
from reasan_jax.core import VecEnv
from reasan_jax.registry import make_env as make
from reasan_jax.tasks.loco import rewards
from reasan_jax.tasks.loco.env import resolve_config, upgrade_config
from reasan_jax.tasks.loco.rewards import total_reward

NUM_ENVS = 4


def _config():
  cfg = loco.env_config()
  cfg.terrain = "flat"
  cfg.terrain_config.num_rows = 3
  cfg.terrain_config.num_cols = 4
  return cfg


@pytest.fixture(scope="module")
def venv():
  return VecEnv(make(_config()), NUM_ENVS)


@pytest.fixture(scope="module")
def fns(venv):
  return jax.jit(venv.reset), jax.jit(venv.step)


@pytest.fixture(scope="module")
def state0(fns):
  return fns[0](jax.random.PRNGKey(0))


def test_observation_sizes(state0):
  assert state0.obs["state"].shape == (NUM_ENVS, 45)
  assert state0.obs["privileged_state"].shape == (NUM_ENVS, 88)
  assert state0.reward.shape == state0.done.shape == state0.truncation.shape == (NUM_ENVS,)


def test_reset_spawns_on_cells_with_random_yaw(venv, state0):
  env = venv.env
  qpos = np.asarray(state0.data.qpos)
  np.testing.assert_allclose(qpos[:, 2], 0.4, atol=1e-6)
  origins = np.asarray(env._origins).reshape(-1, 3)
  for xy in qpos[:, :2]:
    assert np.min(np.linalg.norm(origins[:, :2] - xy, axis=1)) < 1e-5
  assert len(set(np.round(qpos[:, 6], 4))) == NUM_ENVS  # yaw differs per env
  q = go2.to_reasan(qpos[:, 7:])
  lo, hi = go2.soft_limits(0.9).T
  assert np.all(q >= go2.to_reasan(lo) - 1e-6) and np.all(q <= go2.to_reasan(hi) + 1e-6)


def test_observation_uses_reasan_joint_order(venv, state0):
  env = venv.env
  one = jax.tree.map(lambda x: x[0], state0)
  q_mjcf = np.asarray(go2.DEFAULT_POSE_MJCF) + 0.01 * np.arange(12)
  data = one.data.replace(qpos=one.data.qpos.at[7:].set(q_mjcf))
  obs = env._observe(data, one.info, jnp.zeros((4, 3)), jax.random.PRNGKey(1))["privileged_state"]
  expected = go2.to_reasan(q_mjcf) - go2.DEFAULT_POSE_REASAN
  np.testing.assert_allclose(obs[9:21], expected, atol=1e-6)
  # REASAN index 4 is FL_thigh, MJCF index 1.
  np.testing.assert_allclose(obs[9 + 4], 0.01 * 1, atol=1e-6)


def test_wrong_action_shape_is_a_clear_error(venv, state0):
  with pytest.raises(ValueError, match=r"action has shape \(4, 11\), expected \(4, 12\)"):
    venv.step(state0, jnp.zeros((NUM_ENVS, 11)))


def test_unknown_config_key_is_named():
  cfg = _config()
  cfg.reward_scales.trott = 1.0
  with pytest.raises(ValueError,
                     match="Unknown config key 'env.reward_scales.trott'.*env.reward_scales.trot"):
    make(cfg)


def test_reward_weights_and_parameters_are_apart():
  cfg = loco.env_config()
  assert sorted(cfg.reward_scales) == sorted(rewards.TERMS)  # one weight per term
  assert not set(cfg.rewards) & set(rewards.TERMS)
  assert {"tracking_sharpness", "gait_level", "clip_min"} <= set(cfg.rewards)


def test_configs_of_older_runs_still_load():
  """Run configs saved before env.reward_scales existed hold the weights in env.rewards."""
  new = loco.env_config().to_dict()
  old = {k: dict(v) if isinstance(v, dict) else v for k, v in new.items()}
  old["rewards"] = {**old.pop("reward_scales"), **old["rewards"]}
  old["randomization"]["restitution_range"] = (0.0, 1.0)
  old["stage2"] = dict(old["stage2"])
  old["stage2"]["rewards"] = old["stage2"].pop("reward_scales")
  assert upgrade_config(old) == new
  assert upgrade_config(new) == new
  cfg = ml_collections.ConfigDict(old)
  cfg.stage = 2
  assert resolve_config(cfg).reward_scales.stand_still == -10.0


def test_stage2_overrides():
  cfg = _config()
  cfg.stage = 2
  r = resolve_config(cfg)
  assert r.randomization.base_mass_add == (-2.0, 5.0)
  assert r.reward_scales.stand_still == -10.0 and r.commands.ranges == (2.5, 1.5, 2.0)
  cfg.stage = 3
  with pytest.raises(ValueError, match="stage"):
    resolve_config(cfg)


def test_domain_randomisation_per_env(venv, state0):
  fields = state0.info["model_fields"]
  nominal = venv.env.mjx_model.body_mass[1]
  add = np.asarray(fields["body_mass"][:, 1] - nominal)
  assert np.all((add >= -1.0) & (add <= 2.0)) and len(set(np.round(add, 5))) == NUM_ENVS
  kp = np.asarray(state0.info["gains"]["kp"])
  assert kp.shape == (NUM_ENVS, 12) and np.all((kp >= 31.5 - 1e-4) & (kp <= 38.5 + 1e-4))
  friction = np.asarray(fields["geom_friction"][:, venv.env.sim.foot_geoms, 0])
  assert np.all((friction >= 0.2) & (friction <= 1.25))


def test_standing_steps_terminate_and_auto_reset(fns, state0):
  _, step = fns
  state = state0
  for _ in range(5):
    state = step(state, jnp.zeros((NUM_ENVS, 12)))
  assert np.all(np.asarray(state.done) == 0)
  assert np.all(np.asarray(state.reward) >= 0.0)  # REASAN clips the summed reward at >= 0
  # Env 0 reaches the time limit, env 1 is turned upside down: both end and are reset.
  info = dict(state.info)
  info["step"] = info["step"].at[0].set(998)
  qpos = state.data.qpos.at[1, 3:7].set(jnp.array([0.0, 1.0, 0.0, 0.0]))
  state = state.replace(info=info, data=state.data.replace(qpos=qpos))
  out = step(state, jnp.zeros((NUM_ENVS, 12)))
  np.testing.assert_array_equal(np.asarray(out.done), [1, 1, 0, 0])
  np.testing.assert_array_equal(np.asarray(out.truncation), [1, 0, 0, 0])
  np.testing.assert_array_equal(np.asarray(out.info["step"]), [0, 0, 6, 6])
  assert float(out.metrics["died"][1]) == 1.0 and float(out.metrics["time_out"][0]) == 1.0
  # The ended envs start fresh at the spawn height; final_obs keeps the pre-reset observation.
  np.testing.assert_allclose(np.asarray(out.data.qpos[:2, 2]), 0.4, atol=1e-6)
  assert not np.allclose(out.info["final_obs"]["state"][1], out.obs["state"][1])
  np.testing.assert_array_equal(out.info["final_obs"]["state"][2], out.obs["state"][2])
  # Per-episode sums: 6 steps since the start; the counters restart after the reset.
  np.testing.assert_allclose(np.asarray(out.info["episode"]["length"]), 6.0)
  np.testing.assert_allclose(np.asarray(out.info["episode_sums"]["length"]), [0, 0, 6, 6])
  # Randomised model fields and motor gains survive the auto-reset (sampled once per env).
  np.testing.assert_array_equal(out.info["model_fields"]["body_mass"],
                                state0.info["model_fields"]["body_mass"])
  np.testing.assert_array_equal(out.info["gains"]["kp"], state0.info["gains"]["kp"])


def test_curriculum_moves_levels(venv, state0):
  env = venv.env
  one = jax.tree.map(lambda x: x[0], state0)
  far = one.data.qpos.at[0].add(5.0)
  up = env.persistent(one.replace(data=one.data.replace(qpos=far)))
  assert int(up["terrain_level"]) == 1
  stay = env.persistent(one)  # did not move: level would go below 0 and is clipped
  assert int(stay["terrain_level"]) == 0
  top = dict(one.info, terrain_level=jnp.asarray(2, jnp.int32))
  wrapped = env.persistent(one.replace(info=top, data=one.data.replace(qpos=far)))
  assert 0 <= int(wrapped["terrain_level"]) < 3


def test_termination_is_clipped_away_unless_added_after_the_clip():
  """REASAN clips the whole sum at 0 (the -200 death term never acts); the option adds it after."""
  dt = 0.02
  terms = {"alive": jnp.float32(0.2 * dt), "flat_orientation": jnp.float32(-5.0 * 0.1 * dt),
           "termination": jnp.float32(-200.0 * dt)}
  assert float(total_reward(terms, 0.0, False)) == 0.0
  np.testing.assert_allclose(float(total_reward(terms, 0.0, True)), 0.0 - 4.0, rtol=1e-6)
  alive = {"alive": jnp.float32(0.2 * dt), "termination": jnp.float32(0.0)}
  np.testing.assert_allclose(float(total_reward(alive, 0.0, True)), 0.004, rtol=1e-6)
  np.testing.assert_allclose(float(total_reward(alive, 0.0, False)), 0.004, rtol=1e-6)
