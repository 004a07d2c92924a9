"""What the robot stands in: terrain and obstacle worlds for REASAN's tasks.

* :mod:`reasan_jax.scenes.terrain` -- height-field terrains (the loco task's rough ground).
* :mod:`reasan_jax.scenes.obstacles` -- the periodic static filter world (REASAN filter §6.1).
* :mod:`reasan_jax.scenes.dynamic_obstacles` -- moving obstacles and the curriculum's active
  count (REASAN filter §6.3, §7).
* :mod:`reasan_jax.scenes.layout` -- user-defined layouts (JSON / YAML / Python) and MJCF geoms of
  a layout for rendering and for MuJoCo cross-checks.
* :mod:`reasan_jax.scenes.nav_worlds` -- the nav task's grid and maze of pillar walls, spawn/goal
  pairs and guide field (REASAN nav §4), built on :mod:`~reasan_jax.scenes.maze` (cell graphs,
  BFS) and :mod:`~reasan_jax.scenes.pillars` (pillar walls); the nav task's moving obstacles are
  :mod:`reasan_jax.scenes.nav_obstacles` (REASAN nav §4.8).
"""
