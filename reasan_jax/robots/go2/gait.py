"""Per-foot swing bookkeeping of the Go2 (contact-sensor style air time and swing peak height).

REASAN's gait rewards read, at each policy step, which feet touch down after a swing, how long the
swing lasted and how high the foot went (reasan-loco.md gait terms, Isaac Lab's contact sensor
``last_air_time``). :func:`foot_contacts` updates the two carried (4,) arrays from one step's foot
forces and heights; the loco task keeps them in its ``info``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class FootContacts:
  """Per-foot swing bookkeeping of one policy step (contact-sensor style; reasan-loco.md gait).

  Attributes (all (4,), FEET order):
    contact: the foot is in contact (normal force above the threshold).
    first_contact: it touched down at this step after being in the air.
    air_time: s in the air up to and including this step (the swing time at a touch-down).
    peak_height: m, highest foot height of the swing so far, this step included.
  """

  contact: jax.Array
  first_contact: jax.Array
  air_time: jax.Array
  peak_height: jax.Array

  def carry(self) -> tuple[jax.Array, jax.Array]:
    """``(air_time, peak_height)`` for the next step: both restart at 0 on feet in contact."""
    return (jnp.where(self.contact, 0.0, self.air_time),
            jnp.where(self.contact, 0.0, self.peak_height))


def foot_contacts(air_time: jax.Array, peak_height: jax.Array, foot_force: jax.Array,
                  foot_height: jax.Array, dt: float, threshold: float = 1.0) -> FootContacts:
  """Updates the swing bookkeeping with one step's foot forces (N) and heights (m), all (4,).

  Args:
    air_time, peak_height: (4,) carried values (:meth:`FootContacts.carry`; zeros at reset).
    foot_force: (4,) normal force, N. foot_height: (4,) m (world z or height above the terrain).
    dt: s per policy step. threshold: N above which a foot counts as in contact.
  """
  contact = foot_force > threshold
  first_contact = contact & (air_time > 0)
  return FootContacts(contact=contact, first_contact=first_contact, air_time=air_time + dt,
                      peak_height=jnp.maximum(peak_height, foot_height))
