"""The Go2's simulation under REASAN's actuation, shared by the Go2 tasks (loco, filter, nav).

All three REASAN tasks drive the same robot the same way (reasan-loco.md, reasan-filter.md §1.3-1.4
and §6.5, reasan-nav.md §1.5): a joint target from the loco policy's action, held for ``decimation``
physics steps of ``sim_dt`` with torques from the randomised DC-motor PD law (:mod:`.motor`), a
constant body-frame wrench on the base, and once-per-env domain randomisation of the base
mass/inertia/CoM, the foot friction and the motor gains. :class:`Go2Sim` holds the static part (the
MuJoCo/MJX model, ids, contact-slot maps, friction buckets); its methods are pure functions of their
array arguments, so they trace under ``jit``/``vmap``/``scan``.

The action -> PD target map and the DC-motor law are in :mod:`.motor`, the feet's swing
bookkeeping in :mod:`.gait`. Per-env randomised model fields (from :meth:`Go2Sim.randomize`) reach
the sim through :meth:`Go2Sim.with_model`, which a task's own ``with_model`` calls
(``reasan_jax.core.VecEnv``).

Joint order: targets, gains and observations are in REASAN order (``go2.to_reasan``); MJX arrays
(``qpos[7:]``, ``ctrl``, the torques returned by :meth:`Go2Sim.physics_step`) are in MJCF order.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx
from mujoco.mjx._src import support as mjx_support

from reasan_jax.core import spatial
from reasan_jax.robots.go2 import constants as c
from reasan_jax.robots.go2 import model as model_lib
from reasan_jax.robots.go2.motor import dc_motor_torque
from reasan_jax.scenes import terrain as terrain_lib

BASE_CONTACT_MODES = ("geometric", "force")

Gains = dict[str, jax.Array]
"""Per-env motor gains ``{"kp", "kd", "strength"}``, each (12,) in REASAN order (N m/rad, N m s/rad,
unitless); see :meth:`Go2Sim.sample_gains`."""


class Go2SimError(ValueError):
  """A Go2 simulation setting that cannot work (the message names it and the fix)."""


@dataclasses.dataclass(frozen=True)
class MotorConfig:
  """REASAN's ``RandomDCMotor`` (reasan-rl-core.md §13): nominal gains, per-env factors, limits.

  Attributes:
    kp, kd: nominal PD gains, N m/rad and N m s/rad.
    kp_range, kd_range, strength_range: U(lo, hi) factors per env and joint, sampled once.
    torque_limit: N m (saturation = effort limit). velocity_limit: rad/s of the torque-speed curve.
    armature: kg m^2 written into the 12 leg dofs of the model.
  """

  kp: float = c.KP
  kd: float = c.KD
  kp_range: tuple[float, float] = c.KP_RANGE
  kd_range: tuple[float, float] = c.KD_RANGE
  strength_range: tuple[float, float] = c.STRENGTH_RANGE
  torque_limit: float = c.TORQUE_LIMIT
  velocity_limit: float = c.VELOCITY_LIMIT
  armature: float = 0.0


@dataclasses.dataclass(frozen=True)
class RandomizationConfig:
  """The robot's domain randomisation (reasan-loco.md "Domain randomisation", filter §6.5).

  Attributes:
    enabled: False gives the nominal model, nominal gains and no external wrench.
    base_mass_add: kg added to the base, U(lo, hi); the inertia is scaled by the same mass ratio.
    com_shift: (3,) m, base CoM offset U(-s, s) per axis.
    friction_range: U(lo, hi) of the friction buckets. num_friction_buckets: 64 in REASAN.
    friction_seed: NumPy seed of the buckets (drawn once, when the sim is built).
    external_force, external_torque: N, N m; each body-frame wrench component U(-x, x).
  """

  enabled: bool = True
  base_mass_add: tuple[float, float] = (-1.0, 2.0)
  com_shift: tuple[float, float, float] = (0.05, 0.05, 0.02)
  friction_range: tuple[float, float] = (0.2, 1.25)
  num_friction_buckets: int = 64
  friction_seed: int = 0
  external_force: float = 1.0
  external_torque: float = 1.0


def _fields(cls, section: Mapping[str, Any] | None, **extra) -> Any:
  """``cls`` from the entries of a config section that name its fields (other entries ignored)."""
  names = {f.name for f in dataclasses.fields(cls)}
  values = {k: v for k, v in dict(section or {}).items() if k in names}
  values.update(extra)
  values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
  return cls(**values)


def projected_gravity(rot: jax.Array) -> jax.Array:
  """(3,) unit gravity in the base frame from the base rotation ``rot`` (3, 3), body -> world."""
  return rot.T @ jnp.array([0.0, 0.0, -1.0])


class Go2Sim:
  """The Go2 in one scene: model, PD/DC-motor sub-steps, contacts, foot kinematics, randomisation.

  Args:
    collisions: ``go2.load_model`` variant (``"feet"``, ``"feet_base"``, ``"body"``).
    terrain: a rough :class:`reasan_jax.scenes.terrain.Terrain`, or None for the flat plane.
    scene: a ready Go2 scene (e.g. ``go2.load_model``'s with obstacles added) used instead of
      building one from ``collisions``/``terrain``; ``terrain`` must still describe its height
      field (or be None for flat ground). Its timestep, armature and solver caps are overwritten.
    sim_dt: s per physics step. decimation: physics steps per policy step.
    solver_iterations, solver_ls_iterations: Newton solver caps written into the model.
    motor: :class:`MotorConfig`. randomization: :class:`RandomizationConfig`.
    base_contact: how :meth:`physics_step` detects the base touching the ground: ``"geometric"``
      (a trunk-box corner or the head sphere at or below the ground, :meth:`base_touches_ground`)
      or ``"force"`` (normal force on the base body > ``base_contact_force`` N; needs colliding
      trunk geoms).

  Raises:
    Go2SimError: an unknown ``base_contact``, ``"force"`` without colliding trunk geoms, or a model
      with contacts other than condim 3.
    ValueError: an unknown ``collisions`` variant (from ``go2.load_model``).
  """

  def __init__(self, collisions: str = "feet", terrain: terrain_lib.Terrain | None = None, *,
               sim_dt: float = 0.005, decimation: int = 4, solver_iterations: int = 8,
               solver_ls_iterations: int = 8, motor: MotorConfig = MotorConfig(),
               randomization: RandomizationConfig = RandomizationConfig(),
               base_contact: str = "geometric", base_contact_force: float = 1.0,
               scene: mujoco.MjModel | None = None):
    if base_contact not in BASE_CONTACT_MODES:
      raise Go2SimError(f"base_contact (env.termination.base_contact) must be 'geometric' or "
                        f"'force', got {base_contact!r}.")
    self.terrain = terrain
    self.sim_dt = sim_dt
    self.decimation = int(decimation)
    self.dt = sim_dt * decimation
    self.motor = motor
    self.randomization = randomization
    self.base_contact = base_contact
    self.base_contact_force = base_contact_force

    m = scene if scene is not None else model_lib.load_model(
        collisions=collisions, terrain="rough" if terrain else "flat", terrain_config=terrain)
    m.opt.timestep = sim_dt
    m.dof_armature[6:] = motor.armature
    m.opt.iterations = solver_iterations
    m.opt.ls_iterations = solver_ls_iterations
    self.mj_model = m
    self.mjx_model = model_lib.put_model(m)

    self.ids = model_lib.robot_ids(m)
    self.base_body = self.ids.base_body
    self.foot_sites = self.ids.foot_sites
    self.foot_geoms = self.ids.foot_geoms
    self.foot_bodies = m.site_bodyid[self.foot_sites]
    self._contact_slots()
    self.foot_contact = self.contact_selector(geoms=[[g] for g in self.foot_geoms])
    self.base_contact_slots = self.contact_selector(bodies=[[self.base_body]])[:, 0]
    if base_contact == "force" and not self.base_contact_slots.any():
      raise Go2SimError("base_contact='force' needs colliding trunk geoms; set collisions "
                        "(env.collisions) to 'feet_base' or 'body'.")
    self._base_points, self._base_radii = self._base_probe_points()

    lo, hi = c.soft_limits(c.SOFT_LIMIT_FACTOR).T
    self.soft_lo = jnp.asarray(c.to_reasan(lo), jnp.float32)
    self.soft_hi = jnp.asarray(c.to_reasan(hi), jnp.float32)
    self.default_pose = jnp.asarray(c.DEFAULT_POSE_REASAN, jnp.float32)
    d = randomization
    rng = np.random.default_rng(d.friction_seed)
    # (static, dynamic) friction per bucket as REASAN draws them; MuJoCo has one coefficient and
    # takes the dynamic one. Restitution is not drawn: REASAN multiplies it with the terrain's 0.
    self.friction_buckets = jnp.asarray(
        rng.uniform(*d.friction_range, size=(d.num_friction_buckets, 2)), jnp.float32)

  @classmethod
  def from_config(cls, cfg: Mapping[str, Any], terrain: terrain_lib.Terrain | None) -> "Go2Sim":
    """A sim from a Go2 task's env config (the ``loco`` layout, ``configs/loco.py``).

    Reads ``collisions``, ``sim_dt``, ``decimation``, ``solver_iterations``,
    ``solver_ls_iterations``, the ``motor`` and ``randomization`` sections,
    ``termination.base_contact(_force)`` and, as the friction-bucket seed, ``terrain_config.seed``.
    """
    term = cfg["termination"]
    return cls(
        cfg["collisions"], terrain, sim_dt=cfg["sim_dt"], decimation=cfg["decimation"],
        solver_iterations=cfg["solver_iterations"],
        solver_ls_iterations=cfg["solver_ls_iterations"],
        motor=_fields(MotorConfig, cfg["motor"]),
        randomization=_fields(RandomizationConfig, cfg["randomization"],
                              friction_seed=cfg["terrain_config"]["seed"]),
        base_contact=term["base_contact"], base_contact_force=term["base_contact_force"])

  def with_model(self, fields: Mapping[str, jax.Array]) -> "Go2Sim":
    """A shallow copy whose ``mjx_model`` has ``fields`` (e.g. :meth:`randomize`'s) replaced."""
    if not fields:
      return self
    clone = copy.copy(self)
    clone.mjx_model = self.mjx_model.replace(**fields)
    return clone

  # ------------------------------------------------------------------ static maps
  def _contact_slots(self) -> None:
    """Geom and body ids (ncon, 2) of every condim-3 contact slot (MJX's layout is static)."""
    d = mjx.make_data(self.mjx_model)
    d = jax.jit(mjx.forward)(self.mjx_model, d)
    impl = d._impl  # pylint: disable=protected-access
    geom = np.asarray(impl.contact.geom)
    dim = np.asarray(impl.contact.dim)
    _, idx = mjx_support.contact_force_dim(self.mjx_model, d, 3)
    if np.any(dim != 3):
      raise Go2SimError("The Go2 sim expects condim-3 contacts only; check the Go2 MJCF.")
    self.contact_geoms = geom[np.asarray(idx)]
    self.contact_bodies = self.mj_model.geom_bodyid[self.contact_geoms]

  def contact_selector(self, geoms=None, bodies=None) -> np.ndarray:
    """(ncon, k) float32 0/1 map from contact slots to k groups of geoms or bodies.

    ``contact_normals(data) @ selector`` sums the normal force on each group (e.g. the 4 feet, or
    the undesired bodies of reasan-filter.md §5.1). Give exactly one of ``geoms``/``bodies``: a
    list of k id lists.
    """
    if (geoms is None) == (bodies is None):
      raise Go2SimError("contact_selector takes exactly one of geoms= or bodies=.")
    ids = self.contact_geoms if geoms is not None else self.contact_bodies
    groups = geoms if geoms is not None else bodies
    return np.stack([np.any(np.isin(ids, g), axis=1) for g in groups], axis=1).astype(np.float32)

  def _base_probe_points(self) -> tuple[np.ndarray, np.ndarray]:
    """Base-frame points whose contact with the ground ends an episode, with their radii.

    The 8 corners of the trunk box (radius 0) and the head sphere's centre (its radius), taken from
    the model's ``base_box``/``head`` geoms (go2-robot.md collision shapes).
    """
    m = self.mj_model
    points, radii = [], []
    for name in c.BASE_GEOMS:
      g = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, name)
      pos, size = m.geom_pos[g], m.geom_size[g]
      rot = np.zeros(9)
      mujoco.mju_quat2Mat(rot, m.geom_quat[g])
      if m.geom_type[g] == mujoco.mjtGeom.mjGEOM_BOX:
        signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T
        points += list(pos + (signs * size[:3]) @ rot.reshape(3, 3).T)
        radii += [0.0] * 8
      else:  # sphere / capsule end: centre and radius
        points.append(pos)
        radii.append(size[0])
    return np.asarray(points, np.float32), np.asarray(radii, np.float32)

  # ------------------------------------------------------------------ randomisation
  def randomize(self, rng: jax.Array) -> dict[str, jax.Array]:
    """One env's model fields: base mass/inertia/CoM and foot friction (reasan-loco.md DR).

    Args:
      rng: PRNG key.

    Returns:
      ``{mjx.Model field: value}`` for ``body_mass``, ``body_inertia``, ``body_ipos``,
      ``geom_friction`` (feet, sliding coefficient); ``{}`` when randomisation is disabled.
    """
    d = self.randomization
    if not d.enabled:
      return {}
    m = self.mjx_model
    k_mass, k_com, k_fric = jax.random.split(rng, 3)
    b = self.base_body
    mass0 = m.body_mass[b]
    add = jax.random.uniform(k_mass, (), minval=d.base_mass_add[0], maxval=d.base_mass_add[1])
    shift = jax.random.uniform(k_com, (3,), minval=-1.0, maxval=1.0) * jnp.asarray(d.com_shift)
    bucket = jax.random.randint(k_fric, (), 0, d.num_friction_buckets)
    friction = self.friction_buckets[bucket, 1]  # dynamic friction (MuJoCo has one coefficient)
    return {
        "body_mass": m.body_mass.at[b].set(mass0 + add),
        "body_inertia": m.body_inertia.at[b].set(m.body_inertia[b] * (mass0 + add) / mass0),
        "body_ipos": m.body_ipos.at[b].add(shift),
        "geom_friction": m.geom_friction.at[self.foot_geoms, 0].set(friction),
    }

  def sample_gains(self, keys: jax.Array) -> Gains:
    """Per-env motor gains (reasan-rl-core.md §13): kp, kd = nominal x U(range), strength U(range).

    Args:
      keys: (3,) PRNG keys for kp, kd and strength (the caller picks the streams).

    Returns:
      :data:`Gains`, each (12,) in REASAN order; nominal gains when randomisation is disabled.
    """
    mc, on = self.motor, self.randomization.enabled

    def factor(key, rng_range):
      lo, hi = rng_range if on else (1.0, 1.0)
      return jax.random.uniform(key, (12,), minval=lo, maxval=hi)

    return {"kp": mc.kp * factor(keys[0], mc.kp_range), "kd": mc.kd * factor(keys[1], mc.kd_range),
            "strength": factor(keys[2], mc.strength_range)}

  def sample_wrench(self, rng: jax.Array) -> jax.Array:
    """(6,) body-frame base wrench (force N, torque N m), each component U(+-limit); 0 if off."""
    d = self.randomization
    return jax.random.uniform(rng, (6,), minval=-1.0, maxval=1.0) * jnp.asarray(
        [d.external_force] * 3 + [d.external_torque] * 3) * float(d.enabled)

  # ------------------------------------------------------------------ reset
  def scaled_default_pose(self, rng: jax.Array, scale_range: tuple[float, float]) -> jax.Array:
    """(12,) default pose x U(scale_range) per joint, clamped to the soft limits (REASAN, rad)."""
    lo, hi = scale_range
    q = self.default_pose * jax.random.uniform(rng, (12,), minval=lo, maxval=hi)
    return jnp.clip(q, self.soft_lo, self.soft_hi)

  def spawn(self, position: jax.Array, yaw: jax.Array, joint_pos: jax.Array) -> mjx.Data:
    """Fresh data at rest: base at ``position`` (3,) m, heading ``yaw`` rad, joints ``joint_pos``
    (12,) rad in REASAN order; forward kinematics done (site/geom poses valid)."""
    qpos = jnp.concatenate([position, spatial.yaw_quat(yaw), c.to_mjcf(joint_pos)])
    data = mjx.make_data(self.mjx_model).replace(qpos=qpos)
    return mjx.kinematics(self.mjx_model, data)

  # ------------------------------------------------------------------ physics
  def physics_step(self, data: mjx.Data, target: jax.Array, gains: Gains, wrench: jax.Array
                   ) -> tuple[mjx.Data, jax.Array, jax.Array]:
    """``decimation`` physics steps with the joint target held (reasan-rl-core.md §13).

    Each sub-step applies :func:`dc_motor_torque` to the current joint state, then ``mjx.step``.
    The wrench is rotated into the world with the base orientation at the start and held.

    Args:
      data: physics state.
      target: (12,) PD joint target, rad, REASAN order (:func:`.motor.joint_target`).
      gains: :data:`Gains` (REASAN order).
      wrench: (6,) base force (N) and torque (N m) in the base frame.

    Returns:
      ``(data, taus, base_hits)``: the state after the last sub-step, (decimation, 12) applied
      torques in MJCF order (N m) and (decimation,) bool base contact after each sub-step.
    """
    m = self.mjx_model
    target = c.to_mjcf(target)
    kp, kd, strength = (c.to_mjcf(gains[k]) for k in ("kp", "kd", "strength"))
    rot = spatial.quat_to_mat(data.qpos[3:7])
    xfrc = jnp.zeros((m.nbody, 6)).at[self.base_body].set(
        jnp.concatenate([rot @ wrench[:3], rot @ wrench[3:]]))
    data = data.replace(xfrc_applied=xfrc)
    mc = self.motor

    def substep(data, _):
      tau = dc_motor_torque(target, data.qpos[7:], data.qvel[6:], kp, kd, strength,
                            mc.torque_limit, mc.velocity_limit)
      data = mjx.step(m, data.replace(ctrl=tau))
      if self.base_contact == "geometric":
        base_hit = self.base_touches_ground(data.qpos)
      else:
        base_hit = self.contact_normals(data) @ self.base_contact_slots > self.base_contact_force
      return data, (tau, base_hit)

    data, (taus, base_hits) = jax.lax.scan(substep, data, None, length=self.decimation)
    return data, taus, base_hits

  # ------------------------------------------------------------------ contacts and ground
  def contact_normals(self, data: mjx.Data) -> jax.Array:
    """(ncon,) normal contact force, N, of every condim-3 contact slot (0 where inactive)."""
    force, _ = mjx_support.contact_force_dim(self.mjx_model, data, 3)
    return force[:, 0]

  def foot_forces(self, data: mjx.Data) -> jax.Array:
    """(4,) normal contact force on each foot, N (FEET order)."""
    return self.contact_normals(data) @ self.foot_contact

  def terrain_height(self, xy: jax.Array) -> jax.Array:
    """Ground height (m) under world points ``xy`` (..., 2); read from the model's height field
    (``mjx_model.hfield_data``) so the grid is not embedded in the program twice; 0 when flat."""
    if self.terrain is None:
      return jnp.zeros(xy.shape[:-1])
    t = self.terrain
    ny, nx = t.shape
    m = self.mjx_model
    heights = m.hfield_data[:ny * nx].reshape(ny, nx) * m.hfield_size[0, 2]
    return terrain_lib.height_at(heights, t.hscale, jnp.asarray(t.origin_xy), xy)

  def base_touches_ground(self, qpos: jax.Array) -> jax.Array:
    """() bool: a trunk-box corner or the head sphere is at or below the ground (geometric)."""
    rot = spatial.quat_to_mat(qpos[3:7])
    world = qpos[:3] + self._base_points @ rot.T
    ground = self.terrain_height(world[:, :2])
    return jnp.any(world[:, 2] - self._base_radii <= ground)

  # ------------------------------------------------------------------ feet
  def foot_positions(self, data: mjx.Data) -> jax.Array:
    """(4, 3) world positions of the foot centres, m (FEET order; valid after a step/kinematics)."""
    return data.site_xpos[self.foot_sites]

  def foot_velocities(self, data: mjx.Data) -> jax.Array:
    """(4, 3) world-frame linear velocities of the foot centres, m/s (site Jacobian x qvel)."""
    def one(site, body):
      jacp, _ = mjx_support.jac(self.mjx_model, data, data.site_xpos[site], body)
      return jacp.T @ data.qvel
    return jnp.stack([one(s, b) for s, b in zip(self.foot_sites, self.foot_bodies)])
