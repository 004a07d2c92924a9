"""Networks from the task config: observation groups by name and REASAN's ray encoders."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from reasan_jax.ppo import encoders, networks


def _count(params) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))


@pytest.mark.parametrize("name, size, out, count", [
    ("ray_cnn_1x180", 180, 64, 144_464),   # REASAN filter §8.1: actor encoder
    ("ray_cnn_3x180", 540, 128, 576_688),  # REASAN filter §8.1: critic encoder
])
def test_ray_encoders_match_reasans_parameter_counts(name, size, out, count):
  enc = encoders.make_encoder(name)
  params = enc.init(jax.random.PRNGKey(0), jnp.zeros((2, 5, size)))
  assert _count(params) == count
  assert enc.apply(params, jnp.ones((2, 5, size))).shape == (2, 5, out)


def test_first_convolution_pads_circularly():
  """Conv 1->4 k5 of ray_cnn_1x180 equals a NumPy circular correlation (azimuth 0 wraps to 179)."""
  enc = encoders.make_encoder("ray_cnn_1x180")
  x = jax.random.uniform(jax.random.PRNGKey(1), (1, 180))
  params = enc.init(jax.random.PRNGKey(0), x)["params"]
  kernel = np.asarray(params["conv_0"]["kernel"])[:, 0, :]  # (5, 4)
  bias = np.asarray(params["conv_0"]["bias"])
  conv = nn.Conv(4, (5,), padding="CIRCULAR")
  got = np.asarray(conv.apply({"params": params["conv_0"]}, x.reshape(1, 180, 1)))[0]  # (180, 4)
  xs = np.asarray(x[0])
  want = np.stack([sum(kernel[j] * xs[(i + j - 2) % 180] for j in range(5)) + bias
                   for i in range(180)])
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # PyTorch's default initialisation: U(+-1/sqrt(fan_in)) with fan_in = 1 x 5.
  assert np.abs(kernel).max() <= 1 / math.sqrt(5) + 1e-7


def _ray_network_config() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      "rnn_size": 256, "actor_hidden": (512, 256, 128), "critic_hidden": (512, 256, 128),
      "activation": "elu", "init_std": 1.0, "actor_obs": ("proprio", "rays"),
      "critic_obs": ("proprio", "privileged", "critic_rays"),
      "encoders": {"rays": "ray_cnn_1x180", "critic_rays": "ray_cnn_3x180"}})


FILTER_OBS = {"proprio": (12,), "privileged": (6,), "rays": (180,), "critic_rays": (540,)}


def test_reasan_filter_layout_from_the_config():
  """ActorCriticRecurrentRay's layout (REASAN filter §8.1) with our GRU core: encoder and MLP
  parameter counts are REASAN's; the recurrent core is a GRU (3 gates) instead of an LSTM (4)."""
  net = _ray_network_config()
  actor = networks.make_actor(net, FILTER_OBS, 3)
  critic = networks.make_critic(net, FILTER_OBS)
  obs = {k: jnp.zeros((1, 2) + v) for k, v in FILTER_OBS.items()}
  carry, reset = jnp.zeros((2, 256)), jnp.zeros((1, 2), bool)
  pa = actor.init(jax.random.PRNGKey(0), carry, obs, reset)["params"]
  pc = critic.init(jax.random.PRNGKey(1), carry, obs, reset)["params"]
  assert _count(pa["features"]["encoder_rays"]) == 144_464
  assert _count(pa["mlp"]) == 296_195
  assert _count(pc["features"]["encoder_critic_rays"]) == 576_688
  assert _count(pc["mlp"]) == 295_937
  gru_in = pa["core"]["gru"]["input_kernel"].shape
  assert gru_in == (12 + 64, 3 * 256)  # proprio + ray latent -> the recurrent core
  assert pc["core"]["gru"]["input_kernel"].shape == (12 + 6 + 128, 3 * 256)
  _, mean = actor.apply({"params": pa}, carry, obs, reset)
  assert mean.shape == (1, 2, 3)


def test_bad_network_configs_are_one_sentence():
  net = _ray_network_config()
  with pytest.raises(ValueError, match=r"network.actor_obs names observation groups \['proprio'"):
    networks.make_actor(net, {"state": (45,)}, 3)
  net.encoders = {"rays": "ray_cnn_3x180"}
  with pytest.raises(ValueError, match="Encoder 'ray_cnn_3x180' takes 540 values but observation group 'rays'"):
    networks.make_actor(net, FILTER_OBS, 3)
  net.encoders = {"rays": "lidar_net"}
  with pytest.raises(ValueError, match="is not an encoder; choose from ray_cnn_1x180, ray_cnn_3x180"):
    networks.make_actor(net, FILTER_OBS, 3)
