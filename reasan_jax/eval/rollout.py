"""THE evaluation rollout: a deterministic policy in an auto-resetting env batch for T steps.

``python -m reasan_jax.play``, ``python -m reasan_jax.sim2sim`` and the training videos all call
:func:`rollout`; it runs one jitted ``lax.scan`` and records what they need (commands, achieved
body-frame velocities, rewards, dones, falls, and env 0's ``qpos``/``qvel`` for rendering).

    policy = load_policy("runs/flat1")
    env = policy_env(policy)                              # reasan_jax.eval.env_config
    result = rollout(env, policy, "figure8", num_envs=4)  # or (T, 3) / (T, B, 3) commands, or None
    print(metrics.format_episodes(result.episodes))

Commands: given commands are written into every env before every step (resampling frozen, the
observation patched so the policy sees the new command at once, also on an episode's first step);
``commands=None`` leaves the env's own sampled and resampled commands, which are recorded. The
recurrent carry is zeroed where an episode starts, as in training (``reasan-rl-core.md`` §6).

Recording for overlays (filter / nav videos, :mod:`reasan_jax.viz.overlays`): ``record=("rays",
"dynamic", "goal")`` also keeps env 0's ``state.obs["rays"]``, ``state.info["obstacles"]`` and the
nav goal ``state.info["goal"]`` after every step in ``RolloutResult.extras``; with ``record=()``
(the default) the program is loco's as before.

Tasks without a user command (nav: the policy's action *is* a velocity command, REASAN nav §1.2)
are rolled out with ``commands=None``; ``RolloutResult.commands`` then holds the policy's actions.

Compilation: one program per (env object, ``num_envs``, spawn, command mode, recorded names,
policy structure, T). The policy's parameters are traced, so new parameters (a later checkpoint
of the same run, the next training video) reuse the program; its ``source`` text is not part of the structure.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from reasan_jax.core import spatial
from reasan_jax.eval import EvalError, metrics, schedules

COMMAND_OBS_SLICE = slice(6, 9)
"""Where the command sits in the loco actor observation (and in the first 45 critic entries):
REASAN's fixed layout [ang vel (3), projected gravity (3), command (3), joint pos (12), joint vel
(12), last action (12)] (``reasan-loco.md`` "Actor observation"), which exported policies such as
``loco_1.onnx`` rely on. The command entries carry no observation noise."""

COMMAND_OBS_GROUPS = ("state", "privileged_state")
"""Observation groups whose :data:`COMMAND_OBS_SLICE` entries hold the scaled command."""

SPAWNS = ("env", "center")
"""``"env"``: the task's own spawn cells; ``"center"``: every robot on the two middle cells of the
middle terrain row (room to walk 20 s in any direction; sim2sim)."""

_FROZEN = 2**30  # info["next_resample"] value that never fires

RECORDABLE = {"rays": ("obs", "rays"), "dynamic": ("info", "obstacles"), "goal": ("info", "goal")}
"""What ``rollout(..., record=...)`` can keep of env 0 per step: name -> (state field, key).
``rays``: the actor rays ``state.obs["rays"]`` (180,), distance / 3 m in the filter task (REASAN
filter §2.2); ``dynamic``: the moving obstacles ``state.info["obstacles"]`` (a
:class:`reasan_jax.scenes.dynamic_obstacles.DynamicObstacles`, REASAN filter §6.3); ``goal``: the nav task's goal ``state.info["goal"]`` (2,), world m (REASAN nav §3.3)."""


@dataclasses.dataclass(frozen=True)
class RolloutResult:
  """What :func:`rollout` returns (host numpy arrays; T = steps, B = envs).

  Attributes:
    commands: (T, B, 3) command in effect during each step (vx, vy m/s, wz rad/s; body frame).
    velocity: (T, B, 3) achieved body-frame vx, vy, wz after each step.
    reward, done, fell: (T, B) per step (done: the episode ended; fell: it ended by termination).
    qpos, qvel: (T, nq), (T, nv) env 0's state after each step (a fresh episode's first state
      where ``done[:, 0]``), for rendering.
    dt: policy step, s.
    extras: env 0's recorded values per step (``rollout(..., record=...)``, see
      :data:`RECORDABLE`), each with a leading T axis; empty by default.
  """

  commands: np.ndarray
  velocity: np.ndarray
  reward: np.ndarray
  done: np.ndarray
  fell: np.ndarray
  qpos: np.ndarray
  qvel: np.ndarray
  dt: float
  extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def steps(self) -> int:
    """T, the number of policy steps."""
    return int(self.done.shape[0])

  @property
  def num_envs(self) -> int:
    """B, the number of envs."""
    return int(self.done.shape[1])

  @functools.cached_property
  def episodes(self) -> list[metrics.Episode]:
    """Per-episode statistics (:func:`reasan_jax.eval.metrics.episode_table`)."""
    return metrics.episode_table(self.commands, self.velocity, self.reward, self.done, self.fell)

  def tracking_error(self) -> np.ndarray:
    """(3,) mean |command - achieved| of vx, vy, wz over all valid steps of all envs."""
    return metrics.tracking_error(self.commands, self.velocity, self.done)


def _scaled_command(env, command: jax.Array) -> jax.Array:
  """(B, 3) command as it appears in the observation (the env's observation scales)."""
  o = env.config.obs
  return command * jnp.asarray([o.cmd_lin_scale, o.cmd_lin_scale, o.cmd_ang_scale], jnp.float32)


def _with_command(env, state, command: jax.Array):
  """Sets every env's command to ``command`` (B, 3), freezes resampling, patches the observation.

  A task whose observation is not loco's (the filter) defines ``env.with_command(state, command)``
  on one env's state and (3,) command; it is vmapped here. Otherwise loco's layout is patched.
  """
  if hasattr(env, "with_command"):
    return jax.vmap(env.with_command)(state, command)
  batch = state.reward.shape[0]
  info = dict(state.info)
  info["command"] = command
  info["next_resample"] = jnp.full((batch,), _FROZEN, jnp.int32)
  scaled = _scaled_command(env, command)
  obs = {k: v.at[:, COMMAND_OBS_SLICE].set(scaled) if k in COMMAND_OBS_GROUPS else v
         for k, v in state.obs.items()}
  return state.replace(info=info, obs=obs)


def _center_spawn(env, vec, state, rng):
  """Resets ``state``'s envs with the same keys on the middle terrain cells (see :data:`SPAWNS`)."""
  persistent = dict(jax.vmap(env.persistent)(state))
  if "terrain_level" not in persistent or "terrain_col" not in persistent:
    raise EvalError(f"spawn='center' needs a task with terrain cells (terrain_level/terrain_col); "
                    f"{type(env).__name__} has none, so use spawn='env'.")
  rows = int(env.config.terrain_config.num_rows)
  cols = int(env.config.terrain_config.num_cols)
  batch = vec.num_envs
  persistent["terrain_level"] = jnp.full((batch,), rows // 2, jnp.int32)
  middle = jnp.clip(cols // 2 - 1 + jnp.arange(batch) % 2, 0, cols - 1)
  persistent["terrain_col"] = middle.astype(jnp.int32)
  return vec.reset(rng, persistent)


@functools.lru_cache(maxsize=8)
def _observation_size(env) -> dict[str, tuple[int, ...]]:
  return env.observation_size  # traces the env's reset: once per env


def recorded(state, record: tuple[str, ...]) -> dict[str, Any]:
  """Env 0's values of ``record`` (names of :data:`RECORDABLE`) in a batched ``state``.

  Raises:
    EvalError: an unknown name, or the env's state lacks the value (the task has no rays or no
      moving obstacles).
  """
  out = {}
  for name in record:
    if name not in RECORDABLE:
      raise EvalError(f"record names must be among {', '.join(RECORDABLE)}, got {name!r}.")
    field, key = RECORDABLE[name]
    values = getattr(state, field)
    if key not in values:
      raise EvalError(f"cannot record {name!r}: this env's state has no {field}[{key!r}] (only the "
                      "filter and nav tasks have rays and moving obstacles); drop it from record.")
    out[name] = jax.tree.map(lambda a: a[0], values[key])
  return out


@functools.lru_cache(maxsize=8)
def _compiled(env, num_envs: int, spawn: str, override: bool,
              record: tuple[str, ...] = ()) -> Callable:
  """Jitted ``(policy, commands (T, B, 3), rng) -> (per-step outputs, layout error)``."""
  from reasan_jax.core.wrappers import VecEnv  # pylint: disable=import-outside-toplevel

  vec = VecEnv(env, num_envs)  # model fields are randomised only where the env config says so

  def run(policy, commands, rng):
    state = vec.reset(rng)
    if spawn == "center":
      state = _center_spawn(env, vec, state, rng)
    layout_error = jnp.zeros(())
    if override and not hasattr(env, "with_command"):
      # Self-check of COMMAND_OBS_SLICE against the env's own first observation.
      layout_error = jnp.max(jnp.abs(state.obs["state"][:, COMMAND_OBS_SLICE]
                                     - _scaled_command(env, state.info["command"])))
    if override:
      state = _with_command(env, state, commands[0])
    next_commands = jnp.concatenate([commands[1:], commands[-1:]], axis=0)

    def body(carry, command_next):
      state, pcarry = carry
      action, pcarry = policy.apply(state.obs, pcarry, reset=state.done > 0.5)
      # A task without a user command (nav) records the policy's own velocity command.
      command = state.info["command"] if "command" in state.info else action
      state = vec.step(state, action)
      rot = jax.vmap(spatial.quat_to_mat)(state.data.qpos[:, 3:7])
      lin = jnp.einsum("bji,bj->bi", rot, state.data.qvel[:, :3])  # world -> body frame
      out = {
          "commands": command,
          "velocity": jnp.stack([lin[:, 0], lin[:, 1], state.data.qvel[:, 5]], axis=-1),
          "reward": state.reward, "done": state.done > 0.5,
          "fell": state.metrics["died"] > 0.5,
          "qpos": state.data.qpos[0], "qvel": state.data.qvel[0],
      }
      if record:
        out["extras"] = recorded(state, record)
      if override:
        state = _with_command(env, state, command_next)
      return (state, pcarry), out

    _, out = jax.lax.scan(body, (state, policy.init_carry(num_envs)), next_commands)
    return out, layout_error

  return jax.jit(run)


def resolve_commands(commands: Any, num_envs: int, steps: int | None, dt: float,
                     segment: float = 4.0) -> np.ndarray | None:
  """``commands`` as (T, B, 3) float32 (None stays None: the env's own commands).

  Args:
    commands: None, anything :func:`reasan_jax.eval.schedules.command_schedule` accepts (a
      schedule name, ``"vx,vy,wz[;...]"``, a (3,) sequence, a (T, 3) array) or a (T, B, 3) array.
    num_envs: B. steps: T for names and (3,) commands (default
      :func:`~reasan_jax.eval.schedules.default_steps`); must match given arrays.
    dt: policy step, s. segment: seconds each of several ``;`` commands is held.

  Raises:
    EvalError: malformed commands, or ``steps`` disagreeing with an array's length.
  """
  if commands is None:
    return None
  if isinstance(commands, str) or np.shape(commands) == (3,):
    steps = schedules.default_steps(commands, dt) if steps is None else steps
    commands = schedules.command_schedule(commands, steps, dt, segment)
  array = np.asarray(commands, np.float32)
  if array.ndim == 2:
    array = np.broadcast_to(array[:, None, :], (array.shape[0], num_envs, 3))
  if array.ndim != 3 or array.shape[1:] != (num_envs, 3) or array.shape[0] < 1:
    raise EvalError(f"commands must have shape (T, 3) or (T, {num_envs}, 3) with T >= 1, got "
                    f"{np.shape(commands)}.")
  if steps is not None and int(steps) != array.shape[0]:
    raise EvalError(f"{array.shape[0]} commands were given for {steps} steps; give one per step.")
  return np.ascontiguousarray(array)


def rollout(env, policy, commands: Any = "figure8", *, num_envs: int = 1,
            steps: int | None = None, seed: int = 0, segment: float = 4.0,
            spawn: str = "env", record: tuple[str, ...] = ()) -> RolloutResult:
  """Runs ``policy`` deterministically in ``num_envs`` auto-resetting copies of ``env``.

  Args:
    env: a single-env loco task (e.g. :func:`reasan_jax.eval.env_config.make_env`); batched here
      with :class:`reasan_jax.core.wrappers.VecEnv` (model fields randomised only when its config
      enables randomisation).
    policy: a :class:`reasan_jax.policies.policy.Policy` that fits ``env``.
    commands: see :func:`resolve_commands`; None = the env's own commands (then ``steps`` is
      required).
    num_envs: B (>= 1). steps: T (see :func:`resolve_commands`). seed: PRNG seed of the resets.
    segment: seconds each of several ``;`` commands is held.
    spawn: see :data:`SPAWNS`.
    record: names of :data:`RECORDABLE` to keep of env 0 per step in ``RolloutResult.extras``.

  Returns:
    A :class:`RolloutResult`.

  Raises:
    EvalError: bad commands/steps, ``num_envs`` < 1, an unknown spawn, a policy that does not
      fit the env's observations and actions, or a ``record`` name the env cannot provide.
    RuntimeError: the env's observation no longer holds the command at :data:`COMMAND_OBS_SLICE`.
  """
  from reasan_jax.policies.policy import PolicyError  # pylint: disable=import-outside-toplevel

  if int(num_envs) < 1:
    raise EvalError(f"--num_envs must be at least 1, got {num_envs}.")
  if spawn not in SPAWNS:
    raise EvalError(f"spawn must be one of {', '.join(SPAWNS)}, got {spawn!r}.")
  num_envs = int(num_envs)
  cmds = resolve_commands(commands, num_envs, steps, env.dt, segment)
  if cmds is None:
    if steps is None or int(steps) < 1:
      raise EvalError(f"With the env's own commands give steps >= 1, got {steps}.")
    cmds = np.zeros((int(steps), num_envs, 3), np.float32)
  try:
    policy.check_fits(_observation_size(env), env.action_size)
  except PolicyError as e:
    raise EvalError(str(e)) from e
  record = tuple(record)
  for name in record:
    if name not in RECORDABLE:
      raise EvalError(f"record names must be among {', '.join(RECORDABLE)}, got {name!r}.")
  key = (env, num_envs, spawn, commands is not None) + ((record,) if record else ())
  fn = _compiled(*key)  # loco's cache key (and program) unchanged when nothing is recorded
  structure = policy.replace(source="", env_config_json="")  # text is not part of the program
  out, layout_error = jax.device_get(
      fn(structure, jnp.asarray(cmds), jax.random.PRNGKey(int(seed))))
  if not float(layout_error) < 1e-4:
    raise RuntimeError(
        "The loco observation no longer holds the command at entries 6:9 (reasan_jax.eval.rollout."
        "COMMAND_OBS_SLICE); update the rollout to the env's new observation layout.")
  extras = jax.tree.map(np.asarray, out.pop("extras", {}))
  out = {k: np.asarray(v) for k, v in out.items()}
  return RolloutResult(commands=out["commands"], velocity=out["velocity"], reward=out["reward"],
                       done=out["done"], fell=out["fell"], qpos=out["qpos"], qvel=out["qvel"],
                       dt=float(env.dt), extras=extras)


__all__ = ["COMMAND_OBS_SLICE", "RECORDABLE", "RolloutResult", "SPAWNS", "recorded",
           "resolve_commands", "rollout"]
