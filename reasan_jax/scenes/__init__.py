"""What the robot stands in: terrain and obstacle worlds for REASAN's tasks.

* :mod:`reasan_jax.scenes.terrain` -- height-field terrains (the loco task's rough ground).
* :mod:`reasan_jax.scenes.obstacles` -- the periodic static filter world (REASAN filter §6.1).
* :mod:`reasan_jax.scenes.dynamic_obstacles` -- moving obstacles and the curriculum's active
  count (REASAN filter §6.3, §7).
* :mod:`reasan_jax.scenes.layout` -- user-defined layouts (JSON / YAML / Python) and MJCF geoms of
  a layout for rendering and for MuJoCo cross-checks.
"""
