"""What the filter and nav videos add to a frame: obstacles, one env's LiDAR rays, the nav goal and
path, top/chase/map views.

    ov = overlays.from_rollout(env, result)                # env.world + recorded rays/obstacles
    ov = overlays.Overlays(static=overlays.static_boxes(world, result.qpos[:, :2]),
                           rays=overlays.scan_rays(world, result.qpos))   # any rollout
    video.render_video(env, result, "walls.mp4", overlays=ov, camera="top")

* **Obstacles** are MJCF geoms of a separate obstacle-only model built with ``MjSpec``
  (:func:`reasan_jax.scenes.layout.add_geoms`): static ones on the world body, each dynamic
  obstacle on a mocap body whose pose is set per frame. Its geoms are added to the robot's
  ``mjvScene`` after ``update_scene`` (``mjv_addGeoms``), so the robot's model and its qpos layout
  stay untouched. REASAN's world is periodic (90 m, shared by all envs,
  :mod:`reasan_jax.scenes.obstacles`): :func:`static_boxes` tiles its copies within ``margin`` m of
  the robot's path.
* **Rays**: the 180 endpoints of one env's scan from the base origin at ``ray_height`` above it
  (REASAN filter §2.1: distances from the base origin, azimuths ``-180 deg + 2 deg k`` about the
  base yaw), coloured by distance from red (0 m) over yellow to green (``ray_max``), optionally
  with line segments; drawn as ``mjvScene`` user geoms like the command arrows of :mod:`reasan_jax.viz.video`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

STATIC_RGBA = (0.55, 0.55, 0.62, 1.0)
DYNAMIC_RGBA = (0.95, 0.45, 0.1, 1.0)
"""Colours of static (grey) and dynamic (orange) obstacles."""
RAY_OBS_SCALE = 3.0
"""Actor rays in ``state.obs["rays"]`` are distance / 3 m (REASAN filter §2.2); x 3 gives metres."""
DEFAULT_MARGIN = 12.0
"""Static obstacles are drawn within this many m of the robot's path."""


class OverlayError(ValueError):
  """Overlay inputs of the wrong shape or kind (one sentence naming the fix)."""


def _thin_path(path_xy: np.ndarray, spacing: float = 1.0) -> np.ndarray:
  """Points of ``path_xy`` (T, 2) at least ``spacing`` m apart (first and last kept)."""
  path_xy = np.asarray(path_xy, np.float64).reshape(-1, 2)
  keep = [path_xy[0]]
  for p in path_xy[1:]:
    if np.linalg.norm(p - keep[-1]) >= spacing:
      keep.append(p)
  keep.append(path_xy[-1])
  return np.asarray(keep)


def static_boxes(world, path_xy: np.ndarray,
                 margin: float = DEFAULT_MARGIN) -> dict[str, np.ndarray]:
  """The static primitives of ``world`` within ``margin`` m (xy) of a path, as host arrays.

  A periodic world (:class:`reasan_jax.scenes.obstacles.StaticWorld`, ``periodic=True``) is tiled:
  every copy shifted by a multiple of its period that comes within ``margin`` of the path is kept.
  A layout world (``periodic=False``) is filtered the same way without copies.

  Args:
    world: a ``StaticWorld``, or a dict from :func:`reasan_jax.scenes.obstacles.world_boxes`
      (treated as non-periodic).
    path_xy: (T, 2) robot positions, world m (e.g. ``result.qpos[:, :2]``).
    margin: m.

  Returns:
    ``center (N, 3)``, ``yaw (N,)``, ``half (N, 3)`` (MuJoCo half sizes), ``kind (N,)``.

  Raises:
    OverlayError: ``path_xy`` is not (T, 2) with T >= 1.
  """
  from reasan_jax.scenes import obstacles  # pylint: disable=import-outside-toplevel

  path = np.asarray(path_xy, np.float64)
  if path.ndim != 2 or path.shape[1] != 2 or path.shape[0] < 1:
    raise OverlayError(f"path_xy must have shape (T, 2) with T >= 1, got {path.shape}.")
  periodic = not isinstance(world, Mapping) and bool(world.periodic)
  boxes = dict(world) if isinstance(world, Mapping) else obstacles.world_boxes(world)
  points = _thin_path(path)
  shifts = [np.zeros(2)]
  if periodic:
    period = np.asarray(world.period, np.float64)
    lo = (points.min(0) - margin - np.asarray(world.origin)) / period
    hi = (points.max(0) + margin - np.asarray(world.origin)) / period
    kx = range(int(math.floor(lo[0])) - 1, int(math.ceil(hi[0])) + 1)
    ky = range(int(math.floor(lo[1])) - 1, int(math.ceil(hi[1])) + 1)
    shifts = [np.array([i, j]) * period for i in kx for j in ky]
  out = {k: [] for k in ("center", "yaw", "half", "kind")}
  xy = np.asarray(boxes["center"], np.float64)[:, :2]
  for s in shifts:
    moved = xy + s
    d = np.min(np.linalg.norm(moved[:, None, :] - points[None], axis=-1), axis=1) if len(xy) else \
        np.zeros(0)
    keep = d <= margin
    centre = np.asarray(boxes["center"], np.float64)[keep].copy()
    centre[:, :2] += s
    out["center"].append(centre)
    out["yaw"].append(np.asarray(boxes["yaw"], np.float64)[keep])
    out["half"].append(np.asarray(boxes["half"], np.float64)[keep])
    out["kind"].append(np.asarray(boxes["kind"], np.int32)[keep])
  return {"center": np.concatenate(out["center"]).reshape(-1, 3),
          "yaw": np.concatenate(out["yaw"]), "half": np.concatenate(out["half"]).reshape(-1, 3),
          "kind": np.concatenate(out["kind"]).astype(np.int32)}


@dataclasses.dataclass(frozen=True)
class DynamicTrack:
  """Env 0's moving obstacles over a rollout (host arrays; J slots, T frames).

  Attributes:
    kind: (J,) 0 box, 1 cylinder (:data:`reasan_jax.sensors.rays.KIND_NAMES`).
    half: (J, 3) MuJoCo half sizes (box hx, hy, hz; cylinder r, r, hz), m.
    center: (T, J, 3) centres, world m (parked slots sit at z = -20 m, under the floor).
    yaw: (T, J) rad.
  """

  kind: np.ndarray
  half: np.ndarray
  center: np.ndarray
  yaw: np.ndarray


def dynamic_track(states) -> DynamicTrack:
  """A :class:`DynamicTrack` from a time-stacked :class:`reasan_jax.scenes.dynamic_obstacles.
  DynamicObstacles` of one env (fields (T, J, ...); the 4 shapes of REASAN filter §6.3).

  Raises:
    OverlayError: the fields are not stacked over time.
  """
  from reasan_jax.scenes import dynamic_obstacles as dyn  # pylint: disable=import-outside-toplevel

  shape = np.asarray(states.shape)
  if shape.ndim != 2:
    raise OverlayError(f"dynamic obstacles must be stacked over time ((T, J) shapes), got shape "
                       f"field {shape.shape}; record them with rollout(..., record=('dynamic',)).")
  s = shape[0]
  hxy = np.asarray(dyn.SHAPE_HALF_XY, np.float64)[s]
  xy, z = np.asarray(states.xy, np.float64), np.asarray(states.z, np.float64)
  return DynamicTrack(kind=np.asarray(dyn.SHAPE_KIND, np.int32)[s],
                      half=np.stack([hxy, hxy, np.full_like(hxy, dyn.HALF_HEIGHT)], -1),
                      center=np.concatenate([xy, z[..., None]], -1),
                      yaw=np.asarray(states.yaw, np.float64))


@dataclasses.dataclass(frozen=True)
class Overlays:
  """What :func:`reasan_jax.viz.video.render_frames` draws besides the robot (all optional).

  Attributes:
    static: static obstacles (dict of :func:`static_boxes`), drawn grey.
    dynamic: moving obstacles of env 0 per frame (:class:`DynamicTrack`), drawn orange.
    rays: (T, 180) env 0's ray distances in m from the base origin, azimuth order of
      :func:`reasan_jax.sensors.rays.azimuths` (REASAN filter §2.1).
    ray_max: distance drawn fully green, m (red at 0).
    ray_height: m above the base origin where rays are drawn (0: REASAN's first layer).
    ray_lines: also draw each ray as a thin line from the base origin.
    ray_point: radius in m of the endpoint spheres.
    goal: (T, 2) env 0's nav goal per frame, world m: a green sphere (r 0.2 m, REASAN nav §9.2)
      on a translucent disc of the 1 m arrival radius.
    path: draw the path travelled since the episode's start (a blue line at the ground).
  """

  static: Mapping[str, np.ndarray] | None = None
  dynamic: DynamicTrack | None = None
  rays: np.ndarray | None = None
  ray_max: float = 6.0
  ray_height: float = 0.0
  ray_lines: bool = False
  ray_point: float = 0.04
  goal: np.ndarray | None = None
  path: bool = False

  def check(self, steps: int) -> None:
    """Raises :class:`OverlayError` unless per-frame arrays have ``steps`` frames."""
    if self.goal is not None and np.shape(self.goal) != (steps, 2):
      raise OverlayError(f"goal must have shape ({steps}, 2) (one goal per frame), got "
                         f"{np.shape(self.goal)}.")
    if self.rays is not None and np.shape(self.rays) != (steps, 180):
      raise OverlayError(f"rays must have shape ({steps}, 180) (one scan per frame), got "
                         f"{np.shape(self.rays)}.")
    if self.dynamic is not None and self.dynamic.center.shape[0] != steps:
      raise OverlayError(f"dynamic obstacles have {self.dynamic.center.shape[0]} frames, the "
                         f"rollout {steps}; record them in the same rollout.")


def ray_colors(distance: np.ndarray, ray_max: float = 6.0) -> np.ndarray:
  """(..., 4) float32 RGBA, opaque: red at 0 m, yellow at ``ray_max / 2``, green at ``ray_max``
  and beyond (piecewise linear in distance)."""
  f = np.clip(np.asarray(distance, np.float64) / float(ray_max), 0.0, 1.0)
  return np.stack([np.minimum(1.0, 2.0 * (1.0 - f)), np.minimum(1.0, 2.0 * f),
                   np.full_like(f, 0.1), np.ones_like(f)], -1).astype(np.float32)


def ray_endpoints(base_pos: np.ndarray, yaw: float, distance: np.ndarray,
                  height: float = 0.0) -> np.ndarray:
  """(180, 3) world endpoints of rays of ``distance`` (180,) m from ``base_pos`` (3,) along the
  yawed azimuths (REASAN filter §2.1, yaw-only attachment), ``height`` m above the base."""
  from reasan_jax.sensors import rays  # pylint: disable=import-outside-toplevel

  a = rays.azimuths().astype(np.float64) + float(yaw)
  d = np.asarray(distance, np.float64)
  z = np.full_like(a, float(base_pos[2]) + height)
  return np.stack([base_pos[0] + d * np.cos(a), base_pos[1] + d * np.sin(a), z], -1)


class ObstacleScene:
  """An obstacle-only MuJoCo model (static geoms + one mocap body per dynamic obstacle) whose
  geoms are added to another model's ``mjvScene`` every frame.

  Args:
    static: dict of :func:`static_boxes` or None.
    dynamic: :class:`DynamicTrack` or None.
  """

  def __init__(self, static: Mapping[str, np.ndarray] | None = None,
               dynamic: DynamicTrack | None = None):
    import mujoco  # pylint: disable=import-outside-toplevel
    from reasan_jax.scenes import layout  # pylint: disable=import-outside-toplevel

    spec = mujoco.MjSpec()
    spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_SPHERE, size=[1e-3, 0, 0],
                            rgba=[0, 0, 0, 0], contype=0, conaffinity=0)  # a model needs a geom
    self.num_static = 0 if static is None else len(static["kind"])
    if self.num_static:
      layout.add_geoms(spec, layout.geom_descriptions(static["center"], static["yaw"],
                                                      static["half"], static["kind"], "static"),
                       rgba=STATIC_RGBA)
    self.dynamic = dynamic
    num_dyn = 0 if dynamic is None else len(dynamic.kind)
    for j in range(num_dyn):
      body = spec.worldbody.add_body(name=f"dynamic_{j}", mocap=True)
      g = layout.geom_descriptions(np.zeros((1, 3)), np.zeros(1), dynamic.half[j:j + 1],
                                   dynamic.kind[j:j + 1], f"dynamic_{j}")
      layout.add_geoms(spec, g, body=body, rgba=DYNAMIC_RGBA)
    self.model = spec.compile()
    self.data = mujoco.MjData(self.model)
    self._perturb = mujoco.MjvPerturb()
    mujoco.mj_forward(self.model, self.data)

  def set_frame(self, t: int) -> None:
    """Moves the mocap bodies to frame ``t`` of the dynamic track."""
    import mujoco  # pylint: disable=import-outside-toplevel

    if self.dynamic is None or not len(self.dynamic.kind):
      return
    self.data.mocap_pos[:] = self.dynamic.center[t]
    half = self.dynamic.yaw[t] / 2
    self.data.mocap_quat[:] = np.stack([np.cos(half), 0 * half, 0 * half, np.sin(half)], -1)
    mujoco.mj_kinematics(self.model, self.data)

  def add_to(self, scene, option: Any = None) -> None:
    """Appends this model's geoms to ``scene`` (after ``update_scene``)."""
    import mujoco  # pylint: disable=import-outside-toplevel

    option = mujoco.MjvOption() if option is None else option
    mujoco.mjv_addGeoms(self.model, self.data, option, self._perturb,
                        int(mujoco.mjtCatBit.mjCAT_ALL), scene)


def add_rays(scene, base_pos: np.ndarray, yaw: float, distance: np.ndarray,
             overlays: Overlays) -> None:
  """Adds the 180 coloured endpoints (and lines if ``overlays.ray_lines``) as user geoms."""
  import mujoco  # pylint: disable=import-outside-toplevel

  ends = ray_endpoints(base_pos, yaw, distance, overlays.ray_height)
  colors = ray_colors(distance, overlays.ray_max)
  start = np.asarray(base_pos, np.float64) + np.array([0.0, 0.0, overlays.ray_height])
  size = np.array([overlays.ray_point, 0.0, 0.0])
  for end, rgba in zip(ends, colors):
    if scene.ngeom >= scene.maxgeom:
      return
    mujoco.mjv_initGeom(scene.geoms[scene.ngeom], mujoco.mjtGeom.mjGEOM_SPHERE, size, end,
                        np.eye(3).reshape(-1), rgba)
    scene.ngeom += 1
    if overlays.ray_lines and scene.ngeom < scene.maxgeom:
      geom = scene.geoms[scene.ngeom]
      line = rgba.copy()
      line[3] = 1.0
      mujoco.mjv_initGeom(geom, mujoco.mjtGeom.mjGEOM_LINE, np.zeros(3), np.zeros(3),
                          np.eye(3).reshape(-1), line)
      mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_LINE, 1.5, start, end)
      scene.ngeom += 1


def place_layout(layout: Mapping[str, np.ndarray], xy, yaw: float) -> dict[str, np.ndarray]:
  """A parsed layout (:func:`reasan_jax.scenes.layout.parse_layout`) moved so that its origin is
  at ``xy`` (2,) m and its +x axis points along ``yaw`` rad (centres, yaws and spawn points)."""
  c, s = math.cos(yaw), math.sin(yaw)
  rot = np.array([[c, -s], [s, c]])
  out = {k: np.array(v, copy=True) for k, v in layout.items()}
  out["center"][:, :2] = out["center"][:, :2] @ rot.T + np.asarray(xy, np.float64)
  out["yaw"] = out["yaw"] + yaw
  out["spawn"] = out["spawn"] @ rot.T + np.asarray(xy, np.float64)
  return out


def scan_rays(world, qpos: np.ndarray, dynamic: DynamicTrack | None = None, num_near: int = 64,
              max_range: float = 6.0) -> np.ndarray:
  """(T, 180) ground-truth-style rays along a recorded trajectory, in m, for :class:`Overlays`.

  Per frame: REASAN's centre-0 measure scan (REASAN filter §2.1: base origin, yaw only, layers
  +0 / +0.1 / +0.2 m) against the ``num_near`` static primitives nearest to the robot
  (:func:`reasan_jax.scenes.obstacles.nearby_static`) and the dynamic obstacles of that frame,
  minimum over the 3 layers, clipped to ``max_range``. For rollouts of envs without rays (loco in
  a layout); a filter rollout records its own (``record=("rays",)``).

  Args:
    world: a :class:`reasan_jax.scenes.obstacles.StaticWorld`.
    qpos: (T, nq) env 0's qpos (base position 0:3, quaternion w, x, y, z 3:7).
    dynamic: per-frame moving obstacles, or None.

  Raises:
    OverlayError: ``qpos`` is not (T, >= 7).
  """
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  from reasan_jax.scenes import obstacles  # pylint: disable=import-outside-toplevel
  from reasan_jax.sensors import rays  # pylint: disable=import-outside-toplevel

  qpos = np.asarray(qpos, np.float32)
  if qpos.ndim != 2 or qpos.shape[1] < 7:
    raise OverlayError(f"qpos must have shape (T, nq >= 7), got {qpos.shape}.")
  w, x, y, z = qpos[:, 3], qpos[:, 4], qpos[:, 5], qpos[:, 6]
  yaw = np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)).astype(np.float32)
  k = min(int(num_near), int(np.prod(world.prims.kind.shape)))

  def one(pos, yw, dprims):
    near, _ = obstacles.nearby_static(world, pos[:2], k)
    scan = rays.cast_measure(pos, yw, near, dprims, 1, max_range, method="dense")
    return jnp.min(scan.distance, axis=0)

  if dynamic is None:
    fn = jax.jit(jax.vmap(lambda p, yw: one(p, yw, None)))
    return np.asarray(fn(qpos[:, :3], yaw))
  n = len(dynamic.kind)
  dprims = rays.Primitives(
      center=jnp.asarray(dynamic.center, jnp.float32),
      cos_sin=jnp.stack([jnp.cos(dynamic.yaw), jnp.sin(dynamic.yaw)], -1).astype(jnp.float32),
      half=jnp.broadcast_to(jnp.asarray(dynamic.half, jnp.float32), dynamic.center.shape),
      kind=jnp.broadcast_to(jnp.asarray(dynamic.kind, jnp.int32), dynamic.yaw.shape),
      cls=jnp.broadcast_to(jnp.arange(1, n + 1, dtype=jnp.int32), dynamic.yaw.shape),
      valid=jnp.ones(dynamic.yaw.shape, bool), kinds=("box", "cylinder"))
  return np.asarray(jax.jit(jax.vmap(one))(qpos[:, :3], yaw, dprims))


def from_rollout(env, result, margin: float = DEFAULT_MARGIN, world=None, rays: bool = True,
                 ray_lines: bool = False) -> Overlays:
  """The :class:`Overlays` of a rollout: obstacles of ``world`` (default ``env.world`` when the env
  has one) near env 0's path, its recorded dynamic obstacles (``result.extras["dynamic"]``) and
  rays (``result.extras["rays"]``: the filter's actor rays, distance / 3, REASAN filter §2.2; if
  absent and a world is known, :func:`scan_rays` of the path).

  Args:
    env: the rollout's env (``env.world`` is a ``StaticWorld`` for the filter task, a
      :class:`reasan_jax.scenes.nav_worlds.NavWorld` for nav, whose pillars are drawn; a
      recorded nav goal (``result.extras["goal"]``) adds the goal and the path travelled).
    result: a :class:`reasan_jax.eval.rollout.RolloutResult`.
    margin: m around the path where static obstacles are drawn.
    world: a ``StaticWorld`` overriding ``env.world`` (e.g. a user layout).
    rays: draw rays. ray_lines: also draw ray segments.

  Returns:
    Overlays (empty fields where nothing is known).
  """
  world = getattr(env, "world", None) if world is None else world
  extras = getattr(result, "extras", {}) or {}
  nav = hasattr(world, "guide") and hasattr(world, "static")  # a nav_worlds.NavWorld
  if nav:
    from reasan_jax.scenes import nav_worlds  # pylint: disable=import-outside-toplevel

    world = nav_worlds.pillar_boxes(world)  # exact host boxes (non-periodic)
  static = None if world is None else static_boxes(world, result.qpos[:, :2], margin)
  dynamic = dynamic_track(extras["dynamic"]) if "dynamic" in extras else None
  ray_d, ray_max = None, 6.0
  if rays and "rays" in extras:
    ray_d, ray_max = np.asarray(extras["rays"], np.float64) * RAY_OBS_SCALE, RAY_OBS_SCALE
  elif rays and world is not None and not nav:
    ray_d = scan_rays(world, result.qpos, dynamic)
  goal = np.asarray(extras["goal"], np.float64) if "goal" in extras else None
  return Overlays(static=static, dynamic=dynamic, rays=ray_d, ray_max=ray_max,
                  ray_lines=ray_lines, goal=goal, path=goal is not None)


__all__ = ["DEFAULT_MARGIN", "DynamicTrack", "ObstacleScene", "OverlayError", "Overlays",
           "RAY_OBS_SCALE", "add_rays", "dynamic_track", "from_rollout", "place_layout",
           "ray_colors",
           "ray_endpoints", "scan_rays", "static_boxes"]
