"""Pillar counts within the sensing radius of the nav worlds, and the cost of sensing there.

Run from the repository root:

  python benchmarks/nav_world_cull.py                          # seeds 0-3, both wall drawings
  python benchmarks/nav_world_cull.py --seeds 0 --points 64 --batch 8 --steps 1 --repeats 1 \
    --grid-blocks 4 --maze-cells 8 --pairs 20                  # a quick check (small worlds)

For each seed and for the maze's walls drawn twice (REASAN nav §4.4) and once, builds the full-size
worlds of ``reasan_jax.scenes.nav_worlds`` and, at the spawn and goal points plus ``--points``
uniform points of each region (robots walk everywhere, also along walls), counts the pillars
whose lower bound ``|c - p| - rho`` is within 3 m (actor rays), 6 m (critic rays, 1 ray centre)
and 6.45 m (11 centres); these size ``nav_worlds.nav_sensor_config``'s ``num_static``. It also
reports the packed world (bins, slots, gathered candidates per env) and times a jitted
``lax.scan`` of ``--steps`` ``pipeline.sense`` calls for ``--batch`` envs walking at 1 m/s,
grid and maze half each (CPU unless JAX finds an accelerator).

Prints a table and writes ``benchmarks/results/nav_world_cull.json``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402
from reasan_jax.scenes import nav_worlds, obstacles  # noqa: E402
from reasan_jax.sensors import pipeline  # noqa: E402

RADII = (3.0, 6.0, 6.45)


def _points(world, rng, n):
  out = []
  for r in (nav_worlds.GRID, nav_worlds.MAZE):
    org = np.asarray(world.host.origin[r])
    size = int(world.shape[r, 0]) * world.host.cell[r]
    pts = np.concatenate([np.asarray(world.spawn[r]), np.asarray(world.goal[r]),
                          org + rng.uniform(0, size, (n, 2))])
    out.append(pts)
  return out


def _counts(world, pts):
  b = obstacles.world_boxes(world.static)
  c, rho = b["center"][:, :2], np.hypot(b["half"][:, 0], b["half"][:, 1])
  out = np.zeros((len(pts), len(RADII)), int)
  for i in range(0, len(pts), 256):
    lb = np.linalg.norm(c[None] - pts[i:i + 256, None], axis=-1) - rho
    out[i:i + 256] = (lb[..., None] <= np.asarray(RADII)).sum(1)
  return out


def _sense_time(world, batch, steps, repeats):
  cfg = nav_worlds.nav_sensor_config()
  key = jax.random.PRNGKey(0)
  region = jnp.arange(batch) % 2
  xy0, _, _ = jax.vmap(lambda k, r: nav_worlds.sample_pair(k, world, r))(
      jax.random.split(key, batch), region)
  yaw = jax.random.uniform(key, (batch,), minval=-np.pi, maxval=np.pi)
  vel = jnp.stack([jnp.cos(yaw), jnp.sin(yaw)], -1)

  def one(p, y):
    s = pipeline.sense(cfg, world.static, None, jnp.array([p[0], p[1], 0.3]), y, jnp.ones(2))
    return jnp.sum(s.critic_rays) + jnp.sum(s.ttc), s.cull_count

  @jax.jit
  def run(xy):
    def body(xy, _):
      out, count = jax.vmap(one)(xy, yaw)
      return xy + 0.02 * vel, (out.sum(), count.max())
    return jax.lax.scan(body, xy, None, length=steps)[1]

  t0 = time.perf_counter()
  jax.block_until_ready(run(xy0))
  compile_s = time.perf_counter() - t0
  best = np.inf
  for _ in range(repeats):
    t0 = time.perf_counter()
    jax.block_until_ready(run(xy0))
    best = min(best, time.perf_counter() - t0)
  return compile_s, best / (steps * batch) * 1e6


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
  p.add_argument("--points", type=int, default=2000, help="uniform points per region")
  p.add_argument("--batch", type=int, default=64)
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--repeats", type=int, default=2)
  p.add_argument("--grid-blocks", type=int, default=nav_worlds.GRID_BLOCKS)
  p.add_argument("--maze-cells", type=int, default=nav_worlds.MAZE_CELLS)
  p.add_argument("--pairs", type=int, default=nav_worlds.NUM_PAIRS)
  p.add_argument("--out", default=None)
  args = p.parse_args(argv)
  rows = []
  for double in (True, False):
    for seed in args.seeds:
      world = nav_worlds.make_nav_world(seed, args.pairs, args.grid_blocks,
                                        maze_cells=args.maze_cells, double_maze_walls=double)
      pts = _points(world, np.random.default_rng(seed), args.points)
      prims = world.static.prims
      stencil = obstacles._stencil(world.static.window,  # pylint: disable=protected-access
                                   (6.0 + world.static.reach) / world.static.cell)
      row = {"seed": seed, "double_maze_walls": double,
             "pillars": int(np.asarray(prims.valid).sum()),
             "bins": list(prims.kind.shape[:2]), "slots": int(prims.kind.shape[2]),
             "candidates_per_env": int(len(stencil) * prims.kind.shape[2])}
      for r, name in ((nav_worlds.GRID, "grid"), (nav_worlds.MAZE, "maze")):
        c = _counts(world, pts[r])
        for j, rad in enumerate(RADII):
          row[f"{name}_{rad}_mean"] = float(c[:, j].mean())
          row[f"{name}_{rad}_p99"] = float(np.percentile(c[:, j], 99))
          row[f"{name}_{rad}_max"] = int(c[:, j].max())
      if seed == args.seeds[0]:
        row["sense_compile_s"], row["sense_us_per_env_step"] = _sense_time(
            world, args.batch, args.steps, args.repeats)
      rows.append(row)
      print({k: v for k, v in row.items() if not k.endswith("_p99")}, flush=True)
  cols = [("double", "double_maze_walls", "d"), ("seed", "seed", "d"),
          ("pillars", "pillars", "d"), ("cand/env", "candidates_per_env", "d")]
  for name in ("grid", "maze"):
    cols += [(f"{name} 3m max", f"{name}_3.0_max", "d"), (f"{name} 6m max", f"{name}_6.0_max", "d"),
             (f"{name} 6.45m max", f"{name}_6.45_max", "d")]
  print(_common.table(rows, cols))
  result = {"settings": vars(args), "device": str(jax.devices()[0]), "rows": rows,
            "num_static": [nav_worlds.NAV_NUM_STATIC, nav_worlds.NAV_NUM_STATIC_MULTI]}
  _common.write("nav_world_cull", result, args.out)
  return result


if __name__ == "__main__":
  main()
