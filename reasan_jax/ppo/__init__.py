"""Recurrent (GRU) PPO in one compiled JAX program (reasan-rl-core.md §2-6).

* :mod:`networks`: scanned GRU, actor/critic MLPs, diagonal Gaussian helpers.
* :mod:`losses`: GAE, advantage normalisation, the PPO loss, the adaptive learning rate.
* :mod:`trainer`: :class:`Trainer` (``init``/``run``) and :class:`TrainState`.
"""

from __future__ import annotations

from reasan_jax.ppo.trainer import TrainState, Trainer, maybe_initialize_distributed

__all__ = ["TrainState", "Trainer", "maybe_initialize_distributed"]
