"""Range sensing against obstacle primitives: REASAN's LiDAR ray casts, ray features, collisions.

* :mod:`reasan_jax.sensors.rays` -- primitives (yawed boxes, vertical cylinders, ground plane) and
  analytic ray casts: the general 3-D cast and REASAN's horizontal "measure" pattern.
* :mod:`reasan_jax.sensors.features` -- actor / ground-truth / critic rays, per-azimuth minimum and
  class, the time-to-collision field and its softmax-weighted direction query.
* :mod:`reasan_jax.sensors.collisions` -- analytic overlap tests between the Go2's collision
  primitives and obstacle primitives (REASAN's "undesired body touches an obstacle").
"""
