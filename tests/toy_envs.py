"""Tiny pure-JAX tasks (no MJX) written against :class:`reasan_jax.core.env.Env`, for PPO tests.

* :class:`CueMemoryEnv` needs memory: a cue +-1 is visible only at t = 0; the only reward comes at the
  last step of the episode and is ``cue * clip(action, -1, 1)``. A memory-less policy cannot do
  better than 0 in expectation; a recurrent one can reach ~1. The critic sees the cue at every step
  (``privileged_state``), as an asymmetric critic would.
* :class:`PointEnv` is a 2-D point pushed by its action, with both episode ends: termination when it
  leaves the box (no bootstrap) and truncation at the time limit (bootstrapped). It has no
  ``privileged_state`` (the critic falls back to ``state``) and reports ``info["log"]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from reasan_jax.core.env import Env, State


class CueMemoryEnv(Env):
  """Remember a cue shown at t = 0 and report its sign at the last step.

  Observation ``state`` (1 + L,): ``[cue if t == 0 else 0, one_hot(t, L)]``;
  ``privileged_state`` (1 + L,): ``[cue, one_hot(t, L)]``. One action dimension. Episode length
  ``L = episode_length`` steps, ended by termination (nothing to bootstrap).
  """

  def __init__(self, episode_length: int = 4):
    self.episode_length = int(episode_length)

  @property
  def action_size(self) -> int:
    return 1

  def _obs(self, t, cue):
    onehot = jax.nn.one_hot(t, self.episode_length)
    shown = jnp.where(t == 0, cue, 0.0)
    return {"state": jnp.concatenate([shown[None], onehot]),
            "privileged_state": jnp.concatenate([cue[None], onehot])}

  def reset(self, rng, persistent=None):
    del persistent
    cue = jnp.where(jax.random.bernoulli(rng), 1.0, -1.0)
    t = jnp.zeros((), jnp.int32)
    zero = jnp.zeros((), jnp.float32)
    return State(data={"t": t, "cue": cue}, obs=self._obs(t, cue), reward=zero, done=zero,
                 truncation=zero, metrics={"correct": zero}, info={})

  def step(self, state, action):
    t, cue = state.data["t"], state.data["cue"]
    last = t == self.episode_length - 1
    a = jnp.clip(action[0], -1.0, 1.0)
    reward = jnp.where(last, cue * a, 0.0)
    correct = jnp.where(last & (jnp.sign(action[0]) == cue), 1.0, 0.0)
    t = jnp.minimum(t + 1, self.episode_length - 1)
    return state.replace(
        data={"t": t, "cue": cue}, obs=self._obs(t, cue), reward=reward,
        done=last.astype(jnp.float32), truncation=jnp.zeros((), jnp.float32),
        metrics={"correct": correct})


class PointEnv(Env):
  """2-D point, ``pos += step_size * clip(action)``, reward ``-|pos|``.

  Terminates (no bootstrap) when ``max(|pos|) > bound``, truncates after ``episode_length`` steps.
  Observation ``state`` (3,): ``[pos, t / episode_length]``. ``metrics``: ``dist``. ``info["log"]``:
  ``{"progress": t / episode_length}`` (a per-env diagnostic, like a terrain level).
  """

  def __init__(self, episode_length: int = 5, bound: float = 1.2, step_size: float = 0.3):
    self.episode_length = int(episode_length)
    self.bound = bound
    self.step_size = step_size

  @property
  def action_size(self) -> int:
    return 2

  def _obs(self, pos, t):
    frac = t.astype(jnp.float32) / self.episode_length
    return {"state": jnp.concatenate([pos, frac[None]])}, frac

  def reset(self, rng, persistent=None):
    del persistent
    pos = jax.random.uniform(rng, (2,), minval=-1.0, maxval=1.0)
    t = jnp.zeros((), jnp.int32)
    obs, frac = self._obs(pos, t)
    zero = jnp.zeros((), jnp.float32)
    return State(data={"pos": pos, "t": t}, obs=obs, reward=zero, done=zero, truncation=zero,
                 metrics={"dist": zero}, info={"log": {"progress": frac}})

  def step(self, state, action):
    pos = state.data["pos"] + self.step_size * jnp.clip(action, -1.0, 1.0)
    t = state.data["t"] + 1
    dist = jnp.linalg.norm(pos)
    terminated = jnp.max(jnp.abs(pos)) > self.bound
    truncated = (t >= self.episode_length) & ~terminated
    obs, frac = self._obs(pos, t)
    return state.replace(
        data={"pos": pos, "t": t}, obs=obs, reward=-dist,
        done=(terminated | truncated).astype(jnp.float32),
        truncation=truncated.astype(jnp.float32), metrics={"dist": dist},
        info={"log": {"progress": frac}})


class RayToyEnv(Env):
  """A stand-in for the filter/nav observation layout: ``proprio`` (12,) and ``rays`` (180,).

  A point moves in 2-D by ``0.1 * clip(action[:2])``; ``rays`` are the distances (clipped to 3) from
  the point to a unit circle of obstacles sampled per episode, one per degree of azimuth, with a
  smooth bump so neighbouring rays differ; ``proprio`` holds position, time, the last action and
  padding. Three action dimensions (like the filter's vx, vy, wz). Reward ``-|pos|``; ends after
  ``episode_length`` steps (truncation).
  """

  def __init__(self, episode_length: int = 30):
    self.episode_length = int(episode_length)

  @property
  def action_size(self) -> int:
    return 3

  def _obs(self, pos, t, phase, last_action):
    az = jnp.linspace(-jnp.pi, jnp.pi, 180, endpoint=False)
    rays = jnp.clip(1.5 + jnp.sin(3.0 * az + phase) + 0.3 * jnp.cos(az) * pos[0], 0.0, 3.0)
    frac = t.astype(jnp.float32) / self.episode_length
    proprio = jnp.concatenate([pos, frac[None], last_action, jnp.sin(phase + pos),
                               jnp.zeros(4)])
    return {"proprio": proprio, "rays": rays}

  def reset(self, rng, persistent=None):
    del persistent
    k1, k2 = jax.random.split(rng)
    pos = jax.random.uniform(k1, (2,), minval=-1.0, maxval=1.0)
    phase = jax.random.uniform(k2, (), minval=0.0, maxval=6.28)
    t = jnp.zeros((), jnp.int32)
    zero = jnp.zeros((), jnp.float32)
    obs = self._obs(pos, t, phase, jnp.zeros(3))
    return State(data={"pos": pos, "t": t, "phase": phase}, obs=obs, reward=zero, done=zero,
                 truncation=zero, metrics={}, info={})

  def step(self, state, action):
    pos = state.data["pos"] + 0.1 * jnp.clip(action[:2], -1.0, 1.0)
    t = state.data["t"] + 1
    phase = state.data["phase"] + 0.05 * action[2]
    done = (t >= self.episode_length).astype(jnp.float32)
    return state.replace(data={"pos": pos, "t": t, "phase": phase},
                         obs=self._obs(pos, t, phase, jnp.clip(action, -1.0, 1.0)),
                         reward=-jnp.linalg.norm(pos), done=done, truncation=done)
