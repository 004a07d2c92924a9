"""Sim2sim check: run an imported REASAN policy in our loco env on a grid of commands.

Usage::

  python -m reasan_jax.sim2sim --onnx ../shared/reference/pretrained/loco_1.onnx
  python -m reasan_jax.sim2sim --onnx loco_1.onnx --terrain rough --commands "0.5,0,0"

Prints, per command: the mean achieved body-frame vx, vy and yaw rate wz over the last
``--average`` seconds (of the envs that did not fall) and the number of falls.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from reasan_jax.core import spatial

# The judged grid (issue "The Go2 on MJX"): vx in {0, .5, 1, 1.5}, vy in {-.5, .5}, wz in {-1, 1}.
DEFAULT_COMMANDS = (
    (0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (1.0, 0.0, 0.0), (1.5, 0.0, 0.0),
    (0.0, -0.5, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, -1.0), (0.0, 0.0, 1.0),
)


@dataclasses.dataclass(frozen=True)
class TrackingResult:
  """Tracking of one command: means in m/s, m/s, rad/s over the averaging window."""

  command: tuple[float, float, float]
  vx: float
  vy: float
  wz: float
  falls: int
  envs: int


def sim2sim_config(terrain: str = "flat", noise: bool = False, pushes: bool = False,
                   randomize: bool = False, stage: int = 1):
  """The loco env config for evaluation: noise, pushes and randomisation switchable (default off)."""
  from reasan_jax.configs import loco  # pylint: disable=import-outside-toplevel

  cfg = loco.env_config()
  cfg.stage = stage
  cfg.terrain = terrain
  cfg.obs.noise = noise
  cfg.randomization.enabled = randomize
  cfg.randomization.pushes = pushes
  if terrain == "rough":  # robots spawn in the middle (run_sim2sim): 20 m of rough ground each way
    cfg.terrain_config.num_rows = 6
    cfg.terrain_config.num_cols = 6
    cfg.terrain_config.border = 8.0
  return cfg


def run_sim2sim(env, apply_fn: Callable, params: Any, init_carry: Callable[[int], Any],
                commands: Sequence[Sequence[float]], duration: float = 20.0,
                average: float = 10.0, envs_per_command: int = 1, seed: int = 0
                ) -> list[TrackingResult]:
  """Rolls a policy out in ``env`` (a LocoEnv) with each command held fixed for ``duration`` s.

  Args:
    env: the single-env loco task (no auto-reset is used: a fall is counted once and the env's
      later steps are excluded from the averages).
    apply_fn: ``(params, obs (B, 45), carry) -> (action (B, 12), carry)`` in REASAN joint order.
    params: the policy's parameters. init_carry: ``B -> carry`` (zeros).
    commands: (C, 3) commands (vx, vy m/s, wz rad/s), body frame.
    duration: rollout length, s. average: trailing window the means are taken over, s.
    envs_per_command: copies of each command (different spawn yaw / joint noise).
    seed: PRNG seed for the resets.

  Returns:
    One :class:`TrackingResult` per command, in order.

  Raises:
    ValueError: ``average`` > ``duration`` or commands not of shape (C, 3).
  """
  cmds = np.asarray(commands, np.float32)
  if cmds.ndim != 2 or cmds.shape[1] != 3:
    raise ValueError(f"commands must have shape (C, 3), got {cmds.shape}.")
  if average > duration:
    raise ValueError(f"average window {average} s is longer than the rollout {duration} s.")
  cmds = np.repeat(cmds, envs_per_command, axis=0)
  batch = cmds.shape[0]
  steps = int(round(duration / env.dt))
  window = int(round(average / env.dt))

  rows, cols = env.config.terrain_config.num_rows, env.config.terrain_config.num_cols

  @jax.jit
  def rollout(params, rng):
    keys = jax.random.split(rng, batch)
    # Spawn every robot on the central cells so a 20 s walk stays on the terrain.
    persistent = jax.vmap(env.persistent)(jax.vmap(env.reset)(keys))
    persistent["terrain_level"] = jnp.full((batch,), rows // 2, jnp.int32)
    persistent["terrain_col"] = (cols // 2 - 1 + jnp.arange(batch) % 2).astype(jnp.int32)
    state = jax.vmap(env.reset)(keys, persistent)
    info = dict(state.info)
    info["command"] = jnp.asarray(cmds)
    info["next_resample"] = jnp.full((batch,), 2**30, jnp.int32)
    state = state.replace(info=info)

    def body(carry, t):
      state, pcarry, fallen = carry
      action, pcarry = apply_fn(params, state.obs["state"], pcarry)
      state = jax.vmap(env.step)(state, action)
      died = state.metrics["died"] > 0
      fallen = fallen | died
      rot = jax.vmap(spatial.quat_to_mat)(state.data.qpos[:, 3:7])
      vel = jnp.einsum("bji,bj->bi", rot, state.data.qvel[:, :3])
      tracked = jnp.stack([vel[:, 0], vel[:, 1], state.data.qvel[:, 5]], axis=-1)
      in_window = (t >= steps - window) & ~fallen
      return (state, pcarry, fallen), (tracked * in_window[:, None], in_window)

    init = (state, init_carry(batch), jnp.zeros((batch,), bool))
    (_, _, fallen), (tracked, counted) = jax.lax.scan(body, init, jnp.arange(steps))
    sums = tracked.sum(0)
    count = counted.sum(0)
    return sums / jnp.maximum(count, 1)[:, None], fallen

  means, fallen = jax.device_get(rollout(params, jax.random.PRNGKey(seed)))
  results = []
  for i in range(0, batch, envs_per_command):
    sl = slice(i, i + envs_per_command)
    ok = ~fallen[sl]
    mean = means[sl][ok].mean(0) if ok.any() else np.full(3, np.nan)
    results.append(TrackingResult(tuple(float(x) for x in cmds[i]), float(mean[0]),
                                  float(mean[1]), float(mean[2]), int(fallen[sl].sum()),
                                  envs_per_command))
  return results


def format_table(results: Sequence[TrackingResult]) -> str:
  """Plain-text table: command, achieved vx/vy/wz, falls."""
  lines = [f"{'cmd vx':>7} {'cmd vy':>7} {'cmd wz':>7} | {'vx':>6} {'vy':>6} {'wz':>6} | falls",
           "-" * 56]
  for r in results:
    c = r.command
    lines.append(f"{c[0]:7.2f} {c[1]:7.2f} {c[2]:7.2f} | {r.vx:6.2f} {r.vy:6.2f} {r.wz:6.2f} |"
                 f" {r.falls}/{r.envs}")
  return "\n".join(lines)


def _parse_commands(text: str | None) -> list[tuple[float, float, float]]:
  if not text:
    return list(DEFAULT_COMMANDS)
  out = []
  for part in text.split(";"):
    values = [float(v) for v in part.split(",")]
    if len(values) != 3:
      raise SystemExit(f"error: each command needs 3 numbers vx,vy,wz; got {part!r}.")
    out.append(tuple(values))
  return out


def main(argv: Sequence[str] | None = None) -> int:
  """Command-line entry point (see the module docstring); prints the table, returns 0."""
  from reasan_jax.tasks.loco.env import LocoEnv  # pylint: disable=import-outside-toplevel
  from reasan_jax.policies.onnx_import import load_onnx_policy  # pylint: disable=import-outside-toplevel

  p = argparse.ArgumentParser(prog="python -m reasan_jax.sim2sim", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--onnx", required=True, help="exported REASAN loco policy (.onnx)")
  p.add_argument("--terrain", choices=("flat", "rough"), default="flat")
  p.add_argument("--commands", help='";"-separated "vx,vy,wz" commands (default: the judged grid)')
  p.add_argument("--duration", type=float, default=20.0, help="seconds per rollout")
  p.add_argument("--average", type=float, default=10.0, help="trailing averaging window, s")
  p.add_argument("--envs_per_command", type=int, default=1)
  p.add_argument("--noise", action="store_true", help="actor observation noise on")
  p.add_argument("--pushes", action="store_true", help="REASAN's pushes on")
  p.add_argument("--randomize", action="store_true", help="domain randomisation on")
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args(argv)

  policy = load_onnx_policy(args.onnx)
  env = LocoEnv(sim2sim_config(args.terrain, args.noise, args.pushes, args.randomize))
  results = run_sim2sim(env, policy.apply, policy.params, policy.init_carry,
                        _parse_commands(args.commands), args.duration, args.average,
                        args.envs_per_command, args.seed)
  print(format_table(results))
  return 0


if __name__ == "__main__":
  sys.exit(main())
