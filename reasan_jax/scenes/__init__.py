"""Obstacle worlds for REASAN's filter / nav tasks.

* :mod:`reasan_jax.scenes.obstacles` -- the periodic static filter world (REASAN filter §6.1).
* :mod:`reasan_jax.scenes.dynamic_obstacles` -- moving obstacles and the curriculum's active
  count (REASAN filter §6.3, §7).
* :mod:`reasan_jax.scenes.layout` -- user-defined layouts (JSON / YAML / Python) and MJCF geoms of
  a layout for rendering and for MuJoCo cross-checks.
"""
