"""Sensing cost (rays + TTC + obstacle motion + contacts) vs a loco env step vs ``mjx.ray``.

Run from the repository root:

  python benchmarks/lidar_throughput.py                        # batches 64 256 1024
  python benchmarks/lidar_throughput.py --batches 8 --steps 2 --repeats 1   # a quick check

For each batch size, in one process, with REASAN's obstacle density (the 90 m periodic filter
world of ``reasan_jax.scenes.obstacles``, 3 moving obstacles per env, 1x ray centres) it times,
each as a jitted ``lax.scan`` of ``--steps`` control steps:

* **sensing**: per env, ``dynamic_obstacles.step`` + ``sensors.pipeline.sense`` (cull to 192
  static boxes, 540-ray measure scan, actor / GT / critic rays, TTC, contacts of the 17
  undesired-body geoms with the 8 nearest boxes and the 3 moving obstacles) -- robots moving at
  1 m/s through the world so the cull and the scan change every step;
* **loco**: ``VecEnv(LocoEnv).step`` as ``benchmarks/env_throughput.py`` builds it;
* **mjx.ray**: ``mjx.ray`` casting the same 540 rays per env on the same scene (the env's 192
  culled boxes and 3 moving obstacles as box geoms of an MJX model whose geom poses / sizes are
  set per env; MJX has no cylinder ray, so moving cylinders are cast as boxes), which is what
  one would do without this package; on box-only scenes its layer-0 distances equal ours
  (checked when this benchmark was written);
* at the first batch only, **MJX contacts**: ``mjx.step`` x 4 of the "body" collision model with
  8 mocap obstacle boxes vs the same model with only feet colliding (the other contact option).

Prints a table and writes ``benchmarks/results/lidar_throughput.json``.
Goal (issue 10): sensing <= 25 % of a loco env step and >= 5x cheaper than ``mjx.ray``.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from mujoco import mjx

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402
from reasan_jax.robots import go2  # noqa: E402
from reasan_jax.scenes import dynamic_obstacles as dyn  # noqa: E402
from reasan_jax.scenes import obstacles  # noqa: E402
from reasan_jax.sensors import collisions, pipeline, rays  # noqa: E402


def _loco_env():
  """The loco env exactly as benchmarks/env_throughput.py builds it (the one import of envs)."""
  from reasan_jax.configs import loco  # pylint: disable=import-outside-toplevel
  from reasan_jax.core import VecEnv  # pylint: disable=import-outside-toplevel
  from reasan_jax.registry import make_env as make  # pylint: disable=import-outside-toplevel
  cfg = loco.env_config()
  cfg.terrain = "flat"
  return make(cfg), VecEnv


def _time(fn, args, repeats):
  out = []
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    out.append(time.perf_counter() - t)
  return out


def _compile_time(fn, args):
  t = time.perf_counter()
  jax.block_until_ready(fn(*args))
  return time.perf_counter() - t


def _initial(world, batch, key):
  k_sp, k_sh, k_ob, k_y = jax.random.split(key, 4)
  idx = jax.random.randint(k_sp, (batch,), 0, world.spawn.shape[0])
  xy = world.spawn[idx]
  yaw = jax.random.uniform(k_y, (batch,), minval=-np.pi, maxval=np.pi)
  shapes = jax.vmap(dyn.init_shapes)(jax.random.split(k_sh, batch))
  ob = jax.vmap(lambda k, s, p: dyn.reset(k, s, p, 3))(jax.random.split(k_ob, batch), shapes, xy)
  return xy, yaw, ob


def _sensing_program(cfg, world, shapes, geom_xpos, geom_xmat, steps):
  def one(xy, yaw, ob, key, gx, gm):
    k_ob, k_noise = jax.random.split(key)
    ob = dyn.step(ob, k_ob, xy)
    base = jnp.concatenate([xy, jnp.array([0.3])])
    off = base - gx[1]  # move the robot's geoms with the base (rigid shift)
    out = pipeline.sense(cfg, world, ob, base, yaw, jnp.array([1.0, 0.0]), k_noise, shapes,
                         gx + off, gm)
    return ob, out

  @jax.jit
  def run(xy, yaw, ob, key, gx, gm):
    def body(carry, _):
      xy, ob, key, acc = carry
      key, sub = jax.random.split(key)
      ob, out = jax.vmap(one, in_axes=(0, 0, 0, 0, None, None))(
          xy, yaw, ob, jax.random.split(sub, xy.shape[0]), gx, gm)
      xy = xy + 0.02 * jnp.stack([jnp.cos(yaw), jnp.sin(yaw)], -1)
      acc = acc + jnp.sum(out.ttc) + jnp.sum(out.contacts) + jnp.sum(out.actor_rays)
      return (xy, ob, key, acc), out.cull_count.max()
    (_, _, _, acc), counts = jax.lax.scan(body, (xy, ob, key, 0.0), None, length=steps)
    return acc, counts.max()
  return run


def _mjx_ray_scene(num_static, num_dyn):
  """An MJX model with num_static box geoms and num_dyn boxes / cylinders (poses set per env)."""
  spec = mujoco.MjSpec()
  spec.add_material(name="opaque", rgba=[0.5, 0.5, 0.5, 1])  # mjx.ray indexes mat_rgba
  for i in range(num_static + num_dyn):  # MJX (mujoco 4.0) has no cylinder ray: boxes only
    t = mujoco.mjtGeom.mjGEOM_BOX
    spec.worldbody.add_geom(name=f"g{i}", type=t, size=[0.2, 0.2, 0.5], pos=[0, 0, -10],
                            material="opaque")
  m = spec.compile()
  return mjx.put_model(m, impl="jax"), m


def _mjx_ray_program(cfg, world, steps):
  mx, m = _mjx_ray_scene(cfg.num_static, dyn.NUM_SLOTS)
  data0 = mjx.make_data(mx)
  is_box = np.asarray(m.geom_type) == mujoco.mjtGeom.mjGEOM_BOX

  def one(xy, yaw, ob, key):
    ob = dyn.step(ob, key, xy)
    static, _ = obstacles.nearby_static(world, xy, cfg.num_static)
    prims = rays.concat([static, dyn.primitives(ob)])
    c, s = prims.cos_sin[:, 0], prims.cos_sin[:, 1]
    z, o = jnp.zeros_like(c), jnp.ones_like(c)
    mat = jnp.stack([c, -s, z, s, c, z, z, z, o], -1)
    size = jnp.where(jnp.asarray(is_box)[:, None], prims.half,
                     jnp.stack([prims.half[:, 0], prims.half[:, 2], z], -1))
    size = jnp.where(prims.valid[:, None], size, 1e-6)
    mm = mx.replace(geom_size=size, geom_rbound=jnp.linalg.norm(prims.half, axis=-1))
    d = data0.replace(geom_xpos=prims.center, geom_xmat=mat.reshape(-1, 3, 3))
    base = jnp.concatenate([xy, jnp.array([0.3])])
    o3 = rays.measure_origins(base, yaw, 1).reshape(-1, 3)  # (3, 3)
    dirs = rays.measure_directions(yaw)
    pts = jnp.repeat(o3, 180, axis=0)
    vecs = jnp.tile(dirs, (3, 1))
    dist, _ = jax.vmap(lambda p, v: mjx.ray(mm, d, p, v))(pts, vecs)
    return ob, jnp.sum(jnp.clip(jnp.where(dist < 0, 6.0, dist), 0, 6))

  @jax.jit
  def run(xy, yaw, ob, key):
    def body(carry, _):
      xy, ob, key, acc = carry
      key, sub = jax.random.split(key)
      ob, s = jax.vmap(one)(xy, yaw, ob, jax.random.split(sub, xy.shape[0]))
      xy = xy + 0.02 * jnp.stack([jnp.cos(yaw), jnp.sin(yaw)], -1)
      return (xy, ob, key, acc + jnp.sum(s)), ()
    return jax.lax.scan(body, (xy, ob, key, 0.0), None, length=steps)[0][3]
  return run


def _mjx_contact_programs(batch, steps, num_obstacles=8):
  """mjx.step x 4 with body collisions + mocap obstacle boxes vs feet-only collisions."""
  out = {}
  for variant in ("feet", "body"):
    spec = mujoco.MjSpec.from_file(str(go2.SCENE_FLAT_XML))
    if variant == "body":
      for i in range(num_obstacles):
        b = spec.worldbody.add_body(name=f"ob{i}", mocap=True,
                                    pos=[0.45 * np.cos(i), 0.45 * np.sin(i), 0.5])
        b.add_geom(type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.15, 0.15, 0.5],
                   contype=go2.GROUND_CONTYPE, conaffinity=go2.GROUND_CONAFFINITY)
    for g in spec.geoms:
      if g.parent.name in ("world",) or g.parent.name.startswith("ob"):
        continue
      if not g.name:  # visual geoms
        g.contype, g.conaffinity = 0, 0
        continue
      robot = g.name.startswith(collisions.UNDESIRED_PREFIXES) or g.name.endswith("_foot")
      on = g.name.endswith("_foot") or (variant == "body" and robot)
      g.contype, g.conaffinity = ((go2.ROBOT_CONTYPE, go2.ROBOT_CONAFFINITY) if on else (0, 0))
    m = spec.compile()
    mx = mjx.put_model(m, impl="jax")
    d0 = mjx.make_data(mx)
    d0 = d0.replace(qpos=jnp.asarray(m.key("home").qpos))
    batch_d = jax.tree.map(lambda a: jnp.broadcast_to(a, (batch,) + a.shape), d0)
    target = jnp.asarray(go2.DEFAULT_POSE_MJCF)

    def one(data, mx=mx):
      def sub(d, _):
        tau = jnp.clip(35.0 * (target - d.qpos[7:]) - 0.5 * d.qvel[6:], -23.5, 23.5)
        return mjx.step(mx, d.replace(ctrl=tau)), ()
      return jax.lax.scan(sub, data, None, length=4)[0]

    @jax.jit
    def run(data, one=one):
      return jax.lax.scan(lambda d, _: (jax.vmap(one)(d), ()), data, None, length=steps)[0].qpos
    out[variant] = (run, batch_d)
  return out


def main(argv=None) -> dict:
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
  p.add_argument("--steps", type=int, default=10, help="control steps per timed call")
  p.add_argument("--repeats", type=int, default=2)
  p.add_argument("--skip-loco", action="store_true", help="omit the loco env side")
  p.add_argument("--out", default=None)
  args = p.parse_args(argv)

  cfg = pipeline.SensorConfig()
  world = obstacles.make_tiled_world()
  env = VecEnv = None
  if not args.skip_loco:
    env, VecEnv = _loco_env()
    mj_model = env.mj_model
  else:
    mj_model = go2.load_model(collisions="body")
  shapes = collisions.robot_shapes(mj_model)
  md = mujoco.MjData(mj_model)
  md.qpos[:] = mj_model.key("home").qpos
  mujoco.mj_forward(mj_model, md)
  gx, gm = jnp.asarray(md.geom_xpos, jnp.float32), jnp.asarray(md.geom_xmat.reshape(-1, 3, 3))
  rows = []
  for bi, batch in enumerate(args.batches):
    row = {"num_envs": batch}
    xy, yaw, ob = _initial(world, batch, jax.random.PRNGKey(batch))
    key = jax.random.PRNGKey(1)
    sense_run = _sensing_program(cfg, world, shapes, gx, gm, args.steps)
    ray_run = _mjx_ray_program(cfg, world, args.steps)
    row["sense_compile_s"] = _compile_time(sense_run, (xy, yaw, ob, key, gx, gm))
    row["max_cull_count"] = int(sense_run(xy, yaw, ob, key, gx, gm)[1])
    row["mjx_ray_compile_s"] = _compile_time(ray_run, (xy, yaw, ob, key))
    sides = {"sense": (sense_run, (xy, yaw, ob, key, gx, gm)), "mjx_ray": (ray_run, (xy, yaw, ob, key))}
    if env is not None:
      venv = VecEnv(env, batch)
      state = jax.jit(venv.reset)(jax.random.PRNGKey(0))
      zeros = jnp.zeros((batch, 12))

      @jax.jit
      def loco_run(s, venv=venv, zeros=zeros):
        return jax.lax.scan(lambda c, _: (venv.step(c, zeros), ()), s, None, length=args.steps)[0]
      row["loco_compile_s"] = _compile_time(loco_run, (state,))
      sides["loco"] = (loco_run, (state,))
    if bi == 0:
      for name, (fn, d) in _mjx_contact_programs(batch, args.steps).items():
        row[f"mjx_contacts_{name}_compile_s"] = _compile_time(fn, (d,))
        sides[f"mjx_contacts_{name}"] = (fn, (d,))
    times = {k: [] for k in sides}
    for _ in range(args.repeats):  # alternate so every side sees the same machine load
      for k, (fn, a) in sides.items():
        times[k] += _time(fn, a, 1)
    for k, t in times.items():
      row[f"{k}_times_s"] = t
      row[f"{k}_us_per_env_step"] = min(t) / (batch * args.steps) * 1e6
    if "loco" in times:
      row["sense_over_loco"] = row["sense_us_per_env_step"] / row["loco_us_per_env_step"]
    row["mjx_ray_over_sense"] = row["mjx_ray_us_per_env_step"] / row["sense_us_per_env_step"]
    if bi == 0:
      row["mjx_contact_extra_us_per_env_step"] = (row["mjx_contacts_body_us_per_env_step"]
                                                  - row["mjx_contacts_feet_us_per_env_step"])
    rows.append(row)
    print(f"num_envs {batch:5d}: sensing {row['sense_us_per_env_step']:8.1f} us/env-step | "
          f"loco {row.get('loco_us_per_env_step', float('nan')):8.1f} | "
          f"mjx.ray {row['mjx_ray_us_per_env_step']:8.1f} | sensing/loco "
          f"{row.get('sense_over_loco', float('nan')):.3f} | mjx.ray/sensing "
          f"{row['mjx_ray_over_sense']:.1f}x", flush=True)

  cols = [("num_envs", "num_envs", "d"), ("sensing us", "sense_us_per_env_step", ".1f"),
          ("loco us", "loco_us_per_env_step", ".1f"), ("mjx.ray us", "mjx_ray_us_per_env_step", ".1f"),
          ("sense/loco", "sense_over_loco", ".3f"), ("mjx.ray/sense", "mjx_ray_over_sense", ".1f"),
          ("max cull", "max_cull_count", "d")]
  print(_common.table(rows, cols))
  r0 = rows[0]
  if "mjx_contact_extra_us_per_env_step" in r0:
    print(f"MJX contacts option at {r0['num_envs']} envs: body+8 boxes "
          f"{r0['mjx_contacts_body_us_per_env_step']:.1f} vs feet-only "
          f"{r0['mjx_contacts_feet_us_per_env_step']:.1f} us/env-step "
          f"(+{r0['mjx_contact_extra_us_per_env_step']:.1f})")
  result = {"versions": _common.versions(),
            "settings": {"steps_per_call": args.steps, "repeats": args.repeats,
                         "sensor_config": vars(cfg) if hasattr(cfg, "__dict__") else str(cfg),
                         "world": "10 x 10 tiles of 9 m, periodic", "dynamic_obstacles": 3,
                         "num_centers": cfg.num_centers},
            "rows": rows}
  _common.write("lidar_throughput", result, args.out)
  return result


if __name__ == "__main__":
  main()
