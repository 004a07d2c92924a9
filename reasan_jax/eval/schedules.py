"""Command schedules for evaluation: named manoeuvres and ``"vx,vy,wz"`` numbers, per policy step.

A command is ``(vx m/s, vy m/s, wz rad/s)`` in the body frame (REASAN's loco command,
``reasan-loco.md`` "Commands"). :func:`command_schedule` turns a schedule name, numbers or an array
into the (T, 3) commands of T policy steps:

    command_schedule("figure8", default_steps("figure8"))    # (654, 3), 13.1 s at 50 Hz
    command_schedule("0.5,0,0;0,0,1", 300, segment=2.0)      # 2 s of each, the last held
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from reasan_jax.eval import EvalError

Command = tuple[float, float, float]


def _figure8(t: float) -> Command:
  """0.5 s standing, then 1 m/s around a 1 m circle to the left, then one to the right, repeated."""
  if t < 0.5:
    return (0.0, 0.0, 0.0)
  circle = 2.0 * math.pi  # s per circle at 1 rad/s
  return (1.0, 0.0, 1.0 if (t - 0.5) % (2 * circle) < circle else -1.0)


def _square(t: float) -> Command:
  """0.5 s standing, then 2.5 s forward at 0.8 m/s and a 90 degree left turn in place (1 s)."""
  if t < 0.5:
    return (0.0, 0.0, 0.0)
  return (0.8, 0.0, 0.0) if (t - 0.5) % 3.5 < 2.5 else (0.0, 0.0, math.pi / 2)


def _strafe(t: float) -> Command:
  """0.5 s standing, then sideways at 0.5 m/s, alternating left and right every 3 s."""
  if t < 0.5:
    return (0.0, 0.0, 0.0)
  return (0.0, 0.5 if (t - 0.5) % 6.0 < 3.0 else -0.5, 0.0)


def _stop_and_go(t: float) -> Command:
  """2 s phases: stand, 1 m/s, stand, 1.5 m/s, repeated."""
  return ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 0.0, 0.0), (1.5, 0.0, 0.0))[int(t // 2.0) % 4]


def _sweep(t: float) -> Command:
  """Forward speed ramped 0 -> 1.5 m/s over 5 s and back down over 5 s, repeated."""
  phase = t % 10.0
  return (0.3 * (phase if phase < 5.0 else 10.0 - phase), 0.0, 0.0)


def _wall(t: float) -> Command:
  """0.5 s standing, then straight ahead at 1.0 m/s: at whatever stands in front (the filter's
  static scenario, REASAN filter §6.4 / issue 11 sim2sim (a))."""
  return (0.0, 0.0, 0.0) if t < 0.5 else (1.0, 0.0, 0.0)


def _crossing(t: float) -> Command:
  """3 s standing while moving obstacles cross around the robot (REASAN filter §6.3: they aim
  through its position), then 1.0 m/s straight ahead through their paths."""
  return (0.0, 0.0, 0.0) if t < 3.0 else (1.0, 0.0, 0.0)


def _zigzag(t: float) -> Command:
  """0.5 s standing, then 0.8 m/s ahead while turning left and right at 0.6 rad/s every 2.5 s
  (sweeps the field of obstacles in front)."""
  if t < 0.5:
    return (0.0, 0.0, 0.0)
  return (0.8, 0.0, 0.6 if (t - 0.5) % 5.0 < 2.5 else -0.6)


SCHEDULES: dict[str, tuple[Callable[[float], Command], float]] = {
    "stand": (lambda t: (0.0, 0.0, 0.0), 10.0),
    "forward": (lambda t: (0.0, 0.0, 0.0) if t < 0.5 else (1.0, 0.0, 0.0), 10.0),
    "figure8": (_figure8, 0.5 + 4 * math.pi),
    "square": (_square, 0.5 + 4 * 3.5),
    "turn": (lambda t: (0.0, 0.0, 0.0) if t < 0.5 else (0.0, 0.0, 1.0), 10.0),
    "strafe": (_strafe, 6.5),
    "stop_and_go": (_stop_and_go, 8.0),
    "sweep": (_sweep, 10.0),
    "wall": (_wall, 10.0),
    "crossing": (_crossing, 12.0),
    "zigzag": (_zigzag, 10.5),
}
"""Named command schedules: name -> (time s -> (vx m/s, vy m/s, wz rad/s), natural duration s).
``wall``, ``crossing`` and ``zigzag`` drive a filter policy at obstacles (issue 11 item 5)."""

DEFAULT_COMMAND = "figure8"
DEFAULT_STEPS = 500  # policy steps for explicit numeric commands (10 s at 50 Hz)


def parse_commands(text: str, option: str = "--command") -> list[Command]:
  """``"vx,vy,wz"`` or several joined by ``;`` as a list of (vx, vy, wz) float tuples.

  Args:
    text: the numbers (m/s, m/s, rad/s).
    option: how the value is named in messages (a command-line flag).

  Raises:
    EvalError: not three finite numbers per part, or nothing at all.
  """
  out = []
  for part in text.split(";"):
    if not part.strip():
      continue
    try:
      values = tuple(float(v) for v in part.split(","))
    except ValueError:
      values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
      raise EvalError(
          f"{option} {text!r} is neither 'vx,vy,wz' numbers (several separated by ';') nor a "
          f"schedule name ({', '.join(SCHEDULES)}).")
    out.append(values)
  if not out:
    raise EvalError(f"{option} is empty; give 'vx,vy,wz' or a schedule name "
                    f"({', '.join(SCHEDULES)}).")
  return out


def check_command(command: str, option: str = "--command") -> None:
  """Raises :class:`EvalError` unless ``command`` is a schedule name or valid numbers."""
  if command.strip() not in SCHEDULES:
    parse_commands(command, option)


def default_steps(command: str | Sequence[float] | np.ndarray, dt: float = 0.02) -> int:
  """Policy steps that show ``command`` once: a schedule's natural duration, else 10 s at 50 Hz."""
  if isinstance(command, str) and command.strip() in SCHEDULES:
    return int(math.ceil(SCHEDULES[command.strip()][1] / dt))
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
    segment: seconds each of several numeric commands is held (> 0).

  Raises:
    EvalError: unknown name, malformed numbers, a wrong array shape, ``steps`` < 1 or
      ``segment`` <= 0.
  """
  if int(steps) < 1:
    raise EvalError(f"--steps must be at least 1, got {steps}.")
  steps = int(steps)
  if isinstance(command, str):
    name = command.strip()
    if name in SCHEDULES:
      fn = SCHEDULES[name][0]
      return np.asarray([fn(t * dt) for t in range(steps)], np.float32)
    values = parse_commands(name)
    if segment <= 0:
      raise EvalError(f"--segment must be positive, got {segment}.")
    index = np.minimum((np.arange(steps) * dt / segment).astype(int), len(values) - 1)
    return np.asarray(values, np.float32)[index]
  array = np.asarray(command, np.float32)
  if array.shape == (3,):
    return np.broadcast_to(array, (steps, 3)).copy()
  if array.shape != (steps, 3):
    raise EvalError(f"commands must have shape (3,) or ({steps}, 3), got {array.shape}.")
  return array
