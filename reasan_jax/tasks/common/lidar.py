"""The Mid-360 / ray-estimator part of a Go2 obstacle task's step (filter now, nav later).

A task holds one :class:`Mid360Module` when its config turns the sensor on (``env.mid360.enabled``)
or asks for predicted rays (``env.use_pred_rays``); otherwise it holds None and nothing of this
runs (REASAN nav §8.6: "The Mid-360 ray cast and the grid are computed only in this mode or while
collecting data"). Per env it keeps, in ``state.info``:

* ``info["mid360"]``: :meth:`Mid360Module.reset_info` -- ``history`` (a
  :class:`reasan_jax.sensors.lidar_grid.History`: 15 grids, noisy gravity, noisy angular
  velocity; zero-filled at reset, REASAN nav §8.2), ``drift`` (3,) the sensor's per-reset world
  position error (REASAN nav §7.1), ``gt_rays`` (180,) the noise-free ground-truth rays of the same
  step (the estimator's target, REASAN nav §8.1), ``valid`` () whether the newest history entry
  is a real frame (False right after a reset, whose frame is not cast) and ``cull_count`` () the
  static primitives within 3.1 m (the grid is exact while it is <= ``env.mid360.num_static``:
  64 covers the filter world; the nav world's pillars need more);
* ``info["mid360_cursor"]``: () int32 pattern cursor, carried across episodes by the task's
  ``persistent`` (REASAN's cursors belong to the sensor, not the episode; REASAN nav §7.3).

Frames are cast in ``step`` only: a reset's state contributes no frame (its history stays zero), so
a recorded episode starts with its first step (REASAN also records the spawn state; the spawned
robot is still dropping; docs/deviations.md "Ray estimator"). This halves the cost under the
auto-reset wrapper, which evaluates a reset for every env at every step.

Predicted rays (REASAN nav §8.6): the frozen estimator reads ``history`` (grids / 3, [gravity,
angular velocity]) after this step's frame is pushed and its output, unclipped and noise-free,
replaces the actor rays. The IMU slots before an episode's first frame hold zeros, or copies of
that first frame when the estimator was trained that way (``Estimator.imu_padding = "first"``,
REASAN's trainer; REASAN nav §10 item 6); grid slots before it are always zeros. At a reset the history is all zeros, so the estimator's output there is
one constant vector, computed once when the module is built.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections

from reasan_jax.scenes import obstacles
from reasan_jax.sensors import lidar_grid, mid360, rays


class LidarConfigError(ValueError):
  """A Mid-360 / predicted-rays setting that cannot work (the message names the setting and fix)."""


def mid360_config() -> ml_collections.ConfigDict:
  """The ``env.mid360`` section shared by the obstacle tasks (REASAN nav §7.3-7.4, §8.2)."""
  m = ml_collections.ConfigDict()
  m.enabled = False  # cast the Mid-360 and keep the grid / IMU histories in state.info["mid360"]
  m.pattern = ""  # REASAN-format scan pattern (.npy, (n, 2) rad); empty = the generated pattern
  m.history = lidar_grid.HISTORY  # frames in each FIFO (the estimator's H)
  m.num_static = mid360.NUM_STATIC  # nearest static primitives tested by the 6000 rays
  m.drift = mid360.DRIFT  # m, per-reset sensor position drift U(+-drift)
  m.range_noise = lidar_grid.RANGE_NOISE  # m, per-point range noise
  m.imu_noise = lidar_grid.IMU_NOISE  # history gravity / angular-velocity noise
  return m


@dataclasses.dataclass(frozen=True)
class Estimator:
  """A frozen ray estimator as the env uses it.

  Attributes:
    apply: ``(grid (B, H, 30, 180) already / 3, imu (B, H, 6)) -> (B, 180)`` in eval mode.
    history: H, the frames it reads.
    source: where it came from (messages).
    imu_padding: what the estimator was trained to see in the IMU slots before an episode's first
      frame: ``"zeros"`` (REASAN's env) or ``"first"`` (copies of the first frame, REASAN's
      trainer, REASAN nav §10 item 6); the env fills its IMU history the same way.
  """

  apply: Callable[[jax.Array, jax.Array], jax.Array]
  history: int
  source: str = ""
  imu_padding: str = "zeros"


def load_estimator(path: str) -> Estimator:
  """A trained estimator from ``path`` through the estimator package's loader (REASAN nav §8.6).

  Raises:
    LidarConfigError: no path given.
    ValueError: the estimator package's one-sentence error for a path it cannot load.
  """
  if not path:
    raise LidarConfigError("env.use_pred_rays needs a trained ray estimator: pass "
                           "--config.env.estimator=PATH (a run or checkpoint folder of "
                           "python -m reasan_jax.train_estimator).")
  from reasan_jax.estimator import load as est_load  # pylint: disable=import-outside-toplevel

  loaded = est_load.load_estimator(path)
  return Estimator(apply=loaded.apply, history=int(loaded.history_frames), source=str(path),
                   imu_padding=str(loaded.imu_padding))


class Mid360Module:
  """The Mid-360 sensor, the grid / IMU histories and (optionally) the frozen estimator.

  Args:
    config: the task's ``env.mid360`` section (:func:`mid360_config`).
    estimator: the frozen estimator for predicted rays, or None.

  Raises:
    LidarConfigError: a history length that the estimator does not read, or a bad section value.
    reasan_jax.sensors.mid360.PatternError: an unreadable pattern file.
  """

  def __init__(self, config: ml_collections.ConfigDict, estimator: Estimator | None = None):
    self.config = config
    self.history = int(config.history)
    if self.history < 1:
      raise LidarConfigError(f"env.mid360.history must be >= 1 frame, got {config.history}.")
    if estimator is not None and estimator.history != self.history:
      raise LidarConfigError(
          f"The ray estimator {estimator.source} reads {estimator.history} frames but "
          f"env.mid360.history is {self.history}; set --config.env.mid360.history="
          f"{estimator.history}.")
    self.pattern = mid360.make_pattern(config.pattern)
    self.estimator = estimator
    self.imu_padding = "zeros" if estimator is None else estimator.imu_padding
    if self.imu_padding not in ("zeros", "first"):
      raise LidarConfigError(f"The ray estimator {estimator.source} pads its IMU history with "
                             f"{self.imu_padding!r}, which the env cannot reproduce; retrain it "
                             "with imu_padding 'first' or 'zeros'.")
    self.num_static = int(config.num_static)
    self._reset_pred = None
    if estimator is not None:
      grid, imu = lidar_grid.estimator_inputs(lidar_grid.empty_history(self.history))
      self._reset_pred = jax.device_get(estimator.apply(grid[None], imu[None])[0])

  @classmethod
  def from_env_config(cls, cfg: ml_collections.ConfigDict) -> "Mid360Module | None":
    """The module a task config asks for, or None (``mid360.enabled`` and ``use_pred_rays`` off)."""
    use_pred = bool(cfg.get("use_pred_rays", False))
    section = cfg.get("mid360") or mid360_config()  # older stored configs lack the section
    if not (bool(section.get("enabled", False)) or use_pred):
      return None
    full = mid360_config()
    full.update(section.to_dict())
    return cls(full, load_estimator(str(cfg.get("estimator", ""))) if use_pred else None)

  # ---------------------------------------------------------------- per env
  def first_cursor(self) -> jax.Array:
    """() int32 the first episode's cursor (row 12000, REASAN nav §7.3)."""
    return mid360.first_cursor(self.pattern)

  def reset_info(self, key: jax.Array) -> dict:
    """``info["mid360"]`` of a new episode: zero histories, a fresh drift (module docstring)."""
    return {"history": lidar_grid.empty_history(self.history),
            "drift": mid360.sample_drift(key, float(self.config.drift)),
            "gt_rays": jnp.zeros((rays.NUM_AZIMUTHS,), jnp.float32),
            "valid": jnp.zeros((), bool), "cull_count": jnp.zeros((), jnp.int32)}

  def reset_rays(self) -> jax.Array:
    """(180,) the estimator's output on an all-zero history (the actor rays at a reset)."""
    return jnp.asarray(self._reset_pred)

  def frame(self, cursor: jax.Array, key: jax.Array, world: obstacles.StaticWorld,
            dynamic: rays.Primitives | None, base_pos: jax.Array, rot: jax.Array,
            drift: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One frame's grid and the next cursor.

    Args:
      cursor: () int32 first pattern row. key: range-noise key.
      world: the static world. dynamic: this env's moving obstacles as primitives, or None.
      base_pos: (3,) base origin, world m. rot: (3, 3) base rotation, body -> world.
      drift: (3,) sensor drift, world m.

    Returns:
      ``(grid (30, 180) m, next cursor, cull count)``: the count of static primitives within
      3.1 m; the grid is exact while it is <= ``env.mid360.num_static``.
    """
    static, count = obstacles.nearby_static(world, base_pos[:2], self.num_static,
                                            mid360.CAST_RANGE)
    dirs = mid360.directions(mid360.frame_angles(self.pattern, cursor))
    length = mid360.cast(dirs, base_pos, rot, drift, [static, dynamic])
    grid = lidar_grid.spherical_grid(length, dirs, key, noise=float(self.config.range_noise))
    return grid, mid360.advance(self.pattern, cursor), count.astype(jnp.int32)

  def step(self, info: dict, key: jax.Array, world: obstacles.StaticWorld,
           dynamic: rays.Primitives | None, base_pos: jax.Array, rot: jax.Array,
           gravity: jax.Array, ang_vel: jax.Array, gt_rays: jax.Array) -> tuple[dict, jax.Array]:
    """This step's frame pushed into the histories (REASAN nav §8.2).

    Args:
      info: the env's ``state.info`` (reads ``mid360``, ``mid360_cursor``).
      key: PRNG key (range and IMU noise).
      world, dynamic, base_pos, rot: as :meth:`frame`.
      gravity: (3,) projected gravity. ang_vel: (3,) body angular velocity, rad/s.
      gt_rays: (180,) noise-free ground-truth rays (REASAN filter §2.2).

    Returns:
      ``(new info["mid360"], new cursor)``.
    """
    k_grid, k_imu = jax.random.split(key)
    m = info["mid360"]
    grid, cursor, count = self.frame(info["mid360_cursor"], k_grid, world, dynamic, base_pos,
                                     rot, m["drift"])
    g, w = lidar_grid.noisy_imu(k_imu, gravity, ang_vel, float(self.config.imu_noise))
    history = lidar_grid.push(m["history"], grid, g, w)
    if self.imu_padding == "first":  # an episode's first frame fills the older IMU slots
      first = ~m["valid"]
      history = history.replace(
          gravity=jnp.where(first, jnp.broadcast_to(g, history.gravity.shape), history.gravity),
          ang_vel=jnp.where(first, jnp.broadcast_to(w, history.ang_vel.shape), history.ang_vel))
    return {"history": history, "drift": m["drift"], "gt_rays": gt_rays,
            "valid": jnp.ones((), bool), "cull_count": count}, cursor

  def observe(self, info: dict, obs: dict, key: jax.Array, world: obstacles.StaticWorld,
              dynamic: rays.Primitives | None, data, gt_rays: jax.Array) -> dict:
    """The Mid-360 frame of one observation pass (REASAN filter §1.1b item 9, REASAN nav §8.2)
    written into ``info`` (in place: ``mid360``, ``mid360_cursor``) and the observation with, under
    an estimator, the predicted actor rays (REASAN nav §8.6). A just-started episode
    (``info["step"] == 0``) keeps its zero-filled histories and :meth:`reset_rays` (no frame is
    cast at reset; module docstring). Shared by the filter and nav envs.

    Args:
      info: the env's ``state.info`` (a mutable copy; reads ``step``, ``mid360``,
        ``mid360_cursor``). obs: the observation groups (``rays`` (180,) replaced under an
        estimator). key: PRNG key (range and IMU noise). world: the static world.
      dynamic: this env's moving obstacles as primitives, or None. data: the physics state
        (``mjx.Data``). gt_rays: (180,) this pass's noise-free ground-truth rays.

    Returns:
      The observation groups.
    """
    from reasan_jax.tasks.common import body  # pylint: disable=import-outside-toplevel

    rot, gravity, _, ang = body.base_frame(data)
    frame, cursor = self.step(info, key, world, dynamic, data.qpos[:3], rot, gravity, ang,
                              gt_rays)
    fresh = info["step"] == 0
    pick = lambda a, b: jnp.where(fresh, a, b)  # pylint: disable=unnecessary-lambda-assignment
    info["mid360"] = jax.tree.map(pick, info["mid360"], frame)
    info["mid360_cursor"] = pick(info["mid360_cursor"], cursor)
    if self.estimator is not None:
      obs = {**obs, "rays": pick(self.reset_rays(), self.predicted_rays(info["mid360"]))}
    return obs

  def predicted_rays(self, m: dict) -> jax.Array:
    """(180,) the frozen estimator's rays from ``info["mid360"]`` (REASAN nav §8.6)."""
    grid, imu = lidar_grid.estimator_inputs(m["history"])
    return self.estimator.apply(grid[None], imu[None])[0]


__all__ = ["Estimator", "LidarConfigError", "Mid360Module", "load_estimator", "mid360_config"]
