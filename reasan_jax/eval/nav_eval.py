"""Sim2sim for navigation policies: fixed held-out layouts and seeds, with and without the filter
(issue 14 item 4; REASAN itself has no success metric, REASAN nav §3.6).

Layouts (REASAN's play-time sensing: 11 ray centres, noise-free GT actor rays; observation noise,
pushes and domain randomisation off, REASAN nav §9.2), all in worlds generated with
``world_seed`` (default 1; training uses seed 0, so the layouts are held out):

* ``grid``: every env in the general grid (region A), no dynamic obstacles;
* ``grid_dynamic``: the grid with dynamic obstacles at curriculum level 9 (9 active, play speeds
  0.5-1.5 m/s, REASAN nav §3.5, §4.8);
* ``maze``: every env in the perfect maze (region C).

Each env runs one episode of REASAN's 15 s horizon; after it ends the env is ignored. Modes:
``filter`` (nav -> frozen filter -> frozen loco, REASAN's stack) and ``no_filter`` (the nav
command goes straight to the loco policy,
:func:`reasan_jax.tasks.common.frozen_chain.passthrough_filter`). Per layout and mode: arrival
within 0.5 / 1 / 2 m of the goal at the episode's end (however it ended), success (the time-out
reached within 1 m: no collision, no fall), the collision rate (episodes ended by an undesired
body touching a pillar or obstacle), the fall rate (other terminations), the mean time of the
first arrival within 1 m over the episodes that got there, the mean final distance and path
length.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from reasan_jax.core.wrappers import VecEnv
from reasan_jax.eval import EvalError
from reasan_jax.policies.policy import Policy, PolicyError
from reasan_jax.scenes import nav_worlds

LAYOUTS = ("grid", "grid_dynamic", "maze")
MODES = ("filter", "no_filter")
PLAY_LEVEL = 9
"""Play forces curriculum level 9: 9 active dynamic obstacles in grid envs (REASAN nav §3.5)."""
WORLD_SEED = 1
"""Evaluation worlds are generated with seed 1 (training: seed 0)."""


@dataclasses.dataclass(frozen=True)
class NavResult:
  """One row of the nav sim2sim table (the ``--json`` record)."""

  layout: str
  mode: str
  episodes: int
  arrival_rate_0_5m: float
  arrival_rate_1m: float
  arrival_rate_2m: float
  success_rate_1m: float  # ended by the time-out (no collision, no fall) within 1 m
  collision_rate: float
  fall_rate: float
  mean_time_to_goal_s: float  # first arrival within 1 m, over the episodes that got there (nan: none)
  mean_final_distance_m: float
  mean_path_length_m: float

  def record(self) -> dict:
    """The ``--json`` record (a plain dict)."""
    return dataclasses.asdict(self)


def layout_env_config(base: ml_collections.ConfigDict | None, layout: str, *,
                      filter_policy: str = "", loco_policy: str = "", num_centers: int = 11,
                      world_seed: int = WORLD_SEED, full_size: bool = True
                      ) -> ml_collections.ConfigDict:
  """The nav env config of one layout (module docstring).

  Args:
    base: the env section to start from (a checkpoint's); None = ``configs.nav.env_config()``.
    layout: one of :data:`LAYOUTS`.
    filter_policy, loco_policy: frozen policy sources (override the base's when given).
    num_centers: ray centres (11 = REASAN's play). world_seed: seed of the evaluation worlds.
    full_size: REASAN's 15 x 15 sub-block grid and 40 x 40 maze (False: the base's sizes).

  Raises:
    EvalError: an unknown layout.
  """
  if layout not in LAYOUTS:
    raise EvalError(f"Unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}.")
  if base is None:
    from reasan_jax.configs import nav as nav_config  # pylint: disable=import-outside-toplevel

    base = nav_config.env_config()
  c = ml_collections.ConfigDict(base.to_dict())
  c.filter_policy = str(filter_policy) or c.filter_policy
  c.loco_policy = str(loco_policy) or c.loco_policy
  c.obs.noise = False
  c.obs.actor_rays = "gt"
  c.sensors.num_centers = int(num_centers)
  c.randomization.enabled = False
  c.randomization.pushes = False
  c.world.seed = int(world_seed)
  if full_size:
    c.world.grid_blocks, c.world.maze_cells = nav_worlds.GRID_BLOCKS, nav_worlds.MAZE_CELLS
  c.grid_fraction = 0.0 if layout == "maze" else 1.0
  c.dynamic_obstacles.enabled = layout == "grid_dynamic"
  if layout == "grid_dynamic":
    c.dynamic_obstacles.speed_range = (0.5, 1.5)  # play_nav.py default (REASAN nav §4.8)
  return c


@functools.partial(jax.jit, static_argnames=("venv", "steps", "level"))
def _rollout(venv: VecEnv, policy: Policy, key: jax.Array, steps: int, level: int | None):
  """One episode per env; returns the ended flag and the episode sums of the first episode."""
  persistent = venv.env.initial_persistent(jax.random.fold_in(key, 1), venv.num_envs)
  if level is not None:
    persistent["terrain_level"] = jnp.full((venv.num_envs,), level, jnp.int32)
  state = venv.reset(key, persistent)
  keys = ("final_distance", "arrived_0.5m", "arrived_1m", "arrived_2m", "collision", "died",
          "reached_1m", "time_to_1m", "path_length")
  zero = {k: jnp.zeros((venv.num_envs,)) for k in keys}

  def body(carry, _):
    state, pcarry, alive, out = carry
    action, pcarry = policy.apply(state.obs, pcarry, reset=state.done > 0.5)
    nxt = venv.step(state, action)
    ended = alive & (nxt.done > 0.5)
    out = {k: jnp.where(ended, nxt.info["episode"][k], out[k]) for k in keys}
    return (nxt, pcarry, alive & ~ended, out), None

  alive = jnp.ones((venv.num_envs,), bool)
  (_, _, alive, out), _ = jax.lax.scan(
      body, (state, policy.init_carry(venv.num_envs), alive, zero), None, length=steps)
  return ~alive, out


def evaluate(env, policy: Policy, layout: str, mode: str, num_envs: int = 32,
             seed: int = 0) -> NavResult:
  """One layout and mode in ``env`` (built from :func:`layout_env_config`; for ``no_filter``
  with the pass-through filter).

  Raises:
    EvalError: an unknown layout. PolicyError: a nav policy that does not fit the env.
  """
  if layout not in LAYOUTS:
    raise EvalError(f"Unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}.")
  policy.check_fits(env.observation_size, env.action_size, role="nav policy")
  venv = VecEnv(env, int(num_envs), randomize=False)
  steps = int(env.config.episode_length)
  level = PLAY_LEVEL if layout == "grid_dynamic" else None
  ended, out = _rollout(venv, policy, jax.random.PRNGKey(seed), steps, level)
  ended = np.asarray(ended)
  out = {k: np.where(ended, np.asarray(v), np.nan) for k, v in out.items()}
  n = int(num_envs)
  collided = out["collision"] > 0
  reached = out["reached_1m"] > 0
  mean = lambda x: float(np.nanmean(x)) if np.isfinite(x).any() else float("nan")  # noqa: E731
  return NavResult(
      layout=layout, mode=mode, episodes=n,
      arrival_rate_0_5m=float(np.nansum(out["arrived_0.5m"]) / n),
      arrival_rate_1m=float(np.nansum(out["arrived_1m"]) / n),
      arrival_rate_2m=float(np.nansum(out["arrived_2m"]) / n),
      success_rate_1m=float(((out["arrived_1m"] > 0) & ~(out["died"] > 0)).sum() / n),
      collision_rate=float(collided.sum() / n),
      fall_rate=float(((out["died"] > 0) & ~collided).sum() / n),
      mean_time_to_goal_s=mean(np.where(reached, out["time_to_1m"], np.nan)),
      mean_final_distance_m=mean(out["final_distance"]),
      mean_path_length_m=mean(out["path_length"]))


def run(policy: Policy, filter_policy: str, loco_policy: str,
        layouts: Sequence[str] = LAYOUTS, modes: Sequence[str] = MODES, num_envs: int = 32,
        seed: int = 0, base: ml_collections.ConfigDict | None = None,
        world_seed: int = WORLD_SEED, full_size: bool = True) -> list[NavResult]:
  """Every layout x mode (the nav sim2sim table).

  Raises:
    EvalError: an unknown layout or mode. PolicyError / NavConfigError: a policy of the wrong
      kind or missing (one sentence).
  """
  from reasan_jax.tasks.common import frozen_chain  # pylint: disable=import-outside-toplevel
  from reasan_jax.tasks.nav import observations  # pylint: disable=import-outside-toplevel
  from reasan_jax.tasks.nav.env import NavEnv, load_frozen_policies  # pylint: disable=import-outside-toplevel

  for m in modes:
    if m not in MODES:
      raise EvalError(f"Unknown mode {m!r}; choose from {', '.join(MODES)}.")
  policy.check_fits(observations.OBS_SIZES, 3, role="nav policy")
  frozen = None
  out = []
  for layout in layouts:
    cfg = layout_env_config(base, layout, filter_policy=filter_policy, loco_policy=loco_policy,
                            world_seed=world_seed, full_size=full_size)
    if frozen is None:
      frozen = load_frozen_policies(cfg)
    world = None
    for mode in modes:
      filt = frozen[0] if mode == "filter" else frozen_chain.passthrough_filter()
      env = NavEnv(cfg, filter_policy=filt, loco_policy=frozen[1], world=world)
      world = env.world
      out.append(evaluate(env, policy, layout, mode, num_envs, seed))
  return out


def format_table(results: Sequence[NavResult]) -> str:
  """The nav sim2sim table as text."""
  lines = [f"{'layout':<14}{'mode':<11}{'episodes':>9}{'arr<0.5m':>10}{'arr<1m':>8}{'arr<2m':>8}"
           f"{'success':>9}{'collision':>11}{'fall':>7}{'t_goal s':>10}{'final d m':>11}{'path m':>8}"]
  for r in results:
    lines.append(f"{r.layout:<14}{r.mode:<11}{r.episodes:>9}{r.arrival_rate_0_5m:>10.3f}"
                 f"{r.arrival_rate_1m:>8.3f}{r.arrival_rate_2m:>8.3f}{r.success_rate_1m:>9.3f}"
                 f"{r.collision_rate:>11.3f}"
                 f"{r.fall_rate:>7.3f}{r.mean_time_to_goal_s:>10.2f}"
                 f"{r.mean_final_distance_m:>11.2f}{r.mean_path_length_m:>8.2f}")
  return "\n".join(lines)


__all__ = ["LAYOUTS", "MODES", "NavResult", "layout_env_config", "evaluate", "run",
           "format_table", "PolicyError"]
