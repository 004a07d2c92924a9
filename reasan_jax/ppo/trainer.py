"""Recurrent PPO as one compiled program: rollout -> GAE -> epochs x minibatches, fused over iterations.

Read top to bottom, one training iteration (:meth:`Trainer._iteration`) is:

1. **Rollout** (:meth:`Trainer._rollout`): ``lax.scan`` over ``unroll_length`` steps of
   ``VecEnv.step``. Each step feeds the current observation with ``reset = previous done`` to both
   GRUs (carry zeroed before the observation is consumed), samples ``a = mu + sigma * eps``, steps the
   envs (which auto-reset) and evaluates the critic on ``info["final_obs"]`` with the post-step
   critic carry, which bootstraps time-outs. The carries at the rollout start are kept.
2. **GAE** (:func:`losses.compute_gae`): reverse ``lax.scan``; done cuts the recursion, truncated
   steps bootstrap with V(final_obs). Advantages normalised over the whole rollout (or per minibatch).
3. **Update**: ``num_epochs`` x ``num_minibatches`` Adam steps. Minibatches split the *env* axis
   (every minibatch holds whole T-step sequences, re-run through both GRUs from the stored
   rollout-start carries), reshuffled every epoch. Per minibatch: loss + gradient, KL(old || current)
   from the same forward pass, adaptive learning rate from that KL, then the step with the new lr.
4. Optional observation normalisation: brax running statistics updated once, at the end of the
   iteration, with the rollout's raw observations (so rollout and update of one iteration see the
   same statistics and the first epoch's ratio is exactly 1).

This file is over 400 lines on purpose: the whole algorithm reads top to bottom in one place
(PureJaxRL-style); its pure pieces live in :mod:`.losses`, :mod:`.minibatches` and :mod:`.networks`.

:meth:`Trainer.run` jits ``lax.scan`` of ``num_iterations`` such iterations into ONE program with no
host round-trips; all randomness comes from ``TrainState.rng`` (bitwise reproducible on CPU).

Devices: the env axis of the env state, the carries, the rollout and every minibatch is sharded over a
1-D mesh of all devices (``jax.sharding``); params/optimiser state are replicated. Under jit (GSPMD)
means over the global batch are the cross-device averages of gradients and statistics. Minibatch
composition does not depend on the device count (see :func:`.minibatches.minibatch_permutation`), so a run on
N devices is the same algorithm as on one, up to float reduction order.

Deviations from REASAN (reasan-rl-core.md §5-6, §12), all deliberate:

* GRU instead of LSTM by default (§3; ``network.rnn = "lstm"`` trains REASAN's LSTM); log-std
  instead of raw std (§12.5).
* Time-out bootstrap with V(final_obs) using the critic carry at that point, not V(s_t) (§12.2).
* No critic double step at iteration boundaries: the bootstrap value is computed without advancing the
  stored critic carry (§12.1).
* Minibatches are shuffled each epoch (§12.4) and never need padding: a minibatch is a set of whole
  env sequences with the episode resets applied inside the scanned GRU, which gives the same GRU
  outputs as REASAN's split/pad/unpad (§6) without padding or masks.
* The adaptive learning rate lives in the train state and is restored on resume (§12.6).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from brax.training.acme import running_statistics
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from reasan_jax.core import wrappers
from reasan_jax.core.env import State
from reasan_jax.core.wrappers import VecEnv
from reasan_jax.ppo import losses, networks
from reasan_jax.ppo.minibatches import minibatch_permutation, split_batch

if TYPE_CHECKING:
  from reasan_jax.policies.policy import Policy

ENV_AXIS = "envs"  # name of the mesh axis the env batch is sharded over


@struct.dataclass
class TrainState:
  """Everything a training run needs to continue bitwise-identically (one pytree, checkpointable).

  Attributes:
    params: ``{"actor": flax params (incl. "log_std"), "critic": flax params}``.
    opt_state: optax state of clip-by-global-norm + Adam (scale only; the lr is applied manually).
    learning_rate: () float32, the adaptive learning rate (restored on resume, fixes §12.6).
    normalizer: brax ``RunningStatisticsState`` over ``{obs key: (obs dims)}`` (identity, never
      updated, when ``ppo.normalize_observations`` is off).
    env_state: batched :class:`reasan_jax.core.env.State`, leaves (num_envs, ...).
    actor_carry: actor recurrent carry *before* the next observation (and before the reset implied
      by ``env_state.done``): (num_envs, rnn_size) for the GRU, ``(h, c)`` of two such arrays for
      the LSTM (``network.rnn``).
    critic_carry: critic recurrent carry, same convention.
    rng: (2,) uint32 PRNG key; the only source of randomness of the learner.
    iteration: () int32, completed training iterations.
  """

  params: dict[str, Any]
  opt_state: Any
  learning_rate: jax.Array
  normalizer: running_statistics.RunningStatisticsState
  env_state: State
  actor_carry: Any
  critic_carry: Any
  rng: jax.Array
  iteration: jax.Array


@struct.dataclass
class Rollout:
  """One rollout, time-major ``(T, num_envs, ...)``; observations raw (not normalised).

  Attributes:
    actor_obs: ``{group: (T, N, ...)}`` the actor's observation groups of step t.
    critic_obs: ``{group: (T, N, ...)}`` the critic's observation groups of step t.
    reset: (T, N) bool, the carries were zeroed before step t (previous step ended an episode).
    action, log_prob, mean: (T, N, A), (T, N), (T, N, A) sampled action, its log-prob, policy mean.
    value: (T, N) V(obs_t).
    bootstrap_value: (T, N) V(final_obs_t) with the critic carry after obs_t.
    reward, done, truncation: (T, N) float32 from the env step.
  """

  actor_obs: jax.Array
  critic_obs: jax.Array
  reset: jax.Array
  action: jax.Array
  log_prob: jax.Array
  mean: jax.Array
  value: jax.Array
  bootstrap_value: jax.Array
  reward: jax.Array
  done: jax.Array
  truncation: jax.Array


def maybe_initialize_distributed(config: ml_collections.ConfigDict) -> None:
  """Joins a multi-process run (:func:`reasan_jax.io.distributed.initialize`, settings from JAX's
  environment variables or cluster auto-detection) once if ``config.run.distributed`` is true.

  Must run before anything touches a JAX device (building an MJX env does); ``Trainer`` calls it
  too, which is then a no-op. The train CLI's ``--distributed`` / ``--coordinator_address`` flags
  do it earlier, before the config is even loaded.

  Raises:
    reasan_jax.io.distributed.DistributedError: the run cannot be formed (one sentence).
  """
  run = config.get("run", None)
  if run is not None and run.get("distributed", False) and not jax.distributed.is_initialized():
    from reasan_jax.io import distributed  # pylint: disable=import-outside-toplevel

    distributed.initialize()


# ------------------------------------------------------------------------------------------------
# The trainer.


class Trainer:
  """Recurrent PPO on a :class:`VecEnv`, compiled as one program per ``run`` length.

  Args:
    env: the batched env; ``env.num_envs`` must equal ``config.ppo.num_envs``.
    config: full config with ``ppo``, ``network`` and (optionally) ``run`` sections, e.g.
      ``configs.loco.get_config()``.

  Raises:
    ValueError: inconsistent ``num_envs``; ``num_envs`` not divisible by devices x minibatches;
      unknown ``normalize_advantage`` / ``schedule`` / activation / encoder; the network config
      names observation groups the env does not have.
  """

  def __init__(self, env: VecEnv, config: ml_collections.ConfigDict):
    maybe_initialize_distributed(config)
    self.env = env
    self.config = config
    ppo, net = config.ppo, config.network
    self.ppo, self.net = ppo, net

    self.num_envs = int(env.num_envs)
    if int(ppo.num_envs) != self.num_envs:
      raise ValueError(
          f"config.ppo.num_envs = {ppo.num_envs} but the VecEnv has {self.num_envs} envs.")
    devices = jax.devices()
    self.num_devices = len(devices)
    m = int(ppo.num_minibatches)
    if self.num_envs % (self.num_devices * m) != 0:
      raise ValueError(
          f"num_envs ({self.num_envs}) must be divisible by devices x minibatches "
          f"({self.num_devices} x {m} = {self.num_devices * m}).")
    if ppo.normalize_advantage not in ("global", "minibatch"):
      raise ValueError(
          f"ppo.normalize_advantage must be 'global' or 'minibatch', got {ppo.normalize_advantage!r}.")
    if ppo.schedule not in ("adaptive", "fixed"):
      raise ValueError(f"ppo.schedule must be 'adaptive' or 'fixed', got {ppo.schedule!r}.")
    obs_shapes = env.observation_size
    self.actor = networks.make_actor(net, obs_shapes, env.action_size)
    self.critic = networks.make_critic(net, obs_shapes)
    self.actor_groups, self.critic_groups = self.actor.inputs, self.critic.inputs
    self._obs_shapes = {k: obs_shapes[k] for k in sorted({*self.actor_groups, *self.critic_groups})}
    self.rnn_size = int(net.rnn_size)
    self.rnn = networks.rnn_type(net)

    clip = [optax.clip_by_global_norm(ppo.max_grad_norm)] if ppo.max_grad_norm else []
    # Torch's Adam defaults (reasan-rl-core.md §2); the (adaptive) lr is applied in _sgd_step.
    self.optimizer = optax.chain(*clip, optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8))

    self.mesh = Mesh(np.asarray(devices), (ENV_AXIS,))
    self.replicated = NamedSharding(self.mesh, PartitionSpec())
    self.env_sharded = NamedSharding(self.mesh, PartitionSpec(ENV_AXIS))
    self.state_sharding = self._state_sharding()
    self._init_jit = jax.jit(self._init, out_shardings=self.state_sharding)
    self._run_jit = jax.jit(self._run, static_argnums=1,
                            out_shardings=(self.state_sharding, self.replicated))

  # ---- public API --------------------------------------------------------------------------------

  @property
  def env_steps_per_iteration(self) -> int:
    """Env transitions collected per training iteration (num_envs x unroll_length)."""
    return self.num_envs * int(self.ppo.unroll_length)

  def init(self, rng: jax.Array) -> TrainState:
    """Builds the initial train state (resets all envs, initialises networks and Adam).

    ``rng``: PRNG key (raw uint32 or typed). Output is sharded as :attr:`state_sharding`.
    """
    if jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
      rng = jax.random.key_data(rng)
    return self._init_jit(rng)

  def run(self, state: TrainState, num_iterations: int) -> tuple[TrainState, dict[str, jax.Array]]:
    """Runs ``num_iterations`` training iterations as ONE jitted program (compiled per length).

    Returns the new state and a dict of metrics, each an array with leading axis
    ``num_iterations`` (see :meth:`_iteration` for the keys).
    """
    state = jax.device_put(state, self.state_sharding)
    return self._run_jit(state, int(num_iterations))

  def policy(self, state: TrainState, source: str = "") -> "Policy":
    """The deterministic policy (Gaussian mean) of ``state`` as a :class:`~reasan_jax.policies.policy.Policy`.

    The observation normaliser is folded in when ``ppo.normalize_observations`` is on. This is
    also what a checkpoint's ``policy`` item stores (:func:`policy_item`).
    """
    from reasan_jax.policies import policy as policy_lib  # pylint: disable=import-outside-toplevel

    norm = bool(self.ppo.normalize_observations)
    return policy_lib.from_actor(
        self.actor, state.params["actor"],
        normalizer_mean=state.normalizer.mean if norm else None,
        normalizer_std=state.normalizer.std if norm else None,
        obs_shapes=self._obs_shapes, task=str(self.config.get("env", {}).get("task", "")),
        source=source)

  # ---- compiled pieces ---------------------------------------------------------------------------

  def _actor_apply(self, params, carry, obs, reset):
    return self.actor.apply({"params": params}, carry, obs, reset)

  def _critic_apply(self, params, carry, obs, reset):
    return self.critic.apply({"params": params}, carry, obs, reset)

  def _obs(self, normalizer, obs: Mapping[str, jax.Array], groups: tuple[str, ...]) -> dict[str, jax.Array]:
    """The observation groups ``groups`` of ``obs``, normalised if ``ppo.normalize_observations``."""
    if not self.ppo.normalize_observations:
      return {g: obs[g] for g in groups}
    return {g: _normalize(normalizer, g, obs[g]) for g in groups}

  def _init(self, rng: jax.Array) -> TrainState:
    k_env, k_actor, k_critic, k_state = jax.random.split(rng, 4)
    env_state = self.env.reset(k_env)
    dummy = {k: jnp.zeros((1, 1) + shape, jnp.float32) for k, shape in self._obs_shapes.items()}
    no_reset = jnp.zeros((1, 1), bool)
    carry1 = networks.init_carry(1, self.rnn_size, self.rnn)
    params = {
        "actor": self.actor.init(k_actor, carry1, dummy, no_reset)["params"],
        "critic": self.critic.init(k_critic, carry1, dummy, no_reset)["params"],
    }
    normalizer = running_statistics.init_state(
        {k: jnp.zeros(shape, jnp.float32) for k, shape in self._obs_shapes.items()})
    carry = networks.init_carry(self.num_envs, self.rnn_size, self.rnn)
    return TrainState(
        params=params,
        opt_state=self.optimizer.init(params),
        learning_rate=jnp.asarray(self.ppo.learning_rate, jnp.float32),
        normalizer=normalizer,
        env_state=env_state,
        actor_carry=carry,
        critic_carry=carry,
        rng=k_state,
        iteration=jnp.zeros((), jnp.int32),
    )

  def _state_sharding(self) -> TrainState:
    """Sharding of every TrainState leaf: env axis sharded for env state and carries."""
    shapes = jax.eval_shape(self._init, jax.random.PRNGKey(0))
    rep = jax.tree.map(lambda _: self.replicated, shapes)
    env = lambda tree: jax.tree.map(  # noqa: E731
        lambda x: self.env_sharded if x.ndim >= 1 else self.replicated, tree)
    return rep.replace(env_state=env(shapes.env_state), actor_carry=env(shapes.actor_carry),
                       critic_carry=env(shapes.critic_carry))

  def _run(self, state: TrainState, num_iterations: int):
    return jax.lax.scan(self._iteration, state, None, length=num_iterations)

  def _rollout(self, params, normalizer, env_state: State, actor_carry, critic_carry, rng):
    """``unroll_length`` env steps; returns ((env_state, carries), Rollout, episode metrics)."""
    log_std = params["actor"]["log_std"]

    def step(carry, key):
      env_state, a_carry, c_carry = carry
      obs = env_state.obs
      reset = (env_state.done > 0.5)[None]
      add_time = lambda x: jax.tree.map(lambda a: a[None], x)  # noqa: E731
      a_carry, mean = self._actor_apply(
          params["actor"], a_carry, add_time(self._obs(normalizer, obs, self.actor_groups)), reset)
      c_carry, value = self._critic_apply(
          params["critic"], c_carry, add_time(self._obs(normalizer, obs, self.critic_groups)), reset)
      mean, value = mean[0], value[0]
      action = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
      next_state = self.env.step(env_state, action)
      # V(final_obs): the observation reached by this step before any auto-reset, consumed by the
      # post-step critic carry without storing the advanced carry (no double step, §12.1).
      final_obs = add_time(self._obs(normalizer, next_state.info["final_obs"], self.critic_groups))
      _, bootstrap = self._critic_apply(params["critic"], c_carry, final_obs,
                                        jnp.zeros_like(reset))
      episode = wrappers.episode_means(next_state)
      count = episode.pop("count")
      episode_sums = {k: v * count for k, v in episode.items()}
      transition = Rollout(
          actor_obs={g: obs[g] for g in self.actor_groups},
          critic_obs={g: obs[g] for g in self.critic_groups}, reset=reset[0],
          action=action, log_prob=networks.gaussian_log_prob(action, mean, log_std), mean=mean,
          value=value, bootstrap_value=bootstrap[0], reward=next_state.reward,
          done=next_state.done, truncation=next_state.truncation)
      step_means = {k: jnp.mean(v) for k, v in next_state.metrics.items()}
      return (next_state, a_carry, c_carry), (transition, episode_sums, count, step_means)

    keys = jax.random.split(rng, int(self.ppo.unroll_length))
    carry, (data, episode_sums, counts, step_means) = jax.lax.scan(
        step, (env_state, actor_carry, critic_carry), keys)
    count = jnp.sum(counts)
    episode = {f"episode/{k}": jnp.sum(v) / jnp.maximum(count, 1.0) for k, v in episode_sums.items()}
    episode["episode/count"] = count
    # Dense per-step means of the env's metrics (e.g. reward terms) over the whole rollout.
    episode.update({f"rollout/{k}": jnp.mean(v) for k, v in step_means.items()})
    return carry, data, episode

  def _sgd_step(self, carry, minibatch: losses.Batch, old_log_std: jax.Array):
    """One minibatch: loss/grad, KL -> adaptive lr (before the step, used by it), Adam step."""
    params, opt_state, lr = carry
    ppo = self.ppo
    loss_fn = lambda p: losses.ppo_loss(  # noqa: E731
        p, minibatch, old_log_std, actor_apply=self._actor_apply,
        critic_apply=self._critic_apply, clip_param=ppo.clip_param, value_coef=ppo.value_coef,
        entropy_coef=ppo.entropy_coef, clipped_value_loss=bool(ppo.clipped_value_loss),
        normalize_advantage_per_minibatch=ppo.normalize_advantage == "minibatch")
    (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    if ppo.schedule == "adaptive":
      lr = losses.adaptive_learning_rate(lr, aux["kl"], ppo.desired_kl, ppo.lr_factor,
                                         tuple(ppo.lr_bounds))
    updates, opt_state = self.optimizer.update(grads, opt_state, params)
    params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
    aux["grad_norm"] = optax.tree.norm(grads)
    return (params, opt_state, lr), aux

  def _iteration(self, state: TrainState, _=None) -> tuple[TrainState, dict[str, jax.Array]]:
    """One PPO iteration. Metrics (all ()-shaped):

    ``loss/policy``, ``loss/value``, ``loss/entropy``, ``kl``, ``policy/clip_fraction``,
    ``grad_norm`` (means over the epochs x minibatches updates); ``learning_rate`` and
    ``policy/std`` (mean sigma) after the update; ``rollout/reward`` (mean step reward);
    ``episode/<k>`` for every ``info["episode"]`` entry (incl. ``return``, ``length``), averaged over
    the episodes that ended in this rollout (0 if none), and ``episode/count``; ``env/<k>`` for every
    entry of the env's ``info["log"]``, averaged over envs at the end of the rollout.
    """
    ppo = self.ppo
    rng, k_rollout, k_epochs = jax.random.split(state.rng, 3)

    # 1. Rollout.
    (env_state, actor_carry, critic_carry), data, episode = self._rollout(
        state.params, state.normalizer, state.env_state, state.actor_carry, state.critic_carry,
        k_rollout)

    # 2. GAE (+ global advantage normalisation, REASAN's default).
    advantages, targets = losses.compute_gae(
        data.reward, data.value, data.bootstrap_value, data.done, data.truncation, ppo.gamma,
        ppo.gae_lambda)
    if ppo.normalize_advantage == "global":
      advantages = losses.normalize_advantages(advantages)

    # 3. Epochs x minibatches of whole sequences.
    batch = losses.Batch(
        actor_obs=self._obs(state.normalizer, data.actor_obs, self.actor_groups),
        critic_obs=self._obs(state.normalizer, data.critic_obs, self.critic_groups),
        reset=data.reset, action=data.action, log_prob=data.log_prob, mean=data.mean,
        value=data.value, advantage=advantages, target=targets,
        actor_carry=state.actor_carry, critic_carry=state.critic_carry)
    old_log_std = state.params["actor"]["log_std"]

    def epoch(carry, key):
      perm = minibatch_permutation(key, self.num_envs, int(ppo.num_minibatches),
                                   bool(ppo.shuffle_minibatches))
      return jax.lax.scan(lambda c, mb: self._sgd_step(c, mb, old_log_std), carry,
                          split_batch(batch, perm))

    (params, opt_state, lr), aux = jax.lax.scan(
        epoch, (state.params, state.opt_state, state.learning_rate),
        jax.random.split(k_epochs, int(ppo.num_epochs)))

    # 4. Observation statistics (after the update: rollout and update used the same ones).
    normalizer = state.normalizer
    if ppo.normalize_observations:
      raw = {**data.critic_obs, **data.actor_obs}
      normalizer = running_statistics.update(
          normalizer, {k: raw[k] for k in self._obs_shapes}, std_min_value=_STD_MIN)

    new_state = TrainState(
        params=params, opt_state=opt_state, learning_rate=lr, normalizer=normalizer,
        env_state=env_state, actor_carry=actor_carry, critic_carry=critic_carry, rng=rng,
        iteration=state.iteration + 1)
    new_state = jax.lax.with_sharding_constraint(new_state, self.state_sharding)

    metrics = {
        "loss/policy": jnp.mean(aux["policy"]),
        "loss/value": jnp.mean(aux["value"]),
        "loss/entropy": jnp.mean(aux["entropy"]),
        "kl": jnp.mean(aux["kl"]),
        "policy/clip_fraction": jnp.mean(aux["clip_fraction"]),
        "grad_norm": jnp.mean(aux["grad_norm"]),
        "learning_rate": lr,
        "policy/std": jnp.mean(jnp.exp(params["actor"]["log_std"])),
        "rollout/reward": jnp.mean(data.reward),
        **episode,
    }
    for k, v in env_state.info.get("log", {}).items():
      metrics[f"env/{k}"] = jnp.mean(v)
    return new_state, metrics


# Floor of the observation std used by the running statistics, so nearly constant observation
# entries (e.g. a zero command) are not blown up; REASAN's unused normaliser adds 0.01 (§7).
_STD_MIN = 1e-2


def _normalize(normalizer: running_statistics.RunningStatisticsState, key: str,
               x: jax.Array) -> jax.Array:
  """(x - mean) / std with the running statistics of observation entry ``key``."""
  return (x - normalizer.mean[key]) / normalizer.std[key]


__all__ = ["ENV_AXIS", "Rollout", "TrainState", "Trainer", "maybe_initialize_distributed"]
