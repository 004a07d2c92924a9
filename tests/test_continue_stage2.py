"""Continuing a loco run from a stage-1 checkpoint into stage 2 (REASAN's ``--second_stage``).

The continued run keeps the learner (parameters, optimiser, learning rate) and builds a fresh env
from the stage-2 config, so stage 2's base-mass range U(-2, 5) kg is in effect instead of stage 1's
U(-1, 2) kg (reasan-loco.md "Domain randomisation", "Stages"), and the curriculum starts at 0.
"""

from __future__ import annotations

import jax
import numpy as np

from reasan_jax.cli import train
from reasan_jax.io import checkpoints as ckpt_lib
from reasan_jax.io import config_loader
from reasan_jax.robots import go2

import tiny_loco

NUM_ENVS = 64


def _config(stage: int):
  overrides = [o for o in tiny_loco.OVERRIDES if "num_envs" not in o and "minibatches" not in o]
  return config_loader.load_config(tiny_loco.CONFIG, overrides + [
      f"--config.ppo.num_envs={NUM_ENVS}", "--config.ppo.num_minibatches=1",
      f"--config.env.stage={stage}"])


def _added_mass(state) -> np.ndarray:
  masses = np.asarray(state.env_state.info["model_fields"]["body_mass"])  # (N, nbody)
  base = go2.robot_ids(go2.load_model()).base_body
  nominal = go2.load_model().body_mass[base]
  return masses[:, base] - nominal


def test_stage2_continuation_uses_the_stage2_mass_range(tmp_path):
  cfg1 = _config(1)
  trainer1 = train.make_trainer(train.make_env(cfg1), cfg1)
  state1 = trainer1.init(jax.random.PRNGKey(0))
  state1 = state1.replace(learning_rate=state1.learning_rate * 0.5,  # something to carry over
                          iteration=state1.iteration + 3)
  ckpt = ckpt_lib.Checkpointer(tmp_path / "stage1", keep=1)
  ckpt.save(3, state1, cfg1, policy=trainer1.policy(state1))
  ckpt.close()
  add1 = _added_mass(state1)
  assert add1.min() >= -1.0 - 1e-5 and add1.max() <= 2.0 + 1e-5

  cfg2 = _config(2)
  trainer2 = train.make_trainer(train.make_env(cfg2), cfg2)
  state2 = ckpt_lib.restore_learner(tmp_path / "stage1", trainer2.init(jax.random.PRNGKey(1)), cfg2)
  add2 = _added_mass(state2)
  assert add2.min() >= -2.0 - 1e-5 and add2.max() <= 5.0 + 1e-5
  assert (add2 > 2.0).sum() >= NUM_ENVS // 8 and (add2 < -1.0).sum() >= 1  # outside stage 1's range
  assert int(state2.iteration) == 3
  assert float(state2.learning_rate) == float(state1.learning_rate)
  for a, b in zip(jax.tree.leaves(state1.params), jax.tree.leaves(state2.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert np.all(np.asarray(state2.env_state.info["terrain_level"]) == 0)
