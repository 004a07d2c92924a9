"""Ray-estimator data collection: a filter policy drives the Go2 among moving obstacles while the
simulated Mid-360 records frames (REASAN filter §9.3; REASAN nav §8.2).

    env = make_collection_env(collection_env_config(None, loco_policy="loco_1.onnx"))
    with SequentialRayWriter("data/train.h5", num_envs=16, capacity=20000) as writer:
      collect(env, policy, writer, num_envs=16, seed=0)

Settings (:func:`collection_env_config`, REASAN ``play_filter.py --collect``, REASAN filter §9.2):
dynamic obstacles at curriculum level 9 (3 active, play speeds 0.5-1.5 m/s), a third of the envs
on returning commands, 11 ray centres and noise-free ground-truth actor rays (also the targets),
no pushes, 20 s episodes, the Mid-360 on. Domain randomisation and proprio noise stay as the
config has them (play keeps them).

Frames (:func:`collect`): after every step, each env whose episode goes on contributes its newest
grid (m), noisy gravity, noisy angular velocity and ground-truth rays (from
``state.info["mid360"]``, :mod:`reasan_jax.tasks.common.lidar`) to its host buffer; an env whose
episode ended at that step hands its buffer to the writer as one whole episode (the terminal
state itself is not recorded: REASAN resets before it observes, REASAN filter §1.1b). The policy acts
deterministically and its recurrent state restarts with every episode (REASAN's play never resets
it; docs/deviations.md). Steps run on the device in jitted chunks of ``chunk`` steps.
"""

from __future__ import annotations

import functools
import time
from typing import Callable

import jax
import ml_collections
import numpy as np

from reasan_jax.core.wrappers import VecEnv
from reasan_jax.eval import EvalError
from reasan_jax.policies.policy import Policy, PolicyError

PLAY_LEVEL = 9
"""Play and collection use curriculum level 9: 3 active obstacles (REASAN filter §7, §9.2)."""
PLAY_SPEED_RANGE = (0.5, 1.5)
"""play_filter.py's obstacle speeds, m/s (REASAN filter §6.3)."""


def collection_env_config(base: ml_collections.ConfigDict | None, loco_policy: str = "",
                          ) -> ml_collections.ConfigDict:
  """The filter env config of a collection run (module docstring).

  Args:
    base: the env section to start from (a filter checkpoint's); None = the default filter env.
    loco_policy: the frozen loco policy (overrides the base's when given).
  """
  from reasan_jax.configs import filter as filter_config  # pylint: disable=import-outside-toplevel

  c = filter_config.env_config()  # today's defaults fill keys an older stored config lacks
  if base is not None:
    c.update(ml_collections.ConfigDict(base.to_dict()).to_dict())
  if loco_policy:
    c.loco_policy = str(loco_policy)
  c.sensors.num_centers = 11
  c.obs.actor_rays = "gt"
  c.randomization.pushes = False
  c.dynamic_obstacles.enabled = True
  c.dynamic_obstacles.speed_range = PLAY_SPEED_RANGE
  c.curriculum.fixed_level = PLAY_LEVEL
  c.episode_length = 1000
  c.commands.fixed = ()
  c.mid360.enabled = True
  c.use_pred_rays = False
  return c


def _frames(state) -> dict[str, jax.Array]:
  """The newest frame of every env of a batched state, and whether it continues an episode."""
  m = state.info["mid360"]
  h = m["history"]
  return {"grid": h.grid[:, -1], "gravity": h.gravity[:, -1], "ang_vel": h.ang_vel[:, -1],
          "gt_rays": m["gt_rays"], "valid": m["valid"], "done": state.done > 0.5}


@functools.lru_cache(maxsize=4)
def _programs(env, num_envs: int, chunk: int) -> tuple[Callable, Callable]:
  vec = VecEnv(env, num_envs)

  def start(policy, key):
    return vec.reset(key), policy.init_carry(num_envs)

  def run(policy, state, carry):
    def body(c, _):
      state, pcarry = c
      action, pcarry = policy.apply(state.obs, pcarry, reset=state.done > 0.5)
      state = vec.step(state, action)
      return (state, pcarry), _frames(state)

    (state, carry), frames = jax.lax.scan(body, (state, carry), None, length=chunk)
    return state, carry, frames

  return jax.jit(start), jax.jit(run)


def collect(env, policy: Policy, writer, num_envs: int, seed: int = 0, chunk: int = 50,
            max_steps: int | None = None, progress: Callable[[dict], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> dict:
  """Runs ``policy`` in ``num_envs`` copies of ``env`` until ``writer`` is full (module docstring).

  Args:
    env: a filter env with the Mid-360 on (:func:`collection_env_config`).
    policy: a filter policy (deterministic actions).
    writer: a :class:`reasan_jax.io.ray_dataset.SequentialRayWriter` with a capacity.
    num_envs: parallel envs. seed: PRNG seed of the resets and noise. chunk: steps per device call.
    max_steps: stop after this many steps even if the writer is not full (None: no limit).
    progress: called with the running summary after every chunk.
    should_stop: polled before every chunk; True ends the collection there (how
      ``collect_rays`` turns SIGINT/SIGTERM into a clean stop).

  Returns:
    Summary ``{"frames", "episodes", "steps", "seconds"}``. Interrupting (KeyboardInterrupt)
    propagates after the episodes written so far are on disk (the writer flushes per episode).

  Raises:
    EvalError: the env has no Mid-360, or the policy does not fit it.
  """
  if getattr(env, "lidar", None) is None:
    raise EvalError("Ray collection needs the env's Mid-360 on (env.mid360.enabled = True).")
  try:
    policy.check_fits(env.observation_size, env.action_size)
  except PolicyError as e:
    raise EvalError(str(e)) from e
  start, run = _programs(env, int(num_envs), int(chunk))
  structure = policy.replace(source="", env_config_json="")
  state, carry = start(structure, jax.random.PRNGKey(int(seed)))
  buffers = [[] for _ in range(num_envs)]
  steps, t0 = 0, time.time()
  summary = {"frames": 0, "episodes": 0, "steps": 0, "seconds": 0.0}
  while (not writer.full and (max_steps is None or steps < max_steps)
         and not (should_stop is not None and should_stop())):
    state, carry, frames = run(structure, state, carry)
    frames = jax.device_get(frames)
    for t in range(int(chunk)):
      for b in range(num_envs):
        if frames["done"][t, b]:
          if buffers[b] and not writer.full:
            episode = buffers[b]
            writer.write_episode(*(np.stack([f[i] for f in episode]) for i in range(4)))
          buffers[b] = []
        elif frames["valid"][t, b]:
          buffers[b].append((frames["grid"][t, b], frames["gravity"][t, b],
                             frames["ang_vel"][t, b], frames["gt_rays"][t, b]))
    steps += int(chunk)
    summary = {"frames": writer.frames, "episodes": writer.episodes, "steps": steps,
               "seconds": time.time() - t0}
    if progress is not None:
      progress(summary)
  return summary


__all__ = ["PLAY_LEVEL", "collect", "collection_env_config"]
