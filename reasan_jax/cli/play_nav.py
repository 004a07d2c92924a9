"""The nav parts of ``python -m reasan_jax.play`` (:mod:`reasan_jax.cli.play`): the nav env of a
layout for a nav policy on its frozen filter and loco policies, and env 0's nav episodes as text."""

from __future__ import annotations

import numpy as np

from reasan_jax.eval import EvalError
from reasan_jax.eval import rollout as rollout_lib


class PlayError(ValueError):
  """A policy, run or option play cannot use (one sentence naming the fix)."""


def nav_env(trained, filter_policy: str | None, loco_policy: str | None, scenario: str | None,
             grid_blocks: int | None, maze_cells: int | None, source: str):
  """The nav env of layout ``scenario`` (default ``maze``) for a nav policy (see
  :func:`reasan_jax.cli.play.load_policy`): :class:`reasan_jax.eval.nav_eval.LayoutNavEnv` of
  :func:`reasan_jax.eval.nav_eval.eval_env_config` on the frozen chain.

  Raises:
    PlayError: not a nav layout, or a frozen policy not given or of the wrong kind.
  """
  from reasan_jax.eval import nav_eval  # pylint: disable=import-outside-toplevel

  layout = scenario or "maze"
  if layout not in nav_eval.LAYOUTS:
    raise PlayError(f"--scenario {layout} is not a nav layout; choose from "
                    f"{', '.join(nav_eval.LAYOUTS)}.")
  trained_cfg = trained if trained is not None else {}
  filt = filter_policy or trained_cfg.get("filter_policy", "")
  loco = loco_policy or trained_cfg.get("loco_policy", "")
  if not filt or not loco:
    missing = " and ".join(o for o, v in (("--filter_onnx PATH", filt), ("--loco_onnx PATH", loco))
                           if not v)
    raise PlayError(f"{source} is a navigation policy: pass the frozen policies it drives with "
                    f"{missing} (e.g. pretrained/filter_1.onnx, pretrained/loco_1.onnx).")
  try:
    filt_policy, loco_policy_ = nav_eval.load_chain(filt, loco)
  except EvalError as e:
    raise PlayError(str(e)) from e
  cfg = nav_eval.eval_env_config(trained, grid_blocks=grid_blocks, maze_cells=maze_cells)
  return nav_eval.LayoutNavEnv(cfg, layout, filter_policy=filt_policy, loco_policy=loco_policy_)


def nav_episodes(result: rollout_lib.RolloutResult) -> str:
  """Env 0's nav episodes as text: start and final distance to the goal, the first arrival
  within 1 m and how each ended (from ``result.extras["goal"]`` and env 0's path; the final
  distance is the last step's before the end, as a step that ends an episode records the next
  episode's first state)."""
  goal, xy = result.extras["goal"], result.qpos[:, :2]
  d = np.linalg.norm(xy - goal, axis=-1)
  ends = list(np.flatnonzero(result.done[:, 0])) + [result.steps]
  lines, start = [], 0
  for k, end in enumerate(ends):
    if end <= start:
      continue
    seg = d[start:end]
    hit = np.flatnonzero(seg < 1.0)
    arrived = f"within 1 m at {(hit[0] + 1) * result.dt:.1f} s" if len(hit) else "never within 1 m"
    how = ("running" if end == result.steps else
           "fell or collided" if result.fell[end, 0] else "time-out")
    lines.append(f"  nav episode {k}: {seg[0]:.2f} m from the goal at the start, {seg[-1]:.2f} m "
                 f"at the end ({(end - start) * result.dt:.1f} s), {arrived}, {how}")
    start = end  # qpos[end] is the next episode's first state
  return "Env 0:\n" + "\n".join(lines)
