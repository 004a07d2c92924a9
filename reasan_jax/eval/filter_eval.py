"""Sim2sim for safety filters: fixed-seed scenarios, filter vs bypass (issue "The safety filter").

Scenarios (observation noise, pushes and domain randomisation off; REASAN's play-time sensing,
11 ray centres and noise-free GT actor rays, REASAN filter §2.2, §9.2):

* ``static``: the static obstacle field, every robot told to walk straight ahead at 1.0 m/s.
* ``dynamic``: dynamic obstacles at curriculum level 9 (3 active, play speeds 0.5-1.5 m/s) charging
  robots on returning commands (every env returning; REASAN filter §6.3-6.4), static field too.
* ``open``: open ground (no obstacles), REASAN's random commands (§6.4).

Each env runs one 20 s episode (REASAN's horizon); after it ends the env is ignored. Modes:
``filter`` (the filter's action goes to the frozen loco policy) and ``bypass`` (the user command
goes straight to the loco policy). Per scenario and mode: the collision rate (episodes ended by an
undesired body touching an obstacle / episodes) and the mean |vx|, |vy|, |wz| errors of the base
velocity (body frame) against the user command over the steps of the episode.
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

SCENARIOS = ("static", "dynamic", "open")
MODES = ("filter", "bypass")
PLAY_LEVEL = 9
"""Play forces curriculum level 9: 3 active dynamic obstacles (REASAN filter §7)."""


@dataclasses.dataclass(frozen=True)
class ScenarioResult:
  """One row of the sim2sim table (the ``--json`` record)."""

  scenario: str
  mode: str
  episodes: int
  collision_rate: float
  fall_rate: float
  tracking_error_vx: float
  tracking_error_vy: float
  tracking_error_wz: float

  def record(self) -> dict:
    """The ``--json`` record (a plain dict)."""
    return dataclasses.asdict(self)


def scenario_env_config(base: ml_collections.ConfigDict | None, scenario: str,
                        loco_policy: str = "", duration: float = 20.0,
                        num_centers: int = 11, estimator: str = "") -> ml_collections.ConfigDict:
  """The filter env config of one scenario (module docstring).

  Args:
    base: the env section to start from (a checkpoint's); None = ``configs.filter.env_config()``.
    scenario: one of :data:`SCENARIOS`.
    loco_policy: frozen loco policy path (overrides the base's when given).
    duration: episode length, s. num_centers: ray centres (11 = REASAN's play).
    estimator: a trained ray estimator: the actor rays are its predictions from the simulated
      Mid-360 (``env.use_pred_rays``, REASAN nav §8.6); empty = ground-truth rays.

  Raises:
    EvalError: an unknown scenario.
  """
  if scenario not in SCENARIOS:
    raise EvalError(f"Unknown scenario {scenario!r}; choose from {', '.join(SCENARIOS)}.")
  if base is None:
    from reasan_jax.configs import filter as filter_config  # pylint: disable=import-outside-toplevel

    base = filter_config.env_config()
  from reasan_jax.configs import filter as filter_config  # pylint: disable=import-outside-toplevel

  c = filter_config.env_config()  # today's defaults fill keys an older stored config lacks
  c.update(ml_collections.ConfigDict(base.to_dict()).to_dict())
  if estimator:
    c.use_pred_rays = True
    c.estimator = str(estimator)
  if loco_policy:
    c.loco_policy = str(loco_policy)
  c.obs.noise = False
  c.obs.actor_rays = "gt"
  c.sensors.num_centers = int(num_centers)
  c.randomization.enabled = False
  c.randomization.pushes = False
  c.episode_length = int(round(duration / (c.sim_dt * c.decimation)))
  c.terrain_config.static_obstacles = scenario != "open"
  c.dynamic_obstacles.enabled = scenario == "dynamic"
  c.commands.fixed = (1.0, 0.0, 0.0) if scenario == "static" else ()
  c.commands.returning.fraction = 1.0 if scenario == "dynamic" else c.commands.returning.fraction
  if scenario == "dynamic":
    c.dynamic_obstacles.speed_range = (0.5, 1.5)  # play_filter.py default (REASAN filter §6.3)
  return c


def bypass_action(obs: dict) -> jax.Array:
  """(B, 3) the user command from the proprio group (REASAN filter §2 idx 6-8)."""
  return obs["proprio"][:, 6:9]


@functools.partial(jax.jit, static_argnames=("venv", "steps", "bypass", "level"))
def _rollout(venv: VecEnv, policy: Policy, key: jax.Array, steps: int, bypass: bool,
             level: int | None):
  persistent = None
  if level is not None:
    keys = jax.random.split(jax.random.fold_in(key, 1), venv.num_envs)
    persistent = jax.vmap(venv.env.first_persistent)(keys)
    persistent["terrain_level"] = jnp.full((venv.num_envs,), level, jnp.int32)
  state = venv.reset(key, persistent)
  ang_scale = float(venv.env.config.obs.ang_vel_scale)

  def body(carry, _):
    state, pcarry, alive = carry
    if bypass:
      action = bypass_action(state.obs)
    else:
      action, pcarry = policy.apply(state.obs, pcarry, reset=state.done > 0.5)
    nxt = venv.step(state, action)
    # The finished step's observation (pre-reset for envs that ended): the body-frame velocity it
    # reached and the user command it was rewarded against (noise is off, so these are exact).
    final = nxt.info["final_obs"]
    lin = final["privileged"][:, :2]
    wz = final["proprio"][:, 2] / ang_scale
    cmd = final["proprio"][:, 6:9]
    err = jnp.abs(jnp.concatenate([cmd[:, :2] - lin, (cmd[:, 2] - wz)[:, None]], -1))
    out = (err, alive & (nxt.done < 0.5), alive, alive & (nxt.done > 0.5),
           nxt.metrics["collision"], nxt.metrics["died"])
    return (nxt, pcarry, alive & (nxt.done < 0.5)), out

  alive = jnp.ones((venv.num_envs,), bool)
  _, (err, counted, _, ended, coll, died) = jax.lax.scan(
      body, (state, policy.init_carry(venv.num_envs), alive), None, length=steps)
  return err, counted, ended, coll, died


def evaluate(env, policy: Policy | None, scenario: str, mode: str, num_envs: int = 64,
             seed: int = 0) -> ScenarioResult:
  """One scenario and mode in ``env`` (built from :func:`scenario_env_config`).

  Args:
    env: a :class:`~reasan_jax.tasks.filter.env.FilterEnv`.
    policy: the filter policy (unused for ``bypass``).
    scenario: for the row label and the dynamic scenario's level 9.
    mode: ``"filter"`` or ``"bypass"``. num_envs: episodes. seed: reset seed (fixed scenarios).

  Raises:
    EvalError: unknown mode. PolicyError: a filter that does not fit the env.
  """
  if mode not in MODES:
    raise EvalError(f"Unknown mode {mode!r}; choose from {', '.join(MODES)}.")
  if mode == "filter":
    if policy is None:
      raise EvalError("The filter mode needs a filter policy.")
    policy.check_fits(env.observation_size, env.action_size, role="filter policy")
  else:
    policy = _Bypass.policy()
  venv = VecEnv(env, int(num_envs), randomize=False)
  steps = int(env.config.episode_length)
  level = PLAY_LEVEL if scenario == "dynamic" else None
  err, counted, ended, coll, died = _rollout(venv, policy, jax.random.PRNGKey(seed), steps,
                                             mode == "bypass", level)
  err, counted = np.asarray(err), np.asarray(counted)
  ended, coll, died = np.asarray(ended), np.asarray(coll), np.asarray(died)
  # The step that ended an episode counts too (its pre-reset velocity was read).
  mask = counted | ended
  mean_err = (err * mask[..., None]).sum((0, 1)) / max(mask.sum(), 1)
  collided = (coll * ended).sum(0) > 0
  fell = ((died * ended).sum(0) > 0) & ~collided
  n = int(num_envs)
  return ScenarioResult(scenario, mode, n, float(collided.mean()), float(fell.mean()),
                        float(mean_err[0]), float(mean_err[1]), float(mean_err[2]))


class _Bypass:
  """A zero-parameter stand-in :class:`Policy` for the bypass rollout (never applied)."""

  @staticmethod
  def policy() -> Policy:
    return Policy(params={}, apply_fn=_no_apply, init_carry_fn=_no_carry, obs_spec=(),
                  action_size=3, task="filter", source="bypass")


def _no_apply(params, obs, carry):
  raise AssertionError("the bypass policy is never applied")


def _no_carry(batch_size):
  return jnp.zeros((batch_size, 0))


def run(policy: Policy, loco_policy: str, scenarios: Sequence[str] = SCENARIOS,
        modes: Sequence[str] = MODES, num_envs: int = 64, seed: int = 0,
        base: ml_collections.ConfigDict | None = None, duration: float = 20.0,
        estimator: str = "") -> list[ScenarioResult]:
  """Every scenario x mode (the sim2sim table). Raises EvalError / PolicyError (one sentence).

  With ``estimator`` (a trained ray estimator) each scenario gains a row of mode ``"pred"``: the
  filter on the estimator's rays from the simulated Mid-360 (REASAN nav §8.6), next to ``filter``
  on ground-truth rays, same seeds.
  """
  from reasan_jax.tasks.filter.env import FilterEnv  # pylint: disable=import-outside-toplevel

  if policy.action_size != 3 or dict(policy.obs_spec).get("proprio") is None:
    policy.check_fits({"proprio": (12,), "privileged": (6,), "rays": (180,),
                       "critic_rays": (540,)}, 3, role="filter policy")
  out = []
  loco = None
  for scenario in scenarios:
    cfg = scenario_env_config(base, scenario, loco_policy, duration)
    env = FilterEnv(cfg, loco_policy=loco)
    loco = env.loco_policy
    pred_env = None
    if estimator:  # built first: a bad estimator fails before any rollout
      cfg = scenario_env_config(base, scenario, loco_policy, duration, estimator=estimator)
      pred_env = FilterEnv(cfg, loco_policy=loco)
    for mode in modes:
      out.append(evaluate(env, policy, scenario, mode, num_envs, seed))
    if pred_env is not None:
      row = evaluate(pred_env, policy, scenario, "filter", num_envs, seed)
      out.append(dataclasses.replace(row, mode="pred"))
  return out


def format_table(results: Sequence[ScenarioResult]) -> str:
  """The sim2sim table as text."""
  lines = [f"{'scenario':<9}{'mode':<8}{'episodes':>9}{'collision':>11}{'fall':>7}"
           f"{'|vx| err':>10}{'|vy| err':>10}{'|wz| err':>10}"]
  for r in results:
    lines.append(f"{r.scenario:<9}{r.mode:<8}{r.episodes:>9}{r.collision_rate:>11.3f}"
                 f"{r.fall_rate:>7.3f}{r.tracking_error_vx:>10.3f}{r.tracking_error_vy:>10.3f}"
                 f"{r.tracking_error_wz:>10.3f}")
  return "\n".join(lines)


__all__ = ["SCENARIOS", "MODES", "ScenarioResult", "scenario_env_config", "evaluate", "run",
           "format_table", "PolicyError"]
