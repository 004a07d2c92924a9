"""Tasks, one folder each (env, reward terms); registered with their configs in
:mod:`reasan_jax.registry`."""
