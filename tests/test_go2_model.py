"""The Go2 MJCF, its collision variants and scenes, the joint-order conversion and the terrain.

Figures checked against go2-robot.md and reasan-rl-core.md §13-15. MJX compiles dominate the run
time on CPU, so MJX work is limited to two compiled 0.5 s standing rollouts (2 envs; "body" on
flat, "feet" on rough) and a traced (not compiled) ``mjx.step`` for the other four scenes.
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from reasan_jax.robots import go2
from reasan_jax.scenes import terrain as terrain_lib

KP, KD = 35.0, 0.5  # standing PD law of the brief (reasan-rl-core.md §13 nominal gains)
SIM_DT = 0.005
VARIANTS = go2.COLLISION_VARIANTS
SCENES = list(itertools.product(VARIANTS, go2.TERRAIN_TYPES))
FIGURE_MASS = 6.921 + 4 * (0.678 + 1.152 + 0.241352)  # go2-robot.md table = 15.206 kg


# ----------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module")
def small_terrain():
  # 2 x 2 cells of 8 m (REASAN cell size), 2 m flat border: 201 x 201 vertices.
  return terrain_lib.make_rough_terrain(num_rows=2, num_cols=2, cell_size=8.0, border=2.0, seed=3)


@pytest.fixture(scope="module")
def models(small_terrain):
  out = {}
  for var, ter in SCENES:
    out[var, ter] = go2.load_model(var, ter, small_terrain if ter == "rough" else None)
  return out


def _spawn_qpos(terrain: terrain_lib.Terrain | None) -> np.ndarray:
  """Home keyframe placed on cell (0, 0) of the terrain (world origin on flat ground)."""
  q = np.zeros(19)
  q[3] = 1.0
  q[7:] = go2.DEFAULT_POSE_MJCF
  q[2] = go2.HOME_BASE_HEIGHT
  if terrain is not None:
    q[:3] += terrain.origins[0, 0]
  return q


def _pd(q, qd, target):
  return np.clip(KP * (target - q) - KD * qd, -go2.TORQUE_LIMIT, go2.TORQUE_LIMIT)


def _contact_geoms(d: mujoco.MjData) -> set[int]:
  return {int(g) for i in range(d.ncon) for g in d.contact[i].geom}


def _stand_c(m: mujoco.MjModel, qpos0: np.ndarray, seconds: float):
  """Holds the default pose with the PD law in MuJoCo C; returns base xyz per step and data."""
  d = mujoco.MjData(m)
  d.qpos[:] = qpos0
  target = np.asarray(go2.DEFAULT_POSE_MJCF, np.float64)
  traj = np.zeros((int(round(seconds / m.opt.timestep)), 3))
  for i in range(traj.shape[0]):
    d.ctrl[:] = _pd(d.qpos[7:], d.qvel[6:], target)
    mujoco.mj_step(m, d)
    traj[i] = d.qpos[:3]
  return traj, d


# ----------------------------------------------------------------------------------------------
# joint orders and constants


def test_joint_order_conversion():
  np.testing.assert_array_equal(go2.REASAN_TO_MJCF, [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
  np.testing.assert_array_equal(go2.MJCF_TO_REASAN, [0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11])
  assert go2.JOINT_NAMES_REASAN[4] == "FL_thigh_joint"
  assert go2.JOINT_NAMES_MJCF[1] == "FL_thigh_joint"
  names_r = np.array(go2.JOINT_NAMES_REASAN)
  names_m = np.array(go2.JOINT_NAMES_MJCF)
  np.testing.assert_array_equal(go2.to_mjcf(names_r), names_m)
  np.testing.assert_array_equal(go2.to_reasan(names_m), names_r)
  onehot = np.eye(12)[4]  # REASAN index 4 = FL_thigh -> MJCF index 1
  assert np.argmax(go2.to_mjcf(onehot)) == 1
  x = np.random.default_rng(0).normal(size=(3, 5, 12))
  np.testing.assert_array_equal(go2.to_reasan(go2.to_mjcf(x)), x)
  np.testing.assert_array_equal(go2.to_mjcf(go2.to_reasan(x)), x)
  xj = jnp.asarray(x, jnp.float32)
  yj = jax.jit(lambda a: go2.to_reasan(go2.to_mjcf(a)))(xj)
  assert isinstance(yj, jax.Array)
  np.testing.assert_array_equal(np.asarray(yj), np.asarray(xj))
  with pytest.raises(ValueError, match="12"):
    go2.to_mjcf(np.zeros(11))


def test_default_pose_and_limits():
  np.testing.assert_allclose(
      go2.DEFAULT_POSE_MJCF,
      [0.1, 0.8, -1.5, -0.1, 0.8, -1.5, 0.1, 1.0, -1.5, -0.1, 1.0, -1.5], atol=1e-7)
  # reasan-rl-core.md §14 soft-limit table (factor 0.9).
  soft = go2.soft_limits(0.9)
  expected = {"hip": (-0.9425, 0.9425), "F_thigh": (-1.3177, 3.2376),
              "R_thigh": (-0.2705, 4.2848), "calf": (-2.6285, -0.9320)}
  for name, lim in zip(go2.JOINT_NAMES_MJCF, soft):
    key = ("hip" if "hip" in name else "calf" if "calf" in name else f"{name[0]}_thigh")
    np.testing.assert_allclose(lim, expected[key], atol=2e-4, err_msg=name)
  np.testing.assert_allclose(go2.soft_limits(1.0), go2.JOINT_RANGE_MJCF, atol=1e-6)
  assert np.all((go2.DEFAULT_POSE_MJCF > soft[:, 0]) & (go2.DEFAULT_POSE_MJCF < soft[:, 1]))
  assert go2.TORQUE_LIMIT == 23.5 and go2.VELOCITY_LIMIT == 30.0
  assert go2.FEET == ("FL", "FR", "RL", "RR")


# ----------------------------------------------------------------------------------------------
# the MJCF


def test_model_structure(models):
  m = models["feet", "flat"]
  assert (m.nq, m.nv, m.nu) == (19, 18, 12)
  assert m.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE
  names = [m.joint(i).name for i in range(1, m.njnt)]
  assert tuple(names) == go2.JOINT_NAMES_MJCF
  np.testing.assert_array_equal(m.jnt_qposadr[1:], np.arange(7, 19))
  np.testing.assert_array_equal(m.jnt_dofadr[1:], np.arange(6, 18))
  np.testing.assert_allclose(m.jnt_range[1:], go2.JOINT_RANGE_MJCF, atol=1e-6)
  assert np.all(m.jnt_limited[1:])
  for j, name in enumerate(go2.JOINT_NAMES_MJCF, start=1):
    kind = name.split("_")[1]
    np.testing.assert_allclose(m.jnt_axis[j], go2.JOINT_AXES[kind], err_msg=name)
  np.testing.assert_allclose(m.dof_armature[6:], 0.01)
  np.testing.assert_allclose(m.dof_damping[6:], 0.0)
  np.testing.assert_allclose(m.dof_frictionloss[6:], 0.0)
  # Actuators: 12 unlimited torque motors in MJCF order.
  assert tuple(m.actuator(i).name for i in range(m.nu)) == go2.ACTUATOR_NAMES_MJCF
  np.testing.assert_array_equal(m.actuator_trnid[:, 0], np.arange(1, 13))
  np.testing.assert_allclose(m.actuator_gear[:, 0], 1.0)
  assert not np.any(m.actuator_ctrllimited) and not np.any(m.actuator_forcelimited)
  np.testing.assert_allclose(m.actuator_gainprm[:, 0], 1.0)
  np.testing.assert_allclose(m.actuator_biasprm[:, :3], 0.0)
  # Options.
  assert m.opt.timestep == SIM_DT
  assert m.opt.integrator == mujoco.mjtIntegrator.mjINT_EULER
  assert m.opt.disableflags & mujoco.mjtDisableBit.mjDSBL_EULERDAMP
  assert m.opt.cone == mujoco.mjtCone.mjCONE_PYRAMIDAL
  assert 1 <= m.opt.iterations <= 4
  # Leg layout (go2-robot.md kinematic tree).
  for leg in go2.FEET:
    sx = 1 if leg[0] == "F" else -1
    sy = 1 if leg[1] == "L" else -1
    np.testing.assert_allclose(m.body(f"{leg}_hip").pos, [sx * 0.1934, sy * 0.0465, 0])
    np.testing.assert_allclose(m.body(f"{leg}_thigh").pos, [0, sy * 0.0955, 0])
    np.testing.assert_allclose(m.body(f"{leg}_calf").pos, [0, 0, -0.213])
    foot = m.geom(f"{leg}_foot")
    assert foot.type[0] == mujoco.mjtGeom.mjGEOM_SPHERE
    np.testing.assert_allclose(foot.size[0], 0.022)
    np.testing.assert_allclose(foot.pos, [-0.002, 0, -0.213])
    assert foot.priority[0] == 1 and foot.condim[0] == 3
    np.testing.assert_allclose(foot.friction[0], 0.8)
    np.testing.assert_allclose(m.site(f"{leg}_foot").pos, foot.pos)
    assert m.site(f"{leg}_foot").bodyid[0] == m.body(f"{leg}_calf").id
  assert m.site("imu").bodyid[0] == m.body("base").id
  np.testing.assert_allclose(m.geom("base_box").size, go2.BASE_BOX_HALF_SIZE)
  np.testing.assert_allclose(m.geom("base_box").pos, 0.0)
  np.testing.assert_allclose(m.geom("head").pos, go2.HEAD_POS)
  np.testing.assert_allclose(m.geom("head").size[0], go2.HEAD_RADIUS)
  np.testing.assert_allclose(m.geom("FL_foot").size[0], go2.FOOT_RADIUS)
  # No cylinders/ellipsoids among colliding geoms in any variant (MJX lacks cylinder-box/hfield).
  for mm in models.values():
    colliding = (mm.geom_contype | mm.geom_conaffinity) > 0
    assert not np.any(np.isin(mm.geom_type[colliding], [mujoco.mjtGeom.mjGEOM_CYLINDER,
                                                         mujoco.mjtGeom.mjGEOM_ELLIPSOID]))


def test_mass_and_inertia(models):
  m = models["feet", "flat"]
  total = float(m.body_mass.sum())
  # go2-robot.md says "≈ 15.0 kg"; its own table sums to 15.206 kg (trunk 6.921 + 4 x 2.071352).
  assert abs(total - FIGURE_MASS) < 1e-4
  assert abs(total - 15.0) < 0.25
  np.testing.assert_allclose(m.body("base").mass, 6.921)
  np.testing.assert_allclose(m.body("base").ipos, [0.021112, 0, -0.005366])
  for leg in go2.FEET:
    np.testing.assert_allclose(
        [m.body(f"{leg}_{k}").mass[0] for k in ("hip", "thigh", "calf")], [0.678, 1.152, 0.241352])

  def tensor(body):
    rot = np.zeros(9)
    mujoco.mju_quat2Mat(rot, m.body(body).iquat)
    rot = rot.reshape(3, 3)
    return rot @ np.diag(m.body(body).inertia) @ rot.T

  my, mx = np.diag([1.0, -1.0, 1.0]), np.diag([-1.0, 1.0, 1.0])
  for part in ("hip", "thigh", "calf"):
    fl = tensor(f"FL_{part}")
    np.testing.assert_allclose(tensor(f"FR_{part}"), my @ fl @ my, atol=1e-9)
    rear = mx @ fl @ mx if part == "hip" else fl  # only the hip mirrors front/back
    np.testing.assert_allclose(tensor(f"RL_{part}"), rear, atol=1e-9)
    np.testing.assert_allclose(tensor(f"RR_{part}"), my @ rear @ my, atol=1e-9)
    np.testing.assert_allclose(m.body(f"FR_{part}").ipos, m.body(f"FL_{part}").ipos * [1, -1, 1])
  np.testing.assert_allclose(m.body("RL_hip").ipos, [0.0054, 0.00194, -0.000105])


def test_home_keyframe(models):
  for (var, ter), m in models.items():
    key = m.key("home")
    np.testing.assert_allclose(key.qpos[7:], go2.to_mjcf(go2.DEFAULT_POSE_REASAN), atol=1e-7)
    np.testing.assert_allclose(key.qpos[:7], [0, 0, go2.HOME_BASE_HEIGHT, 1, 0, 0, 0])
  m = models["feet", "flat"]
  d = mujoco.MjData(m)
  mujoco.mj_resetDataKeyframe(m, d, m.key("home").id)
  mujoco.mj_kinematics(m, d)
  bottoms = [d.site(s).xpos[2] - 0.022 for s in go2.FOOT_SITES]
  assert abs(min(bottoms)) < 5e-4  # the lowest feet touch the floor


# ----------------------------------------------------------------------------------------------
# collision variants and scenes


def _expected_colliders(var: str) -> set[str]:
  feet = set(go2.FOOT_GEOMS)
  if var == "feet":
    return feet
  if var == "feet_base":
    return feet | set(go2.BASE_GEOMS)
  legs = {f"{leg}_{p}" for leg in go2.FEET for p in ("hip", "thigh", "calf", "calf2", "foot")}
  return legs | set(go2.BASE_GEOMS)


@pytest.mark.parametrize("var,ter", SCENES)
def test_collision_filters(models, var, ter):
  m = models[var, ter]
  ground = go2.robot_ids(m).ground_geom
  assert m.geom(ground).name == ("floor" if ter == "flat" else "terrain")
  robot = [g for g in range(m.ngeom) if m.geom_bodyid[g] != 0]
  colliders = {m.geom(g).name for g in robot if m.geom_contype[g] or m.geom_conaffinity[g]}
  assert colliders == _expected_colliders(var)

  def can_touch(a, b):
    return bool((m.geom_contype[a] & m.geom_conaffinity[b]) |
                (m.geom_contype[b] & m.geom_conaffinity[a]))

  for a, b in itertools.combinations(robot, 2):
    assert not can_touch(a, b), (m.geom(a).name, m.geom(b).name)
  for g in robot:
    assert can_touch(g, ground) == (m.geom(g).name in colliders)
  # MJX allocates contacts for exactly these pairs: up to 4 per hfield pair, and 1 (sphere),
  # 2 (capsule) or 4 (box) per plane pair.
  per_plane = {int(mujoco.mjtGeom.mjGEOM_SPHERE): 1, int(mujoco.mjtGeom.mjGEOM_CAPSULE): 2,
               int(mujoco.mjtGeom.mjGEOM_BOX): 4}
  expected = sum(4 if ter == "rough" else per_plane[int(m.geom(n).type[0])] for n in colliders)
  assert mjx.make_data(go2.put_model(m))._impl.ncon == expected


def test_load_model_rejects_bad_names():
  with pytest.raises(ValueError, match="feet_base"):
    go2.load_model(collisions="everything")
  with pytest.raises(ValueError, match="rough"):
    go2.load_model(terrain="stairs")
  with pytest.raises(ValueError):
    go2.load_model(terrain="flat", terrain_config={"num_rows": 2})


def test_rough_scene_has_hfield(models, small_terrain):
  m = models["feet", "rough"]
  assert mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "floor") == -1
  hf = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_HFIELD, "terrain")
  ny, nx = small_terrain.heights.shape
  assert (m.hfield_nrow[hf], m.hfield_ncol[hf]) == (ny, nx)
  np.testing.assert_allclose(m.hfield_size[hf], small_terrain.hfield_size(), rtol=1e-6)
  np.testing.assert_allclose(m.geom("terrain").pos, [*small_terrain.center, 0.0])
  data = m.hfield_data[m.hfield_adr[hf]:m.hfield_adr[hf] + ny * nx].reshape(ny, nx)
  np.testing.assert_allclose(data * m.hfield_size[hf, 2], small_terrain.heights, atol=1e-7)
  # terrain_config as keyword arguments builds the same terrain.
  m2 = go2.load_model("feet", "rough", dict(num_rows=2, num_cols=2, border=2.0, seed=3))
  np.testing.assert_array_equal(m2.hfield_data, m.hfield_data)


# The standing rollouts below compile and run body/flat and feet/rough; tracing catches
# unsupported collision pairs for the other four without paying for their XLA compiles.
@pytest.mark.parametrize("var,ter", [("feet", "flat"), ("feet_base", "flat"),
                                     ("feet_base", "rough"), ("body", "rough")])
def test_mjx_traces_other_scenes(models, var, ter):
  """put_model + make_data + a traced jitted mjx.step."""
  mx = go2.put_model(models[var, ter])
  dx = mjx.make_data(mx)
  out = jax.eval_shape(jax.jit(mjx.step), mx, dx)
  assert out.qpos.shape == (19,) and out.qvel.shape == (18,)
  assert out._impl.contact.dist.shape == (dx._impl.ncon,)


# ----------------------------------------------------------------------------------------------
# standing


@pytest.mark.parametrize("var,ter", SCENES)
def test_standing_mujoco(models, small_terrain, var, ter):
  """PD hold of the home pose for 2 s in MuJoCo C: stands still on all four feet."""
  m = models[var, ter]
  terrain = small_terrain if ter == "rough" else None
  q0 = _spawn_qpos(terrain)
  traj, d = _stand_c(m, q0, 2.0)
  assert np.all(np.isfinite(traj)) and np.all(np.isfinite(d.qvel))
  ground_z = 0.0 if terrain is None else float(terrain.origins[0, 0, 2])
  height = traj[:, 2] - ground_z
  last = height[-200:]  # last second
  # Measured (last second): 0.297 m on flat, 0.284 m above the cell origin z (0.03 m) on rough,
  # where the feet rest on 0.01-0.03 m vertices. The low PD damping leaves a slow fore-aft rocking
  # of ~1 cm (period ~1.5 s) that decays.
  lo, hi = (0.29, 0.305) if ter == "flat" else (0.27, 0.30)
  assert lo < last.mean() < hi, last.mean()
  assert last.max() - last.min() < 0.01  # no bouncing
  assert np.linalg.norm(traj[-1, :2] - q0[:2]) < 0.05  # no drift
  assert np.abs(traj[-200:, :2] - traj[-1, :2]).max() < 0.03
  up = np.zeros(9)
  mujoco.mju_quat2Mat(up, d.qpos[3:7])
  assert up[8] > 0.995  # upright
  ids = go2.robot_ids(m)
  touching = _contact_geoms(d)
  assert all(int(g) in touching for g in ids.foot_geoms)
  assert not touching & {int(g) for g in ids.base_geoms}
  # P-control sag under the weight: calves ~0.16 rad, thighs ~0.04 rad (measured).
  np.testing.assert_allclose(d.qpos[7:], go2.DEFAULT_POSE_MJCF, atol=0.2)


@pytest.fixture(scope="module")
def mjx_rollouts(models, small_terrain):
  """0.5 s PD standing in MJX (2 envs: home pose and a perturbed pose).

  Flat uses the "body" variant (the largest collision set, 37 contacts), rough the "feet"
  variant (box-hfield pairs of "feet_base"/"body" take minutes to compile on CPU).
  """
  steps = 100
  target = jnp.asarray(go2.DEFAULT_POSE_MJCF, jnp.float32)
  out = {}
  for ter, var in (("flat", "body"), ("rough", "feet")):
    m = models[var, ter]
    mx = go2.put_model(m)
    terrain = small_terrain if ter == "rough" else None
    q0 = _spawn_qpos(terrain)
    q1 = q0.copy()
    q1[7:] += 0.05 * np.sin(np.arange(12))
    q1[2] += 0.02
    qpos = np.stack([q0, q1])

    @jax.jit
    def rollout(mx, d):
      # The model is an argument, not a closure constant, so XLA does not constant-fold it.
      def substep(d, _):
        tau = jnp.clip(KP * (target - d.qpos[7:]) - KD * d.qvel[6:], -go2.TORQUE_LIMIT,
                       go2.TORQUE_LIMIT)
        d = mjx.step(mx, d.replace(ctrl=tau))
        return d, d.qpos[:3]

      return jax.lax.scan(jax.vmap(substep), d, None, length=steps)

    # Initial data built on the host (mj_forward + put_data) to keep mjx.forward out of the
    # compiled program.
    datas = []
    for q in qpos:
      dc = mujoco.MjData(m)
      dc.qpos[:] = q
      mujoco.mj_forward(m, dc)
      datas.append(mjx.put_data(m, dc))
    d, traj = rollout(mx, jax.tree_util.tree_map(lambda *x: jnp.stack(x), *datas))
    ref = np.stack([_stand_c(m, q, steps * SIM_DT)[0] for q in qpos], axis=1)
    out[ter] = (m, terrain, d, np.asarray(traj), ref)
  return out


@pytest.mark.parametrize("ter", go2.TERRAIN_TYPES)
def test_standing_mjx_matches_mujoco(mjx_rollouts, ter):
  m, terrain, d, traj, ref = mjx_rollouts[ter]
  assert traj.shape == ref.shape == (100, 2, 3)
  assert np.all(np.isfinite(traj))
  ground_z = 0.0 if terrain is None else float(terrain.origins[0, 0, 2])
  assert np.all((traj[-20:, :, 2] - ground_z > 0.26) & (traj[-20:, :, 2] - ground_z < 0.32))
  # MuJoCo C vs MJX base height along the whole 0.5 s (measured max: 0.8 mm flat, 1.8 mm rough;
  # float32 MJX vs float64 C, and the 4-point MJX hfield manifold on rough).
  tol = 3e-3 if ter == "flat" else 6e-3
  assert np.abs(traj[..., 2] - ref[..., 2]).max() < tol
  assert np.abs(traj[..., :2] - ref[..., :2]).max() < 2 * tol
  # MJX collides exactly the robot-ground pairs, and every foot is in contact at the end.
  ids = go2.robot_ids(m)
  geom = np.asarray(d._impl.contact.geom)  # (envs, ncon, 2)
  dist = np.asarray(d._impl.contact.dist)  # (envs, ncon)
  pairs = {tuple(int(x) for x in g) for g in geom[0]}
  var = "body" if ter == "flat" else "feet"
  assert pairs == {(ids.ground_geom, m.geom(n).id) for n in _expected_colliders(var)}
  for env in range(2):
    for g in ids.foot_geoms:
      sel = (geom[env] == g).any(axis=1)
      assert dist[env][sel].min() < 1e-3


# ----------------------------------------------------------------------------------------------
# terrain


def test_rough_terrain_layout(small_terrain):
  t = small_terrain
  h = t.heights
  assert h.shape == (2 * 80 + 2 * 20 + 1, 2 * 80 + 2 * 20 + 1)
  assert {round(float(v), 6) for v in np.unique(h)} <= {0.0, 0.01, 0.02, 0.03}
  # Flat 2 m border (20 vertices) around the grid, and the 2-vertex rim of every cell, are 0.
  assert np.all(h[:21] == 0) and np.all(h[-21:] == 0)
  assert np.all(h[:, :21] == 0) and np.all(h[:, -21:] == 0)
  for k in range(3):
    line = 20 + 80 * k
    assert np.all(h[line - 1:line + 2] == 0) and np.all(h[:, line - 1:line + 2] == 0)
  # Inner vertices all drawn from {0.01, 0.02, 0.03}, with every level present.
  inner = h[22:99, 22:99]
  assert inner.shape == (77, 77)
  assert {round(float(v), 6) for v in np.unique(inner)} == {0.01, 0.02, 0.03}
  assert h[20:101, 20:101].min() == 0 and np.count_nonzero(h[20:101, 20:101]) == 77 * 77
  # Origins: cell centres, z = max of the central 2 x 2 m window (vertex indices 30..49).
  np.testing.assert_allclose(t.origins[..., :2], [[[-4, -4], [-4, 4]], [[4, -4], [4, 4]]])
  for r, c in itertools.product(range(2), range(2)):
    ix0, iy0 = 20 + 80 * r, 20 + 80 * c
    assert t.origins[r, c, 2] == h[iy0 + 30:iy0 + 50, ix0 + 30:ix0 + 50].max()
  assert t.extent == (-10.0, 10.0, -10.0, 10.0)
  # Seeded.
  again = terrain_lib.make_rough_terrain(2, 2, 8.0, border=2.0, seed=3)
  np.testing.assert_array_equal(again.heights, h)
  other = terrain_lib.make_rough_terrain(2, 2, 8.0, border=2.0, seed=4)
  assert not np.array_equal(other.heights, h)


def test_default_terrain_size_and_flat_origins():
  t = terrain_lib.make_rough_terrain()
  assert t.heights.shape == (2001, 1201)  # 20 cols x 8 m + 40 m along y, 10 rows along x
  assert t.extent == pytest.approx((-60.0, 60.0, -100.0, 100.0))
  np.testing.assert_allclose(t.origins[0, 0, :2], [-36.0, -76.0])
  np.testing.assert_allclose(t.origins[9, 19, :2], [36.0, 76.0])
  flat = terrain_lib.flat_terrain_origins(10, 20, 8.0)
  np.testing.assert_allclose(flat[..., :2], t.origins[..., :2])
  np.testing.assert_array_equal(flat[..., 2], 0.0)
  assert np.mean(np.isclose(t.origins[..., 2], 0.03)) > 0.99


def test_hfield_matches_heights_and_height_at():
  """mj_ray down onto the hfield reproduces the heights (rows along y, columns along x)."""
  # A hand-made field with one asymmetric bump: vertex (iy=2, ix=5) at 0.03 m, (iy=5, ix=2) at 0.
  h = np.zeros((9, 13), np.float32)
  h[2, 5] = 0.03
  h[6, 9] = 0.02
  t = terrain_lib.Terrain(heights=h, hscale=0.1, origins=np.zeros((1, 1, 3), np.float32),
                          origin_xy=(-0.6, -0.4), cell_size=1.2, border=0.0)
  m = go2.load_model("feet", "rough", t)
  d = mujoco.MjData(m)
  mujoco.mj_forward(m, d)
  ground = go2.robot_ids(m).ground_geom
  geomgroup = np.array([1, 0, 0, 0, 0, 0], np.uint8)  # the terrain is in group 0

  def ray_z(x, y):
    gid = np.zeros(1, np.int32)
    dist = mujoco.mj_ray(m, d, np.array([x, y, 1.0]), np.array([0, 0, -1.0]), geomgroup, 1, -1,
                         gid)
    assert gid[0] == ground
    return 1.0 - dist

  x0, y0 = t.origin_xy
  assert ray_z(x0 + 5 * 0.1, y0 + 2 * 0.1) == pytest.approx(0.03, abs=1e-6)
  assert ray_z(x0 + 2 * 0.1, y0 + 5 * 0.1) == pytest.approx(0.0, abs=1e-6)
  assert ray_z(x0 + 9 * 0.1, y0 + 6 * 0.1) == pytest.approx(0.02, abs=1e-6)
  hj = jnp.asarray(h)
  assert float(terrain_lib.height_at(hj, 0.1, t.origin_xy, jnp.array([x0 + 0.5, y0 + 0.2]))) \
      == pytest.approx(0.03, abs=1e-6)
  # Half-way between the bump and a zero neighbour along x: bilinear gives the mean.
  assert float(terrain_lib.height_at(hj, 0.1, t.origin_xy, jnp.array([x0 + 0.55, y0 + 0.2]))) \
      == pytest.approx(0.015, abs=1e-6)
  # Outside the grid: clamped to the edge (0).
  assert float(terrain_lib.height_at(hj, 0.1, t.origin_xy, jnp.array([5.0, 5.0]))) == 0.0


def test_hfield_rays_on_rough_terrain(models, small_terrain):
  t = small_terrain
  m = models["feet", "rough"]
  d = mujoco.MjData(m)
  mujoco.mj_forward(m, d)
  rng = np.random.default_rng(1)
  geomgroup = np.array([1, 0, 0, 0, 0, 0], np.uint8)
  pts = rng.uniform([-9.0, -9.0], [9.0, 9.0], size=(300, 2))
  # Half of the points exactly on vertices, half anywhere.
  pts[:150] = np.round(pts[:150] / t.hscale) * t.hscale
  gid = np.zeros(1, np.int32)
  ray = np.array([1.0 - mujoco.mj_ray(m, d, np.array([x, y, 1.0]), np.array([0, 0, -1.0]),
                                      geomgroup, 1, -1, gid) for x, y in pts])
  interp = np.asarray(terrain_lib.height_at(jnp.asarray(t.heights), t.hscale, t.origin_xy,
                                            jnp.asarray(pts, jnp.float32)))
  np.testing.assert_allclose(ray[:150], interp[:150], atol=1e-5)
  assert np.abs(ray[150:] - interp[150:]).max() <= 0.0151  # triangles vs bilinear
  assert np.abs(ray[150:] - interp[150:]).mean() < 0.005
  jitted = jax.jit(jax.vmap(lambda p: terrain_lib.height_at(t.heights, t.hscale, t.origin_xy, p)))
  np.testing.assert_allclose(np.asarray(jitted(jnp.asarray(pts[:150], jnp.float32))),
                             interp[:150], atol=1e-7)
