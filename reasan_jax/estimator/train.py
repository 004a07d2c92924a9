"""Training the ray estimator (reasan-nav.md §8.5): config, state, the compiled steps and the epoch loop.

REASAN's recipe: Adam with weight decay 1e-4, lr 1e-4 with cosine annealing over the epochs (T_max =
num_epochs, η_min = 0, stepped once per epoch), gradient-norm clip 1.0, batches of whole episodes with at
least 512 frames, 100 epochs, validation each epoch in eval mode with the same batching.

Weight decay is PyTorch's ``Adam(weight_decay=...)``: coupled L2, the decay ``wd·θ`` added to the clipped
gradient before the Adam moments (``clip → add_decayed_weights → scale_by_adam → −lr``), not AdamW's
decoupled decay (docs/deviations.md, "Ray estimator").

A run folder (``<runs_dir>/<run_name>/``) holds ``config.json``, ``metrics.csv`` and ``tb/``
(:mod:`reasan_jax.io.logs`, one row per epoch), ``checkpoints/<epoch>/`` (the last epoch's full state, for
an exact ``--resume``) and ``best/checkpoints/<epoch>/`` (the state with the lowest validation loss),
both orbax (:mod:`reasan_jax.io.checkpoints`). The shuffling and dropout keys of epoch k are derived from
the run seed and k, so a resumed run repeats exactly what an uninterrupted one does.
"""

from __future__ import annotations

import functools
import pathlib
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import struct

from reasan_jax.estimator import data as data_lib
from reasan_jax.estimator.loss import conservative_loss
from reasan_jax.estimator.model import RayPredictor, init_variables
from reasan_jax.io import checkpoints as ckpt_lib
from reasan_jax.io import logs as logs_lib
from reasan_jax.io.ray_dataset import RayDataset

BEST_DIR = "best"


class EstimatorError(ValueError):
  """An estimator run, checkpoint or setting that cannot be used as asked (one-sentence message)."""


class EstimatorDiverged(RuntimeError):
  """The training loss became non-finite; that state was not saved."""


def default_config(cpu: bool) -> ml_collections.ConfigDict:
  """The estimator training config: REASAN's §8.5 figures, or the CPU default when ``cpu``.

  The CPU default keeps the model, loss, windows and optimiser but trains 8 epochs of 1,536 shuffled frames
  (batches of 64 single frames, ``batching="frames"``) at lr 5e-4, validating on the first 1,024 frames of
  the validation file, so it ends within ~15 minutes on two CPU cores whatever the dataset's size
  (REASAN: 100 epochs over every frame in whole-episode batches of >= 512 frames at 1e-4; docs/deviations.md,
  "Ray estimator").
  """
  c = ml_collections.ConfigDict()
  c.data = ""
  c.val = ""
  c.history_frames = 15
  c.batch_size = 64 if cpu else 512
  c.batching = "frames" if cpu else "episodes"
  c.epoch_frames = 1536 if cpu else 0        # 0 = every frame each epoch
  c.val_frames = 1024 if cpu else 0          # 0 = the whole validation file each epoch
  c.num_epochs = 8 if cpu else 100
  c.learning_rate = 5e-4 if cpu else 1e-4
  c.weight_decay = 1e-4
  c.grad_clip = 1.0
  c.imu_padding = "first"
  c.seed = 0
  c.profile = "cpu" if cpu else "gpu"
  c.run = ml_collections.ConfigDict({"wandb": False, "wandb_project": "ray_predictor"})
  return c


@struct.dataclass
class EstimatorState:
  """Everything an exact resume needs (all leaves saved in every checkpoint).

  Attributes:
    params / batch_stats: the RayPredictor variables.
    opt_state: the optax state, learning rate included (``inject_hyperparams``).
    epoch: () int32 completed epochs.
    best_val: () float32 lowest validation loss so far (inf before the first epoch).
    ray_mean: (180,) float32 training-set mean ray per azimuth (the constant baseline of evaluate.py).
    key: the run's base PRNG key (epoch keys are folded from it).
  """

  params: Any
  batch_stats: Any
  opt_state: Any
  epoch: jax.Array
  best_val: jax.Array
  ray_mean: jax.Array
  key: jax.Array


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """clip_by_global_norm → coupled L2 (torch Adam weight_decay) → Adam → −lr, lr injectable per epoch."""
  def chain(learning_rate):
    return optax.chain(optax.clip_by_global_norm(config.grad_clip),
                       optax.add_decayed_weights(config.weight_decay),
                       optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8),
                       optax.scale_by_learning_rate(learning_rate))
  return optax.inject_hyperparams(chain)(learning_rate=config.learning_rate)


def cosine_lr(config: ml_collections.ConfigDict, epoch: int) -> float:
  """PyTorch CosineAnnealingLR with T_max = num_epochs, η_min = 0, at the start of ``epoch`` (0-based)."""
  return 0.5 * config.learning_rate * (1.0 + np.cos(np.pi * epoch / config.num_epochs))


def init_state(config: ml_collections.ConfigDict, ray_mean: np.ndarray) -> EstimatorState:
  """A fresh state from ``config.seed``."""
  key = jax.random.key(config.seed)
  variables = init_variables(jax.random.fold_in(key, 0), config.history_frames)
  return EstimatorState(params=variables["params"], batch_stats=variables["batch_stats"],
                        opt_state=make_optimizer(config).init(variables["params"]),
                        epoch=jnp.int32(0), best_val=jnp.float32(jnp.inf),
                        ray_mean=jnp.asarray(ray_mean, jnp.float32), key=key)


def make_steps(config: ml_collections.ConfigDict) -> tuple[Callable, Callable]:
  """The jitted ``train_step(state, data, batch, key) -> (state, loss)`` and
  ``eval_step(params, batch_stats, data, batch) -> (pred (P, 180), loss)``; one compile per padded size.

  Cached per (H, IMU padding, optimiser settings), so training and the final evaluation share compiles.
  """
  return _steps(int(config.history_frames), str(config.imu_padding), float(config.grad_clip),
                float(config.weight_decay), float(config.learning_rate))


@functools.lru_cache(maxsize=8)
def _steps(history_frames: int, padding: str, grad_clip: float, weight_decay: float, learning_rate: float):
  model = RayPredictor(history_frames)
  optimizer = make_optimizer(ml_collections.ConfigDict(
      {"grad_clip": grad_clip, "weight_decay": weight_decay, "learning_rate": learning_rate}))

  @jax.jit
  def train_step(state: EstimatorState, data: data_lib.DeviceData, batch: data_lib.Batch, key: jax.Array):
    grid, imu, target = data_lib.windows(data, batch, padding)

    def loss_fn(params):
      pred, updates = model.apply({"params": params, "batch_stats": state.batch_stats}, grid, imu, True,
                                  batch.mask, rngs={"dropout": key}, mutable=["batch_stats"])
      return conservative_loss(pred, target, batch.mask), updates["batch_stats"]

    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return state.replace(params=params, batch_stats=stats, opt_state=opt_state), loss

  @jax.jit
  def eval_step(params, batch_stats, data: data_lib.DeviceData, batch: data_lib.Batch):
    grid, imu, target = data_lib.windows(data, batch, padding)
    pred = model.apply({"params": params, "batch_stats": batch_stats}, grid, imu, False)
    return pred, conservative_loss(pred, target, batch.mask)

  return train_step, eval_step


def set_learning_rate(state: EstimatorState, lr: float) -> EstimatorState:
  """``state`` with the injected learning rate set to ``lr`` (kept in the opt_state, so it is checkpointed)."""
  hyper = dict(state.opt_state.hyperparams)
  hyper["learning_rate"] = jnp.asarray(lr, hyper["learning_rate"].dtype)
  return state.replace(opt_state=state.opt_state._replace(hyperparams=hyper))


def validation_loss(eval_step: Callable, state: EstimatorState, data: RayDataset, device: data_lib.DeviceData,
                    config: ml_collections.ConfigDict, size: int) -> float:
  """Mean of the batch losses over the validation file (its first ``val_frames``) in file order, eval mode (§8.5)."""
  losses = [eval_step(state.params, state.batch_stats, device, b)[1]
            for b in data_lib.epoch_batches(data, None, config.batch_size, config.history_frames, size,
                                            config.batching, config.val_frames)]
  return float(np.mean(jax.device_get(losses)))


def run_training(config: ml_collections.ConfigDict, run_dir: pathlib.Path, train: RayDataset, val: RayDataset,
                 state: EstimatorState, progress: bool = True, until: int | None = None) -> EstimatorState:
  """Trains from ``state.epoch`` to ``until`` (default ``config.num_epochs``), logging and checkpointing
  every epoch; the learning-rate schedule always spans ``config.num_epochs``.

  Raises:
    EstimatorDiverged: a batch loss is not finite (nothing of that epoch is saved).
  """
  from tqdm.auto import tqdm  # pylint: disable=import-outside-toplevel

  train_step, eval_step = make_steps(config)
  dev_train, dev_val = data_lib.DeviceData.from_dataset(train), data_lib.DeviceData.from_dataset(val)
  size_train = data_lib.batch_length(train, config.batch_size, config.batching)
  size_val = data_lib.batch_length(val, config.batch_size, config.batching)
  per_epoch = train.num_frames if config.epoch_frames <= 0 else min(train.num_frames, config.epoch_frames)
  start = int(state.epoch)
  last = ckpt_lib.Checkpointer(run_dir, keep=1)
  best = ckpt_lib.Checkpointer(run_dir / BEST_DIR, keep=1)
  logger = logs_lib.Logger(run_dir, config, start_iteration=start, total_iterations=config.num_epochs,
                           env_steps_per_iteration=per_epoch, progress=False)
  bar = tqdm(total=config.num_epochs * per_epoch, initial=start * per_epoch, unit="frame",
             unit_scale=True, desc="estimator", dynamic_ncols=True, disable=not progress)
  shuffle_key, dropout_key = jax.random.split(state.key)
  try:
    for epoch in range(start, min(until or config.num_epochs, config.num_epochs)):
      t0 = time.time()
      lr = cosine_lr(config, epoch)
      state = set_learning_rate(state, lr)
      losses = []
      batches = data_lib.epoch_batches(train, jax.random.fold_in(shuffle_key, epoch), config.batch_size,
                                       config.history_frames, size_train, config.batching, config.epoch_frames)
      for i, batch in enumerate(batches):
        state, loss = train_step(state, dev_train, batch, jax.random.fold_in(jax.random.fold_in(dropout_key, epoch), i))
        loss = float(loss)
        if not np.isfinite(loss):
          raise EstimatorDiverged(f"the training loss became {loss} in epoch {epoch + 1}, batch {i + 1}; the "
                                  "last checkpoint is left as it was — lower --learning_rate and --resume.")
        losses.append(loss)
        bar.update(batch.num_frames)
        bar.set_postfix({"epoch": f"{epoch + 1}/{config.num_epochs}", "loss": f"{loss:.4f}"}, refresh=False)
      val_loss = validation_loss(eval_step, state, val, dev_val, config, size_val)
      improved = val_loss < float(state.best_val)
      state = state.replace(epoch=jnp.int32(epoch + 1),
                            best_val=jnp.float32(min(val_loss, float(state.best_val))))
      extra = {"val_loss": val_loss, "train_loss": float(np.mean(losses))}
      if improved:
        best.save(epoch + 1, state, config, extra=extra)
      last.save(epoch + 1, state, config, extra=extra)
      logger.log({"train/loss": [np.mean(losses)], "val/loss": [val_loss], "val/best_loss": [float(state.best_val)],
                  "train/learning_rate": [lr], "train/batches": [len(losses)]}, epoch, time.time() - t0)
      bar.write(f"epoch {epoch + 1}/{config.num_epochs}: train {np.mean(losses):.5f}  val {val_loss:.5f}"
                f"{'  (best)' if improved else ''}  lr {lr:.2e}")
  finally:
    bar.close()
    logger.close()
    last.close()
    best.close()
  return state


def state_template(config: ml_collections.ConfigDict) -> EstimatorState:
  """The abstract (shape-only) state of ``config``, for restoring a checkpoint."""
  return jax.eval_shape(lambda: init_state(config, np.zeros(180, np.float32)))


def check_history(step_dir: pathlib.Path, history_frames: int | None) -> ml_collections.ConfigDict:
  """The checkpoint's stored config, after checking its history length against ``history_frames``.

  Raises:
    EstimatorError: the checkpoint was trained with another history length, or is not an estimator one.
  """
  stored = ckpt_lib.checkpoint_config(step_dir)
  if "history_frames" not in stored:
    raise EstimatorError(f"{step_dir} is not a ray-estimator checkpoint (its config has no history_frames); "
                         "pass an estimator run folder.")
  if history_frames is not None and int(stored.history_frames) != int(history_frames):
    raise EstimatorError(f"{step_dir} was trained with --history_frames {stored.history_frames}, not "
                         f"{history_frames}; pass --history_frames {stored.history_frames} or train a new run.")
  return stored


def restore_state(path: str | pathlib.Path, history_frames: int | None = None
                  ) -> tuple[EstimatorState, ml_collections.ConfigDict, pathlib.Path]:
  """(state, stored config, step folder) of the estimator checkpoint at ``path``.

  ``path``: a run folder (its last checkpoint), ``<run>/best`` or a ``checkpoints/<epoch>`` folder.

  Raises:
    EstimatorError / CheckpointError: no checkpoint there, or another history length (one sentence).
  """
  step_dir = ckpt_lib.resolve_checkpoint(path)
  config = check_history(step_dir, history_frames)
  return ckpt_lib.restore(step_dir, state_template(config), config), config, step_dir
