"""VecEnv's deferred-observation hook (Env.advance / start / observe): one observation pass per
step, made on the post-reset state, in REASAN's DirectRLEnv order (REASAN filter §1.1b)."""

from __future__ import annotations

import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

from reasan_jax.core.env import Env, State
from reasan_jax.core.wrappers import VecEnv

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import toy_envs  # noqa: E402  pylint: disable=wrong-import-position


class DeferredCounter(Env):
  """A counter ``x`` += action per step, episodes of 3 steps; the observation ``2 x`` is only
  made by :meth:`observe`, which also counts its calls in ``info["observed"]``."""

  @property
  def action_size(self) -> int:
    return 1

  def start(self, rng, persistent=None):
    del persistent
    x = jax.random.uniform(rng, minval=10.0, maxval=20.0)  # a fresh episode starts at 10..20
    z = jnp.zeros(())
    return State(data={"x": x, "t": jnp.zeros((), jnp.int32)}, obs={"state": jnp.full(1, -1.0)},
                 reward=z, done=z, truncation=z, metrics={},
                 info={"observed": jnp.zeros((), jnp.int32), "advance_obs": jnp.zeros(())})

  def advance(self, state, action):
    x, t = state.data["x"] + action[0], state.data["t"] + 1
    done = (t >= 3).astype(jnp.float32)
    # The final observation: computed here without the deferred part (a marker, -x).
    return state.replace(data={"x": x, "t": t}, obs={"state": -x[None]}, done=done,
                         truncation=done, info={**state.info, "advance_obs": -x})

  traced_observes = 0  # Python calls of observe (once per trace of a VecEnv step: one pass)

  def observe(self, state):
    DeferredCounter.traced_observes += 1
    info = {**state.info, "observed": state.info["observed"] + 1}
    return state.replace(obs={"state": 2.0 * state.data["x"][None]}, info=info)

  def reset(self, rng, persistent=None):
    return self.observe(self.start(rng, persistent))

  def step(self, state, action):
    return self.observe(self.advance(state, action))


def test_vecenv_observes_once_per_step_after_the_auto_reset():
  venv = VecEnv(DeferredCounter(), 4, randomize=False)
  state = venv.reset(jax.random.PRNGKey(0))
  np.testing.assert_array_equal(state.info["observed"], 1)
  step = jax.jit(venv.step)
  ones = jnp.ones((4, 1))
  for t in range(1, 7):
    prev_x = np.asarray(state.data["x"])
    state = step(state, ones)
    x = np.asarray(state.data["x"])
    # The observation is always made from the returned (post-reset) state.
    np.testing.assert_allclose(state.obs["state"][:, 0], 2.0 * x)
    # final_obs is advance's observation of the finished step, before any reset.
    np.testing.assert_allclose(state.info["final_obs"]["state"][:, 0], -(prev_x + 1.0))
    if t % 3 == 0:  # every episode ends: fresh starts (10..20), observed once since the start
      assert np.all(state.done == 1.0) and np.all(x >= 10.0)
      np.testing.assert_array_equal(state.info["observed"], 1)
    else:
      np.testing.assert_allclose(x, prev_x + 1.0)
      np.testing.assert_array_equal(state.info["observed"], 1 + t % 3)


def test_one_observation_pass_per_vecenv_step():
  venv = VecEnv(DeferredCounter(), 4, randomize=False)
  state = venv.reset(jax.random.PRNGKey(0))
  DeferredCounter.traced_observes = 0
  jax.make_jaxpr(venv.step)(state, jnp.ones((4, 1)))
  assert DeferredCounter.traced_observes == 1  # not one for the step and one for the reset


def test_default_hooks_are_step_and_reset():
  env = toy_envs.PointEnv()
  key = jax.random.PRNGKey(1)
  a = env.start(key)
  b = env.reset(key)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)
  action = jnp.ones((env.action_size,))
  for x, y in zip(jax.tree.leaves(env.observe(env.advance(a, action))),
                  jax.tree.leaves(env.step(b, action))):
    np.testing.assert_array_equal(x, y)
