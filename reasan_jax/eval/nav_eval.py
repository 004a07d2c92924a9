"""Sim2sim for navigation policies: fixed held-out layouts, filter vs no filter (issue 14 item 4).

A nav policy drives the frozen chain nav -> filter -> loco (REASAN nav §1.3) in the nav env with
REASAN's play conditions (REASAN nav §9.2): observation noise, pushes and domain randomisation off,
actor rays the noise-free minimum over 11 ray centres (``obs.actor_rays = "gt"``). The worlds are
built from a **held-out** seed (:func:`held_out_seed`, never the training world's) and the resets
from a fixed seed, so every row of every run sees the same spawn/goal pairs.

Layouts (:data:`LAYOUTS`):

* ``grid``: the general grid (REASAN's region A, type-1 envs), no dynamic obstacles;
* ``grid_dynamic``: the grid with REASAN's 9 dynamic obstacles at curriculum level 9 (9 active,
  ring radius U(2, 7.5) m, play speeds 0.5-1.5 m/s; as in REASAN, 10 % of the episodes draw
  "all obstacles off", REASAN nav §4.8);
* ``maze``: the perfect maze (region C, type-3 envs).

Modes (:data:`MODES`): ``filter`` (the nav command goes through the frozen filter, then the frozen
loco policy) and ``no_filter`` (the nav command goes straight to the loco policy: the filter slot
holds :func:`reasan_jax.tasks.common.frozen_chain.passthrough_filter`, which returns its command
input; the loco policy still clamps it to +-(2.5, 1.5, 3.0)).

Each env runs ONE episode of REASAN's 15 s horizon (750 steps; every env starts at step 0, so all
end by then); later episodes of an env are ignored. Per episode (beyond REASAN, whose play has no
success metric, REASAN nav §3.6): arrival within 0.5 / 1 / 2 m of the goal at the episode end,
collision (ended by an undesired body touching a pillar or a dynamic obstacle), fall (ended
otherwise before the time-out), the time of the first arrival within 1 m, the path length (sum of
the base's xy displacements per step) and the start and final distances; "success" is an
episode that reached the time-out within 1 m of the goal. A row
(:class:`NavResult`) holds the means; ``mean_time_to_goal_s`` is the mean first-arrival time over
the episodes that came within 1 m at some point (None when none did).

All three layouts of a mode run in ONE compiled program (the layout is the envs' persistent region
and curriculum level, traced), so a table compiles twice (filter, no filter).
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
from reasan_jax.tasks.common import frozen_chain
from reasan_jax.tasks.nav.env import NavEnv

LAYOUTS = ("grid", "grid_dynamic", "maze")
MODES = ("filter", "no_filter")
PLAY_LEVEL = 9
"""REASAN's play forces curriculum level 9 (REASAN nav §3.5): 9 active dynamic obstacles."""
PLAY_SPEED_RANGE = (0.5, 1.5)
"""Dynamic obstacle speeds in play, m/s (REASAN nav §4.8, ``--obst_speed_range`` default)."""
PLAY_NUM_CENTERS = 11
"""Ray centres of REASAN's play env (REASAN nav §2.1, §9.2)."""
EVAL_WORLD_SEED = 1
"""World seed of the evaluation (REASAN and our training use 0; see :func:`held_out_seed`)."""


def held_out_seed(train_seed: int) -> int:
  """The evaluation world seed: :data:`EVAL_WORLD_SEED`, or the next one if training used it."""
  return EVAL_WORLD_SEED if int(train_seed) != EVAL_WORLD_SEED else EVAL_WORLD_SEED + 1


@dataclasses.dataclass(frozen=True)
class NavResult:
  """One row of the nav sim2sim table (the ``--json`` record; rates are fractions of episodes).

  Attributes:
    layout, mode: see :data:`LAYOUTS`, :data:`MODES`. episodes: count.
    arrival_rate_0_5m, arrival_rate_1m, arrival_rate_2m: final distance to the goal within
      0.5 / 1 / 2 m at the episode end.
    reached_rate_1m: came within 1 m at some step.
    success_rate_1m: reached the time-out (no collision, no fall) within 1 m of the goal.
    collision_rate: ended by a body touching an obstacle. fall_rate: ended otherwise before the
      time-out.
    mean_time_to_goal_s: mean time of the first arrival within 1 m, s, over the episodes that
      arrived (None if none did).
    mean_path_length_m, mean_final_distance_m, mean_start_distance_m: means, m.
    world_seed, seed: the world and reset seeds.
    per_episode: per-episode lists (``arrived_1m``, ``collision``, ``time_to_1m`` (None when
      never), ``path_length``, ``final_distance``, ``start_distance``, ...).
  """

  layout: str
  mode: str
  episodes: int
  arrival_rate_0_5m: float
  arrival_rate_1m: float
  arrival_rate_2m: float
  reached_rate_1m: float
  success_rate_1m: float
  collision_rate: float
  fall_rate: float
  mean_time_to_goal_s: float | None
  mean_path_length_m: float
  mean_final_distance_m: float
  mean_start_distance_m: float
  world_seed: int
  seed: int
  per_episode: dict = dataclasses.field(default_factory=dict, repr=False)

  def record(self) -> dict:
    """The ``--json`` record (a plain dict)."""
    return dataclasses.asdict(self)


def eval_env_config(base: ml_collections.ConfigDict | None, *, filter_policy: str = "",
                    loco_policy: str = "", duration: float = 15.0,
                    world_seed: int | None = None, grid_blocks: int | None = None,
                    maze_cells: int | None = None, num_pairs: int | None = None,
                    num_centers: int = PLAY_NUM_CENTERS,
                    estimator: str = "") -> ml_collections.ConfigDict:
  """The nav env config of the evaluation (module docstring); one config for all layouts.

  Args:
    base: the env section to start from (a nav run's); None = ``configs.nav.env_config()``
      (REASAN's full-size worlds: 15 x 15 sub-blocks, 40 x 40 maze).
    filter_policy, loco_policy: frozen policy paths (override the base's when given).
    duration: episode length, s (REASAN: 15).
    world_seed: the worlds' seed; None = :func:`held_out_seed` of the base's.
    grid_blocks, maze_cells, num_pairs: world sizes (None: the base's).
    num_centers: ray centres (11 = REASAN's play).
    estimator: a trained ray estimator (``python -m reasan_jax.train_estimator``): the nav
      policy's actor rays (and the filter's) are its predictions from the simulated Mid-360
      instead of ground-truth rays (REASAN nav §8.6); "" = ground truth.

  Raises:
    EvalError: a duration shorter than one step or a world size below 1.
  """
  if base is None:
    from reasan_jax.configs import nav as nav_config  # pylint: disable=import-outside-toplevel

    base = nav_config.env_config()
  c = ml_collections.ConfigDict(base.to_dict())
  if filter_policy:
    c.filter_policy = str(filter_policy)
  if loco_policy:
    c.loco_policy = str(loco_policy)
  if estimator:
    c.use_pred_rays = True
    c.estimator = str(estimator)
  steps = int(round(float(duration) / (c.sim_dt * c.decimation)))
  if steps < 1:
    raise EvalError(f"The episode duration must be at least one 0.02 s step, got {duration} s.")
  c.episode_length = steps
  c.obs.noise = False
  c.obs.actor_rays = "gt"
  c.sensors.num_centers = int(num_centers)
  c.randomization.enabled = False
  c.randomization.pushes = False
  c.dynamic_obstacles.enabled = True  # level 0 = none: "grid" and "maze" park them all
  c.dynamic_obstacles.speed_range = PLAY_SPEED_RANGE
  c.world.seed = held_out_seed(c.world.seed) if world_seed is None else int(world_seed)
  for name, value in (("grid_blocks", grid_blocks), ("maze_cells", maze_cells),
                      ("num_pairs", num_pairs)):
    if value is not None:
      if int(value) < 1:
        raise EvalError(f"--{name} must be at least 1, got {value}.")
      c.world[name] = int(value)
  return c


def layout_persistent(env, layout: str, key: jax.Array, num_envs: int) -> dict[str, jax.Array]:
  """First-episode persistent values of ``num_envs`` envs of ``layout`` (region and level).

  Raises:
    EvalError: an unknown layout.
  """
  from reasan_jax.scenes import nav_worlds  # pylint: disable=import-outside-toplevel

  if layout not in LAYOUTS:
    raise EvalError(f"Unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}.")
  p = dict(env.initial_persistent(key, num_envs))
  region = nav_worlds.MAZE if layout == "maze" else nav_worlds.GRID
  p["region"] = jnp.full((num_envs,), region, jnp.int32)
  p["terrain_level"] = jnp.full((num_envs,), PLAY_LEVEL if layout == "grid_dynamic" else 0,
                                jnp.int32)
  return p


class LayoutNavEnv(NavEnv):
  """A :class:`~reasan_jax.tasks.nav.env.NavEnv` whose every episode is in one layout: the region
  and curriculum level are forced at every reset, as REASAN's play forces the tracked env's level
  (REASAN nav §3.5, §9.2). For ``play``; the sim2sim rows use :func:`layout_persistent`.

  Args:
    config: an :func:`eval_env_config`. layout: one of :data:`LAYOUTS`.
    **kwargs: :class:`NavEnv`'s (``filter_policy``, ``loco_policy``, ``world``).

  Raises:
    EvalError: an unknown layout; plus :class:`NavEnv`'s errors.
  """

  def __init__(self, config: ml_collections.ConfigDict, layout: str, **kwargs):
    from reasan_jax.scenes import nav_worlds  # pylint: disable=import-outside-toplevel

    if layout not in LAYOUTS:
      raise EvalError(f"Unknown nav layout {layout!r}; choose from {', '.join(LAYOUTS)}.")
    super().__init__(config, **kwargs)
    self.layout = layout
    self._region = nav_worlds.MAZE if layout == "maze" else nav_worlds.GRID
    self._level = PLAY_LEVEL if layout == "grid_dynamic" else 0

  def _force(self, p: dict) -> dict:
    p = dict(p)
    p["region"] = jnp.full_like(p["region"], self._region)
    p["terrain_level"] = jnp.full_like(p["terrain_level"], self._level)
    return p

  def persistent(self, state):
    """:meth:`NavEnv.persistent` with the layout's region and level."""
    return self._force(super().persistent(state))

  def first_persistent(self, rng, region=None):
    """:meth:`NavEnv.first_persistent` with the layout's region and level."""
    return self._force(super().first_persistent(rng, region))

  def initial_persistent(self, rng, num_envs):
    """:meth:`NavEnv.initial_persistent` with the layout's region and level."""
    return self._force(super().initial_persistent(rng, num_envs))


@functools.lru_cache(maxsize=8)
def _venv(env, num_envs: int) -> VecEnv:
  return VecEnv(env, num_envs, randomize=False)


@functools.partial(jax.jit, static_argnames=("venv", "steps"))
def _rollout(venv: VecEnv, policy: Policy, key: jax.Array, persistent, steps: int):
  """Per env the episode sums of the first episode (``info["episode"]``), whether it is still
  running after ``steps`` steps, and its start distance."""
  state = venv.reset(key, persistent)
  start = state.info["start_dist"]
  alive = jnp.ones((venv.num_envs,), bool)
  first = jax.tree.map(jnp.zeros_like, state.info["episode"])

  def body(carry, _):
    state, pcarry, alive, first = carry
    action, pcarry = policy.apply(state.obs, pcarry, reset=state.done > 0.5)
    nxt = venv.step(state, action)
    ended = alive & (nxt.done > 0.5)
    first = jax.tree.map(lambda a, e: jnp.where(ended, e, a), first, nxt.info["episode"])
    return (nxt, pcarry, alive & ~ended, first), None

  (_, _, alive, first), _ = jax.lax.scan(
      body, (state, policy.init_carry(venv.num_envs), alive, first), None, length=steps)
  return first, alive, start


def evaluate(env, policy: Policy, layout: str, num_envs: int = 64, seed: int = 0,
             mode: str = "filter") -> NavResult:
  """One layout in ``env`` (a :class:`~reasan_jax.tasks.nav.env.NavEnv` of
  :func:`eval_env_config`; its frozen filter decides the mode, ``mode`` only labels the row).

  Args:
    policy: the nav policy. layout: one of :data:`LAYOUTS`. num_envs: episodes.
    seed: reset seed (the same seed gives every layout and mode the same spawn/goal pairs).

  Raises:
    EvalError: unknown layout. PolicyError: a nav policy that does not fit the env.
  """
  check_nav_policy(policy)
  n = int(num_envs)
  if n < 1:
    raise EvalError(f"--episodes must be at least 1, got {num_envs}.")
  key = jax.random.PRNGKey(int(seed))
  persistent = layout_persistent(env, layout, jax.random.fold_in(key, 1), n)
  steps = int(env.config.episode_length)
  structure = policy.replace(source="", env_config_json="")
  first, alive, start = jax.device_get(_rollout(_venv(env, n), structure, key, persistent, steps))
  if np.any(alive):
    raise RuntimeError(f"{int(np.sum(alive))} of {n} nav episodes did not end within the "
                       f"{steps}-step horizon; the env's time-out changed.")
  ep = {k: np.asarray(v, np.float64) for k, v in first.items()}
  collided = ep["collision"] > 0.5
  fell = (ep["died"] > 0.5) & ~collided
  reached = ep["reached_1m"] > 0.5
  t_goal = np.where(reached, ep["time_to_1m"], np.nan)
  per = {"arrived_0.5m": ep["arrived_0.5m"] > 0.5, "arrived_1m": ep["arrived_1m"] > 0.5,
         "arrived_2m": ep["arrived_2m"] > 0.5, "reached_1m": reached, "collision": collided,
         "fall": fell, "time_to_1m": t_goal, "path_length": ep["path_length"],
         "final_distance": ep["final_distance"], "start_distance": np.asarray(start, np.float64),
         "length_s": ep["length"] * env.dt}
  per_lists = {k: [None if (isinstance(x, float) and np.isnan(x)) else x
                   for x in np.asarray(v).tolist()] for k, v in per.items()}
  return NavResult(
      layout=layout, mode=mode, episodes=n,
      arrival_rate_0_5m=float(per["arrived_0.5m"].mean()),
      arrival_rate_1m=float(per["arrived_1m"].mean()),
      arrival_rate_2m=float(per["arrived_2m"].mean()),
      reached_rate_1m=float(reached.mean()),
      success_rate_1m=float((per["arrived_1m"] & (ep["died"] < 0.5)).mean()),
      collision_rate=float(collided.mean()),
      fall_rate=float(fell.mean()),
      mean_time_to_goal_s=float(np.nanmean(t_goal)) if reached.any() else None,
      mean_path_length_m=float(per["path_length"].mean()),
      mean_final_distance_m=float(per["final_distance"].mean()),
      mean_start_distance_m=float(per["start_distance"].mean()),
      world_seed=int(env.config.world.seed), seed=int(seed), per_episode=per_lists)


def load_chain(filter_policy: str, loco_policy: str):
  """``(filter, loco)`` frozen policies from paths (runs, checkpoints or ONNX files), each checked
  to be of its kind.

  Raises:
    EvalError: a path not given. PolicyError: unreadable, or of the wrong kind (one sentence
      naming ``--filter_onnx`` or ``--loco_onnx``).
  """
  from reasan_jax.policies.load import load_policy  # pylint: disable=import-outside-toplevel

  out = []
  for path, option, what, inputs, actions in (
      (filter_policy, "--filter_onnx", "safety filter (e.g. REASAN's filter_1.onnx)",
       frozen_chain.FILTER_INPUTS, frozen_chain.FILTER_ACTIONS),
      (loco_policy, "--loco_onnx", "locomotion policy (e.g. REASAN's loco_1.onnx)",
       frozen_chain.LOCO_INPUTS, frozen_chain.LOCO_ACTIONS)):
    if not path:
      raise EvalError(f"Give the frozen {what} with {option} PATH.")
    policy = load_policy(str(path))
    try:
      policy.check_fits(inputs, actions, role=f"{option} policy")
    except PolicyError as e:
      raise PolicyError(f"{option} must be a {what} reading {_signature(inputs)} with {actions} "
                        f"outputs, but {policy.source} reads {_signature(dict(policy.obs_spec))} "
                        f"with {policy.action_size}.") from e
    out.append(policy)
  return tuple(out)


def _signature(inputs) -> str:
  return " + ".join(f"{k} ({'x'.join(str(d) for d in v)})" for k, v in dict(inputs).items())


def check_nav_policy(policy: Policy) -> None:
  """Raises PolicyError (one sentence) unless ``policy`` reads groups of the nav observation
  (REASAN's nav_1.onnx: ``proprio`` (11) + ``rays`` (180)) and outputs 3 actions."""
  from reasan_jax.tasks.nav import observations  # pylint: disable=import-outside-toplevel

  try:
    policy.check_fits(observations.OBS_SIZES, 3, role="nav policy")
  except PolicyError as e:
    raise PolicyError(f"The nav policy must read groups of the nav observation (e.g. proprio (11) "
                      f"+ rays (180)) with 3 outputs, but {policy.source} reads "
                      f"{_signature(dict(policy.obs_spec))} with {policy.action_size}; pass a nav "
                      "policy such as REASAN's nav_1.onnx.") from e


def run(policy: Policy, filter_policy: str | Policy, loco_policy: str | Policy,
        layouts: Sequence[str] = LAYOUTS, modes: Sequence[str] = MODES, num_envs: int = 64,
        seed: int = 0, base: ml_collections.ConfigDict | None = None, **config) -> list[NavResult]:
  """Every layout x mode (the nav sim2sim table), rows in mode-major order.

  Args:
    policy: the nav policy. filter_policy, loco_policy: the frozen chain (paths or policies).
    layouts, modes: subsets of :data:`LAYOUTS`, :data:`MODES`. num_envs: episodes per row.
    seed: reset seed. base: the nav env section to start from (a run's).
    **config: more :func:`eval_env_config` arguments (duration, world sizes, world_seed,
      estimator).

  Raises:
    EvalError, PolicyError: one sentence naming the input that cannot be used.
  """
  for name, given, allowed in (("layout", layouts, LAYOUTS), ("mode", modes, MODES)):
    for x in given:
      if x not in allowed:
        raise EvalError(f"Unknown {name} {x!r}; choose from {', '.join(allowed)}.")
  check_nav_policy(policy)
  if isinstance(filter_policy, Policy) and isinstance(loco_policy, Policy):
    filt, loco = filter_policy, loco_policy
  else:
    filt, loco = load_chain(str(filter_policy), str(loco_policy))
  paths = {k: v for k, v in (("filter_policy", filter_policy), ("loco_policy", loco_policy))
           if isinstance(v, str)}
  cfg = eval_env_config(base, **paths, **config)
  out, world = [], None
  for mode in modes:
    env = NavEnv(cfg, filter_policy=filt if mode == "filter" else frozen_chain.passthrough_filter(),
                 loco_policy=loco, world=world)
    world = env.world
    for layout in layouts:
      out.append(evaluate(env, policy, layout, num_envs, seed, mode))
  return out


def format_table(results: Sequence[NavResult]) -> str:
  """The nav sim2sim table as text (rates in %, times in s, lengths in m)."""
  lines = [f"{'layout':<13}{'mode':<10}{'episodes':>8}{'<0.5m':>7}{'<1m':>6}{'<2m':>6}"
           f"{'coll.':>7}{'fall':>6}{'t_goal':>8}{'path':>7}{'d_end':>7}{'d_0':>6}"]
  for r in results:
    t = "-" if r.mean_time_to_goal_s is None else f"{r.mean_time_to_goal_s:.1f}"
    lines.append(f"{r.layout:<13}{r.mode:<10}{r.episodes:>8}{100 * r.arrival_rate_0_5m:>7.0f}"
                 f"{100 * r.arrival_rate_1m:>6.0f}{100 * r.arrival_rate_2m:>6.0f}"
                 f"{100 * r.collision_rate:>7.0f}{100 * r.fall_rate:>6.0f}{t:>8}"
                 f"{r.mean_path_length_m:>7.1f}{r.mean_final_distance_m:>7.2f}"
                 f"{r.mean_start_distance_m:>6.1f}")
  return "\n".join(lines)


__all__ = ["LAYOUTS", "MODES", "PLAY_LEVEL", "EVAL_WORLD_SEED", "NavResult", "held_out_seed",
           "eval_env_config", "LayoutNavEnv", "layout_persistent", "evaluate", "load_chain",
           "check_nav_policy", "run", "format_table", "PolicyError"]
