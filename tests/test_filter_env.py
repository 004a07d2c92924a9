"""The safety-filter task (REASAN filter): observations, rewards, resets, commands, frozen loco
policy, bad input, and a small sim2sim with REASAN's filter_1 on loco_1."""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasan_jax import registry
from reasan_jax.policies import frozen
from reasan_jax.policies.policy import PolicyError
from reasan_jax.scenes import dynamic_obstacles as dyn
from reasan_jax.tasks.filter import commands, observations
from reasan_jax.tasks.loco.env import policy_observation

PRETRAINED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference" / "pretrained"
LOCO = PRETRAINED / "loco_1.onnx"
FILTER = PRETRAINED / "filter_1.onnx"
needs_shared = pytest.mark.skipif(not LOCO.exists(), reason="../shared/reference/pretrained "
                                  "(REASAN's ONNX files) is absent")


def _config(**changes):
  c = registry.get_config("filter", "cpu").env
  c.loco_policy = str(LOCO)
  c.obs.noise = False
  c.randomization.enabled = False
  c.randomization.pushes = False
  for key, value in changes.items():
    section, name = key.split("__") if "__" in key else (None, key)
    (c[section] if section else c)[name] = value
  return c


@pytest.fixture(scope="module")
def env():
  from reasan_jax.tasks.filter.env import FilterEnv
  return FilterEnv(_config())


@pytest.fixture(scope="module")
def reset_and_step(env):
  return jax.jit(env.reset), jax.jit(env.step)


# ------------------------------------------------------------------ rewards (§4.2), no physics
def _np_weighted_ttc(ttc, x):
  phi = np.deg2rad(-180.0 + 2.0 * np.arange(180))
  u = np.stack([np.cos(phi), np.sin(phi)], -1)
  z = u @ x / 1e-4
  w = np.exp(z - z.max())
  return float(np.sum(w / w.sum() * ttc))


def _np_terms(c, v, wz, a, a1, a2, ttc, bodies):
  unit = lambda x: x / (np.linalg.norm(x) + 1e-6)
  lim = np.array([2.5, 1.5, 3.0])
  return {
      "track_lin_vel": 4.0 * np.exp(-4 * np.sum((c[:2] - v) ** 2)),
      "track_ang_vel": 3.0 * np.exp(-2 * (c[2] - wz) ** 2),
      "action_rate_high": -0.01 * np.sum((a - a1) ** 2),
      "action_smoothness_high": -0.01 * np.sum((a - 2 * a1 + a2) ** 2),
      "cmd_limits": -10 * np.sum(np.maximum(np.abs(a) - lim, 0) ** 2),
      "collision": -100.0 * bodies,
      "bad_vel_move": -5.0 * float(_np_weighted_ttc(ttc, c[:2]) > 2.0
                                   and np.linalg.norm(c[:2]) >= 0.2
                                   and unit(v) @ unit(c[:2]) < -0.25),
      "bad_vel_still": -5.0 * float(np.linalg.norm(v) > 0.2 and np.linalg.norm(c[:2]) < 0.2
                                    and ttc.min() > 2.5),
      "bad_vel": -1.0 * np.exp(-2 * _np_weighted_ttc(ttc, v)),
  }


@needs_shared
def test_reward_terms_match_numpy_transcription(env):
  rng = np.random.default_rng(0)
  n = 48
  c = rng.uniform(-2, 2, (n, 3)) * (rng.uniform(size=(n, 1)) > 0.2)
  c[:8, :2] *= 0.05  # some "stand still" commands
  v = rng.uniform(-1.5, 1.5, (n, 2))
  v[8:16] = -c[8:16, :2]  # moving against the command
  wz = rng.uniform(-2, 2, n)
  a, a1, a2 = (rng.uniform(-4, 4, (n, 3)) for _ in range(3))
  ttc = np.where(rng.uniform(size=(n, 180)) < 0.5, 3.0, rng.uniform(0, 3, (n, 180)))
  ttc[16:24] = 3.0  # nothing imminent
  ttc[:4] = 3.0  # told to stand, nothing imminent
  bodies = rng.integers(0, 3, n)
  arrs = [jnp.asarray(x, jnp.float32) for x in (c, v, wz, a, a1, a2, ttc, bodies)]
  got = jax.jit(jax.vmap(env._terms))(*arrs)  # float32 softmax logits ~1e4: rtol 5e-3
  weights = {k: float(env.config.reward_scales[k]) for k in got}
  for i in range(n):
    want = _np_terms(c[i], v[i], wz[i], a[i], a1[i], a2[i], ttc[i], bodies[i])
    for k, value in want.items():
      np.testing.assert_allclose(float(got[k][i]) * weights[k], value, rtol=5e-3, atol=1e-5,
                                 err_msg=f"{k} of state {i}")
  fired = {k: np.mean([_np_terms(c[i], v[i], wz[i], a[i], a1[i], a2[i], ttc[i], bodies[i])[k]
                       != 0 for i in range(n)]) for k in ("bad_vel_move", "bad_vel_still")}
  assert all(f > 0 for f in fired.values()), fired  # the indicator terms are exercised


# ------------------------------------------------------------------ observations (§2)
@needs_shared
def test_observation_layout_on_open_ground_with_a_scripted_obstacle():
  from reasan_jax.tasks.filter.env import FilterEnv
  env = FilterEnv(_config(terrain_config__static_obstacles=False,
                          dynamic_obstacles__enabled=True))
  state = jax.jit(env.reset)(jax.random.PRNGKey(3))
  data, info = state.data, state.info
  assert {k: v.shape for k, v in state.obs.items()} == observations.OBS_SIZES
  rot, gravity, lin, ang = (np.asarray(x) for x in observations.base_frame(data))
  p = np.asarray(state.obs["proprio"])
  np.testing.assert_allclose(p[:3], 0.25 * np.asarray(data.qvel[3:6]), atol=1e-6)
  np.testing.assert_allclose(p[3:6], rot.T @ np.array([0, 0, -1.0]), atol=1e-6)
  np.testing.assert_allclose(p[6:9], np.asarray(info["command"]))
  np.testing.assert_array_equal(p[9:12], 0.0)  # previous filter action zeroed at reset
  np.testing.assert_allclose(state.obs["privileged"], np.r_[lin, 0, 0, 0], atol=1e-6)
  # Open ground and obstacles parked or not yet near: rays read 3 m -> 1.0 unless an obstacle hits.
  # Scripted scene: one 0.4 m box 2 m straight ahead at base height, charging at 1 m/s.
  yaw = float(jnp.arctan2(rot[1, 0], rot[0, 0]))
  head = np.array([np.cos(yaw), np.sin(yaw)])
  base = np.asarray(data.qpos[:3])
  box = dyn.DynamicObstacles(
      shape=jnp.array([2]), wp_a=jnp.asarray([base[:2] + 2 * head]),
      wp_b=jnp.asarray([base[:2] - 8 * head]), xy=jnp.asarray([base[:2] + 2 * head]),
      z=jnp.array([base[2]]), yaw=jnp.array([yaw]), speed=jnp.array([1.0]),
      active=jnp.array([True]))
  sensing = env._sense(data, {**info, "obstacles": box}, None)
  obs = observations.observe(data, info["command"], jnp.zeros(3), sensing, env.config.obs,
                             jax.random.PRNGKey(0))
  rays = np.asarray(obs["rays"])
  np.testing.assert_allclose(rays[90], 1.8 / 3.0, atol=1e-4)  # 2 m - 0.2 m half side, / 3
  np.testing.assert_allclose(rays[88], 1.8 / np.cos(np.deg2rad(4)) / 3.0, atol=1e-4)  # -4 deg
  np.testing.assert_allclose(rays[0], 1.0)  # straight back: miss -> 6 m, clipped to 3 m, / 3
  critic = np.asarray(obs["critic_rays"]).reshape(3, 180)
  np.testing.assert_allclose(critic[0, 90], 1.8 / 6.0, atol=1e-4)
  np.testing.assert_allclose(critic[1, 90], np.hypot(1.8, 0.1) / 6.0, atol=1e-4)  # layer +0.1 m
  np.testing.assert_allclose(critic[0, 0], 1.0)
  assert int(sensing.min_class[90]) == 1
  np.testing.assert_allclose(float(sensing.ttc[90]), 1.8, rtol=1e-3)  # closing at 1 m/s
  np.testing.assert_allclose(float(sensing.ttc[0]), 3.0)


# ------------------------------------------------------------------ reset (§5.2) and loco carry
@needs_shared
def test_reset_state_and_loco_carry_advances_once_per_step(env, reset_and_step):
  reset, step = reset_and_step
  state = reset(jax.random.PRNGKey(1))
  info = state.info
  for k in ("last_action", "last_action2", "loco_action"):
    np.testing.assert_array_equal(info[k], 0.0)
  for leaf in jax.tree.leaves(info["loco_carry"]):
    np.testing.assert_array_equal(leaf, 0.0)
  assert int(info["step"]) == 0 and int(info["terrain_level"]) == 0
  np.testing.assert_allclose(state.data.qpos[:2], info["start_xy"])
  np.testing.assert_allclose(float(state.data.qpos[2]), 0.5)  # spawn point + 0.5 m
  np.testing.assert_array_equal(state.data.qvel, 0.0)
  spawn = np.asarray(env.world.spawn)
  assert np.min(np.linalg.norm(spawn - np.asarray(info["start_xy"]), axis=1)) < 1e-6

  action = jnp.array([0.7, -2.0, 4.0])  # beyond the vy / wz limits: clamped for the loco policy
  loco_obs = policy_observation(state.data, jnp.array([0.7, -1.5, 3.0]), jnp.zeros(12),
                                env.config.loco_obs)
  want_action, want_carry = frozen.act(env.loco_policy, {"state": loco_obs},
                                       frozen.initial_carry(env.loco_policy))
  nxt = step(state, action)
  for got, want in zip(jax.tree.leaves(nxt.info["loco_carry"]), jax.tree.leaves(want_carry)):
    np.testing.assert_allclose(got, want, atol=1e-5)
  np.testing.assert_allclose(nxt.info["loco_action"], want_action, atol=1e-5)
  np.testing.assert_allclose(nxt.obs["proprio"][9:12], action)  # raw, unclipped
  assert int(nxt.info["step"]) == 1
  # A reset with carried-over values zeroes the loco state again (REASAN quirk #6 fixed).
  again = reset(jax.random.PRNGKey(2), env.persistent(nxt))
  for leaf in jax.tree.leaves(again.info["loco_carry"]) + [again.info["loco_action"]]:
    np.testing.assert_array_equal(leaf, 0.0)


@needs_shared
def test_rewards_read_the_previous_observations_ttc(env, reset_and_step):
  """REASAN filter §1.1b / §4.1: the rewards of step t use the TTC field computed by the
  observation at the end of step t - 1 (info["ttc"]), and the step's own observation refreshes it."""
  reset, step = reset_and_step
  state = reset(jax.random.PRNGKey(4))
  np.testing.assert_allclose(state.info["ttc"].shape, (180,))
  action = jnp.zeros(3)
  for ttc in (0.25, 1.5):
    planted = state.replace(info={**state.info, "ttc": jnp.full(180, ttc)})
    nxt = step(planted, action)
    # TTC(v) of a constant field is that constant whatever v: bad_vel = -1 exp(-2 ttc) x dt.
    np.testing.assert_allclose(float(nxt.metrics["reward/bad_vel"]), -np.exp(-2 * ttc) * 0.02,
                               rtol=1e-5)
    assert not np.allclose(nxt.info["ttc"], ttc)  # refreshed by this step's observation


@needs_shared
def test_contact_cull_matches_the_ray_cull(env):
  """The contacts' own 3 x 3 cell cull finds the same body contacts as the first entries of the
  6.45 m ray cull (what the contacts used before), on robots placed against static boxes."""
  from mujoco import mjx
  from reasan_jax.scenes import obstacles
  from reasan_jax.sensors import collisions

  boxes = obstacles.world_boxes(env.world)
  rng = np.random.default_rng(0)
  pick = rng.choice(len(boxes["center"]), 48, replace=False)
  ang = rng.uniform(0, 2 * np.pi, 48)
  dist = np.max(boxes["half"][pick, :2], axis=1) + rng.uniform(0.0, 0.5, 48)
  xy = boxes["center"][pick, :2] + dist[:, None] * np.stack([np.cos(ang), np.sin(ang)], -1)
  base = env.reset(jax.random.PRNGKey(0)).data

  @jax.jit
  @jax.vmap
  def both(p, yaw):
    q = base.qpos.at[:2].set(p).at[2].set(0.3).at[3:7].set(
        jnp.array([jnp.cos(yaw / 2), 0, 0, jnp.sin(yaw / 2)]))
    data = mjx.kinematics(env.sim.mjx_model, base.replace(qpos=q))
    near, _ = obstacles.nearby_static(env.world, p, env.sensor_config.num_static)
    old = collisions.body_contacts(env.shapes, data.geom_xpos, data.geom_xmat,
                                   jax.tree.map(lambda a: a[:env.sensor_config.num_contact], near))
    return env._contacts(data, {}), old  # pylint: disable=protected-access

  new, old = (np.asarray(x) for x in both(jnp.asarray(xy, jnp.float32),
                                          jnp.asarray(rng.uniform(-np.pi, np.pi, 48))))
  assert 5 <= old.any(1).sum() < 48  # a meaningful mix of touching and free robots
  np.testing.assert_array_equal(new, old)


@needs_shared
def test_curriculum_levels(env):
  def level_after(level, steps):
    info = {"step": jnp.asarray(steps), "terrain_level": jnp.asarray(level),
            "rng": jax.random.PRNGKey(level), "gains": {}, "returning": jnp.asarray(False),
            "obstacle_shape": jnp.zeros(3, jnp.int32)}
    return int(env.persistent(type("S", (), {"info": info})())["terrain_level"])

  assert level_after(3, 1000) == 4  # time-out: up
  assert level_after(3, 499) == 2  # terminated before 10 s: down
  assert level_after(3, 700) == 3  # terminated after 10 s: kept
  assert level_after(0, 10) == 0  # clipped at 0
  assert 0 <= level_after(9, 1000) <= 9  # 10 -> random level
  assert [int(dyn.num_active_from_level(i)) for i in range(10)] == [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]


@needs_shared
def test_no_obstacle_flag_is_drawn_before_the_reset_command(env, monkeypatch):
  original = commands.reset_commands

  def marking(key, cfg, returning, no_obstacle):
    cmd = original(key, cfg, returning, no_obstacle)
    return cmd.replace(command=jnp.where(no_obstacle, jnp.full(3, 99.0), cmd.command))

  monkeypatch.setattr(commands, "reset_commands", marking)
  flags = jax.jit(jax.vmap(lambda k: (lambda s: (s.info["no_obstacle"], s.info["command"]))(
      env.reset(k))))(jax.random.split(jax.random.PRNGKey(5), 64))
  flag, cmd = (np.asarray(x) for x in flags)
  assert 0 < flag.sum() < 64
  np.testing.assert_array_equal(cmd[:, 0] == 99.0, flag)


@needs_shared
def test_dynamic_reset_places_obstacles_around_the_start():
  from reasan_jax.tasks.filter.env import FilterEnv
  env = FilterEnv(_config(dynamic_obstacles__enabled=True))
  keys = jax.random.split(jax.random.PRNGKey(0), 32)
  first = jax.vmap(env.first_persistent)(keys)
  first["terrain_level"] = jnp.full((32,), 9, jnp.int32)
  s = jax.jit(jax.vmap(env.reset))(keys, first)
  ob = s.info["obstacles"]
  r = np.linalg.norm(np.asarray(ob.wp_a - s.info["start_xy"][:, None]), axis=-1)
  assert np.all((r >= 3.0 - 1e-4) & (r <= 4.0 + 1e-4))
  np.testing.assert_allclose(np.asarray(ob.wp_a + ob.wp_b) / 2,
                             np.repeat(np.asarray(s.info["start_xy"])[:, None], 3, 1), atol=1e-4)
  ret = np.asarray(s.info["returning"])
  assert 0 < ret.sum() < 32  # U < 1/3 per env
  assert not np.any(np.asarray(s.info["no_obstacle"]) & ret)  # returning envs: never "no obstacle"
  active = np.asarray(ob.active).sum(1)
  assert np.all(active[~np.asarray(s.info["no_obstacle"])] == 3)


# ------------------------------------------------------------------ commands (§6.4)
def _cmd_cfg():
  return registry.get_config("filter", "cpu").env.commands


def test_random_command_distribution():
  cfg = _cmd_cfg()
  keys = jax.random.split(jax.random.PRNGKey(0), 40000)
  cmd, delay = jax.jit(jax.vmap(lambda k: commands.sample_random_command(k, cfg, False)))(keys)
  cmd, delay = np.asarray(cmd), np.asarray(delay)
  type0 = delay != 4.0
  assert abs(type0.mean() - 0.33) < 0.01
  assert np.all((delay[type0] >= 2.0) & (delay[type0] <= 5.0))
  assert np.all(np.abs(cmd) <= np.array([2.5, 2.0, 3.0]) + 1e-6)
  assert np.abs(cmd[:, 1]).max() > 1.9  # type 2 reaches |vy| = 2 (REASAN quirk #10, kept)
  # type 0: vx zero with 0.2 + 0.8 * 0.05; wz with 0.5.
  assert abs((cmd[type0, 0] == 0).mean() - 0.24) < 0.015
  assert abs((cmd[type0, 2] == 0).mean() - 0.5) < 0.015
  assert np.abs(cmd[type0, 2]).max() > 2.9 and np.abs(cmd[type0, 0]).max() <= 1.5
  both = (cmd[:, 0] == 0) & (cmd[:, 1] == 0)
  cmd_free, _ = jax.jit(jax.vmap(lambda k: commands.sample_random_command(k, cfg, True)))(keys)
  both_free = (np.asarray(cmd_free)[:, 0] == 0) & (np.asarray(cmd_free)[:, 1] == 0)
  assert both_free.mean() - both.mean() > 0.1  # 0.2 vs 0.05 linear zeroing


def test_returning_samples_and_geometry():
  cfg = _cmd_cfg().returning
  keys = jax.random.split(jax.random.PRNGKey(1), 20000)
  speed, heading, delay = (np.asarray(x) for x in jax.jit(jax.vmap(
      lambda k: commands.sample_returning(k, cfg)))(keys))
  assert abs((heading == 0).mean() - 0.1) < 0.01 and abs((heading == np.float32(np.pi)).mean()
                                                          - 0.1) < 0.01
  assert speed.min() >= 0.5 and speed.max() <= 2.0 and delay.min() >= 5 and delay.max() <= 10
  # Start 3 m to the robot's left (yaw 0): walk at s towards it, turn to face it (h = 0).
  c = np.asarray(commands.returning_command(jnp.array([1.0, 3.0]), jnp.array([1.0, 0.0]),
                                            jnp.asarray(0.0), jnp.asarray(1.2), jnp.asarray(0.0)))
  np.testing.assert_allclose(c, [0.0, 1.2, np.pi / 2], atol=1e-5)
  # Facing +y already: straight ahead, no turn; bearing h = pi -> walk backwards to it.
  c = np.asarray(commands.returning_command(jnp.array([1.0, 3.0]), jnp.array([1.0, 0.0]),
                                            jnp.asarray(np.pi / 2), jnp.asarray(1.0),
                                            jnp.asarray(np.pi)))
  np.testing.assert_allclose(c[:2], [1.0, 0.0], atol=1e-5)
  assert abs(abs(c[2]) - np.pi) < 1e-4 or abs(c[2]) >= 3.0 - 1e-6
  near = commands.returning_command(jnp.array([0.3, 0.0]), jnp.zeros(2), jnp.asarray(0.0),
                                    jnp.asarray(1.0), jnp.asarray(0.0))
  np.testing.assert_array_equal(near, 0.0)  # within 0.5 m: stand


# ------------------------------------------------------------------ bad input
def test_missing_loco_policy_is_one_sentence():
  from reasan_jax.tasks.filter.env import FilterConfigError, FilterEnv
  c = registry.get_config("filter", "cpu").env
  with pytest.raises(FilterConfigError, match="--config.env.loco_policy") as e:
    FilterEnv(c)
  assert str(e.value).count(". ") == 0 and "\n" not in str(e.value)


@needs_shared
def test_filter_onnx_as_loco_policy_is_refused():
  from reasan_jax.tasks.filter.env import FilterEnv
  c = _config()
  c.loco_policy = str(FILTER)
  with pytest.raises(PolicyError, match="frozen loco policy") as e:
    FilterEnv(c)
  assert "\n" not in str(e.value)


@needs_shared
def test_sim2sim_refuses_a_loco_onnx_as_filter(capsys):
  from reasan_jax.cli import sim2sim
  rc = sim2sim.main(["--task", "filter", "--onnx", str(LOCO), "--loco_onnx", str(LOCO),
                     "--episodes", "1", "--duration", "0.1", "--scenarios", "open"])
  err = capsys.readouterr().err.strip()
  assert rc == 1 and len(err.splitlines()) == 1 and "filter policy" in err, err


# ------------------------------------------------------------------ small sim2sim
@needs_shared
def test_small_sim2sim_reasan_filter_avoids_static_obstacles(tmp_path, capsys):
  from reasan_jax.cli import sim2sim
  out = tmp_path / "s.json"
  rc = sim2sim.main(["--task", "filter", "--onnx", str(FILTER), "--loco_onnx", str(LOCO),
                     "--episodes", "8", "--duration", "6", "--scenarios", "static",
                     "--json", str(out)])
  assert rc == 0, capsys.readouterr().err
  rows = {r["mode"]: r for r in json.loads(out.read_text())}
  assert set(rows) == {"filter", "bypass"}
  for r in rows.values():
    assert r["scenario"] == "static" and r["episodes"] == 8
    assert {"tracking_error_vx", "tracking_error_vy", "tracking_error_wz"} <= set(r)
  assert rows["bypass"]["collision_rate"] >= 0.5  # walking blind into the field at 1 m/s
  assert rows["filter"]["collision_rate"] <= rows["bypass"]["collision_rate"] / 5
