"""Watch a policy: roll it out deterministically, print per-episode tracking, render env 0 to MP4.

Usage::

  python -m reasan_jax.play                                 # newest run in runs/, figure-eight
  python -m reasan_jax.play --run flat1 --video out.mp4     # newest checkpoint of runs/flat1
  python -m reasan_jax.play --checkpoint runs/flat1/checkpoints/40 --command 1.0,0,0
  python -m reasan_jax.play --onnx ../shared/reference/pretrained/loco_1.onnx --video walk.mp4
  python -m reasan_jax.play --run flat1 --num_envs 16 --terrain rough --randomize

The policy acts deterministically (the Gaussian mean) for ``--steps`` policy steps (50 Hz) in
``--num_envs`` loco envs that auto-reset; the recurrent carry is zeroed at every episode start.
The command given to every env follows ``--command``: three numbers ``vx,vy,wz`` (m/s, m/s,
rad/s, body frame), several of them separated by ``;`` (each held for ``--segment`` s), or a named
schedule (:data:`SCHEDULES`, e.g. ``figure8``). Commands are never resampled by the env.

Evaluation conditions: observation noise, domain randomisation and pushes are off unless
``--randomize`` turns all of them on. A checkpoint is evaluated in the env of its own stored config
(terrain overridable with ``--terrain``, rough grids shrunk to 2 x 4 cells); an ONNX policy in the
default loco env on flat ground.

Output: one table row per episode (return, length, how it ended, mean absolute tracking error of
vx, vy and wz) and, with ``--video PATH.mp4``, env 0 rendered at the policy rate (one frame per
policy step, ``--steps`` frames) with the camera following the robot, the commanded planar velocity
drawn as a green arrow, the commanded yaw rate as an orange arrow at the head (pointing where the
head turns) and the achieved planar velocity as a thin blue arrow.

Headless rendering uses ``MUJOCO_GL=egl`` by default on Linux without a display (see
:mod:`reasan_jax.viz.render` for the system packages).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import json
import math
import os
import pathlib
import sys
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

from reasan_jax.io import compile_cache
from reasan_jax.viz import render

# Decide the OpenGL backend before anything imports mujoco (the CLI path); harmless otherwise.
try:
  render.configure_gl()
except render.RenderError:
  pass  # reported when a video is actually requested

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from reasan_jax.io import checkpoints as ckpt_lib  # noqa: E402
from reasan_jax.io import config_loader  # noqa: E402
from reasan_jax.io import log_rewind  # noqa: E402
from reasan_jax.core import spatial  # noqa: E402

PROG = "python -m reasan_jax.play"
_FROZEN = 2**30  # info["next_resample"] value that never fires


class PlayError(ValueError):
  """A policy, run, command or option play cannot use (one sentence naming the fix)."""


# ------------------------------------------------------------------------------------------------
# Command schedules.


def _figure8(t: float) -> tuple[float, float, float]:
  """0.5 s standing, then 1 m/s around a 1 m circle to the left, then one to the right, repeated."""
  if t < 0.5:
    return (0.0, 0.0, 0.0)
  circle = 2.0 * math.pi  # s per circle at 1 rad/s
  return (1.0, 0.0, 1.0 if (t - 0.5) % (2 * circle) < circle else -1.0)


def _square(t: float) -> tuple[float, float, float]:
  """0.5 s standing, then 2.5 s forward at 0.8 m/s and a 90 degree left turn in place (1 s)."""
  if t < 0.5:
    return (0.0, 0.0, 0.0)
  return (0.8, 0.0, 0.0) if (t - 0.5) % 3.5 < 2.5 else (0.0, 0.0, math.pi / 2)


def _strafe(t: float) -> tuple[float, float, float]:
  """0.5 s standing, then sideways at 0.5 m/s, alternating left and right every 3 s."""
  if t < 0.5:
    return (0.0, 0.0, 0.0)
  return (0.0, 0.5 if (t - 0.5) % 6.0 < 3.0 else -0.5, 0.0)


def _stop_and_go(t: float) -> tuple[float, float, float]:
  """2 s phases: stand, 1 m/s, stand, 1.5 m/s, repeated."""
  return ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 0.0), (1.5, 0.0, 0.0))[int(t // 2.0) % 4]


def _sweep(t: float) -> tuple[float, float, float]:
  """Forward speed ramped 0 -> 1.5 m/s over 5 s and back down over 5 s, repeated."""
  phase = t % 10.0
  return (0.3 * (phase if phase < 5.0 else 10.0 - phase), 0.0, 0.0)


SCHEDULES: dict[str, tuple[Callable[[float], tuple[float, float, float]], float]] = {
    "stand": (lambda t: (0.0, 0.0, 0.0), 10.0),
    "forward": (lambda t: (0.0, 0.0, 0.0) if t < 0.5 else (1.0, 0.0, 0.0), 10.0),
    "figure8": (_figure8, 0.5 + 4 * math.pi),
    "square": (_square, 0.5 + 4 * 3.5),
    "turn": (lambda t: (0.0, 0.0, 0.0) if t < 0.5 else (0.0, 0.0, 1.0), 10.0),
    "strafe": (_strafe, 6.5),
    "stop_and_go": (_stop_and_go, 8.0),
    "sweep": (_sweep, 10.0),
}
"""Named command schedules: name -> (time s -> (vx m/s, vy m/s, wz rad/s), natural duration s)."""

DEFAULT_COMMAND = "figure8"
DEFAULT_STEPS = 500  # policy steps for explicit numeric commands (10 s)


def _parse_numeric(text: str) -> list[tuple[float, float, float]]:
  out = []
  for part in text.split(";"):
    if not part.strip():
      continue
    try:
      values = tuple(float(v) for v in part.split(","))
    except ValueError:
      values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
      raise PlayError(
          f"--command {text!r} is neither 'vx,vy,wz' numbers (several separated by ';') nor a "
          f"schedule name ({', '.join(SCHEDULES)}).")
    out.append(values)
  if not out:
    raise PlayError(f"--command is empty; give 'vx,vy,wz' or a schedule name ({', '.join(SCHEDULES)}).")
  return out


def default_steps(command: str, dt: float = 0.02) -> int:
  """Policy steps that show ``command`` once: a schedule's natural duration, else 10 s."""
  if command in SCHEDULES:
    return int(math.ceil(SCHEDULES[command][1] / dt))
  return DEFAULT_STEPS


def command_schedule(command: str | Sequence[float] | np.ndarray, steps: int, dt: float = 0.02,
                     segment: float = 4.0) -> np.ndarray:
  """The (steps, 3) float32 commands (vx, vy m/s, wz rad/s; body frame), one per policy step.

  Args:
    command: a schedule name (:data:`SCHEDULES`), ``"vx,vy,wz"``, ``"vx,vy,wz;vx,vy,wz;..."``
      (each held for ``segment`` s, the last one until the end), a (3,) sequence or an array of
      shape (steps, 3) (returned as float32).
    steps: number of policy steps (>= 1).
    dt: policy step, s (0.02 for loco).
    segment: seconds each of several numeric commands is held.

  Raises:
    PlayError: unknown name, malformed numbers, a wrong array shape or ``steps`` < 1.
  """
  if int(steps) < 1:
    raise PlayError(f"--steps must be at least 1, got {steps}.")
  steps = int(steps)
  if isinstance(command, str):
    name = command.strip()
    if name in SCHEDULES:
      fn = SCHEDULES[name][0]
      return np.asarray([fn(t * dt) for t in range(steps)], np.float32)
    values = _parse_numeric(name)
    if segment <= 0:
      raise PlayError(f"--segment must be positive, got {segment}.")
    index = np.minimum((np.arange(steps) * dt / segment).astype(int), len(values) - 1)
    return np.asarray(values, np.float32)[index]
  array = np.asarray(command, np.float32)
  if array.shape == (3,):
    return np.broadcast_to(array, (steps, 3)).copy()
  if array.shape != (steps, 3):
    raise PlayError(f"commands must have shape (3,) or ({steps}, 3), got {array.shape}.")
  return array


# ------------------------------------------------------------------------------------------------
# Policies and the evaluation env.


@dataclasses.dataclass(frozen=True)
class Policy:
  """A deterministic loco policy, usable inside ``jax.jit`` / ``lax.scan``.

  Attributes:
    act: ``(params, obs, carry, reset) -> (action (B, 12), carry)``; ``obs`` is the env's
      observation dict (leaves (B, ...)), ``reset`` (B,) bool zeroes the carry first (the
      observation is an episode's first).
    params: the pytree handed to ``act`` (traced, so new parameters need no recompile).
    init_carry: ``B -> zero carry``.
    env_config: the env section the policy was trained in (before the evaluation switches).
    source: description for printing, e.g. ``"checkpoint runs/a/checkpoints/60"``.
  """

  act: Callable[..., tuple[jax.Array, Any]]
  params: Any
  init_carry: Callable[[int], Any]
  env_config: ml_collections.ConfigDict
  source: str


def evaluation_env_config(env_config: ml_collections.ConfigDict, terrain: str | None = None,
                          randomize: bool = False) -> ml_collections.ConfigDict:
  """A copy of a loco env config set up for evaluation.

  Args:
    env_config: the ``env`` section (a run's, or ``configs.loco.env_config()``).
    terrain: ``"flat"``, ``"rough"`` or None (keep the config's). Rough grids are shrunk to 2 x 4
      cells with an 8 m border, as in :func:`reasan_jax.sim2sim.sim2sim_config` (all cells are
      statistically identical, and a small height field renders fast).
    randomize: keep the training observation noise, domain randomisation and pushes (off otherwise).

  Raises:
    PlayError: an unknown terrain.
  """
  cfg = ml_collections.ConfigDict(env_config.to_dict())
  if terrain is not None:
    if terrain not in ("flat", "rough"):
      raise PlayError(f"--terrain must be flat or rough, got {terrain!r}.")
    cfg.terrain = terrain
  cfg.obs.noise = bool(randomize) and bool(env_config.obs.noise)
  cfg.randomization.enabled = bool(randomize) and bool(env_config.randomization.enabled)
  cfg.randomization.pushes = bool(randomize) and bool(env_config.randomization.pushes)
  if cfg.terrain == "rough":
    cfg.terrain_config.num_rows = min(int(cfg.terrain_config.num_rows), 2)
    cfg.terrain_config.num_cols = min(int(cfg.terrain_config.num_cols), 4)
    cfg.terrain_config.border = min(float(cfg.terrain_config.border), 8.0)
  return cfg


@functools.lru_cache(maxsize=4)
def _cached_env(config_json: str):
  from reasan_jax.tasks.loco.env import LocoEnv  # pylint: disable=import-outside-toplevel

  return LocoEnv(config_loader.config_from_dict(json.loads(config_json)))


def make_env(env_config: ml_collections.ConfigDict, terrain: str | None = None,
             randomize: bool = False):
  """The loco env (:class:`reasan_jax.tasks.loco.env.LocoEnv`) for :func:`evaluation_env_config`.

  Envs are cached per config, so repeated calls reuse one env (and its compiled rollouts).

  Raises:
    PlayError: the config is not a loco env config.
  """
  if env_config.get("task") != "loco":
    raise PlayError(f"play renders the Go2 loco task only, but the config's env.task is "
                    f"{env_config.get('task')!r}; pass a loco run, checkpoint or ONNX policy.")
  cfg = evaluation_env_config(env_config, terrain, randomize)
  return _cached_env(json.dumps(config_loader.config_to_dict(cfg), sort_keys=True))


def find_checkpoint(run: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None,
                    runs_dir: str | os.PathLike = "runs") -> pathlib.Path:
  """The checkpoint step folder named by ``--run``/``--checkpoint`` (newest run's by default).

  Args:
    run: a run name under ``runs_dir`` or a run folder path; None with ``checkpoint`` None = the
      most recently active run that has a checkpoint.
    checkpoint: a run folder, its ``checkpoints/`` folder or one ``checkpoints/<iteration>``.
    runs_dir: parent folder of the runs.

  Raises:
    PlayError: no such run / checkpoint, or both given.
  """
  if run is not None and checkpoint is not None:
    raise PlayError("Give either --run or --checkpoint, not both.")
  runs_dir = pathlib.Path(runs_dir)
  try:
    if checkpoint is not None:
      return ckpt_lib.resolve_checkpoint(checkpoint)
    if run is None:
      return ckpt_lib.resolve_checkpoint(ckpt_lib.latest_run(runs_dir))
    path = pathlib.Path(run)
    if not (runs_dir / run).is_dir() and path.is_dir():
      return ckpt_lib.resolve_checkpoint(path)
    return ckpt_lib.resolve_checkpoint(ckpt_lib.find_run(runs_dir, str(run)))
  except ckpt_lib.CheckpointError as e:
    message = str(e)
    if run is None and checkpoint is None:
      message = (f"No run in {runs_dir}/ has a checkpoint yet; train one with python -m "
                 "reasan_jax.train, or pass --run, --checkpoint or --onnx.")
    elif message.startswith("Cannot resume: there is no run"):
      message = message.replace("Cannot resume: there is no run", "There is no run", 1)
      message = message[:-1] + "; pass one of them to --run (or a folder path, or use --runs_dir)."
    elif message.startswith("Cannot resume run"):
      message = (f"Run {runs_dir / str(run)} has no checkpoint yet, so there is no policy to play; "
                 "let its training write one (iteration 0 is saved first).")
    raise PlayError(message) from e


def _leaf_selector(template: Any, prefix: str, flat: Mapping[str, np.ndarray],
                   step_dir: pathlib.Path, config: ml_collections.ConfigDict) -> Any:
  """The subtree of the checkpoint's leaves ``prefix/...`` shaped like ``template``."""
  leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
  out = []
  for path, leaf in leaves:
    name = f"{prefix}/{ckpt_lib.path_string(path)}" if path else prefix
    if name not in flat:
      raise PlayError(
          f"Checkpoint {step_dir} has no {name!r}, so it is not a reasan_jax PPO checkpoint of a "
          f"{config.env.task} policy; pass a checkpoint written by python -m reasan_jax.train.")
    value = np.asarray(flat[name])
    if tuple(value.shape) != tuple(leaf.shape):
      net = config.get("network", ml_collections.ConfigDict())
      raise PlayError(
          f"Checkpoint {step_dir} does not match its stored config: {name} is stored with shape "
          f"{tuple(value.shape)} but task {config.env.task!r} with network.rnn_size="
          f"{net.get('rnn_size')} and network.actor_hidden={tuple(net.get('actor_hidden', ()))} "
          f"needs {tuple(leaf.shape)}; it was written for another task or network, so pass the "
          "run folder it came from.")
    out.append(jnp.asarray(value, dtype=leaf.dtype))
  return jax.tree_util.tree_unflatten(treedef, out)


def load_checkpoint_policy(step_dir: str | os.PathLike, env=None) -> Policy:
  """The deterministic policy of a training checkpoint (parameters + observation normaliser).

  Only the actor parameters and the normaliser are read (with orbax, via
  :func:`reasan_jax.io.checkpoints.load_flat`), so the checkpoint's env state need not match the
  current env code. The actor is the trainer's own :meth:`Trainer.policy_fn`.

  Args:
    step_dir: a checkpoint (step folder, or a run folder for its newest).
    env: the env to evaluate in; default :func:`make_env` of the checkpoint's env config.

  Raises:
    PlayError: not a loco checkpoint, or its parameters do not fit its config.
  """
  from reasan_jax.core.wrappers import VecEnv  # pylint: disable=import-outside-toplevel
  from reasan_jax.ppo.trainer import Trainer  # pylint: disable=import-outside-toplevel

  try:
    step_dir = ckpt_lib.resolve_checkpoint(step_dir)
    config = ckpt_lib.checkpoint_config(step_dir)
  except ckpt_lib.CheckpointError as e:
    raise PlayError(str(e)) from e
  except Exception as e:  # pylint: disable=broad-except  (orbax on a foreign folder)
    raise PlayError(f"Cannot read the checkpoint {step_dir} ({type(e).__name__}); pass a "
                    "checkpoint folder written by python -m reasan_jax.train.") from e
  if "env" not in config or "network" not in config or "ppo" not in config:
    raise PlayError(f"Checkpoint {step_dir} stores no env/network/ppo config, so it was not written "
                    "by python -m reasan_jax.train; pass a training checkpoint.")
  if env is None:
    env = make_env(config.env)
  # A trainer only to get the network and its policy function: one env per device and minibatch.
  config = ml_collections.ConfigDict(config.to_dict())
  config.run.distributed = False
  config.ppo.num_envs = len(jax.devices()) * int(config.ppo.num_minibatches)
  try:
    trainer = Trainer(VecEnv(env, config.ppo.num_envs, randomize=False), config)
    template = jax.eval_shape(trainer.init, jax.random.PRNGKey(0))
  except ValueError as e:
    raise PlayError(f"Checkpoint {step_dir} has a config this trainer cannot build ({e}); pass a "
                    "checkpoint of the current code's loco task.") from e
  flat = ckpt_lib.load_flat(step_dir)
  params = {
      "params": _leaf_selector(template.params, "params", flat, step_dir, config),
      "normalizer": _leaf_selector(template.normalizer, "normalizer", flat, step_dir, config),
  }
  return Policy(act=_trainer_act(trainer), params=params, init_carry=trainer.init_carry,
                env_config=config.env, source=f"checkpoint {step_dir}")


def _trainer_act(trainer) -> Callable:
  def act(params, obs, carry, reset):
    return trainer.policy_fn(params["params"], params["normalizer"], deterministic=True)(
        obs, carry, reset)
  return act


def load_onnx(path: str | os.PathLike) -> Policy:
  """An exported REASAN loco policy (e.g. ``pretrained/loco_1.onnx``) as a :class:`Policy`.

  Raises:
    PlayError: the file is missing, not ONNX, or not a loco policy (45 observations, 12 actions).
  """
  from reasan_jax.configs import loco  # pylint: disable=import-outside-toplevel
  from reasan_jax.policies.onnx_import import OnnxPolicyError, load_onnx_policy  # pylint: disable=import-outside-toplevel

  try:
    policy = load_onnx_policy(path)
  except OnnxPolicyError as e:
    raise PlayError(str(e)) from e
  if policy.obs_size != 45 or policy.action_size != 12 or len(policy.obs_inputs) != 1:
    inputs = " + ".join(f"{n} ({s})" for n, s in policy.obs_inputs)
    raise PlayError(
        f"ONNX policy {path} takes {inputs} and returns {policy.action_size} actions, but the loco "
        "task needs one 45-entry observation and 12 actions; pass a loco policy such as "
        "pretrained/loco_1.onnx.")

  def act(params, obs, carry, reset):
    keep = (~jnp.asarray(reset, bool))[:, None].astype(jnp.float32)
    carry = jax.tree.map(lambda c: c * keep, carry)
    return policy.apply(params, obs["state"], carry)

  return Policy(act=act, params=policy.params, init_carry=policy.init_carry,
                env_config=loco.env_config(), source=f"ONNX {path}")


def load_policy(run: str | None = None, checkpoint: str | None = None, onnx: str | None = None,
                runs_dir: str | os.PathLike = "runs", terrain: str | None = None,
                randomize: bool = False):
  """Loads a policy and its evaluation env; returns ``(policy, env)``.

  Exactly one source: ``onnx``, ``checkpoint`` or ``run`` (a name under ``runs_dir`` or a folder);
  none of them = the newest run under ``runs_dir``. ``terrain``/``randomize``: see
  :func:`evaluation_env_config` (ONNX policies default to flat ground).

  Raises:
    PlayError: see :func:`find_checkpoint`, :func:`load_checkpoint_policy`, :func:`load_onnx`.
  """
  if onnx is not None:
    if run is not None or checkpoint is not None:
      raise PlayError("Give one policy source: --onnx, --run or --checkpoint.")
    policy = load_onnx(onnx)
    return policy, make_env(policy.env_config, terrain or "flat", randomize)
  step_dir = find_checkpoint(run, checkpoint, runs_dir)
  try:
    config = ckpt_lib.checkpoint_config(step_dir)
  except Exception as e:  # pylint: disable=broad-except
    raise PlayError(f"Cannot read the config stored in {step_dir} ({type(e).__name__}); pass a "
                    "checkpoint written by python -m reasan_jax.train.") from e
  if "env" not in config:
    raise PlayError(f"Checkpoint {step_dir} stores no env config, so it was not written by "
                    "python -m reasan_jax.train; pass a training checkpoint.")
  env = make_env(config.env, terrain, randomize)
  return load_checkpoint_policy(step_dir, env), env


# ------------------------------------------------------------------------------------------------
# The rollout.


@dataclasses.dataclass(frozen=True)
class Episode:
  """One episode (or the part of it inside the rollout) of one env.

  Attributes:
    env: env index. index: episode number within that env. start: first policy step.
    length: policy steps in the rollout. ret: summed reward.
    end: ``"fell"`` (terminated), ``"time limit"`` (truncated) or ``"running"`` (rollout ended).
    tracking_error: (3,) mean |command - achieved| of vx (m/s), vy (m/s), wz (rad/s), body frame.
  """

  env: int
  index: int
  start: int
  length: int
  ret: float
  end: str
  tracking_error: tuple[float, float, float]

  @property
  def fell(self) -> bool:
    return self.end == "fell"


@dataclasses.dataclass(frozen=True)
class RolloutResult:
  """What :func:`rollout` returns (host numpy arrays; T = steps, B = envs).

  Attributes:
    commands: (T, 3) command of every step (all envs). velocity: (T, B, 3) achieved body-frame
      vx, vy, wz after each step. reward, done, fell: (T, B) per step (done/fell bool).
    qpos, qvel: (T, nq), (T, nv) env 0's state after each step (a fresh episode's first state
      where ``done[:, 0]``), for rendering.
    dt: policy step, s. episodes: per-episode statistics (:class:`Episode`).
  """

  commands: np.ndarray
  velocity: np.ndarray
  reward: np.ndarray
  done: np.ndarray
  fell: np.ndarray
  qpos: np.ndarray
  qvel: np.ndarray
  dt: float
  episodes: list[Episode]

  @property
  def steps(self) -> int:
    return int(self.commands.shape[0])

  def tracking_error(self) -> np.ndarray:
    """(3,) mean |command - achieved| of vx, vy, wz over all valid steps of all envs."""
    err = np.abs(self.commands[:, None, :] - self.velocity)
    valid = ~self.done
    return err[valid].mean(0) if valid.any() else np.full(3, np.nan)


COMMAND_OBS_SLICE = slice(6, 9)
"""Where the command sits in the loco actor observation (and in the first 45 critic entries):
REASAN's fixed layout [ang vel (3), projected gravity (3), command (3), joint pos (12), joint vel
(12), last action (12)] (``reasan-loco.md``), which exported policies such as ``loco_1.onnx`` rely
on. The command entries carry no observation noise."""


def _with_command(env, state, command: jax.Array):
  """Sets every env's command to ``command`` (3,), freezes resampling and updates the observation.

  The observation already computed for the next step is patched in place (entries
  :data:`COMMAND_OBS_SLICE`, scaled as the env scales them), so the policy sees the new command at
  once, also on the first step of an episode (whose reset sampled a random command).
  """
  batch = state.reward.shape[0]
  command = jnp.broadcast_to(jnp.asarray(command, jnp.float32), (batch, 3))
  info = dict(state.info)
  info["command"] = command
  info["next_resample"] = jnp.full((batch,), _FROZEN, jnp.int32)
  scaled = _scaled_command(env, command)
  obs = {k: v.at[:, COMMAND_OBS_SLICE].set(scaled) if k in ("state", "privileged_state") else v
         for k, v in state.obs.items()}
  return state.replace(info=info, obs=obs)


def _scaled_command(env, command: jax.Array) -> jax.Array:
  """(B, 3) command as it appears in the observation (the env's observation scales)."""
  o = env.config.obs
  return command * jnp.asarray([o.cmd_lin_scale, o.cmd_lin_scale, o.cmd_ang_scale], jnp.float32)


@functools.lru_cache(maxsize=8)
def _rollout_fn(env, act: Callable, init_carry: Callable, num_envs: int) -> Callable:
  """Jitted ``(params, commands (T, 3), rng) -> per-step outputs`` (cached per env and policy)."""
  from reasan_jax.core.wrappers import VecEnv  # pylint: disable=import-outside-toplevel

  vec = VecEnv(env, num_envs)

  def run(params, commands, rng):
    state = vec.reset(rng)
    # Self-check of COMMAND_OBS_SLICE against the env's own first observation.
    layout_error = jnp.max(jnp.abs(state.obs["state"][:, COMMAND_OBS_SLICE]
                                   - _scaled_command(env, state.info["command"])))
    state = _with_command(env, state, commands[0])
    nxt_commands = jnp.concatenate([commands[1:], commands[-1:]], axis=0)

    def body(carry, command_next):
      state, pcarry = carry
      action, pcarry = act(params, state.obs, pcarry, state.done > 0.5)
      state = vec.step(state, action)
      rot = jax.vmap(spatial.quat_to_mat)(state.data.qpos[:, 3:7])
      lin = jnp.einsum("bji,bj->bi", rot, state.data.qvel[:, :3])
      out = {
          "velocity": jnp.stack([lin[:, 0], lin[:, 1], state.data.qvel[:, 5]], axis=-1),
          "reward": state.reward, "done": state.done > 0.5,
          "fell": state.metrics["died"] > 0.5,
          "qpos": state.data.qpos[0], "qvel": state.data.qvel[0],
      }
      return (_with_command(env, state, command_next), pcarry), out

    _, out = jax.lax.scan(body, (state, init_carry(num_envs)), nxt_commands)
    return out, layout_error

  return jax.jit(run)


def episode_table(commands: np.ndarray, velocity: np.ndarray, reward: np.ndarray,
                  done: np.ndarray, fell: np.ndarray) -> list[Episode]:
  """Splits per-step arrays (see :class:`RolloutResult`) into :class:`Episode` records.

  The step that ends an episode counts toward its length and return but not toward its tracking
  error (the state after it is already the next episode's first).
  """
  steps, batch = reward.shape
  err = np.abs(commands[:, None, :] - velocity)
  episodes = []
  for b in range(batch):
    start, index = 0, 0
    for t in range(steps):
      if not (done[t, b] or t == steps - 1):
        continue
      sl = slice(start, t + 1)
      valid = ~done[sl, b]
      mean_err = err[sl, b][valid].mean(0) if valid.any() else np.full(3, np.nan)
      end = "fell" if fell[t, b] else ("time limit" if done[t, b] else "running")
      episodes.append(Episode(b, index, start, t + 1 - start, float(reward[sl, b].sum()), end,
                              tuple(float(x) for x in mean_err)))
      start, index = t + 1, index + 1
  return episodes


def rollout(env, policy: Policy, commands: np.ndarray | str, num_envs: int = 1, seed: int = 0,
            steps: int | None = None) -> RolloutResult:
  """Runs ``policy`` deterministically in ``num_envs`` auto-resetting copies of ``env``.

  One jitted ``lax.scan`` over the steps (compiled once per env, policy, ``num_envs`` and step
  count; new parameters or commands reuse it). Before every step each env's command is set to the
  step's command and resampling is frozen; the recurrent carry is zeroed where an episode starts.

  Args:
    env: a loco env (:func:`make_env`).
    policy: see :class:`Policy`.
    commands: (T, 3) commands, or anything :func:`command_schedule` accepts (then ``steps``
      defaults to :func:`default_steps`).
    num_envs: parallel envs (>= 1). seed: PRNG seed of the resets.
    steps: number of policy steps when ``commands`` is not an array.

  Returns:
    A :class:`RolloutResult`.

  Raises:
    PlayError: bad commands or ``num_envs`` < 1.
  """
  if int(num_envs) < 1:
    raise PlayError(f"--num_envs must be at least 1, got {num_envs}.")
  if isinstance(commands, str) or np.shape(commands) == (3,):
    if steps is None:
      steps = default_steps(commands, env.dt) if isinstance(commands, str) else DEFAULT_STEPS
    commands = command_schedule(commands, steps, env.dt)
  commands = np.asarray(commands, np.float32)
  if commands.ndim != 2 or commands.shape[1] != 3 or commands.shape[0] < 1:
    raise PlayError(f"commands must have shape (T, 3) with T >= 1, got {commands.shape}.")
  fn = _rollout_fn(env, policy.act, policy.init_carry, int(num_envs))
  out, layout_error = jax.device_get(
      fn(policy.params, jnp.asarray(commands), jax.random.PRNGKey(int(seed))))
  if not float(layout_error) < 1e-4:
    raise RuntimeError(
        "The loco observation no longer holds the command at entries 6:9 (reasan_jax.play."
        "COMMAND_OBS_SLICE); update play.py to the env's new observation layout.")
  out = {k: np.asarray(v) for k, v in out.items()}
  episodes = episode_table(commands, out["velocity"], out["reward"], out["done"], out["fell"])
  return RolloutResult(commands=commands, velocity=out["velocity"], reward=out["reward"],
                       done=out["done"], fell=out["fell"], qpos=out["qpos"], qvel=out["qvel"],
                       dt=float(env.dt), episodes=episodes)


def format_episodes(episodes: Sequence[Episode]) -> str:
  """Plain-text table, one row per episode, plus a summary line."""
  lines = [f"{'env':>4} {'ep':>3} {'steps':>6} {'return':>8}  {'end':<10} | "
           f"{'|err vx|':>8} {'|err vy|':>8} {'|err wz|':>8}",
           "-" * 70]
  for e in episodes:
    vx, vy, wz = e.tracking_error
    lines.append(f"{e.env:4d} {e.index:3d} {e.length:6d} {e.ret:8.2f}  {e.end:<10} | "
                 f"{vx:8.3f} {vy:8.3f} {wz:8.3f}")
  falls = sum(e.fell for e in episodes)
  lines.append("-" * 70)
  lines.append(f"{len(episodes)} episodes, {falls} fell; errors in m/s, m/s, rad/s "
               "(mean |command - achieved|, body frame).")
  return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Rendering.

_TRACK_DISTANCE = 1.8  # m from the robot
_FIXED_DISTANCE = 5.0  # m from the episode's spawn point
_LIN_ARROW = 0.5  # m of arrow per m/s
_YAW_ARROW = 0.25  # m of arrow per rad/s


def _add_arrow(scene, start: np.ndarray, end: np.ndarray, width: float, rgba) -> None:
  import mujoco  # pylint: disable=import-outside-toplevel

  if scene.ngeom >= scene.maxgeom or np.linalg.norm(end - start) < 1e-3:
    return
  geom = scene.geoms[scene.ngeom]
  mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_ARROW, np.zeros(3), np.zeros(3),
                      np.eye(3).reshape(-1), np.asarray(rgba, np.float32))
  mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_ARROW, width, start.astype(np.float64),
                       end.astype(np.float64))
  scene.ngeom += 1


def _yaw_matrix(quat: np.ndarray) -> np.ndarray:
  w, x, y, z = quat
  yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
  c, s = math.cos(yaw), math.sin(yaw)
  return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def render_frames(env, result: RolloutResult, width: int = 640, height: int = 480,
                  camera: str = "track", draw_command: bool = True, scene_option: Any = None,
                  backend: str | None = None) -> Iterator[np.ndarray]:
  """Yields env 0's frames of ``result``, one (height, width, 3) uint8 image per policy step.

  Args:
    env: the env of the rollout (its ``mj_model`` is rendered).
    result: from :func:`rollout`.
    width, height: pixels.
    camera: ``"track"`` (follows the robot at 1.8 m) or ``"fixed"`` (looks at the episode's spawn
      point from 5 m).
    draw_command: draw the commanded (green: planar, orange: yaw) and achieved (blue) arrows.
    scene_option: a ``mujoco.MjvOption`` (e.g. to hide geom groups); default MuJoCo's.
    backend: OpenGL backend (default :func:`reasan_jax.viz.render.gl_backend`).

  Raises:
    PlayError: unknown camera. render.RenderError: no OpenGL.
  """
  import mujoco  # pylint: disable=import-outside-toplevel

  if camera not in ("track", "fixed"):
    raise PlayError(f"--camera must be track or fixed, got {camera!r}.")
  info = render.gl_info(backend)
  model = copy.deepcopy(env.mj_model)
  if info.software:  # Mesa on a CPU: a 4096^2 shadow map and 4x multisampling cost ~5x the time
    model.vis.quality.shadowsize = min(int(model.vis.quality.shadowsize), 1024)
    model.vis.quality.offsamples = 0
  renderer = render.open_renderer(model, width, height, info.backend)
  try:
    data = mujoco.MjData(model)
    cam = mujoco.MjvCamera()
    cam.type = mujoco.mjtCamera.mjCAMERA_FREE
    cam.azimuth = float(model.vis.global_.azimuth)
    cam.elevation = float(model.vis.global_.elevation)
    cam.distance = _TRACK_DISTANCE if camera == "track" else _FIXED_DISTANCE
    lookat = None
    for t in range(result.steps):
      qpos, qvel = result.qpos[t], result.qvel[t]
      data.qpos[:] = qpos
      data.qvel[:] = qvel
      mujoco.mj_forward(model, data)
      new_episode = t == 0 or bool(result.done[t, 0])  # qpos[t] is a fresh episode's first state
      if camera == "fixed":
        if new_episode:
          lookat = np.array([qpos[0], qpos[1], 0.3])
      else:
        target = np.array([qpos[0], qpos[1], qpos[2] - 0.05])
        lookat = target if new_episode else lookat + 0.3 * (target - lookat)  # smooths the bobbing
      cam.lookat[:] = lookat
      renderer.update_scene(data, camera=cam, scene_option=scene_option)
      if draw_command:
        rot = _yaw_matrix(qpos[3:7])
        base = qpos[:3] + np.array([0.0, 0.0, 0.2])
        vx, vy, wz = result.commands[t]
        _add_arrow(renderer.scene, base, base + rot @ np.array([vx, vy, 0.0]) * _LIN_ARROW,
                   0.02, (0.1, 0.85, 0.2, 0.6))
        head = qpos[:3] + rot @ np.array([0.3, 0.0, 0.12])
        _add_arrow(renderer.scene, head, head + rot @ np.array([0.0, wz * _YAW_ARROW, 0.0]),
                   0.015, (1.0, 0.55, 0.05, 1.0))
        planar = np.array([qvel[0], qvel[1], 0.0])
        above = base + np.array([0.0, 0.0, 0.05])  # just above the commanded arrow
        _add_arrow(renderer.scene, above, above + planar * _LIN_ARROW, 0.008, (0.2, 0.4, 1.0, 1.0))
      yield renderer.render().copy()
  finally:
    renderer.close()


def render_video(env, result: RolloutResult, path: str | os.PathLike, width: int = 640,
                 height: int = 480, camera: str = "track", draw_command: bool = True,
                 scene_option: Any = None, backend: str | None = None) -> pathlib.Path:
  """Renders env 0 of ``result`` to an MP4 at the policy rate (``1 / dt`` fps, T frames).

  The file appears only when complete (see :class:`reasan_jax.viz.render.VideoWriter`).

  Args: see :func:`render_frames`; ``path`` must end in ``.mp4``, width and height must be even.

  Returns:
    The absolute path of the video.

  Raises:
    render.RenderError: unwritable path, odd size or no OpenGL (nothing is left behind).
    PlayError: unknown camera.
  """
  writer = render.VideoWriter(path, 1.0 / result.dt, width, height)
  with writer:
    for frame in render_frames(env, result, width, height, camera, draw_command, scene_option,
                               backend):
      writer.append(frame)
  return writer.path


# ------------------------------------------------------------------------------------------------
# Training videos (train.py's run.video_every hook).

TRAINING_VIDEO = {"steps": 300, "width": 480, "height": 360, "camera": "track",
                  "command": DEFAULT_COMMAND}
"""Settings of the videos written during training: 6 s of the figure-eight schedule."""


class TrainingVideo:
  """Writes ``<run>/videos/iter_<iteration>.mp4`` from a training state (``run.video_every``).

  Built once before training starts, so a missing OpenGL or a non-loco task fails before any
  work; the rollout compiles on the first video and is reused afterwards.

  Args:
    trainer: the run's :class:`reasan_jax.ppo.trainer.Trainer` (its ``policy_fn`` is used).
    config: the run's config (its ``env`` section, with evaluation switches).

  Raises:
    PlayError: the task is not loco. render.RenderError: no usable OpenGL backend.
  """

  def __init__(self, trainer, config: ml_collections.ConfigDict):
    if config.env.get("task") != "loco":
      raise PlayError(f"training videos need the Go2 loco task, but env.task is "
                      f"{config.env.get('task')!r}")
    self.settings = dict(TRAINING_VIDEO)
    self.env = make_env(config.env)
    render.check_gl()
    self.policy = Policy(act=_trainer_act(trainer), params=None, init_carry=trainer.init_carry,
                         env_config=config.env, source="training state")
    steps = int(self.settings["steps"])
    self.commands = command_schedule(self.settings["command"], steps, self.env.dt)

  def record(self, run_dir: str | os.PathLike, state, iteration: int) -> pathlib.Path:
    """Rolls out ``state``'s policy (env 0, seed = iteration) and writes the video; returns it."""
    path = log_rewind.video_path(run_dir, iteration)  # the name log_rewind drops on resume
    path.parent.mkdir(parents=True, exist_ok=True)
    # Host copies: the same compiled rollout as `python -m reasan_jax.play` (no mesh shardings).
    params = jax.tree.map(np.asarray, jax.device_get(
        {"params": state.params, "normalizer": state.normalizer}))
    policy = dataclasses.replace(self.policy, params=params)
    result = rollout(self.env, policy, self.commands, num_envs=1, seed=int(iteration))
    s = self.settings
    return render_video(self.env, result, path,
                        int(s["width"]), int(s["height"]), s["camera"])


# ------------------------------------------------------------------------------------------------
# Command line.


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                              epilog="See docs/watch.md.", allow_abbrev=False)
  src = p.add_argument_group("policy (one of; default: the newest run in --runs_dir)")
  src.add_argument("--run", metavar="RUN", help="run name under --runs_dir, or a run folder: its "
                   "newest checkpoint")
  src.add_argument("--checkpoint", metavar="PATH", help="a run folder or checkpoints/<iteration>")
  src.add_argument("--onnx", metavar="PATH", help="an exported REASAN loco policy (.onnx)")
  p.add_argument("--runs_dir", default="runs", help="parent folder of the runs (default: runs)")
  p.add_argument("--num_envs", type=int, default=1, help="parallel envs (default 1; env 0 is "
                 "rendered)")
  p.add_argument("--steps", type=int, default=None, help="policy steps at 50 Hz (default: the "
                 f"schedule's length, {DEFAULT_STEPS} for numeric commands)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--command", default=DEFAULT_COMMAND,
                 help="'vx,vy,wz' (m/s, m/s, rad/s), several joined by ';', or a schedule: "
                 f"{', '.join(SCHEDULES)} (default {DEFAULT_COMMAND}); write --command=-0.5,0,0 "
                 "when it starts with a minus")
  p.add_argument("--segment", type=float, default=4.0, help="seconds each of several ';' "
                 "commands is held (default 4)")
  p.add_argument("--terrain", choices=("flat", "rough"), default=None,
                 help="default: the run's terrain (flat for --onnx)")
  p.add_argument("--randomize", action="store_true", help="training noise, domain randomisation "
                 "and pushes on (off by default)")
  p.add_argument("--video", metavar="PATH.mp4", help="render env 0 to this MP4")
  p.add_argument("--width", type=int, default=640)
  p.add_argument("--height", type=int, default=480)
  p.add_argument("--camera", choices=("track", "fixed"), default="track")
  return p


enable_compilation_cache = compile_cache.enable_compilation_cache


def run(argv: Sequence[str] | None = None) -> RolloutResult:
  """The command line without exit-code handling (see the module docstring).

  Raises:
    PlayError, render.RenderError: one-sentence errors (nothing is written on failure).
  """
  args = _parser().parse_args(argv)
  if args.width < 2 or args.height < 2 or args.width % 2 or args.height % 2:
    raise PlayError(f"--width and --height must be even numbers >= 2 (H.264), got "
                    f"{args.width} x {args.height}.")
  if args.steps is not None and args.steps < 1:
    raise PlayError(f"--steps must be at least 1, got {args.steps}.")
  if args.num_envs < 1:
    raise PlayError(f"--num_envs must be at least 1, got {args.num_envs}.")
  if args.command not in SCHEDULES:
    _parse_numeric(args.command)
  if os.environ.get("MUJOCO_GL"):  # a missing backend library breaks even `import mujoco`
    render.check_library()
  if args.video:  # fail before any compile: bad path, no OpenGL
    render.check_video_path(args.video)
    render.check_gl()

  t0 = time.perf_counter()
  policy, env = load_policy(args.run, args.checkpoint, args.onnx, args.runs_dir, args.terrain,
                            args.randomize)
  steps = args.steps or default_steps(args.command, env.dt)
  commands = command_schedule(args.command, steps, env.dt, args.segment)
  print(f"Policy: {policy.source}")
  print(f"Env: loco, terrain {env.config.terrain}, "
        f"{'training noise/randomisation/pushes on' if args.randomize else 'no noise, no randomisation'}"
        f"; {args.num_envs} env(s) x {steps} steps ({steps * env.dt:.1f} s); command {args.command}")
  result = rollout(env, policy, commands, args.num_envs, args.seed)
  print(f"Rollout: {time.perf_counter() - t0:.1f} s (including compilation)")
  print(format_episodes(result.episodes))
  if args.video:
    print(f"Rendering env 0: {result.steps} frames at {args.width}x{args.height} "
          f"({render.gl_info().renderer or render.gl_backend()})...", flush=True)
    t0 = time.perf_counter()
    path = render_video(env, result, args.video, args.width, args.height, args.camera)
    print(f"Video: {path} ({result.steps} frames, {args.width}x{args.height}, "
          f"{1.0 / env.dt:g} fps; rendered in {time.perf_counter() - t0:.1f} s)")
  else:
    print("(add --video out.mp4 to render env 0)")
  return result


def main(argv: Sequence[str] | None = None) -> int:
  """Entry point; returns the exit code (0 ok, 1 error, 2 bad usage, 130 interrupted)."""
  enable_compilation_cache()
  try:
    run(argv)
  except SystemExit as e:  # argparse
    return int(e.code or 0)
  except (PlayError, render.RenderError) as e:
    print(f"{PROG}: error: {e}", file=sys.stderr)
    return 1
  except KeyboardInterrupt:
    return 130
  return 0


if __name__ == "__main__":
  sys.exit(main())
