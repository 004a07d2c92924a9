"""Observation encoders: REASAN's circular 1-D CNNs over 180 LiDAR range rays.

A network config names, per observation group, the encoder applied before the recurrent core
(``network.encoders = {"rays": "ray_cnn_1x180", "critic_rays": "ray_cnn_3x180"}``); groups without
one are flattened as they are. Layouts follow REASAN's ``RayEncoderCNN1x180`` / ``RayEncoderCNN3x180``
(REASAN filter §8.1, REASAN nav §6.1):

* ``ray_cnn_1x180`` (actor, 180 -> 64): view (1 channel, 180); Conv1d 1->4 k5 -> ELU -> MaxPool 2;
  Conv1d 4->8 k3 -> ELU -> MaxPool 2; Conv1d 8->16 k3 -> ELU -> MaxPool 3 -> (16, 15); flatten
  channel-major (240) -> Dense 256 -> ELU -> Dense 256 -> ELU -> Dense 64. 144,464 parameters.
* ``ray_cnn_3x180`` (critic, 540 -> 128): view (3 channels = ray heights, 180), layer-major;
  Conv 3->8 k5, 8->16 k3, 16->32 k3 with the same pools -> (32, 15) = 480 -> 512 -> 512 -> 128.
  576,688 parameters.

Every convolution has stride 1 and **circular** padding ((k - 1) / 2 each side), so azimuth 0
(straight back, -180 deg) neighbours azimuth 179. The flatten is channel-major like PyTorch's, so
weights map one-to-one to REASAN's (and to an exported ONNX graph). Initialisation is PyTorch's
default: weights and biases U(+-1/sqrt(fan_in)), fan_in = in_channels x kernel for convolutions.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def _torch_uniform(fan_in: int) -> Callable:
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


@dataclasses.dataclass(frozen=True)
class RayCNNSpec:
  """Layout of one circular ray CNN (see the module docstring).

  Attributes:
    channels_in: ray layers stacked as input channels (1 or 3).
    width: rays per layer (180).
    convs: ``((out_channels, kernel, pool), ...)`` per convolution block.
    hidden: widths of the dense layers after the flatten (ELU after each).
    features: output width (no activation).
  """

  channels_in: int
  width: int
  convs: tuple[tuple[int, int, int], ...]
  hidden: tuple[int, ...]
  features: int

  @property
  def input_size(self) -> int:
    """Length of the flat input vector, channels_in x width."""
    return self.channels_in * self.width


ENCODERS: dict[str, RayCNNSpec] = {
    "ray_cnn_1x180": RayCNNSpec(1, 180, ((4, 5, 2), (8, 3, 2), (16, 3, 3)), (256, 256), 64),
    "ray_cnn_3x180": RayCNNSpec(3, 180, ((8, 5, 2), (16, 3, 2), (32, 3, 3)), (512, 512), 128),
}
"""Registered encoders by name (REASAN filter §8.1)."""


def check_encoder(name: str, group: str, shape: Sequence[int]) -> RayCNNSpec:
  """The spec of encoder ``name`` after checking it fits observation group ``group`` of ``shape``.

  Raises:
    ValueError: unknown encoder name, or an observation size other than the encoder's input size.
  """
  if name not in ENCODERS:
    raise ValueError(f"network.encoders.{group} = {name!r} is not an encoder; choose from "
                     f"{', '.join(sorted(ENCODERS))}.")
  spec = ENCODERS[name]
  size = int(math.prod(shape))
  if size != spec.input_size:
    raise ValueError(f"Encoder {name!r} takes {spec.input_size} values but observation group "
                     f"{group!r} has shape {tuple(shape)}; give that group another encoder or none.")
  return spec


class RayCNN(nn.Module):
  """Circular 1-D CNN encoder: ``(..., channels_in * width) -> (..., features)``.

  The flat input is read layer-major (``[layer][azimuth]``, REASAN's ray layout) and convolved
  along the azimuth with circular padding; ELU after every convolution and hidden layer.
  """

  spec: RayCNNSpec

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    s = self.spec
    lead = x.shape[:-1]
    h = x.reshape((-1, s.channels_in, s.width)).transpose(0, 2, 1)  # (N, width, C) channels-last
    c_in = s.channels_in
    for i, (c_out, k, pool) in enumerate(s.convs):
      init = _torch_uniform(c_in * k)
      h = nn.Conv(c_out, (k,), padding="CIRCULAR", kernel_init=init, bias_init=init,
                  name=f"conv_{i}")(h)
      h = nn.max_pool(nn.elu(h), (pool,), strides=(pool,))
      c_in = c_out
    h = h.transpose(0, 2, 1).reshape((h.shape[0], -1))  # channel-major flatten, like torch
    for i, width in enumerate((*s.hidden, s.features)):
      init = _torch_uniform(h.shape[-1])
      h = nn.Dense(width, kernel_init=init, bias_init=init, name=f"dense_{i}")(h)
      if i < len(s.hidden):
        h = nn.elu(h)
    return h.reshape(lead + (s.features,))


def make_encoder(name: str, module_name: str | None = None) -> RayCNN:
  """The encoder module registered as ``name`` (see :data:`ENCODERS`), flax name ``module_name``.

  Raises:
    ValueError: unknown name.
  """
  if name not in ENCODERS:
    raise ValueError(f"Unknown encoder {name!r}; choose from {', '.join(sorted(ENCODERS))}.")
  return RayCNN(ENCODERS[name], name=module_name)
