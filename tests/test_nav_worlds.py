"""Navigation worlds (REASAN nav §4.2-§4.4, §4.6, §4.8): layouts, pairs, guide field, sensing."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from reasan_jax.scenes import dynamic_obstacles as dyn
from reasan_jax.scenes import maze, nav_obstacles, nav_worlds, obstacles, pillars
from reasan_jax.sensors import pipeline, rays


@pytest.fixture(scope="module")
def small():
  return nav_worlds.make_nav_world(seed=3, num_pairs=80, grid_blocks=4, maze_cells=8)


@pytest.fixture(scope="module")
def full():
  return nav_worlds.make_nav_world(seed=0)


def _edges(walls):
  """Independent edge count of the cell graph (open sides between neighbours)."""
  right = ~walls[:, :-1] & maze.RIGHT
  top = ~walls[:-1, :] & maze.TOP
  return int(np.count_nonzero(right) + np.count_nonzero(top))


@pytest.mark.parametrize("n,seed", [(8, 0), (8, 1), (40, 0), (40, 7)])
def test_maze_is_a_spanning_tree(n, seed):
  walls = maze.perfect_maze(np.random.default_rng(seed), n)
  # Walls consistent on both sides of every edge, outer walls closed.
  assert np.array_equal(walls[:, :-1] & maze.RIGHT > 0, walls[:, 1:] & maze.LEFT > 0)
  assert np.array_equal(walls[:-1, :] & maze.TOP > 0, walls[1:, :] & maze.BOTTOM > 0)
  assert np.all(walls[-1] & maze.TOP) and np.all(walls[0] & maze.BOTTOM)
  assert np.all(walls[:, 0] & maze.LEFT) and np.all(walls[:, -1] & maze.RIGHT)
  hops = maze.bfs_hops(walls, (0, 0))
  assert np.all(hops >= 0)  # every cell reachable
  assert _edges(walls) == n * n - 1  # connected with cells - 1 edges: a tree (no cycles)
  assert len(maze.passages(walls)) == n * n - 1
  dead_ends = sum(bin(int(v)).count("1") == 3 for v in walls.ravel())
  assert dead_ends > 0.05 * n * n


def _runs_ok(mask8: int) -> bool:
  bits = [(mask8 >> i) & 1 for i in range(8)]
  return not any(bits[i] and bits[(i + 1) % 8] and bits[(i + 2) % 8] for i in range(8))


def test_grid_sub_blocks_have_four_walls_no_three_consecutive():
  allowed = [m for m in range(256) if bin(m).count("1") == 4 and _runs_ok(m)]
  assert len(maze.WALL_SUBSETS) == len(allowed) == 38
  counts = np.zeros(256, int)
  for seed in range(4):
    walls, chosen, _ = maze.general_grid(np.random.default_rng(seed), 15)
    assert walls.shape == (44, 44)
    for by, bx in itertools.product(range(15), range(15)):
      x, y = 3 * bx, 3 * by
      seg = [walls[y, x] & maze.BOTTOM, walls[y, x + 1] & maze.BOTTOM,
             walls[y, x + 1] & maze.RIGHT, walls[y + 1, x + 1] & maze.RIGHT,
             walls[y + 1, x + 1] & maze.TOP, walls[y + 1, x] & maze.TOP,
             walls[y + 1, x] & maze.LEFT, walls[y, x] & maze.LEFT]
      mask = sum(1 << i for i, s in enumerate(seg) if s)
      # Border sub-blocks also see the outer wall: only count segments inside the square.
      inner = [y > 0, y > 0, x + 2 < 44, x + 2 < 44, y + 2 < 44, y + 2 < 44, x > 0, x > 0]
      want = sum(1 << i for i in range(8) if chosen[by, bx, i])
      assert sum(chosen[by, bx]) == 4 and _runs_ok(want)
      assert mask & sum(1 << i for i in range(8) if inner[i]) == want & sum(
          1 << i for i in range(8) if inner[i])
      counts[want] += 1
      # Sub-block interiors are walkable.
      assert not walls[y, x] & maze.RIGHT and not walls[y + 1, x] & maze.RIGHT
      assert not walls[y, x] & maze.TOP and not walls[y, x + 1] & maze.TOP
  used = counts[allowed]
  assert counts.sum() == used.sum() == 900
  assert used.min() >= 5 and used.max() <= 45  # ~uniform over the 42 subsets (mean 23.7)
  hops = maze.bfs_hops(walls, (2, 2))
  assert np.all(hops >= 0)  # corridors connect everything


def test_grid_pairs_obey_the_seven_metre_rule(full):
  host = full.host
  cand = host.grid_candidates
  assert cand.shape == (225, 2)
  # One candidate per sub-block, inside it.
  assert np.all(cand % 3 != 2)
  assert len({(int(x) // 3, int(y) // 3) for x, y in cand}) == 225
  spawn, goal = host.pair_cells[nav_worlds.GRID]
  cset = {tuple(c) for c in cand.tolist()}
  assert all(tuple(s) in cset and tuple(g) in cset for s, g in zip(spawn.tolist(), goal.tolist()))
  d = np.linalg.norm(np.asarray(full.spawn[0] - full.goal[0]), axis=1)
  assert np.all(d <= nav_worlds.GRID_PAIR_RADIUS + 1e-5) and np.all(d > 0)
  np.testing.assert_allclose(np.asarray(full.spawn[0]),
                             np.asarray(host.origin[0]) + (spawn + 0.5) * 1.25, atol=1e-4)


def test_maze_pairs_obey_distance_and_path_rules(full):
  host = full.host
  walls = host.walls[nav_worlds.MAZE]
  spawn, goal = host.pair_cells[nav_worlds.MAZE]
  assert len({tuple(g) for g in goal.tolist()}) == 1000  # without replacement
  fallback = 0
  for s, g in list(zip(spawn.tolist(), goal.tolist()))[:250]:
    hops = maze.bfs_hops(walls, tuple(g))
    straight = 1.75 * np.hypot(s[0] - g[0], s[1] - g[1])
    if s == g:
      fallback += 1
      iy, ix = np.indices(walls.shape)
      st = 1.75 * np.hypot(ix - g[0], iy - g[1])
      assert not np.any((st >= 5) & (st < 7) & (hops * 1.75 >= 5) & (hops * 1.75 <= 15))
      continue
    assert 5.0 <= straight < 7.0
    assert 5.0 <= hops[s[1], s[0]] * 1.75 <= 15.0
    assert maze.path_length(walls, tuple(s), tuple(g), 1.75) == hops[s[1], s[0]] * 1.75
  assert fallback < 10
  # The stored guide codes of the full-size maze lead every spawn to its goal on a shortest path.
  codes = np.asarray(full.guide[nav_worlds.MAZE])
  for k in range(0, 1000, 37):
    s, g = tuple(spawn[k].tolist()), tuple(goal[k].tolist())
    assert maze.follow_guide(codes[k, :40, :40], s, 1600) == maze.bfs_hops(walls, g)[s[1], s[0]]


def test_guide_field_follows_a_shortest_path(small):
  host = small.host
  f = jax.jit(jax.vmap(lambda r, p, xy: nav_worlds.guide_vector(small, r, p, xy)))
  rng = np.random.default_rng(0)
  for region in (nav_worlds.GRID, nav_worlds.MAZE):
    walls, cell, org = host.walls[region], host.cell[region], np.asarray(host.origin[region])
    ny, nx = walls.shape
    for pair in (0, 5, 17, 63):
      goal = tuple(host.pair_cells[region][1][pair].tolist())
      hops = maze.bfs_hops(walls, goal)
      start = np.stack([rng.integers(0, nx, 40), rng.integers(0, ny, 40)], -1)
      xy = org + (start + rng.uniform(0.05, 0.95, (40, 2))) * cell
      steps = np.zeros(40, int)
      for _ in range(nx * ny):
        v = np.asarray(f(jnp.full(40, region), jnp.full(40, pair), jnp.asarray(xy, jnp.float32)))
        moving = np.abs(v).sum(1) > 0
        if not moving.any():
          break
        assert np.allclose(np.abs(v[moving]).sum(1), 1.0)  # unit axis steps
        xy = xy + v * cell
        steps += moving
      np.testing.assert_array_equal(steps, hops[start[:, 1], start[:, 0]])
      end = np.floor((xy - org) / cell).astype(int)
      assert np.all(end == np.asarray(goal))


def test_guide_vector_zero_outside_and_at_goal(small):
  g = jax.jit(nav_worlds.guide_vector)
  for region in (nav_worlds.GRID, nav_worlds.MAZE):
    goal = small.goal[region, 3]
    assert np.all(np.asarray(g(small, region, 3, goal)) == 0)
    far = jnp.asarray(small.host.origin[region]) - 0.3
    assert np.all(np.asarray(g(small, region, 3, far)) == 0)
  # A disconnected cell (walled in by hand) reads zero.
  walls = np.zeros((3, 3), np.uint8)
  maze.outer_walls(walls)
  for side in maze.SIDES:
    maze.set_wall(walls, 2, 2, side)
  codes = maze.guide_codes(walls, maze.hop_distances(walls, np.array([0]))[0])
  assert codes[2, 2] == 0 and codes[0, 0] == 0 and np.all(codes.ravel()[1:8] > 0)


def test_sample_pair_and_goal_noise(small):
  keys = jax.random.split(jax.random.PRNGKey(1), 400)
  for region, noise in ((nav_worlds.GRID, 0.25), (nav_worlds.MAZE, 0.0)):
    s, g, k = jax.jit(jax.vmap(lambda key: nav_worlds.sample_pair(key, small, region)))(keys)
    k = np.asarray(k)
    assert k.min() >= 0 and k.max() < 80 and len(set(k.tolist())) > 60
    np.testing.assert_array_equal(np.asarray(s), np.asarray(small.spawn[region])[k])
    off = np.asarray(g) - np.asarray(small.goal[region])[k]
    assert np.all(np.abs(off) <= noise + 1e-6)
    if noise:
      assert np.abs(off).max() > 0.2


def test_pillar_statistics():
  rng = np.random.default_rng(0)
  lengths = rng.uniform(1.0, 4.0, 400)
  walls = [pillars.pillar_wall(rng, (0.0, 0.0), (L, 0.0), w) for w, L in enumerate(lengths)]
  p = pillars.concat_walls(walls)
  base = p["base"]
  assert 0.1 <= base.min() < 0.102 and 0.198 < base.max() <= 0.2
  r = p["side"] / base
  assert 0.9 <= r.min() < 0.905 and 1.095 < r.max() <= 1.1
  assert 0.5 <= p["height"].min() < 0.51 and 1.49 < p["height"].max() <= 1.5
  assert abs(p["shifted"].mean() - 0.2) < 0.02
  for w, L in zip(walls, lengths):
    s = w["base"][0]
    assert np.all(w["base"] == s)  # one base size per wall
    n = len(w["yaw"])
    assert n == int(np.floor(L / (1.2 * s))) + 1
    shift = w["xy"][:, 0] - np.arange(n) * 1.2 * s  # spacing 1.2 s from the start point
    assert np.all(np.abs(shift[~w["shifted"]]) < 1e-9) and np.all(w["xy"][:, 1] == 0)
    assert np.all((shift[w["shifted"]] >= 0.1 - 1e-9) & (shift[w["shifted"]] <= 0.2 + 1e-9))
  # Slits: neighbouring unshifted pillars leave gaps of about 0.2 s (0.1 s .. 0.3 s).
  gaps = []
  for w in walls:
    h = w["side"] / 2
    ok = ~w["shifted"][:-1] & ~w["shifted"][1:]
    g = (w["xy"][1:, 0] - h[1:]) - (w["xy"][:-1, 0] + h[:-1])
    gaps.append((g / w["base"][0])[ok])
  gaps = np.concatenate(gaps)
  assert 0.1 - 1e-9 <= gaps.min() and gaps.max() <= 0.3 + 1e-9 and abs(gaps.mean() - 0.2) < 0.01


def test_world_boxes_stand_on_the_ground(full):
  b = obstacles.world_boxes(full.static)
  assert len(b["kind"]) == sum(len(p["yaw"]) for p in full.host.pillars)
  np.testing.assert_allclose(b["center"][:, 2], b["half"][:, 2], rtol=1e-6)
  pb = nav_worlds.pillar_boxes(full)
  assert pb["center"].shape == b["center"].shape
  # Both regions stay apart by more than the sensing range.
  gx = pb["center"][:len(full.host.pillars[0]["yaw"]), 0]
  mx = pb["center"][len(full.host.pillars[0]["yaw"]):, 0]
  assert mx.min() - gx.max() > 6.45


@pytest.mark.parametrize("num_centers", [1, 11])
def test_cull_and_window_are_exact_in_both_regions(full, num_centers):
  cfg = nav_worlds.nav_sensor_config(num_centers=num_centers)
  radius = 6.0 + (0.45 if num_centers > 1 else 0.0)
  b = obstacles.world_boxes(full.static)
  lb_all = lambda xy: (np.linalg.norm(b["center"][:, :2] - xy, axis=1)
                       - np.hypot(b["half"][:, 0], b["half"][:, 1]))
  rng = np.random.default_rng(num_centers)
  pts = []
  for r in (nav_worlds.GRID, nav_worlds.MAZE):
    org, size = np.asarray(full.host.origin[r]), int(full.shape[r, 0]) * full.host.cell[r]
    pts += [org + rng.uniform(0, size, (24, 2)), np.asarray(full.spawn[r][:8])]
  # Dead-end corners of the maze, 0.25 m from two walls: the most pillars close to the robot.
  walls, cell = full.host.walls[nav_worlds.MAZE], full.host.cell[nav_worlds.MAZE]
  iy, ix = np.nonzero(np.vectorize(lambda m: bin(int(m)).count("1") == 3)(walls))
  pick = rng.choice(len(ix), 8, replace=False)
  for x, y in zip(ix[pick], iy[pick]):
    m = int(walls[y, x])
    sx, sy = (1 if m & maze.RIGHT else -1), (1 if m & maze.TOP else -1)
    c = np.asarray(full.host.origin[nav_worlds.MAZE]) + (np.array([x, y]) + 0.5) * cell
    pts.append((c + np.array([sx, sy]) * (cell / 2 - 0.25))[None])
  pts = np.concatenate(pts).astype(np.float32)

  def one(p):
    s, num = obstacles.nearby_static(full.static, p, cfg.num_static, radius)
    base = jnp.array([p[0], p[1], 0.3])
    win = rays.cast_measure(base, 0.7, s, None, num_centers, num_near=cfg.num_near,
                            window=cfg.window)
    dense = rays.cast_measure(base, 0.7, s, None, num_centers, method="dense")
    # The 2-stage cull (only the num_near nearest sorted, pipeline.sense's) casts the same.
    s2, num2 = obstacles.nearby_static(full.static, p, cfg.num_static, radius, cfg.num_near)
    win2 = rays.cast_measure(base, 0.7, s2, None, num_centers, num_near=cfg.num_near,
                             window=cfg.window)
    same = (jnp.max(jnp.abs(win2.distance - win.distance)) + jnp.sum(win2.cls != win.cls)
            + jnp.abs(num2 - num) + win2.overflow)
    return s, num, win.overflow, jnp.max(jnp.abs(win.distance - dense.distance)), same
  kept, num, over, diff, same = jax.jit(jax.vmap(one))(jnp.asarray(pts))
  assert int(over.sum()) == 0 and float(diff.max()) < 1e-5
  assert float(same.max()) < 1e-6
  for i in range(0, len(pts), 4):
    lb = lb_all(pts[i])
    want = int((lb <= radius).sum())
    assert int(num[i]) == want <= cfg.num_static
    kc = np.asarray(kept.center[i])[np.asarray(kept.valid[i])]
    for j in np.flatnonzero(lb <= radius):
      assert np.min(np.linalg.norm(kc - b["center"][j], axis=1)) < 1e-4


def test_rays_pass_through_slits():
  rng = np.random.default_rng(4)
  wall = pillars.pillar_wall(rng, (0.0, 0.0), (3.0, 0.0))
  j = next(i for i in range(1, len(wall["yaw"]) - 2) if not wall["shifted"][i - 1:i + 3].any())
  h = wall["side"] / 2
  slit_x = (wall["xy"][j, 0] + h[j] + wall["xy"][j + 1, 0] - h[j + 1]) / 2
  assert wall["xy"][j + 1, 0] - h[j + 1] > wall["xy"][j, 0] + h[j]  # a real slit
  centre = np.concatenate([wall["xy"], wall["height"][:, None] / 2], -1)
  half = np.stack([h, h, wall["height"] / 2], -1)
  world = obstacles.binned_world(centre, wall["yaw"], half, 1.0)
  cfg = nav_worlds.nav_sensor_config()
  sense = jax.jit(lambda p: pipeline.sense(cfg, world, None, p, jnp.pi / 2, jnp.zeros(2)))
  ahead = 90  # azimuth index of straight ahead (+y here)
  slit = np.asarray(sense(jnp.array([slit_x, -1.0, 0.3])).scan.distance)[:, ahead]
  pillar = np.asarray(sense(jnp.array([wall["xy"][j, 0], -1.0, 0.3])).scan.distance)[:, ahead]
  # Distances are measured from the base origin (REASAN nav §2.1): layers 0 / 0.1 / 0.2 m up.
  np.testing.assert_allclose(pillar, np.hypot(1.0 - h[j], [0.0, 0.1, 0.2]), atol=1e-4)
  assert np.all(slit == 6.0)


def test_nav_obstacle_ring_placement():
  key = jax.random.PRNGKey(0)
  shape = dyn.init_shapes(key, nav_obstacles.NUM_SLOTS)
  robot = jnp.array([1.0, -2.0])
  reset = jax.jit(nav_obstacles.reset_nav, static_argnames=())
  crossings, total = 0, 0
  for level in (3, 5, 9):
    n = level
    delta = min(np.pi, 2 * np.pi / n)
    for i in range(60):
      ob = reset(jax.random.PRNGKey(100 * level + i), shape, robot, jnp.int32(level))
      act = np.asarray(ob.active)
      assert act.sum() == n and np.all(act[:n])
      a = np.asarray(ob.wp_a - robot)[:n]
      b = np.asarray(ob.wp_b - robot)[:n]
      r = np.linalg.norm(a, axis=1)
      assert np.all((r >= 2.0) & (r <= 3.0 + 0.5 * level + 1e-5))
      theta = delta * (np.arange(n) + 0.5)
      np.testing.assert_allclose(a, r[:, None] * np.stack([np.cos(theta), np.sin(theta)], -1),
                                 atol=1e-5)
      opposite = np.all(np.abs(b + a) < 1e-4, axis=1)
      ring = r[:, None] * np.stack([np.cos(theta + 2 * delta), np.sin(theta + 2 * delta)], -1)
      assert np.all(opposite | np.all(np.abs(b - ring) < 1e-4, axis=1))
      crossings += int(opposite.sum())
      total += n
      z = np.asarray(ob.z)
      assert np.all((z[:n] >= -0.25) & (z[:n] <= 0.75)) and np.all(z[n:] == dyn.PARK_Z)
      np.testing.assert_allclose(ob.xy, ob.wp_a)
  assert abs(crossings / total - 0.1) < 0.04
  assert int(nav_obstacles.num_active_from_level(12)) == 9
  assert int(nav_obstacles.num_active_from_level(4, enabled=False)) == 0
  off = nav_obstacles.reset_nav(key, shape, robot, 9, no_obstacle=True)
  assert not np.asarray(off.active).any() and np.all(np.asarray(off.z) == dyn.PARK_Z)
  # Level 1: Delta = pi, B = A unless crossing -> the obstacle stands still (REASAN quirk).
  one = nav_obstacles.reset_nav(jax.random.PRNGKey(5), shape, robot, 1)
  if not np.allclose(np.asarray(one.wp_b[0]), 2 * np.asarray(robot) - np.asarray(one.wp_a[0])):
    moved = nav_obstacles.step_nav(one, key)
    np.testing.assert_allclose(moved.xy[0], one.xy[0], atol=1e-6)


def test_nav_obstacle_step_swaps_waypoints():
  shape = dyn.init_shapes(jax.random.PRNGKey(0), nav_obstacles.NUM_SLOTS)
  ob = nav_obstacles.reset_nav(jax.random.PRNGKey(2), shape, jnp.zeros(2), 9)
  far = nav_obstacles.step_nav(ob, jax.random.PRNGKey(3))
  step = np.linalg.norm(np.asarray(far.xy - ob.xy), axis=1)
  moving = np.linalg.norm(np.asarray(ob.wp_b - ob.wp_a), axis=1) > 0.5
  np.testing.assert_allclose(step[moving], np.asarray(ob.speed)[moving] * 0.02, rtol=1e-4)
  np.testing.assert_array_equal(far.speed, ob.speed)
  near = ob.replace(xy=ob.wp_b + jnp.array([0.3, 0.0]))
  new = nav_obstacles.step_nav(near, jax.random.PRNGKey(4))
  np.testing.assert_allclose(new.wp_a, ob.wp_b)
  np.testing.assert_allclose(new.wp_b, ob.wp_a)
  assert np.all(np.asarray(new.speed) != np.asarray(ob.speed))
  assert np.all((new.speed >= 0.5) & (new.speed <= 1.2))
  d_before = np.linalg.norm(np.asarray(near.xy - new.wp_b), axis=1)
  d_after = np.linalg.norm(np.asarray(new.xy - new.wp_b), axis=1)
  assert np.all(d_after < d_before)
  assert dyn.primitives(new).cls.tolist() == list(range(1, 10))


def test_bad_sizes_raise_one_sentence():
  with pytest.raises(nav_worlds.NavWorldError, match="num_pairs"):
    nav_worlds.make_nav_world(num_pairs=0)
  with pytest.raises(nav_worlds.NavWorldError, match="apart"):
    nav_worlds.make_nav_world(grid_center=(0.0, 0.0), maze_center=(15.0, 0.0), maze_cells=8,
                              grid_blocks=4, num_pairs=4)
