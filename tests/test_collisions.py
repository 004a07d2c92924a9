"""Analytic robot-obstacle contacts agree with full-contact MuJoCo C on scripted collisions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from reasan_jax.robots import go2
from reasan_jax.scenes import layout
from reasan_jax.sensors import collisions, rays

OBST = [  # name, shape, centre, yaw, half sizes (box: hx, hy, hz; cylinder: r, r, hz)
    ("box", rays.BOX, (0.0, 0.0, 0.5), 0.5, (0.2, 0.2, 0.5)),
    ("cyl", rays.CYLINDER, (0.0, 0.0, 0.75), 0.0, (0.3, 0.3, 0.75)),
    ("low", rays.BOX, (0.0, 0.0, 0.09), 0.2, (0.25, 0.4, 0.09)),
]


@pytest.fixture(scope="module")
def scene():
  spec = mujoco.MjSpec.from_file(str(go2.SCENE_FLAT_XML))
  for name, kind, c, yaw, h in OBST:
    layout.add_geoms(spec, layout.geom_descriptions(np.array([c]), np.array([yaw]),
                                                    np.array([h]), np.array([kind]), name))
  mover = spec.worldbody.add_body(name="mover", mocap=True, pos=[5, 5, 0.75])
  layout.add_geoms(spec, layout.geom_descriptions(np.zeros((1, 3)), np.zeros(1),
                                                  np.array([[0.25, 0.25, 0.75]]), np.array([0]),
                                                  "mover"), body=mover)
  # Collision bits are set before compiling: MuJoCo builds each body's bounding-volume
  # hierarchy from the geoms that collide at compile time (changing geom_contype afterwards left
  # the calf capsules out of the midphase).
  for g in spec.geoms:
    robot = g.name.startswith(collisions.UNDESIRED_PREFIXES) and not g.name.endswith("_foot")
    obstacle = g.name.endswith("_0")
    g.contype, g.conaffinity = (1, 0) if robot else ((0, 1) if obstacle else (0, 0))
  m = spec.compile()
  shapes = collisions.robot_shapes(m)
  obst_ids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, f"{n}_0") for n, *_ in OBST]
  obst_ids.append(mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "mover_0"))
  fn = jax.jit(lambda xp, xm, p: collisions.body_contacts(shapes, xp, xm, p))
  return m, shapes, obst_ids, fn


def _first_contacts(m, shapes, obst_id, fn, prims_at, qpos_at, mocap_at=None, steps=150):
  m.geom_conaffinity[:] = 0
  m.geom_conaffinity[obst_id] = 1  # one obstacle at a time
  d = mujoco.MjData(m)
  first_c = first_j = None
  counts = []
  for i in range(steps):
    d.qpos[:] = qpos_at(i)
    if mocap_at is not None:
      d.mocap_pos[0] = mocap_at(i)
    mujoco.mj_forward(m, d)
    c_hit = any(d.contact[k].dist <= 0 for k in range(d.ncon))
    flags = np.asarray(fn(jnp.asarray(d.geom_xpos), jnp.asarray(d.geom_xmat), prims_at(i)))
    counts.append(flags.sum())
    if c_hit and first_c is None:
      first_c = i
    if flags.any() and first_j is None:
      first_j = i
  return first_c, first_j, counts


def _prims(kind, c, yaw, h):
  return rays.make_primitives([c], [yaw], [h], [kind], kinds=("box", "cylinder"))


@pytest.mark.parametrize("case", range(3))
@pytest.mark.parametrize("lateral", [0.0, 0.17])
def test_first_contact_step_matches_mujoco(scene, case, lateral):
  m, shapes, ids, fn = scene
  name, kind, c, yaw, h = OBST[case]
  home = m.key("home").qpos.copy()
  rng = np.random.default_rng(case)
  joints = home[7:] + rng.uniform(-0.3, 0.3, 12)
  heading = 0.3 * case

  def qpos_at(i):  # base driven along +x at 1 m/s (2 cm per 0.02 s control step)
    q = home.copy()
    q[0], q[1] = -1.2 + 0.02 * i, lateral
    q[2] = 0.3
    q[3:7] = [np.cos(heading / 2), 0, 0, np.sin(heading / 2)]
    q[7:] = joints
    return q

  p = _prims(kind, c, yaw, h)
  fc, fj, counts = _first_contacts(m, shapes, ids[case], fn, lambda i: p, qpos_at)
  assert fc is not None and fc > 5  # a real approach, then a contact
  assert abs(fc - fj) <= 1, (name, fc, fj)
  assert max(counts) >= 1


def test_moving_obstacle_first_contact_matches_mujoco(scene):
  m, shapes, ids, fn = scene
  q = m.key("home").qpos.copy()
  q[2] = 0.3

  def mover(i):  # 1.2 m/s toward and through the standing robot
    a, b = np.array([1.6, 0.5]), np.array([-1.0, -0.3])
    u = (b - a) / np.linalg.norm(b - a)
    xy = a + u * 1.2 * 0.02 * i
    return np.array([xy[0], xy[1], 0.75])

  prims_at = lambda i: _prims(rays.BOX, mover(i), 0.0, (0.25, 0.25, 0.75))
  fc, fj, _ = _first_contacts(m, shapes, ids[3], fn, prims_at, lambda i: q, mover, steps=100)
  assert fc is not None and fc > 5
  assert abs(fc - fj) <= 1


def test_gap_error_against_mj_geom_distance(scene):
  """Separation of robot geoms vs obstacles: an upper bound within 2 cm of MuJoCo's distance."""
  m, shapes, ids, _ = scene
  m.geom_conaffinity[:] = 0
  d = mujoco.MjData(m)
  rng = np.random.default_rng(0)
  gaps = jax.jit(lambda xp, xm, p: jnp.stack([
      collisions.geom_gaps(int(shapes.kind[i]), shapes.size[i:i + 1], xp[g][None],
                           xm[g].reshape(1, 3, 3), p)[0, 0]
      for i, g in enumerate(shapes.geom_ids)]))
  worst = 0.0
  n = 0
  for trial in range(12):
    case = trial % 3
    _, kind, c, yaw, h = OBST[case]
    q = m.key("home").qpos.copy()
    q[:2] = rng.uniform(-0.6, 0.6, 2)
    q[2] = 0.3
    ang = rng.uniform(-np.pi, np.pi)
    q[3:7] = [np.cos(ang / 2), 0, 0, np.sin(ang / 2)]
    q[7:] += rng.uniform(-0.4, 0.4, 12)
    d.qpos[:] = q
    mujoco.mj_forward(m, d)
    got = np.asarray(gaps(jnp.asarray(d.geom_xpos), jnp.asarray(d.geom_xmat),
                          _prims(kind, c, yaw, h)))
    for i, g in enumerate(shapes.geom_ids):
      want = mujoco.mj_geomDistance(m, d, int(g), ids[case], 0.3, None)
      if 0.002 < want < 0.3:  # separated pairs: compare the distances
        worst = max(worst, abs(got[i] - want))
        n += 1
        assert got[i] >= want - 1e-4  # alternating projections never under-estimate
  assert n > 20
  assert worst < 0.02, worst  # measured 0.0148 m (8 iterations; slow convergence near parallel faces)


def test_robot_shapes_are_reasan_undesired_bodies(scene):
  _, shapes, _, _ = scene
  assert len(shapes.body_names) == 13  # base (+ head geom), 4 hips, 4 thighs, 4 calves
  assert "base" in shapes.body_names and not any("foot" in b for b in shapes.body_names)
