"""What nav videos add to a frame (:class:`reasan_jax.viz.overlays.Overlays` ``goal`` / ``path``):
the goal as REASAN's play draws it (a green sphere of 0.2 m, REASAN nav §9.2) on a translucent disc
of the 1 m arrival radius, and the path travelled since the episode's start as a blue line on the
ground; both as ``mjvScene`` user geoms like the rays of :mod:`reasan_jax.viz.overlays`.
"""

from __future__ import annotations

import numpy as np

from reasan_jax.viz import overlays

GOAL_RGBA = (0.1, 0.8, 0.2, 1.0)
GOAL_DISC_RGBA = (0.1, 0.8, 0.2, 0.3)
PATH_RGBA = (0.15, 0.35, 1.0, 1.0)
GOAL_SPHERE = 0.2
"""Goal sphere radius, m (REASAN nav §9.2 draws goals as green spheres of 0.2 m)."""
GOAL_DISC = 1.0
"""Radius of the drawn arrival disc, m (arrival within 1 m, issue 14 item 4)."""


def add_goal(scene, goal_xy: np.ndarray) -> None:
  """Adds the goal sphere (0.2 m above the ground) and the 1 m arrival disc as user geoms."""
  import mujoco  # pylint: disable=import-outside-toplevel

  g = np.asarray(goal_xy, np.float64)
  for kind, size, pos, rgba in (
      (mujoco.mjtGeom.mjGEOM_CYLINDER, [GOAL_DISC, GOAL_DISC, 0.005], [g[0], g[1], 0.006],
       GOAL_DISC_RGBA),
      (mujoco.mjtGeom.mjGEOM_SPHERE, [GOAL_SPHERE, 0, 0], [g[0], g[1], GOAL_SPHERE], GOAL_RGBA)):
    if scene.ngeom >= scene.maxgeom:
      return
    mujoco.mjv_initGeom(scene.geoms[scene.ngeom], kind, np.asarray(size, np.float64),
                        np.asarray(pos, np.float64), np.eye(3).reshape(-1),
                        np.asarray(rgba, np.float32))
    scene.ngeom += 1


def path_points(xy: np.ndarray, spacing: float = 0.1) -> np.ndarray:
  """(K, 2) points of a path ``xy`` (T, 2) at least ``spacing`` m apart (first and last kept)."""
  return overlays._thin_path(xy, spacing)  # pylint: disable=protected-access


def add_path(scene, xy: np.ndarray, height: float = 0.02, width: float = 3.0) -> None:
  """Adds the path ``xy`` (K, 2) world m as line segments ``height`` m above the ground."""
  import mujoco  # pylint: disable=import-outside-toplevel

  pts = np.concatenate([np.asarray(xy, np.float64).reshape(-1, 2),
                        np.full((len(xy), 1), float(height))], -1)
  for a, b in zip(pts[:-1], pts[1:]):
    if scene.ngeom >= scene.maxgeom:
      return
    if np.linalg.norm(b - a) < 1e-4:
      continue
    geom = scene.geoms[scene.ngeom]
    mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_LINE, np.zeros(3), np.zeros(3),
                        np.eye(3).reshape(-1), np.asarray(PATH_RGBA, np.float32))
    mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_LINE, width, a, b)
    scene.ngeom += 1


__all__ = ["GOAL_DISC", "GOAL_SPHERE", "add_goal", "add_path", "path_points"]
