"""REASAN's ray estimator (reasan-nav.md §8): model, loss, windowed batches, training, evaluation, loading.

Modules: ``model`` (RayPredictor), ``loss`` (conservative loss), ``data`` (H-frame windows, fixed-shape
batches), ``train`` (config, state, epoch loop), ``evaluate`` (figures against two baselines), ``load``
(a trained estimator as a pure eval-mode function). The HDF5 format is :mod:`reasan_jax.io.ray_dataset`.
"""
