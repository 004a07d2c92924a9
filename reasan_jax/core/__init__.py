"""The environment API every task is written against (:mod:`.env`), the batching wrapper
(:mod:`.wrappers`) and spatial maths (:mod:`.spatial`).

``from reasan_jax.core import Env, State, VecEnv`` works; :class:`VecEnv` is imported on first use,
because its module imports MuJoCo, which must not load before the CLI has chosen an OpenGL backend.
"""

from reasan_jax.core.env import Env, State  # noqa: F401


def __getattr__(name: str):
  if name == "VecEnv":
    from reasan_jax.core.wrappers import VecEnv  # pylint: disable=import-outside-toplevel

    return VecEnv
  raise AttributeError(f"module 'reasan_jax.core' has no attribute {name!r}")
