"""Ray features and the time-to-collision (TTC) field of REASAN's filter and nav tasks.

Inputs are one env's :class:`reasan_jax.sensors.rays.Scan` arrays (vmap for batches):
``distance`` (C * 3, 180) in m in [0, 6] and ``cls`` (C * 3, 180), rows = centre * 3 + layer,
azimuth k at ``-180 deg + 2 deg * k`` (REASAN filter §2.1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from reasan_jax.sensors import rays

ACTOR_CLIP = 3.0
"""Actor / GT rays are clipped to <= 3 m and divided by 3 (REASAN filter §2.2)."""

ACTOR_NOISE = 0.05
"""Training actor rays get U(-0.05, 0.05) per beam after scaling (REASAN filter §2.2)."""

TTC_MAX = 3.0
"""TTC default / cap in s, and the cap on the distance used by the TTC, 3 m (REASAN filter §4.1)."""

TTC_EPS = 1e-6
SOFTMAX_TEMPERATURE = 1e-4
"""Temperature of the direction-weighted TTC, applied to the un-normalised dot product
(REASAN filter §4.1)."""


def actor_rays(distance: jax.Array, key: jax.Array | None = None,
               noise: float = ACTOR_NOISE) -> jax.Array:
  """Training actor rays (REASAN filter §2.2).

  Args:
    distance: (C * 3, 180) scan distances, m.
    key: PRNG key for the U(-noise, noise) beam noise; ``None`` for no noise.
    noise: noise half-width (0.05, REASAN filter §2.2).

  Returns:
    (180,) centre-0 rays: min over its 3 layers, clipped to <= 3 m, / 3, plus noise
    (so in about [-0.05, 1.05]).
  """
  r = jnp.minimum(jnp.min(distance[:3], axis=0), ACTOR_CLIP) / ACTOR_CLIP
  if key is not None:
    r = r + jax.random.uniform(key, r.shape, minval=-noise, maxval=noise)
  return r


def gt_rays(distance: jax.Array) -> jax.Array:
  """(180,) ground-truth rays: min over all C * 3 rows, clipped to <= 3 m, / 3, no noise
  (REASAN filter §2.2; the play env's actor rays)."""
  return jnp.minimum(jnp.min(distance, axis=0), ACTOR_CLIP) / ACTOR_CLIP


def critic_rays(distance: jax.Array) -> jax.Array:
  """(540,) critic rays: the centre-0 rows (3 layers x 180, layer-major) / 6, no clip at 3 m,
  no noise (REASAN filter §2.2)."""
  return distance[:3].reshape(-1) / rays.MAX_RANGE


def per_azimuth_min(distance: jax.Array, cls: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Minimum over all C * 3 rows per azimuth and the class of that row.

  Args:
    distance: (C * 3, 180) m.
    cls: (C * 3, 180) hit classes.

  Returns:
    ``(d, c)``: (180,) minimum distance in m and (180,) class of the row attaining it (first row
    on ties) (REASAN filter §2.2 "per-azimuth hit class", §4.1 step 1).
  """
  j = jnp.argmin(distance, axis=0)
  return (jnp.take_along_axis(distance, j[None], 0)[0], jnp.take_along_axis(cls, j[None], 0)[0])


def unit(x: jax.Array) -> jax.Array:
  """``x / (|x| + 1e-6)`` along the last axis (REASAN filter §4 notation)."""
  return x / (jnp.linalg.norm(x, axis=-1, keepdims=True) + 1e-6)


def beam_directions() -> jax.Array:
  """(180, 2) horizontal unit directions ``u_k`` of the azimuths in the yaw frame."""
  a = jnp.asarray(rays.azimuths())
  return jnp.stack([jnp.cos(a), jnp.sin(a)], -1)


def obstacle_velocity(wp_a: jax.Array, wp_b: jax.Array, speed: jax.Array) -> jax.Array:
  """(J, 2) nominal world velocity ``speed_j * unit(B_j - A_j)`` in m/s of dynamic obstacles
  (REASAN filter §4.1 step 6: the waypoint direction, not a measured velocity)."""
  return speed[:, None] * unit(wp_b - wp_a)


def ttc_field(d: jax.Array, cls: jax.Array, v_body_xy: jax.Array, yaw: jax.Array,
              obstacle_vel: jax.Array | None = None) -> jax.Array:
  """Per-azimuth time-to-collision (REASAN filter §4.1 steps 1-6; REASAN nav §7.5).

  Args:
    d: (180,) per-azimuth minimum distance in m (from :func:`per_azimuth_min`).
    cls: (180,) class of that minimum (-1 miss, 0 static, j >= 1 dynamic obstacle j).
    v_body_xy: (2,) robot velocity, m/s, dotted with the yaw-frame beam directions as REASAN
      does (its base-frame velocity, REASAN filter §10 item 4).
    yaw: () base yaw in rad (rotates the beams into the world for the obstacle term).
    obstacle_vel: (J, 2) world velocities of dynamic obstacles 1..J (m/s), or None.

  Returns:
    (180,) TTC in s in [0, 3]: 3 on a miss; ``min(min(d, 3) / (p + 1e-6), 3)`` for static hits
    with ``p = max(v . u_k, 0)``; ``min(min(d, 3) / (max(p - o_j . w_k, 0) + 1e-6), 3)`` for
    dynamic obstacle j with ``w_k`` the world direction of beam k.
  """
  u = beam_directions()
  dh = jnp.minimum(d, TTC_MAX)
  p = jnp.maximum(u @ v_body_xy, 0.0)
  ttc = jnp.where(cls == rays.STATIC, jnp.minimum(dh / (p + TTC_EPS), TTC_MAX), TTC_MAX)
  if obstacle_vel is not None and obstacle_vel.shape[0] > 0:
    c, s = jnp.cos(yaw), jnp.sin(yaw)
    w = jnp.stack([c * u[:, 0] - s * u[:, 1], s * u[:, 0] + c * u[:, 1]], -1)
    j = jnp.clip(cls - 1, 0, obstacle_vel.shape[0] - 1)
    q = jnp.sum(obstacle_vel[j] * w, -1)
    dyn = jnp.minimum(dh / (jnp.maximum(p - q, 0.0) + TTC_EPS), TTC_MAX)
    ttc = jnp.where(cls >= 1, dyn, ttc)
  return ttc


def weighted_ttc(ttc: jax.Array, x: jax.Array) -> jax.Array:
  """Direction-weighted TTC ``sum_k softmax_k(x . u_k / 1e-4) TTC_k`` (REASAN filter §4.1 step 7).

  Args:
    ttc: (180,) TTC field, s.
    x: (2,) body-frame query vector (a command or velocity, m/s; not normalised: for small
      ``|x|`` neighbouring beams share the weight and ``x = 0`` gives the mean).

  Returns:
    () weighted TTC in s.
  """
  w = jax.nn.softmax(beam_directions() @ x / SOFTMAX_TEMPERATURE)
  return jnp.sum(w * ttc)


def nav_ray_class(cls: jax.Array) -> jax.Array:
  """(180,) nav "ray class": 1 where the per-azimuth class is a dynamic obstacle, else 0
  (REASAN nav §7.5)."""
  return (cls >= 1).astype(jnp.int32)
