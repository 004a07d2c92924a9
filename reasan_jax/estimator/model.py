"""REASAN's ray estimator ``RayPredictor`` in flax linen (reasan-nav.md §8.3).

Maps an H-frame history of Mid-360 spherical grids (already divided by 3) and raw IMU readings to the 180
normalised clearance rays. Layout conventions: flax convolutions are channels-last, so a frame is
(180 azimuth, 30 elevation channels) internally; the public inputs keep REASAN's (B, H, 30, 180) order.

Initialisation follows PyTorch's defaults so training from scratch behaves like REASAN's: Linear / Conv
weights and biases U(±1/sqrt(fan_in)), attention input projections Xavier-uniform over torch's stacked
(3d, d) in_proj matrix with zero biases,
LayerNorm / BatchNorm scale 1 and bias 0, the two learnable encodings N(0, 1) (§8.3 items 3-4).
BatchNorm uses PyTorch's momentum 0.1 (flax momentum 0.9) and eps 1e-5.

Padded samples (the trainer pads every batch to one shape, see ``estimator.data``) are excluded from the
BatchNorm statistics through ``sample_mask``; nothing else mixes samples.
"""

from __future__ import annotations

import math
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

NUM_RAYS = 180
ELEVATION_BINS = 30
IMU_DIM = 6
_DROPOUT = 0.1
_BN = dict(momentum=0.9, epsilon=1e-5)


def _torch_uniform(fan_in: int) -> Callable:
  """PyTorch's default Linear/Conv initialiser U(±1/sqrt(fan_in)) for a given fan-in."""
  bound = 1.0 / math.sqrt(fan_in)

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def dense(features: int, fan_in: int, name: str | None = None) -> nn.Dense:
  """nn.Dense with PyTorch's default initialisation."""
  return nn.Dense(features, kernel_init=_torch_uniform(fan_in), bias_init=_torch_uniform(fan_in), name=name)


def conv1d(features: int, in_ch: int, kernel: int, use_bias: bool = True, padding="VALID") -> nn.Conv:
  """A channels-last 1-D nn.Conv with PyTorch's default initialisation (fan_in = in_ch * kernel)."""
  fan_in = in_ch * kernel
  return nn.Conv(features, (kernel,), padding=padding, use_bias=use_bias, kernel_init=_torch_uniform(fan_in),
                 bias_init=_torch_uniform(fan_in))


def _bn_mask(sample_mask: jax.Array | None, n: int, reps: int) -> jax.Array | None:
  """(n, 1, 1) bool BatchNorm mask from a (B,) sample mask when every sample spans ``reps`` rows."""
  if sample_mask is None:
    return None
  return jnp.repeat(sample_mask.astype(bool), reps)[:n, None, None]


class FrameCNN(nn.Module):
  """Per-frame circular CNN over azimuth with the 30 elevation bins as channels (§8.3 item 1).

  Input (N, 180, 30), output (N, 180, 16). Conv(30→32, k3, circular pad 1), ReLU, BN, Dropout1d;
  Conv(32→16, k3, circular pad 1), ReLU, BN.
  """

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, mask: jax.Array | None = None) -> jax.Array:
    wrap = lambda v: jnp.pad(v, ((0, 0), (1, 1), (0, 0)), mode="wrap")
    x = nn.relu(conv1d(32, ELEVATION_BINS, 3)(wrap(x)))
    x = nn.BatchNorm(use_running_average=not train, **_BN)(x, mask=mask)
    x = nn.Dropout(_DROPOUT, broadcast_dims=(1,), deterministic=not train)(x)
    x = nn.relu(conv1d(16, 32, 3)(wrap(x)))
    return nn.BatchNorm(use_running_average=not train, **_BN)(x, mask=mask)


class EncoderLayer(nn.Module):
  """PyTorch's standard post-LN TransformerEncoderLayer (ReLU, batch-first) (§8.3 item 5). (B, L, d) → same."""

  d_model: int = 128
  heads: int = 4
  ffn: int = 512

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    # torch: one Xavier-uniform (3d, d) in_proj matrix (bound sqrt(6 / 4d)), zero biases, out_proj a
    # default Linear with zero bias; attention dropout independent per weight (no broadcast).
    qkv_bound = math.sqrt(6.0 / (4 * self.d_model))
    attn = nn.MultiHeadDotProductAttention(
        num_heads=self.heads, qkv_features=self.d_model, out_features=self.d_model, dropout_rate=_DROPOUT,
        broadcast_dropout=False, deterministic=not train,
        kernel_init=lambda k, s, d=jnp.float32: jax.random.uniform(k, s, d, -qkv_bound, qkv_bound),
        bias_init=nn.initializers.zeros, out_kernel_init=_torch_uniform(self.d_model),
        out_bias_init=nn.initializers.zeros)
    drop = lambda v: nn.Dropout(_DROPOUT, deterministic=not train)(v)
    x = nn.LayerNorm(epsilon=1e-5)(x + drop(attn(x, x)))
    h = dense(self.ffn, self.d_model)(x)
    h = dense(self.d_model, self.ffn)(drop(nn.relu(h)))
    return nn.LayerNorm(epsilon=1e-5)(x + drop(h))


class DoubleConv(nn.Module):
  """[Conv k3 zero-pad, no bias → BN → ReLU → Dropout1d 0.1] × 2 (§8.3 item 6). (N, L, in) → (N, L, out)."""

  out: int
  mid: int

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, mask: jax.Array | None = None) -> jax.Array:
    for feats in (self.mid, self.out):
      x = conv1d(feats, x.shape[-1], 3, use_bias=False, padding=((1, 1),))(x)
      x = nn.relu(nn.BatchNorm(use_running_average=not train, **_BN)(x, mask=mask))
      x = nn.Dropout(_DROPOUT, broadcast_dims=(1,), deterministic=not train)(x)
    return x


def upsample_linear_x2(x: jax.Array) -> jax.Array:
  """Linear ×2 upsampling along axis 1 with align_corners=True, as torch's nn.Upsample (§8.3 item 6).

  (N, L, C) → (N, 2L, C); output i samples input coordinate i·(L−1)/(2L−1).
  """
  length = x.shape[1]
  pos = jnp.arange(2 * length) * ((length - 1) / max(2 * length - 1, 1))
  lo = jnp.floor(pos).astype(jnp.int32)
  hi = jnp.minimum(lo + 1, length - 1)
  w = (pos - lo)[None, :, None].astype(x.dtype)
  return x[:, lo] * (1 - w) + x[:, hi] * w


class UNet1D(nn.Module):
  """The 1-D U-Net over azimuth (§8.3 item 6): (B, 180, 128) → (B, 180) raw."""

  @nn.compact
  def __call__(self, x: jax.Array, train: bool, mask: jax.Array | None = None) -> jax.Array:
    pool = lambda v: nn.max_pool(v, (2,), strides=(2,))
    x1 = DoubleConv(64, 64)(x, train, mask)                  # 180
    x2 = DoubleConv(128, 128)(pool(x1), train, mask)         # 90
    x3 = DoubleConv(256, 256)(pool(x2), train, mask)         # 45
    x4 = DoubleConv(256, 256)(pool(x3), train, mask)         # 22
    y = x4
    for skip, out, mid in ((x3, 128, 256), (x2, 64, 128), (x1, 64, 64)):
      y = upsample_linear_x2(y)
      diff = skip.shape[1] - y.shape[1]                       # 45 - 44 = 1 at up1: zero pad on the right
      y = jnp.pad(y, ((0, 0), (diff // 2, diff - diff // 2), (0, 0)))
      y = DoubleConv(out, mid)(jnp.concatenate([skip, y], axis=-1), train, mask)
    return conv1d(1, 64, 1)(y)[..., 0]


class RayPredictor(nn.Module):
  """REASAN's transformer ray estimator (reasan-nav.md §8.3); 2,139,489 parameters at H = 15.

  Attributes:
    history_frames: H, the number of frames per window (the nav and filter envs need 15).

  Call ``(grid, imu, train, sample_mask=None)``:
    grid: (B, H, 30, 180) spherical grids divided by 3 (so in [0, 1], 1 = empty).
    imu: (B, H, 6) raw [projected gravity (3), body angular velocity rad/s (3)].
    train: dropout on and BatchNorm on batch statistics (needs rngs={'dropout': key} and
      mutable=['batch_stats']); False = eval mode with the running statistics.
    sample_mask: optional (B,) bool, False for padding samples excluded from BatchNorm statistics.
  Returns (B, 180) raw predictions in normalised units (× 3 = metres), no activation or clipping; index i is
  the ray at azimuth −180 + 2i degrees.
  """

  history_frames: int = 15
  d_model: int = 128

  @nn.compact
  def __call__(self, grid: jax.Array, imu: jax.Array, train: bool = False,
               sample_mask: jax.Array | None = None) -> jax.Array:
    b, h = grid.shape[:2]
    if h != self.history_frames or grid.shape[2:] != (ELEVATION_BINS, NUM_RAYS) or imu.shape != (b, h, IMU_DIM):
      raise ValueError(f"RayPredictor(H={self.history_frames}) takes grid (B, {self.history_frames}, 30, 180) and "
                       f"imu (B, {self.history_frames}, 6), got {grid.shape} and {imu.shape}.")
    frames = jnp.swapaxes(grid.reshape(b * h, ELEVATION_BINS, NUM_RAYS), 1, 2)     # (B·H, 180, 30)
    feat = FrameCNN(name="frame_cnn")(frames, train, _bn_mask(sample_mask, b * h, h)).reshape(b, h, NUM_RAYS, 16)
    drop = nn.Dropout(_DROPOUT, deterministic=not train)
    e = nn.relu(dense(32, IMU_DIM, "imu_in")(imu))
    e = nn.relu(dense(16, 32, "imu_out")(drop(e)))                                            # (B, H, 16)
    x = jnp.concatenate([feat, jnp.broadcast_to(e[:, :, None, :], (b, h, NUM_RAYS, 16))], axis=-1)
    temporal = self.param("temporal_encoding", nn.initializers.normal(1.0), (h, 32))
    x = x + temporal[None, :, None, :]                                             # (B, H, 180, 32)
    tokens = jnp.transpose(x, (0, 2, 1, 3)).reshape(b, NUM_RAYS, h * 32)           # frame-major per azimuth
    tokens = dense(self.d_model, h * 32, "token_proj")(tokens)
    tokens = tokens + self.param("spatial_encoding", nn.initializers.normal(1.0), (NUM_RAYS, self.d_model))
    for i in range(3):
      tokens = EncoderLayer(self.d_model, name=f"encoder_{i}")(tokens, train)
    return UNet1D(name="unet")(tokens, train, _bn_mask(sample_mask, b, 1))


def init_variables(key: jax.Array, history_frames: int) -> dict:
  """Initial {'params', 'batch_stats'} of a RayPredictor(H) from a (1, H, ...) example input."""
  model = RayPredictor(history_frames)
  grid = jnp.zeros((1, history_frames, ELEVATION_BINS, NUM_RAYS), jnp.float32)
  imu = jnp.zeros((1, history_frames, IMU_DIM), jnp.float32)
  return dict(model.init({"params": key}, grid, imu, False))


def count_params(params) -> int:
  """Total number of scalar parameters in a params pytree."""
  return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))
