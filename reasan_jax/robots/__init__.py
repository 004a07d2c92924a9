"""Robots. One folder per robot; today the Unitree Go2 (:mod:`reasan_jax.robots.go2`)."""
