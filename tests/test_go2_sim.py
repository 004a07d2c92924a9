"""The shared Go2 simulation (reasan_jax.robots.go2.sim) and the Go2 constants the configs read.

One flat "feet" sim; MJX work is two compiled programs: 3 policy steps of ``physics_step`` next to a
hand-written sub-step loop (the DC-motor formula in NumPy), and ``mjx.forward`` + foot velocities.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from conftest import REFERENCE
from reasan_jax.configs import loco
from reasan_jax.core import spatial
from reasan_jax.robots import go2
from reasan_jax.robots.go2 import gait, motor
from reasan_jax.robots.go2 import sim as go2_sim

T, V = go2.TORQUE_LIMIT, go2.VELOCITY_LIMIT


@pytest.fixture(scope="module")
def sim():
  return go2_sim.Go2Sim("feet", None)


def _dc_motor_numpy(target, q, qd, kp, kd, s):
  """reasan-rl-core.md §13, IsaacLab <= 2.1 DCMotor, written out in float64."""
  tau = s * (kp * (target - q) - kd * qd)
  hi = np.clip(T * (1.0 - qd / V), 0.0, T)
  lo = np.clip(T * (-1.0 - qd / V), -T, 0.0)
  return np.clip(tau, lo, hi)


def _state(sim, rng=0):
  """Standing pose a little above the ground, random joint velocities (fast enough to saturate)."""
  r = np.random.default_rng(rng)
  data = sim.spawn(jnp.array([0.0, 0.0, go2.HOME_BASE_HEIGHT + 0.01]), jnp.float32(0.3),
                   jnp.asarray(go2.DEFAULT_POSE_REASAN))
  return data.replace(qvel=data.qvel.at[6:].set(r.uniform(-40.0, 40.0, 12).astype(np.float32)))


def test_sub_step_torques_follow_the_dc_motor_formula(sim):
  data0 = _state(sim)
  gains = sim.sample_gains(jax.random.split(jax.random.PRNGKey(1), 3))
  wrench = jnp.array([1.0, -0.5, 0.3, 0.2, -0.1, 0.4])
  target = sim.default_pose + jnp.asarray(np.random.default_rng(2).uniform(-1.0, 1.0, 12),
                                          jnp.float32)
  m = sim.mjx_model

  @jax.jit
  def both(data):
    out, taus, hits = sim.physics_step(data, target, gains, wrench)
    # The same sub-steps by hand: what physics_step must do, one mjx.step at a time.
    rot = spatial.quat_to_mat(data.qpos[3:7])
    xfrc = jnp.zeros((m.nbody, 6)).at[sim.base_body].set(
        jnp.concatenate([rot @ wrench[:3], rot @ wrench[3:]]))
    states = []
    d = data.replace(xfrc_applied=xfrc)
    for _ in range(sim.decimation):
      states.append((d.qpos[7:], d.qvel[6:]))
      tau = go2.dc_motor_torque(go2.to_mjcf(target), d.qpos[7:], d.qvel[6:],
                                go2.to_mjcf(gains["kp"]), go2.to_mjcf(gains["kd"]),
                                go2.to_mjcf(gains["strength"]))
      d = mjx.step(m, d.replace(ctrl=tau))
    return out, taus, hits, states, d, xfrc

  out, taus, hits, states, ref, xfrc = both(data0)
  assert taus.shape == (sim.decimation, 12) and hits.shape == (sim.decimation,)
  args = [np.asarray(go2.to_mjcf(gains[k]), np.float64) for k in ("kp", "kd", "strength")]
  for k, (q, qd) in enumerate(states):
    expected = _dc_motor_numpy(np.asarray(go2.to_mjcf(target), np.float64), np.asarray(q),
                               np.asarray(qd), *args)
    np.testing.assert_allclose(np.asarray(taus[k]), expected, rtol=1e-5, atol=1e-4)
  assert np.any(np.abs(np.asarray(taus)) >= T - 1e-3)  # some joints saturate
  assert np.any(np.abs(np.asarray(taus)) < T - 1.0)  # and some do not
  np.testing.assert_allclose(np.asarray(out.qpos), np.asarray(ref.qpos), rtol=1e-6, atol=1e-6)
  np.testing.assert_array_equal(np.asarray(out.xfrc_applied), np.asarray(xfrc))
  assert not np.any(np.asarray(hits))  # standing height: the trunk is clear of the ground


def test_foot_velocities_match_finite_differences(sim):
  data = _state(sim, rng=3)
  data = data.replace(qvel=data.qvel.at[:6].set(jnp.array([0.3, -0.2, 0.1, 0.5, -0.4, 0.8])))
  fwd = jax.jit(lambda d: (lambda f: (sim.foot_positions(f), sim.foot_velocities(f)))(
      mjx.forward(sim.mjx_model, d)))
  pos, vel = (np.asarray(x) for x in fwd(data))
  # Central differences of the foot-site positions in MuJoCo C (float64), qpos moved along qvel.
  m = sim.mj_model
  d = mujoco.MjData(m)

  def sites(h):
    qpos = np.asarray(data.qpos, np.float64).copy()
    mujoco.mj_integratePos(m, qpos, np.asarray(data.qvel, np.float64), h)
    d.qpos[:] = qpos
    mujoco.mj_kinematics(m, d)
    return d.site_xpos[sim.foot_sites].copy()

  h = 1e-5
  fd = (sites(h) - sites(-h)) / (2 * h)
  np.testing.assert_allclose(pos, sites(0.0), atol=1e-5)
  np.testing.assert_allclose(vel, fd, rtol=1e-3, atol=2e-3)
  assert np.abs(fd).max() > 0.5  # the joints move the feet at m/s speeds


def test_randomisation_stays_in_its_ranges(sim):
  d = sim.randomization
  fields = jax.vmap(sim.randomize)(jax.random.split(jax.random.PRNGKey(0), 64))
  m = sim.mjx_model
  b = sim.base_body
  mass0 = float(m.body_mass[b])
  add = np.asarray(fields["body_mass"][:, b]) - mass0
  assert np.all((add >= d.base_mass_add[0]) & (add <= d.base_mass_add[1]))
  assert add.std() > 0.3  # sampled per env
  np.testing.assert_allclose(np.asarray(fields["body_inertia"][:, b]),
                             np.asarray(m.body_inertia[b])[None] * ((mass0 + add) / mass0)[:, None],
                             rtol=1e-5)
  shift = np.asarray(fields["body_ipos"][:, b] - m.body_ipos[b])
  assert np.all(np.abs(shift) <= np.asarray(d.com_shift) + 1e-6)
  others = np.setdiff1d(np.arange(m.nbody), [b])
  np.testing.assert_array_equal(np.asarray(fields["body_mass"][:, others]),
                                np.broadcast_to(np.asarray(m.body_mass[others]), (64, len(others))))
  friction = np.asarray(fields["geom_friction"][:, sim.foot_geoms, 0])
  assert np.all((friction >= 0.2) & (friction <= 1.25))
  assert np.all(friction == friction[:, :1])  # one bucket per env for all four feet
  buckets = np.asarray(sim.friction_buckets[:, 1])
  assert np.all(np.isin(friction[:, 0], buckets)) and len(np.unique(friction[:, 0])) > 10

  gains = jax.vmap(sim.sample_gains)(jax.random.split(jax.random.PRNGKey(1), (64, 3)))
  assert gains["kp"].shape == (64, 12)
  for key, nominal in (("kp", go2.KP), ("kd", go2.KD), ("strength", 1.0)):
    x = np.asarray(gains[key]) / nominal
    assert np.all((x >= 0.9 - 1e-6) & (x <= 1.1 + 1e-6)) and x.std() > 0.03, key
  wrench = np.asarray(jax.vmap(sim.sample_wrench)(jax.random.split(jax.random.PRNGKey(2), 64)))
  assert np.all(np.abs(wrench) <= 1.0) and np.abs(wrench).max() > 0.9


def test_disabled_randomisation_is_nominal():
  sim = go2_sim.Go2Sim("feet", None, randomization=go2_sim.RandomizationConfig(enabled=False))
  assert sim.randomize(jax.random.PRNGKey(0)) == {}
  gains = sim.sample_gains(jax.random.split(jax.random.PRNGKey(0), 3))
  np.testing.assert_array_equal(np.asarray(gains["kp"]), go2.KP)
  np.testing.assert_array_equal(np.asarray(gains["strength"]), 1.0)
  np.testing.assert_array_equal(np.asarray(sim.sample_wrench(jax.random.PRNGKey(0))), 0.0)


def test_contact_maps_and_base_probe(sim):
  assert sim.foot_contact.shape == (sim.contact_geoms.shape[0], 4)
  assert np.all(sim.foot_contact.sum(0) >= 1)  # every foot has a contact slot with the ground
  assert not sim.base_contact_slots.any()  # "feet": the trunk does not collide
  with pytest.raises(go2_sim.Go2SimError, match="exactly one of geoms= or bodies="):
    sim.contact_selector()
  scene = go2.load_model("feet_base", "flat")  # a ready scene (obstacle tasks build their own)
  body = go2_sim.Go2Sim(base_contact="force", scene=scene, solver_iterations=5)
  assert body.mj_model is scene and scene.opt.iterations == 5 and scene.opt.timestep == 0.005
  assert body.base_contact_slots.any()
  thigh = mujoco.mj_name2id(body.mj_model, mujoco.mjtObj.mjOBJ_BODY, "FL_thigh")
  assert body.contact_selector(bodies=[[thigh]]).sum() == 0  # not colliding in "feet_base"
  qpos = np.zeros(19, np.float32)
  qpos[3] = 1.0
  qpos[2] = 0.4
  assert not bool(sim.base_touches_ground(jnp.asarray(qpos)))
  qpos[2] = 0.05  # trunk box half height 0.057 m
  assert bool(sim.base_touches_ground(jnp.asarray(qpos)))


def test_bad_settings_are_one_sentence():
  with pytest.raises(go2_sim.Go2SimError, match="base_contact='force' needs colliding trunk"):
    go2_sim.Go2Sim("feet", None, base_contact="force")
  with pytest.raises(ValueError, match=r"base_contact \(env.termination.base_contact\) must be"):
    go2_sim.Go2Sim("feet", None, base_contact="touch")


def test_foot_contact_bookkeeping():
  air = jnp.array([0.0, 0.1, 0.3, 0.0])
  peak = jnp.array([0.0, 0.05, 0.12, 0.0])
  force = jnp.array([5.0, 3.0, 0.0, 0.5])  # FL stance, FR lands, RL swings, RR lifts off
  z = jnp.array([0.02, 0.03, 0.10, 0.08])
  f = gait.foot_contacts(air, peak, force, z, 0.02)
  np.testing.assert_array_equal(np.asarray(f.contact), [True, True, False, False])
  np.testing.assert_array_equal(np.asarray(f.first_contact), [False, True, False, False])
  np.testing.assert_allclose(np.asarray(f.air_time), [0.02, 0.12, 0.32, 0.02])
  np.testing.assert_allclose(np.asarray(f.peak_height), [0.02, 0.05, 0.12, 0.08])
  air2, peak2 = f.carry()
  np.testing.assert_allclose(np.asarray(air2), [0.0, 0.0, 0.32, 0.02])
  np.testing.assert_allclose(np.asarray(peak2), [0.0, 0.0, 0.12, 0.08])


def test_joint_target_is_reasans_action_map():
  a = jnp.arange(12, dtype=jnp.float32) / 10
  last = jnp.ones(12)
  target = motor.joint_target(a, last, motor.action_scale())
  u = 0.8 * np.asarray(a) + 0.2
  scale = np.array([0.125] * 4 + [0.25] * 8)
  np.testing.assert_allclose(np.asarray(target), go2.DEFAULT_POSE_REASAN + scale * u, rtol=1e-6)


# ----------------------------------------------------------------------------------------------
# one source of truth for the Go2's figures


def test_constants_are_the_spec_figures():
  # reasan-rl-core.md §13 (RandomDCMotor, Kp overwrite) and §14 (UNITREE_GO2_CFG); reasan-loco.md
  # "Action"; reasan-filter.md §1.4 / §6.5 repeat them.
  assert (go2.KP, go2.KD, go2.TORQUE_LIMIT, go2.VELOCITY_LIMIT) == (35.0, 0.5, 23.5, 30.0)
  assert go2.KP_RANGE == go2.KD_RANGE == go2.STRENGTH_RANGE == (0.9, 1.1)
  assert go2.SOFT_LIMIT_FACTOR == 0.9 and go2.SPAWN_HEIGHT == 0.4
  assert (go2.ACTION_SCALE, go2.HIP_ACTION_SCALE, go2.ACTION_BLEND) == (0.25, 0.5, 0.8)
  np.testing.assert_array_equal(
      go2.DEFAULT_POSE_REASAN, np.float32([0.1, -0.1, 0.1, -0.1, 0.8, 0.8, 1.0, 1.0, -1.5, -1.5,
                                           -1.5, -1.5]))


@pytest.mark.skipif(not REFERENCE.exists(), reason=f"{REFERENCE} (shared/reference) is absent.")
def test_spec_text_states_these_figures():
  core = (REFERENCE / "reasan-rl-core.md").read_text()
  for phrase in ("effort_limit 23.5", "velocity_limit 30.0 rad/s", "Kp = 35.0·U(0.9, 1.1)",
                 "Kd = 0.5·U(0.9, 1.1)", "motor_strengths_range (0.9, 1.1)",
                 "`soft_joint_pos_limit_factor` 0.9",
                 "[0.1, −0.1, 0.1, −0.1, 0.8, 0.8, 1.0, 1.0, −1.5, −1.5, −1.5, −1.5]",
                 "base position (0, 0, **0.4**)"):
    assert phrase in core, phrase
  assert "`target = default_joint_pos + 0.25·u`" in (REFERENCE / "reasan-filter.md").read_text()


def test_loco_config_reads_the_constants():
  cfg = loco.env_config()
  m = cfg.motor
  assert (m.kp, m.kd, m.torque_limit, m.velocity_limit) == (
      go2.KP, go2.KD, go2.TORQUE_LIMIT, go2.VELOCITY_LIMIT)
  assert (m.kp_range, m.kd_range, m.strength_range) == (
      go2.KP_RANGE, go2.KD_RANGE, go2.STRENGTH_RANGE)
  assert (cfg.action.scale, cfg.action.hip_scale, cfg.action.blend) == (
      go2.ACTION_SCALE, go2.HIP_ACTION_SCALE, go2.ACTION_BLEND)
  assert cfg.reset.height == go2.SPAWN_HEIGHT
  sim_motor = go2_sim.MotorConfig()
  assert (sim_motor.kp, sim_motor.kd, sim_motor.torque_limit) == (m.kp, m.kd, m.torque_limit)
