"""Loading a :class:`~reasan_jax.policies.policy.Policy` from a run, a checkpoint or an ONNX file.

No trainer and no environment are built: a checkpoint's small ``policy`` item (actor parameters,
folded-in observation normaliser) and its ``policy_spec`` (network config, observation groups,
action size) rebuild the actor network directly.

    load_policy("runs/my_run")                       # newest checkpoint of a run folder
    load_policy("runs/my_run/checkpoints/200")       # one checkpoint
    load_policy("../shared/reference/pretrained/loco_1.onnx")
    load_policy(run="my_run", runs_dir="runs")       # by run name
"""

from __future__ import annotations

import json
import os
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from reasan_jax.io import checkpoints as ckpt_lib
from reasan_jax.policies.policy import Policy, PolicyError, from_actor, from_onnx


def find_checkpoint(run: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None,
                    runs_dir: str | os.PathLike = "runs") -> pathlib.Path:
  """The checkpoint step folder named by a run and/or checkpoint (the newest run's by default).

  Args:
    run: a run name under ``runs_dir`` or a run folder path; None with ``checkpoint`` None = the
      most recently active run that has a checkpoint.
    checkpoint: a run folder, its ``checkpoints/`` folder or one ``checkpoints/<iteration>``.
    runs_dir: parent folder of the runs.

  Raises:
    PolicyError: no such run / checkpoint, or both given.
  """
  if run is not None and checkpoint is not None:
    raise PolicyError("Give either a run or a checkpoint, not both.")
  runs_dir = pathlib.Path(runs_dir)
  try:
    if checkpoint is not None:
      return ckpt_lib.resolve_checkpoint(checkpoint)
    if run is None:
      return ckpt_lib.resolve_checkpoint(ckpt_lib.latest_run(runs_dir))
    path = pathlib.Path(run)
    if not (runs_dir / run).is_dir() and path.is_dir():
      return ckpt_lib.resolve_checkpoint(path)
    return ckpt_lib.resolve_checkpoint(ckpt_lib.find_run(runs_dir, str(run)))
  except ckpt_lib.RunNotFoundError as e:
    shown = ", ".join(e.existing[-8:]) or "none"
    raise PolicyError(f"There is no run {str(run)!r} in {runs_dir}/ (existing runs: {shown}); pass "
                      "one of them, a folder path, or another runs folder.") from e
  except ckpt_lib.NoCheckpointError as e:
    if run is None and checkpoint is None:
      raise PolicyError(f"No run in {runs_dir}/ has a checkpoint yet; train one with python -m "
                        "reasan_jax.train, or pass a run, a checkpoint or an ONNX file.") from e
    raise PolicyError(str(e)) from e
  except ckpt_lib.CheckpointError as e:
    raise PolicyError(str(e)) from e


def load_checkpoint_policy(path: str | os.PathLike) -> Policy:
  """The deterministic policy stored in a training checkpoint (its ``policy`` item only).

  Args:
    path: a checkpoint step folder, or a run folder / ``checkpoints/`` folder (newest checkpoint).

  Raises:
    PolicyError: no checkpoint, no policy item, or parameters that do not fit the stored network
      config.
  """
  from reasan_jax.ppo import networks  # pylint: disable=import-outside-toplevel
  from reasan_jax.io import config_loader  # pylint: disable=import-outside-toplevel

  try:
    step_dir = ckpt_lib.resolve_checkpoint(path)
    spec, params = ckpt_lib.read_policy_item(step_dir)
  except ckpt_lib.CheckpointError as e:
    raise PolicyError(str(e)) from e
  obs_shapes = {name: tuple(shape) for name, shape in spec["obs_spec"]}
  network = config_loader.config_from_dict(spec["network"])
  try:
    actor = networks.make_actor(network, obs_shapes, int(spec["action_size"]))
  except ValueError as e:
    raise PolicyError(f"Checkpoint {step_dir} stores a network config this code cannot build ({e}).") from e
  template = _actor_template(actor, obs_shapes)
  actor_params = _fit(template, params["actor"], step_dir)
  env_json = json.dumps(spec.get("env", {}), sort_keys=True) if spec.get("env") else ""
  return from_actor(
      actor, actor_params,
      normalizer_mean=params.get("obs_mean") if spec.get("normalized") else None,
      normalizer_std=params.get("obs_std") if spec.get("normalized") else None,
      obs_shapes=obs_shapes, task=spec.get("task", ""), source=f"checkpoint {step_dir}",
      env_config_json=env_json)


def _actor_template(actor, obs_shapes):
  dummy = {g: jnp.zeros((1, 1) + tuple(obs_shapes[g]), jnp.float32) for g in actor.inputs}
  carry = jnp.zeros((1, int(actor.rnn_size)), jnp.float32)
  return jax.eval_shape(actor.init, jax.random.PRNGKey(0), carry, dummy,
                        jnp.zeros((1, 1), bool))["params"]


def _fit(template, stored, step_dir):
  """``stored`` (nested numpy dicts) as jax arrays shaped like ``template``, or a PolicyError."""
  flat_t = jax.tree_util.tree_flatten_with_path(template)[0]
  out = {}
  for path, leaf in flat_t:
    keys = [getattr(k, "key", str(k)) for k in path]
    node = stored
    for k in keys:
      if not isinstance(node, dict) or k not in node:
        raise PolicyError(f"Checkpoint {step_dir}'s policy has no parameter {'/'.join(keys)}; its "
                          "network config and parameters disagree, so pass the run it came from.")
      node = node[k]
    value = np.asarray(node)
    if tuple(value.shape) != tuple(leaf.shape):
      raise PolicyError(f"Checkpoint {step_dir}'s policy parameter {'/'.join(keys)} has shape "
                        f"{tuple(value.shape)} but its network config needs {tuple(leaf.shape)}.")
    cur = out
    for k in keys[:-1]:
      cur = cur.setdefault(k, {})
    cur[keys[-1]] = jnp.asarray(value, leaf.dtype)
  return out


def load_onnx(path: str | os.PathLike) -> Policy:
  """A REASAN ONNX policy file as a :class:`Policy` (see :func:`.policy.from_onnx`).

  Raises:
    PolicyError: the file is missing or not a policy the importer can run.
  """
  from reasan_jax.policies.onnx_import import OnnxPolicyError, load_onnx_policy  # pylint: disable=import-outside-toplevel

  try:
    return from_onnx(load_onnx_policy(path), source=f"ONNX {path}")
  except OnnxPolicyError as e:
    raise PolicyError(str(e)) from e


def load_policy(path: str | os.PathLike | None = None, *, run: str | None = None,
                runs_dir: str | os.PathLike = "runs") -> Policy:
  """A policy from an ONNX file, a checkpoint/run folder, or a run name (newest run by default).

  Raises:
    PolicyError: see :func:`find_checkpoint`, :func:`load_checkpoint_policy`, :func:`load_onnx`.
  """
  if path is not None and str(path).endswith(".onnx"):
    if run is not None:
      raise PolicyError("Give one policy source: an ONNX file or a run.")
    return load_onnx(path)
  return load_checkpoint_policy(find_checkpoint(run, path, runs_dir))


def default_env_config(policy: Policy) -> ml_collections.ConfigDict:
  """The env config to evaluate ``policy`` in: its training env, else the task's default.

  Raises:
    PolicyError: neither is known.
  """
  cfg = policy.env_config()
  if cfg is not None:
    return cfg
  if policy.task:
    from reasan_jax import registry  # pylint: disable=import-outside-toplevel

    return registry.get_task(policy.task).load_config_module().env_config()
  raise PolicyError(f"The policy ({policy.source}) names no task, so there is no env to run it in.")
