"""The navigation task (REASAN nav): reward terms vs a NumPy transcription of §5, the goal vector
in the yaw frame, the observation layout, the filter-then-loco chain (inputs, order, carries),
the curriculum, the grid / maze halves, episode metrics, bad input and a 2-iteration train smoke.

The env tests use a tiny world (2 x 2 sub-blocks, 4 x 4 maze) and recording stand-ins for the
frozen policies (no ONNX needed); one single-env reset/step is compiled and shared.
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasan_jax import registry
from reasan_jax.policies.policy import Policy, PolicyError
from reasan_jax.scenes import nav_worlds
from reasan_jax.tasks.nav import observations, rewards

PRETRAINED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference" / "pretrained"
LOCO, FILTER, NAV = (PRETRAINED / f"{n}_1.onnx" for n in ("loco", "filter", "nav"))
needs_shared = pytest.mark.skipif(not LOCO.exists(), reason="../shared/reference/pretrained "
                                  "(REASAN's ONNX files) is absent")


def _config(**changes):
  c = registry.get_config("nav", "cpu").env
  c.world.grid_blocks, c.world.maze_cells, c.world.num_pairs = 2, 4, 16
  c.obs.noise = False
  c.randomization.enabled = False
  c.randomization.pushes = False
  c.dynamic_obstacles.enabled = False
  for key, value in changes.items():
    section, name = key.split("__") if "__" in key else (None, key)
    (c[section] if section else c)[name] = value
  return c


# ------------------------------------------------------------------ recording frozen policies
def _recording_filter(gain=1.0):
  """A stand-in filter: f_t = gain * its command slot; its carry counts calls and keeps the
  last inputs."""
  def apply(p, obs, carry):
    del p
    out = {"n": carry["n"] + 1.0, "proprio": obs["proprio"], "rays": obs["rays"]}
    return gain * obs["proprio"][:, 6:9], out

  def init(b):
    return {"n": jnp.zeros((b, 1)), "proprio": jnp.zeros((b, 12)), "rays": jnp.zeros((b, 180))}
  return Policy(params={}, apply_fn=apply, init_carry_fn=init,
                obs_spec=(("proprio", (12,)), ("rays", (180,))), action_size=3, task="filter",
                source="recording filter")


def _recording_loco():
  """A stand-in loco policy: zero joint actions; its carry counts calls and keeps its input."""
  def apply(p, obs, carry):
    del p
    return jnp.zeros((obs["state"].shape[0], 12)), {"n": carry["n"] + 1.0, "state": obs["state"]}

  def init(b):
    return {"n": jnp.zeros((b, 1)), "state": jnp.zeros((b, 45))}
  return Policy(params={}, apply_fn=apply, init_carry_fn=init, obs_spec=(("state", (45,)),),
                action_size=12, task="loco", source="recording loco")


@pytest.fixture(scope="module")
def env():
  from reasan_jax.tasks.nav.env import NavEnv
  return NavEnv(_config(), filter_policy=_recording_filter(2.0), loco_policy=_recording_loco())


@pytest.fixture(scope="module")
def reset_and_step(env):
  return jax.jit(env.reset), jax.jit(env.step)


# ------------------------------------------------------------------ rewards (§5), no physics
def _np_terms(d, d_prev, tau, v, wz, a, a1, a2, f, g, u, ttc, bodies, done):
  """REASAN nav §5 written out in NumPy, weighted (before the x 0.02)."""
  unit = lambda x: x / (np.linalg.norm(x) + 1e-6)  # noqa: E731
  phi = np.deg2rad(-180.0 + 2.0 * np.arange(180))
  z = np.stack([np.cos(phi), np.sin(phi)], -1) @ v[:2] / 1e-4
  w = np.exp(z - z.max())
  ttc_vel = np.sum(w / w.sum() * ttc)
  vh = unit(v[:2])
  valid = np.linalg.norm(g) > 0.1
  align = unit(g) @ u
  far = d >= 2
  lim = np.array([2.5, 1.5, 3.0])
  return {
      "close_to_goal_1": 40 * (tau / 15) ** 2 * (d < 0.5),
      "close_to_goal_2": 15 * (tau / 15) ** 2 * (d < 1.0),
      "close_to_goal_3": 5 * (tau / 15) ** 2 * (d < 2.0),
      "stop_at_goal": -2 * np.sum(v[:2] ** 2) * (d < 2),
      "stay_at_goal": 5 * np.exp(-4 * np.linalg.norm([v[0], v[1], wz])) * np.exp(-2 * d) * (d < 2),
      "forward_vel": 0.5 * (vh[0] > 0.2 and far),
      "backward_vel": -4.0 * (vh[0] < -0.2 and far),
      "progress": 20 * max(0.0, d_prev - d),
      "follow_guide": 1.0 * (1.0 if (d < 2 or not valid) else float(align > 0.7)),
      "not_follow_guide": -5.0 * (valid and align < 0.1 and far),
      "bad_control": -0.5 * (1 - np.exp(-2 * np.sum((a - f) ** 2))),
      "time_spent": -5 * np.exp(-tau) * far,
      "action_rate": -0.01 * np.sum((a - a1) ** 2),
      "action_smoothness": -0.01 * np.sum((a - 2 * a1 + a2) ** 2),
      "cmd_limits": -10 * np.sum(np.maximum(np.abs(a) - lim, 0) ** 2),
      "collision": -100.0 * bodies,
      "termination": -100.0 * (done and d > 2),
      "ttc": -0.5 * np.exp(-2 * ttc.min()),
      "bad_vel": -2 * np.exp(-2 * ttc_vel),
  }


def test_reward_terms_match_numpy_transcription():
  cfg = _config()
  weights = {k: float(cfg.reward_scales[k]) for k in rewards.TERMS}
  assert len(rewards.TERMS) == 19 and set(weights) == set(cfg.reward_scales)
  fn = jax.jit(lambda **kw: rewards.terms(cfg.rewards, limits=jnp.array([2.5, 1.5, 3.0]), **kw))
  rng = np.random.default_rng(0)
  seen = {k: False for k in rewards.TERMS}
  for i in range(64):
    d = float(rng.choice([rng.uniform(0, 0.5), rng.uniform(0.5, 2.5), rng.uniform(2, 8)]))
    guide = [np.zeros(2), np.array([1.0, 0.0]), np.array([0.0, -1.0])][i % 3]
    s = dict(d=d, d_prev=d + rng.uniform(-0.1, 0.1), tau=rng.uniform(0, 15),
             v=rng.normal(size=3), wz=rng.normal(), a=rng.normal(size=3) * 2,
             a1=rng.normal(size=3), a2=rng.normal(size=3), f=rng.normal(size=3), g=guide,
             u=(lambda x: x / np.linalg.norm(x))(rng.normal(size=2)),
             ttc=rng.uniform(0, 3, 180), bodies=float(rng.integers(0, 2)),
             done=bool(rng.integers(0, 2)))
    want = _np_terms(**s)
    jin = {k: (jnp.asarray(v, jnp.float32) if k != "done" else jnp.asarray(v))
           for k, v in s.items() if k != "ttc"}
    jin["ttc_field"] = jnp.asarray(s["ttc"], jnp.float32)
    jin["ttc_vel"] = jax.jit(rewards_ttc_vel)(jin["ttc_field"], jin["v"][:2])
    bodies = jin.pop("bodies")
    got = fn(**jin, bodies=bodies)
    for k in rewards.TERMS:
      # bad_vel: the 1e-4-temperature softmax is sensitive to float32 rounding of v . u_k.
      rtol = 2e-3 if k == "bad_vel" else 2e-4
      np.testing.assert_allclose(float(got[k]) * weights[k], want[k], rtol=rtol, atol=2e-5,
                                 err_msg=k)
      seen[k] |= abs(want[k]) > 0
  assert all(seen.values()), [k for k, v in seen.items() if not v]


def rewards_ttc_vel(ttc, v):
  from reasan_jax.sensors import features
  return features.weighted_ttc(ttc, v)


# ------------------------------------------------------------------ goal vector (§1.3, §2)
def test_goal_vector_is_in_the_yaw_frame():
  rng = np.random.default_rng(1)
  for _ in range(8):
    yaw, roll, pitch = rng.uniform(-np.pi, np.pi), rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3)
    # (w, x, y, z) of R = Rz(yaw) Ry(pitch) Rx(roll)
    cy, sy, cp, sp, cr, sr = (np.cos(yaw / 2), np.sin(yaw / 2), np.cos(pitch / 2),
                              np.sin(pitch / 2), np.cos(roll / 2), np.sin(roll / 2))
    quat = np.array([cr * cp * cy + sr * sp * sy, sr * cp * cy - cr * sp * sy,
                     cr * sp * cy + sr * cp * sy, cr * cp * sy - sr * sp * cy])
    base, goal = rng.normal(size=3) * 5, rng.normal(size=2) * 5
    want = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]]) @ (goal - base[:2])
    got = observations.goal_in_yaw_frame(jnp.asarray(base), jnp.asarray(quat), jnp.asarray(goal))
    np.testing.assert_allclose(got, want, atol=1e-4)
  # A goal straight ahead of a robot facing +y reads (+d, 0).
  q = np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
  np.testing.assert_allclose(observations.goal_in_yaw_frame(
      jnp.zeros(3), jnp.asarray(q), jnp.array([0.0, 3.0])), [3.0, 0.0], atol=1e-5)


# ------------------------------------------------------------------ observation layout (§2)
def test_observation_layout_on_a_scripted_state(env, reset_and_step):
  reset, _ = reset_and_step
  state = reset(jax.random.PRNGKey(3))
  assert {k: v.shape for k, v in state.obs.items()} == {k: v for k, v in
                                                         observations.OBS_SIZES.items()}
  assert sum(v[0] for v in observations.OBS_SIZES.values()) == 736
  data = state.data
  yaw = 0.7
  quat = jnp.array([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)])
  qvel = data.qvel.at[:6].set(jnp.array([0.5, -0.2, 0.0, 0.1, -0.3, 0.8]))
  data = data.replace(qpos=data.qpos.at[3:7].set(quat), qvel=qvel)
  info = state.info
  sensing = env._sense(data, info, jax.random.PRNGKey(0))
  guide = nav_worlds.guide_vector(env.world, info["region"], info["pair"], data.qpos[:2])
  goal_b = observations.goal_in_yaw_frame(data.qpos[:3], quat, info["goal"])
  a = jnp.array([0.3, -0.4, 0.5])
  obs = observations.observe(data, goal_b, a, guide, sensing, env.config.obs, jax.random.PRNGKey(1))
  p, priv = np.asarray(obs["proprio"]), np.asarray(obs["privileged"])
  np.testing.assert_allclose(p[0:3], 0.25 * np.array([0.1, -0.3, 0.8]), atol=1e-6)
  np.testing.assert_allclose(p[3:6], [0, 0, -1], atol=1e-6)  # upright
  rel = np.asarray(info["goal"] - data.qpos[:2])
  np.testing.assert_allclose(p[6:8], [np.cos(yaw) * rel[0] + np.sin(yaw) * rel[1],
                                      -np.sin(yaw) * rel[0] + np.cos(yaw) * rel[1]], atol=1e-5)
  np.testing.assert_allclose(p[8:11], a)
  v_world = np.array([0.5, -0.2])
  np.testing.assert_allclose(priv[0:2], [np.cos(yaw) * v_world[0] + np.sin(yaw) * v_world[1],
                                         -np.sin(yaw) * v_world[0] + np.cos(yaw) * v_world[1]],
                             atol=1e-5)
  np.testing.assert_allclose(priv[3:5], guide)  # world frame, not rotated by the yaw
  assert np.linalg.norm(guide) in (0.0, 1.0) or abs(np.linalg.norm(guide) - 1) < 1e-6
  np.testing.assert_allclose(obs["rays"], sensing.actor_rays)
  np.testing.assert_allclose(obs["critic_rays"], np.asarray(sensing.scan.distance[:3]).reshape(-1) / 6,
                             rtol=1e-6)


# ------------------------------------------------------------------ the frozen chain (§1.3)
def test_chain_order_inputs_and_carries(env, reset_and_step):
  reset, step = reset_and_step
  state = reset(jax.random.PRNGKey(5))
  info = state.info
  assert float(info["filter_carry"]["n"][0, 0]) == 0 and float(info["loco_carry"]["n"][0, 0]) == 0
  a1 = jnp.array([0.6, -0.2, 0.4])
  rays0 = state.obs["rays"]
  ang0 = state.data.qvel[3:6]
  s1 = step(state, a1)
  fc, lc = s1.info["filter_carry"], s1.info["loco_carry"]
  assert float(fc["n"][0, 0]) == 1 and float(lc["n"][0, 0]) == 1  # once per step
  np.testing.assert_allclose(fc["proprio"][0, 6:9], a1)  # the nav action in the command slot
  np.testing.assert_allclose(fc["proprio"][0, 9:12], 0.0)  # f_{t-1} = 0 after reset
  np.testing.assert_allclose(fc["proprio"][0, 0:3], 0.25 * ang0, atol=1e-6)  # pre-physics, no noise
  np.testing.assert_allclose(fc["rays"][0], rays0)  # the previous observation's actor rays
  # loco command = clamp(f_t, (2.5, 1.5, 3.0)) * (2, 2, 0.25), f_t = 2 a_t (the stand-in filter).
  np.testing.assert_allclose(lc["state"][0, 6:9], np.clip(2 * np.asarray(a1), -np.array(
      [2.5, 1.5, 3.0]), [2.5, 1.5, 3.0]) * [2, 2, 0.25], atol=1e-6)
  np.testing.assert_allclose(s1.info["filter_action"], 2 * a1, atol=1e-6)
  a2 = jnp.array([2.0, 1.0, -2.0])
  s2 = step(s1, a2)
  fc, lc = s2.info["filter_carry"], s2.info["loco_carry"]
  assert float(fc["n"][0, 0]) == 2 and float(lc["n"][0, 0]) == 2
  np.testing.assert_allclose(fc["proprio"][0, 9:12], 2 * a1, atol=1e-6)  # f_{t-1}
  np.testing.assert_allclose(fc["rays"][0], s1.obs["rays"])
  np.testing.assert_allclose(lc["state"][0, 6:9], [5.0, 3.0, -0.75], atol=1e-6)  # clamped (4, 2, -4)
  np.testing.assert_allclose(s2.obs["proprio"][8:11], a2)  # a_t in the next observation
  fresh = reset(jax.random.PRNGKey(6), env.persistent(s2))
  assert float(fresh.info["filter_carry"]["n"][0, 0]) == 0
  assert float(fresh.info["loco_carry"]["n"][0, 0]) == 0
  np.testing.assert_allclose(fresh.info["filter_action"], 0.0)


def test_one_sensing_pass_and_rewards_read_the_previous_observation(env, reset_and_step):
  """REASAN's one-step lag (REASAN nav §10 item 3, adopted): the rewards of step t read the TTC
  field and guide vector stored by the previous observation (``info["ttc"]``, ``info["guide"]``);
  ``observe`` refreshes them from the post-step state; ``advance`` keeps the previous rays."""
  reset, step = reset_and_step
  s0 = reset(jax.random.PRNGKey(5))
  data = s0.data
  sensed = env._sense(data, s0.info, None)
  np.testing.assert_allclose(s0.info["ttc"], sensed.ttc)
  np.testing.assert_allclose(s0.info["guide"], nav_worlds.guide_vector(
      env.world, s0.info["region"], s0.info["pair"], data.qpos[:2]))
  a = jnp.array([0.5, 0.0, 0.0])
  near, far = (s0.replace(info={**s0.info, "ttc": jnp.full((180,), t)}) for t in (0.1, 0.4))
  r_near, r_far = (float(step(s, a).metrics["reward/ttc"]) for s in (near, far))
  assert r_near < r_far < 0
  np.testing.assert_allclose(r_near / r_far, np.exp(-2 * 0.1) / np.exp(-2 * 0.4), rtol=1e-4)
  adv = jax.jit(env.advance)(s0, a)
  np.testing.assert_allclose(adv.obs["rays"], s0.obs["rays"])  # final obs: previous rays
  s1 = jax.jit(env.observe)(adv)
  np.testing.assert_allclose(s1.info["ttc"], env._sense(s1.data, s1.info, None).ttc, atol=1e-5)
  np.testing.assert_allclose(adv.obs["proprio"][:8], s1.obs["proprio"][:8], atol=1e-6)


def test_contacts_small_cull_matches_the_ray_cull(env):
  """The contact cull (``NavEnv._contacts``, its own k nearest within 1 m) gives the contacts of
  the ray cast's cull (``pipeline.sense`` with shapes) at poses pressed into walls."""
  vals = []
  for i, xy in enumerate(np.asarray(env.world.spawn[:, :4]).reshape(-1, 2)):
    for dx in (-0.6, -0.3, 0.3, 0.6):
      data = env.sim.spawn(jnp.array([xy[0] + dx, xy[1] + 0.6 * (i % 2 - 0.5), 0.3]), 0.3 * i,
                           env.sim.default_pose)
      vals.append(data)
  small = [np.asarray(env._contacts(d, {})) for d in vals]
  big = [np.asarray(env._sense(d, {}, None, contacts=True).contacts) for d in vals]
  for a, b in zip(small, big):
    np.testing.assert_array_equal(a, b)
  assert sum(bool(a.any()) for a in small) >= 3  # some poses do touch a wall


def test_reset_spawn_goal_and_distances(env, reset_and_step):
  reset, _ = reset_and_step
  for region in (nav_worlds.GRID, nav_worlds.MAZE):
    p = env.first_persistent(jax.random.PRNGKey(0), region)
    s = reset(jax.random.PRNGKey(11), p)
    spawn = np.asarray(s.info["start_xy"])
    np.testing.assert_allclose(s.data.qpos[:2], spawn)
    assert abs(float(s.data.qpos[2]) - 0.4) < 1e-6
    k = int(s.info["pair"])
    np.testing.assert_allclose(spawn, env.world.spawn[region, k])
    off = np.abs(np.asarray(s.info["goal"]) - np.asarray(env.world.goal[region, k]))
    assert (off <= 0.25 + 1e-6).all() and (region == nav_worlds.GRID or off.max() == 0)
    np.testing.assert_allclose(s.info["last_dist"], np.linalg.norm(s.info["goal"] - spawn),
                               rtol=1e-6)


def test_grid_and_maze_halves(env):
  for n, grid in ((4, 2), (5, 2), (7, 3), (1, 0)):
    p = env.initial_persistent(jax.random.PRNGKey(0), n)
    region = np.asarray(p["region"])
    assert (region[:grid] == nav_worlds.GRID).all() and (region[grid:] == nav_worlds.MAZE).all()
    assert np.asarray(p["terrain_level"]).tolist() == [0] * n


def test_vec_env_takes_the_batch_first_persistent_values():
  """``VecEnv.reset`` hands ``Env.initial_persistent`` (index-dependent values, the nav halves)
  to each env's first reset; explicit ``persistent`` values still win."""
  from reasan_jax.core.env import Env, State
  from reasan_jax.core.wrappers import VecEnv

  class Indexed(Env):
    action_size = 1

    def initial_persistent(self, rng, num_envs):
      return {"k": jnp.arange(num_envs)}

    def reset(self, rng, persistent=None):
      k = jnp.asarray(-1) if persistent is None else persistent["k"]
      z = jnp.zeros(())
      return State(data={"x": z}, obs={"state": z[None]}, reward=z, done=z, truncation=z,
                   metrics={}, info={"k": k})

    def step(self, state, action):
      return state

  vec = VecEnv(Indexed(), 3, randomize=False)
  assert vec.reset(jax.random.PRNGKey(0)).info["k"].tolist() == [0, 1, 2]
  given = vec.reset(jax.random.PRNGKey(0), {"k": jnp.array([7, 7, 7])})
  assert given.info["k"].tolist() == [7, 7, 7]


def test_curriculum(env, reset_and_step):
  reset, _ = reset_and_step
  s = reset(jax.random.PRNGKey(2))

  def level_after(level, d_end, d_0):
    info = {**s.info, "terrain_level": jnp.asarray(level, jnp.int32),
            "last_dist": jnp.asarray(d_end), "start_dist": jnp.asarray(d_0)}
    return int(env.persistent(s.replace(info=info))["terrain_level"])

  assert level_after(3, 1.5, 6.0) == 4  # d_end < 2: promoted
  assert level_after(3, 3.5, 6.0) == 2  # d_end > 0.5 d_0: demoted
  assert level_after(3, 2.5, 6.0) == 3  # neither
  assert level_after(0, 5.0, 6.0) == 0  # clipped at 0
  assert 0 <= level_after(9, 0.3, 6.0) < 10  # 10 wraps to a random level


def test_episode_metrics(env):
  m = env._episode_metrics(jnp.asarray(True), jnp.asarray(False), jnp.asarray(True),
                           jnp.asarray(False), jnp.asarray(0.8), jnp.asarray(6.5),
                           jnp.array([0.3, 0.4]), env.sim.spawn(jnp.zeros(3), 0.0,
                                                                env.sim.default_pose))
  assert float(m["final_distance"]) == pytest.approx(0.8)
  assert (float(m["arrived_0.5m"]), float(m["arrived_1m"]), float(m["arrived_2m"])) == (0, 1, 1)
  assert float(m["time_to_1m"]) == pytest.approx(6.5) and float(m["reached_1m"]) == 1
  assert float(m["path_length"]) == pytest.approx(0.5) and float(m["time_out"]) == 1
  never = env._episode_metrics(jnp.asarray(True), jnp.asarray(True), jnp.asarray(False),
                               jnp.asarray(True), jnp.asarray(4.0), jnp.asarray(-1.0),
                               jnp.zeros(2), env.sim.spawn(jnp.zeros(3), 0.0,
                                                           env.sim.default_pose))
  assert float(never["time_to_1m"]) == pytest.approx(15.0) and float(never["reached_1m"]) == 0
  assert float(never["collision"]) == 1


# ------------------------------------------------------------------ bad input
def test_missing_frozen_policies_are_one_sentence():
  from reasan_jax.tasks.nav.env import NavConfigError, NavEnv
  c = registry.get_config("nav", "cpu").env
  with pytest.raises(NavConfigError, match="--config.env.filter_policy") as e:
    NavEnv(c)
  assert str(e.value).count(". ") == 0 and "\n" not in str(e.value)
  c.filter_policy = "x.onnx"
  with pytest.raises(NavConfigError, match="--config.env.loco_policy"):
    NavEnv(c, filter_policy=_recording_filter())
  c.world.maze_cellz = 3
  with pytest.raises(NavConfigError, match="env.world.maze_cellz"):
    NavEnv(c)


@needs_shared
@pytest.mark.parametrize("filter_src,loco_src,role", [
    (LOCO, LOCO, "frozen filter policy"), (NAV, LOCO, "frozen filter policy"),
    (FILTER, FILTER, "frozen loco policy")])
def test_wrong_kind_of_frozen_policy_is_named(filter_src, loco_src, role):
  from reasan_jax.tasks.nav.env import load_frozen_policies
  c = _config(filter_policy=str(filter_src), loco_policy=str(loco_src))
  with pytest.raises(PolicyError, match=role) as e:
    load_frozen_policies(c)
  assert "\n" not in str(e.value)


@needs_shared
def test_reasan_onnx_pair_loads_and_nav_onnx_fits_the_observation():
  from reasan_jax.policies.load import load_policy
  from reasan_jax.tasks.nav.env import load_frozen_policies
  filt, loco = load_frozen_policies(_config(filter_policy=str(FILTER), loco_policy=str(LOCO)))
  assert (filt.task, loco.task) == ("filter", "loco")
  load_policy(str(NAV)).check_fits(observations.OBS_SIZES, 3, role="nav policy")


# ------------------------------------------------------------------ train smoke (CLI)
@needs_shared
def test_train_cli_two_iterations(tmp_path, monkeypatch):
  from reasan_jax.cli import train
  monkeypatch.chdir(tmp_path)
  rc = train.main(["--config", "nav:cpu", f"--config.env.filter_policy={FILTER}",
                   f"--config.env.loco_policy={LOCO}", "--config.env.world.grid_blocks=2",
                   "--config.env.world.maze_cells=4", "--config.env.world.num_pairs=16",
                   "--config.ppo.num_envs=4", "--config.ppo.num_minibatches=2",
                   "--config.ppo.num_epochs=1", "--config.run.num_iterations=2",
                   "--config.run.iterations_per_call=1", "--run_name", "nav_smoke"])
  assert rc in (0, None)
  run = tmp_path / "runs" / "nav_smoke"
  header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
  for col in ("episode/final_distance", "episode/arrived_1m", "episode/time_to_1m",
              "episode/path_length", "episode/collision", "episode/reward/progress",
              "env/terrain_level", "env/active_obstacles"):
    assert col in header, col
  assert any((run / "checkpoints").iterdir())


# ------------------------------------------------------------------ predicted rays (§8.6)
def _stub_estimator(grid, imu):
  """(B, H, 30, 180), (B, H, 6) -> (B, 180): the newest grid's per-azimuth minimum plus imu."""
  return jnp.min(grid[:, -1], axis=1) + 0.01 * imu[:, -1, :1]


def test_predicted_rays_replace_the_nav_actor_rays():
  """With ``env.use_pred_rays`` the nav actor rays are the frozen estimator's output on the
  Mid-360 histories (shared ``Mid360Module.observe``, as the filter env); the critic rays stay
  the ray cast's and the Mid-360 cull of the pillar world is exact (<= env.mid360.num_static)."""
  import unittest.mock
  from reasan_jax.sensors import lidar_grid
  from reasan_jax.tasks.common import lidar
  from reasan_jax.tasks.nav.env import NavEnv

  fake = lidar.Estimator(apply=_stub_estimator, history=lidar_grid.HISTORY, source="stub")
  with unittest.mock.patch.object(lidar, "load_estimator", lambda path: fake):
    env = NavEnv(_config(use_pred_rays=True, estimator="stub"),
                 filter_policy=_recording_filter(1.0), loco_policy=_recording_loco())
  assert env.lidar is not None and env.lidar.num_static == 320
  step = jax.jit(env.step)
  s0 = jax.jit(env.reset)(jax.random.PRNGKey(1))
  np.testing.assert_allclose(s0.obs["rays"], env.lidar.reset_rays(), atol=1e-6)
  s2 = step(step(s0, jnp.array([0.3, 0.0, 0.0])), jnp.array([0.3, 0.0, 0.0]))
  np.testing.assert_allclose(s2.obs["rays"], env.lidar.predicted_rays(s2.info["mid360"]),
                             atol=1e-5)
  grid, imu = lidar_grid.estimator_inputs(s2.info["mid360"]["history"])
  np.testing.assert_allclose(s2.obs["rays"], _stub_estimator(grid[None], imu[None])[0], atol=1e-5)
  assert not np.allclose(s2.obs["rays"], s2.info["mid360"]["gt_rays"])  # not the cast rays
  assert 0 < int(s2.info["mid360"]["cull_count"]) <= 320
  assert "mid360_cursor" in env.persistent(s2)
