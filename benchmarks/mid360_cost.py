"""Cost of the simulated Mid-360 frame vs the filter's measure sensing, with and without the 3.1 m cut.

Run from the repository root:

  python benchmarks/mid360_cost.py                           # batches 16 64 256
  python benchmarks/mid360_cost.py --batches 4 --steps 2 --repeats 1   # a quick check

For each batch size, each as a jitted ``lax.scan`` of ``--steps`` control steps with robots moving
at 1 m/s through REASAN's filter world (``scenes.obstacles.make_tiled_world``, 3 moving
obstacles per env), per env:

* **measure**: ``sensors.pipeline.sense`` with 11 ray centres (the play / collection sensing:
  cull to 192 boxes, 1980 measure rays, features, TTC; no contacts);
* **mid360**: ``tasks.common.lidar.Mid360Module.frame`` (cull to the 64 nearest boxes within
  3.1 m, 6000 rays against them, the 3 obstacles and the ground, the 30 x 180 grid);
* **mid360_nocut**: the same 6000 rays against the 192 boxes of the measure cull, no 3.1 m cut
  (what the cut saves).

Prints per-env-step microseconds and writes ``benchmarks/results/mid360_cost.json``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import jax.numpy as jnp

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402
from reasan_jax.scenes import dynamic_obstacles as dyn  # noqa: E402
from reasan_jax.scenes import obstacles  # noqa: E402
from reasan_jax.sensors import lidar_grid, mid360, pipeline  # noqa: E402
from reasan_jax.tasks.common import lidar  # noqa: E402


def _programs(world, module, batch, steps):
  cfg = pipeline.SensorConfig(num_centers=11)
  keys = jax.random.split(jax.random.PRNGKey(0), batch)
  start = jax.vmap(lambda k: obstacles.sample_spawn(k, world))(keys)
  shapes = jax.vmap(dyn.init_shapes)(keys)
  obst = jax.vmap(lambda k, s, xy: dyn.reset(k, s, xy, 3))(keys, shapes, start)
  rot = jnp.eye(3)

  def scan(per_env):
    def run(cursor):
      def body(c, t):
        xy = start + jnp.stack([t * 0.02 * jnp.ones(batch), jnp.zeros(batch)], -1)
        pos = jnp.concatenate([xy, jnp.full((batch, 1), 0.3)], -1)
        out = jax.vmap(per_env, in_axes=(0, 0, None))(pos, obst, c)
        return c + mid360.RAYS_PER_FRAME, out
      return jax.lax.scan(body, cursor, jnp.arange(steps, dtype=jnp.float32))[1]
    return jax.jit(run)

  def measure(pos, o, c):
    return pipeline.sense(cfg, world, o, pos, jnp.zeros(()), jnp.zeros(2)).gt_rays

  def frame(pos, o, c):
    return module.frame(c, jax.random.PRNGKey(1), world, dyn.primitives(o), pos, rot,
                        jnp.zeros(3))[0]

  def nocut(pos, o, c):
    static, _ = obstacles.nearby_static(world, pos[:2], 192)
    dirs = mid360.directions(mid360.frame_angles(module.pattern, c))
    length = mid360.cast(dirs, pos, rot, jnp.zeros(3), [static, dyn.primitives(o)], cut=1e6)
    return lidar_grid.spherical_grid(length, dirs, jax.random.PRNGKey(1))

  return {"measure": scan(measure), "mid360": scan(frame), "mid360_nocut": scan(nocut)}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--batches", type=int, nargs="+", default=[16, 64, 256])
  p.add_argument("--steps", type=int, default=10)
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default=None)
  args = p.parse_args(argv)
  world = obstacles.make_tiled_world()
  module = lidar.Mid360Module(lidar.mid360_config())
  rows = []
  for batch in args.batches:
    row = {"batch": batch}
    for name, fn in _programs(world, module, batch, args.steps).items():
      cursor = jnp.asarray(mid360.FIRST_FRAME_ROW, jnp.int32)
      t = time.perf_counter()
      jax.block_until_ready(fn(cursor))
      row[f"{name}_compile_s"] = time.perf_counter() - t
      best = float("inf")
      for _ in range(args.repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(cursor))
        best = min(best, time.perf_counter() - t)
      row[f"{name}_us"] = best / (args.steps * batch) * 1e6
    rows.append(row)
    print(f"batch {batch}: " + ", ".join(f"{k} {row[k + '_us']:.0f} us/env-step"
                                         for k in ("measure", "mid360", "mid360_nocut")),
          flush=True)
  _common.write("mid360_cost", {"rows": rows, "steps": args.steps,
                                        "backend": jax.default_backend()}, args.out)


if __name__ == "__main__":
  main()
