"""Evaluation metrics of a rollout: per-episode table, tracking errors, falls, sim2sim tracking.

All functions work on host numpy arrays of :class:`reasan_jax.eval.rollout.RolloutResult`
(T steps, B envs): ``commands`` (T, B, 3) — also accepted as (T, 3) for all envs —, achieved
``velocity`` (T, B, 3), ``reward``/``done``/``fell`` (T, B). Velocities and commands are body-frame
vx, vy (m/s) and yaw rate wz (rad/s). The step that ends an episode counts toward its length and
return but not toward tracking: the state recorded after it is already the next episode's first.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from reasan_jax.eval import EvalError


def _per_env(commands: np.ndarray, batch: int) -> np.ndarray:
  commands = np.asarray(commands, np.float32)
  if commands.ndim == 2:
    commands = np.broadcast_to(commands[:, None, :], (commands.shape[0], batch, 3))
  return commands


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
    """The episode ended in a fall (termination)."""
    return self.end == "fell"


def episode_table(commands: np.ndarray, velocity: np.ndarray, reward: np.ndarray,
                  done: np.ndarray, fell: np.ndarray) -> list[Episode]:
  """Splits per-step arrays (shapes in the module docstring) into :class:`Episode` records."""
  steps, batch = reward.shape
  err = np.abs(_per_env(commands, batch) - velocity)
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


def tracking_error(commands: np.ndarray, velocity: np.ndarray, done: np.ndarray) -> np.ndarray:
  """(3,) mean |command - achieved| of vx, vy, wz over all valid (not episode-ending) steps."""
  err = np.abs(_per_env(commands, done.shape[1]) - velocity)
  valid = ~done
  return err[valid].mean(0) if valid.any() else np.full(3, np.nan)


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
# Sim2sim: steady-state tracking of fixed commands.


@dataclasses.dataclass(frozen=True)
class TrackingResult:
  """Tracking of one command: means in m/s, m/s, rad/s over the averaging window.

  Attributes:
    command: (vx, vy, wz) held for the whole rollout.
    vx, vy, wz: achieved means over the window of the envs that did not fall (NaN if all fell).
    falls: envs of this command whose first episode ended early. envs: envs of this command.
  """

  command: tuple[float, float, float]
  vx: float
  vy: float
  wz: float
  falls: int
  envs: int


def tracking_results(commands: np.ndarray, velocity: np.ndarray, done: np.ndarray, window: int,
                     envs_per_command: int = 1) -> list[TrackingResult]:
  """Per-command means of the achieved velocity over the last ``window`` steps.

  An env counts only until its first episode ends (a fall, or a time limit that should have been
  lifted with ``evaluation_env_config(..., episode_length=...)``): that step and all later ones are
  left out, and the env counts as a fall.

  Args:
    commands: (T, B, 3) or (T, 3); the command of env ``b`` is read at step 0.
    velocity: (T, B, 3). done: (T, B) bool.
    window: trailing steps averaged over (1 <= window <= T).
    envs_per_command: consecutive envs sharing one command (B divisible by it).

  Raises:
    EvalError: a window outside [1, T] or B not divisible by ``envs_per_command``.
  """
  steps, batch = done.shape
  if not 1 <= int(window) <= steps:
    raise EvalError(f"The averaging window ({window} steps) must be between 1 step and the "
                    f"rollout length ({steps} steps).")
  if envs_per_command < 1 or batch % envs_per_command:
    raise EvalError(f"{batch} envs cannot be split into groups of {envs_per_command} per command.")
  commands = _per_env(commands, batch)
  ended = np.cumsum(done, axis=0) > 0  # this step or an earlier one ended the first episode
  counted = ~ended & (np.arange(steps) >= steps - int(window))[:, None]
  sums = (velocity * counted[..., None]).sum(0)
  means = sums / np.maximum(counted.sum(0), 1)[:, None]
  fallen = ended[-1]
  results = []
  for i in range(0, batch, envs_per_command):
    sl = slice(i, i + envs_per_command)
    ok = ~fallen[sl]
    mean = means[sl][ok].mean(0) if ok.any() else np.full(3, np.nan)
    results.append(TrackingResult(tuple(float(x) for x in commands[0, i]), float(mean[0]),
                                  float(mean[1]), float(mean[2]), int(fallen[sl].sum()),
                                  envs_per_command))
  return results


def format_tracking_table(results: Sequence[TrackingResult]) -> str:
  """Plain-text table: command, achieved vx/vy/wz, falls."""
  lines = [f"{'cmd vx':>7} {'cmd vy':>7} {'cmd wz':>7} | {'vx':>6} {'vy':>6} {'wz':>6} | falls",
           "-" * 56]
  for r in results:
    c = r.command
    lines.append(f"{c[0]:7.2f} {c[1]:7.2f} {c[2]:7.2f} | {r.vx:6.2f} {r.vy:6.2f} {r.wz:6.2f} |"
                 f" {r.falls}/{r.envs}")
  return "\n".join(lines)
