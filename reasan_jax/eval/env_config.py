"""The one evaluation env config (play, sim2sim, training videos) and a cached env per config.

Evaluation differs from training only in switches: observation noise, domain randomisation and
pushes are off unless asked, rough height fields are shrunk to a few cells (all cells of a
curriculum row are statistically identical, and a small height field builds and renders fast) and
the time limit can be lifted for long steady-state measurements (sim2sim).

    cfg = evaluation_env_config(policy.env_config(), terrain="flat")
    env = make_env(cfg)                                  # the same env object for the same config
    env = policy_env(policy, terrain="rough")            # the policy's training env, or its task's
"""

from __future__ import annotations

import functools
import json
from typing import Any

import ml_collections

from reasan_jax.eval import EvalError

PLAY_ROUGH_GRID = (2, 4)
"""Rough-terrain grid (rows, cols) for play and videos: 2 x 4 cells of 8 m plus an 8 m border."""

TERRAINS = ("flat", "rough")


def evaluation_env_config(env_config: ml_collections.ConfigDict, *, terrain: str | None = None,
                          randomize: bool = False, noise: bool | None = None,
                          pushes: bool | None = None,
                          rough_grid: tuple[int, int] = PLAY_ROUGH_GRID, rough_border: float = 8.0,
                          episode_length: int | None = None) -> ml_collections.ConfigDict:
  """A copy of an env config set up for evaluation.

  Each switch can only keep a feature the config has on (a run trained without pushes is never
  evaluated with them).

  Args:
    env_config: the ``env`` section (a run's, or ``configs.loco.env_config()``).
    terrain: ``"flat"``, ``"rough"`` or None (keep the config's).
    randomize: keep the domain randomisation (model fields, motor gains, external wrench;
      ``reasan-loco.md`` "Domain randomisation").
    noise: keep the actor observation noise; None = as ``randomize``.
    pushes: keep REASAN's pushes; None = as ``randomize``.
    rough_grid: (rows, cols) at most, for rough terrain (play: 2 x 4; sim2sim spawns in the middle
      of 6 x 6 cells so a 20 s walk stays on the terrain).
    rough_border: m of flat ground around a rough grid, at most.
    episode_length: policy steps of the time limit; None keeps the config's.

  Raises:
    EvalError: an unknown terrain, a grid smaller than 1 x 1 or an episode length < 1.
  """
  cfg = ml_collections.ConfigDict(env_config.to_dict())
  if terrain is not None:
    if terrain not in TERRAINS:
      raise EvalError(f"--terrain must be flat or rough, got {terrain!r}.")
    cfg.terrain = terrain
  noise = randomize if noise is None else noise
  pushes = randomize if pushes is None else pushes
  if "obs" in cfg and "noise" in cfg.obs:
    cfg.obs.noise = bool(noise) and bool(env_config.obs.noise)
  if "randomization" in cfg:
    r = env_config.randomization
    cfg.randomization.enabled = bool(randomize) and bool(r.get("enabled", False))
    cfg.randomization.pushes = bool(pushes) and bool(r.get("pushes", False))
  if cfg.get("terrain") == "rough" and "terrain_config" in cfg:
    rows, cols = (int(x) for x in rough_grid)
    if rows < 1 or cols < 1:
      raise EvalError(f"The rough grid must have at least 1 x 1 cells, got {rows} x {cols}.")
    t = cfg.terrain_config
    t.num_rows = min(int(t.num_rows), rows)
    t.num_cols = min(int(t.num_cols), cols)
    t.border = min(float(t.border), float(rough_border))
  if episode_length is not None:
    if int(episode_length) < 1:
      raise EvalError(f"The episode length must be at least 1 policy step, got {episode_length}.")
    cfg.episode_length = int(episode_length)
  return cfg


@functools.lru_cache(maxsize=4)
def _cached_env(config_json: str):
  from reasan_jax import registry  # pylint: disable=import-outside-toplevel
  from reasan_jax.io import config_loader  # pylint: disable=import-outside-toplevel

  return registry.make_env(config_loader.config_from_dict(json.loads(config_json)))


def make_env(env_config: ml_collections.ConfigDict) -> Any:
  """The single-env task of ``env_config`` (through :func:`reasan_jax.registry.make_env`).

  Envs are cached per config (the four most recent), so repeated calls give the same env object
  and :func:`reasan_jax.eval.rollout.rollout` reuses its compiled programs.

  Raises:
    ValueError: the config names no registered task.
  """
  from reasan_jax.io import config_loader  # pylint: disable=import-outside-toplevel

  return _cached_env(json.dumps(config_loader.config_to_dict(env_config), sort_keys=True))


def policy_env_config(policy, *, terrain: str | None = None, randomize: bool = False,
                      **switches) -> ml_collections.ConfigDict:
  """The evaluation env config of ``policy``: its training env, else its task's default env.

  A policy without a stored training env (a REASAN ONNX file) is evaluated on flat ground unless
  ``terrain`` says otherwise. Other keyword arguments go to :func:`evaluation_env_config`.

  Raises:
    reasan_jax.policies.policy.PolicyError: the policy names no task and stores no env.
    EvalError: see :func:`evaluation_env_config`.
  """
  from reasan_jax.policies.load import default_env_config  # pylint: disable=import-outside-toplevel

  trained = policy.env_config() is not None
  if terrain is None and not trained:
    terrain = "flat"
  return evaluation_env_config(default_env_config(policy), terrain=terrain, randomize=randomize,
                               **switches)


def policy_env(policy, *, terrain: str | None = None, randomize: bool = False, **switches) -> Any:
  """:func:`make_env` of :func:`policy_env_config` (the env to evaluate ``policy`` in)."""
  return make_env(policy_env_config(policy, terrain=terrain, randomize=randomize, **switches))
