"""Run folders and orbax checkpoints of the complete training state.

Layout of one run (``runs/<run_name>/``)::

  config.json              resolved config of the latest session (also stored in every checkpoint)
  origin.json              only in a run continued from another run's checkpoint: which one
  checkpoints/<iteration>/ orbax CheckpointManager steps, the last ``run.keep_checkpoints`` kept
    state/                 every leaf of the TrainState (params, optimiser, lr, normaliser,
                           env state, recurrent carries, RNG, iteration), bit-exact
    manifest/              JSON: tree path, shape and dtype of each leaf (for clear errors)
    config/                JSON: the resolved config this checkpoint was trained with
    policy/                the deterministic policy alone (actor parameters, observation
                           normaliser folded in): what play, export and frozen controllers load
    policy_spec/           JSON: task, observation groups and shapes, action size, network config
  metrics.csv, tb/         written by :mod:`reasan_jax.io.logs`

The state is stored as a flat ``{"leaf_00000": array, ...}`` dict in tree-flatten order, together
with a manifest of the leaves' tree paths. This keeps orbax away from the parts of an env state it
cannot store directly (zero-size arrays, empty containers, typed PRNG keys, non-array scalars) and
lets :func:`restore` report a mismatch by parameter name before anything is read.

Run folders (creating, finding, naming; the typed errors) are in :mod:`reasan_jax.io.run_folders`;
their functions are also reachable from here, next to the checkpoints they locate.
"""

from __future__ import annotations

import datetime
import os
import pathlib
from typing import Any, Sequence

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from reasan_jax.io import config_loader
from reasan_jax.io.run_folders import (  # noqa: F401  (run-folder API, used with checkpoints)
    CHECKPOINT_DIR, CONFIG_FILE, ORIGIN_FILE, CheckpointError, NoCheckpointError, RunNotFoundError,
    checkpoint_steps, create_run_dir, default_run_name, find_run, latest_run,
    resolve_checkpoint, write_origin, write_run_config)
from reasan_jax.io import distributed

_FORMAT = 1


# ---------------------------------------------------------------------------------------------
# Flattening a TrainState into orbax-friendly leaves.


def path_string(path: Sequence[Any]) -> str:
  """``"params/actor/kernel"``-style name of a pytree key path (dict keys, attributes, indices)."""
  parts = []
  for k in path:
    for attr in ("key", "name", "idx"):
      if hasattr(k, attr):
        parts.append(str(getattr(k, attr)))
        break
    else:
      parts.append(str(k))
  return "/".join(parts)


def _is_key(x: Any) -> bool:
  dtype = getattr(x, "dtype", None)
  return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _describe(leaf: Any) -> dict[str, Any]:
  """Manifest entry of one leaf: logical shape, storage dtype, PRNG impl (typed keys only)."""
  if _is_key(leaf):
    impl = str(jax.random.key_impl(leaf)) if isinstance(leaf, jax.Array) else None
    data_shape = jax.eval_shape(jax.random.key_data, leaf).shape
    return {"shape": list(leaf.shape), "dtype": "uint32", "key_impl": impl, "data_shape": list(data_shape)}
  shape = np.shape(leaf)
  dtype = np.result_type(leaf) if not hasattr(leaf, "dtype") else np.dtype(leaf.dtype)
  return {"shape": list(shape), "dtype": str(dtype), "key_impl": None, "data_shape": list(shape)}


def _flatten(state: Any) -> tuple[list[str], list[Any], list[dict[str, Any]]]:
  leaves_with_path, _ = jax.tree_util.tree_flatten_with_path(state)
  paths = [path_string(p) for p, _ in leaves_with_path]
  leaves = [leaf for _, leaf in leaves_with_path]
  return paths, leaves, [_describe(leaf) for leaf in leaves]


def _leaf_name(i: int) -> str:
  return f"leaf_{i:05d}"


# ---------------------------------------------------------------------------------------------
# Saving.


class Checkpointer:
  """Saves the full training state of one run every so often, keeping the newest few.

  Args:
    run_dir: the run folder; checkpoints go to ``run_dir/checkpoints/<iteration>/``.
    keep: number of most recent checkpoints kept (``run.keep_checkpoints``); older ones of this
      run are deleted by orbax as new ones are written.

  With several processes (:mod:`reasan_jax.io.distributed`) every process constructs one and calls
  :meth:`save` together, but only process 0 owns the orbax manager and writes; the others mirror its
  list of steps (broadcast here, kept in step by :meth:`save`), so all take the same decisions.
  """

  def __init__(self, run_dir: str | os.PathLike, keep: int):
    self.run_dir = pathlib.Path(run_dir)
    self.directory = self.run_dir / CHECKPOINT_DIR
    self._keep = max(int(keep), 1)
    self._manager = None
    if distributed.is_primary():
      multi = {"create": True}
      if distributed.is_multiprocess():  # orbax must not wait for processes that never call it
        self.directory.mkdir(parents=True, exist_ok=True)  # orbax refuses create=True then
        multi = {"create": False, "multiprocessing_options": ocp.options.MultiprocessingOptions(
            primary_host=0, active_processes={0})}
      options = ocp.CheckpointManagerOptions(
          max_to_keep=self._keep, enable_async_checkpointing=False, **multi)
      self._manager = ocp.CheckpointManager(self.directory.resolve(), options=options)
    self._mirror = distributed.broadcast_ints(
        sorted(self._manager.all_steps()) if self._manager is not None else None)

  def all_steps(self) -> list[int]:
    """Sorted iterations of this run's checkpoints (process 0's list in every process)."""
    return sorted(self._manager.all_steps()) if self._manager is not None else list(self._mirror)

  def latest_step(self) -> int | None:
    """The newest checkpoint's iteration, or None before the first one."""
    if self._manager is not None:
      return self._manager.latest_step()
    return self._mirror[-1] if self._mirror else None

  def step_dir(self, step: int) -> pathlib.Path:
    return self.directory / str(int(step))

  def save(self, step: int, state: Any, config: ml_collections.ConfigDict,
           extra: dict[str, Any] | None = None, policy: Any = None) -> pathlib.Path:
    """Writes ``state`` (every leaf) and ``config`` as checkpoint ``step``; returns its folder.

    Args:
      step: the number of completed training iterations in ``state``.
      state: the TrainState pytree (device arrays are fetched to host; global arrays sharded over
        several processes are gathered, which every process must join).
      config: the resolved config the state was trained with.
      extra: JSON-able facts stored in the manifest (e.g. env steps, wall time).
      policy: the state's :class:`~reasan_jax.policies.policy.Policy` (``Trainer.policy``), stored
        as the small ``policy`` item with its ``policy_spec`` (:func:`policy_spec`); None = none.

    Raises:
      CheckpointError: checkpoint ``step`` already exists in this run (it is never overwritten).
    """
    step = int(step)
    if step in self.all_steps():
      raise CheckpointError(f"Checkpoint {self.step_dir(step)} already exists and is never overwritten.")
    paths, leaves, described = _flatten(state)
    host = distributed.host_values([jax.random.key_data(x) if _is_key(x) else x for x in leaves])
    if self._manager is None:  # another process: process 0 writes, we only wait for it
      self._mirror = sorted(set(self._mirror) | {step})[-self._keep:]
      distributed.barrier(f"reasan_jax checkpoint {step}")
      return self.step_dir(step)
    arrays = {}
    for i, (value, info) in enumerate(zip(host, described)):
      value = np.asarray(value)
      if value.size:  # orbax cannot store zero-size arrays; they are rebuilt from the template.
        arrays[_leaf_name(i)] = value
    manifest = {
        "format": _FORMAT,
        "iteration": step,
        "saved_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "leaves": [{"path": p, **d} for p, d in zip(paths, described)],
        **(extra or {}),
    }
    items = dict(
        state=ocp.args.StandardSave(arrays),
        manifest=ocp.args.JsonSave(manifest),
        config=ocp.args.JsonSave(config_loader.config_to_dict(config)),
    )
    if policy is not None:
      items["policy"] = ocp.args.StandardSave(jax.tree.map(np.asarray, jax.device_get(policy.params)))
      items["policy_spec"] = ocp.args.JsonSave(policy_spec(policy, config))
    self._manager.save(step, args=ocp.args.Composite(**items))
    self._manager.wait_until_finished()
    distributed.barrier(f"reasan_jax checkpoint {step}")
    return self.step_dir(step)

  def close(self) -> None:
    """Waits for pending writes and releases the orbax manager (process 0)."""
    if self._manager is not None:
      self._manager.wait_until_finished()
      self._manager.close()


def policy_spec(policy: Any, config: ml_collections.ConfigDict) -> dict[str, Any]:
  """JSON description of a checkpoint's policy item: enough to rebuild the actor network.

  Keys: ``format``, ``task``, ``obs_spec`` (``[[group, shape], ...]``), ``action_size``,
  ``normalized`` (observation statistics folded in), ``network`` (the config's network section),
  ``env`` (the env section, so evaluation can rebuild the training env).
  """
  return {
      "format": _FORMAT,
      "task": policy.task,
      "obs_spec": [[name, list(shape)] for name, shape in policy.obs_spec],
      "action_size": policy.action_size,
      "normalized": "obs_mean" in policy.params,
      "network": config_loader.config_to_dict(config.network),
      "env": config_loader.config_to_dict(config.env) if "env" in config else {},
  }


def read_policy_item(path: str | os.PathLike) -> tuple[dict[str, Any], Any]:
  """``(policy_spec, policy params as nested numpy dicts)`` of the checkpoint at ``path``.

  Reads only the small ``policy`` item (no env state, no optimiser).

  Raises:
    CheckpointError: no checkpoint at ``path``, or it has no policy item (written before policies
      were stored; the message says how to get one).
  """
  step_dir = resolve_checkpoint(path)
  if not (step_dir / "policy").is_dir() or not (step_dir / "policy_spec").is_dir():
    raise CheckpointError(
        f"Checkpoint {step_dir} has no policy item (it was written by an older reasan_jax); "
        "continue the run for one checkpoint (--resume) to write a new one.")
  spec = _read_item(step_dir, "policy_spec")
  ckptr = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
  params = ckptr.restore(step_dir.resolve(), args=ocp.args.Composite(
      policy=ocp.args.StandardRestore()))["policy"]
  return spec, params


# ---------------------------------------------------------------------------------------------
# Restoring.


def _read_item(step_dir: pathlib.Path, item: str) -> Any:
  ckptr = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
  restored = ckptr.restore(step_dir.resolve(), args=ocp.args.Composite(**{item: ocp.args.JsonRestore()}))
  return restored[item]


def checkpoint_manifest(path: str | os.PathLike) -> dict[str, Any]:
  """The manifest (iteration, leaf paths/shapes/dtypes, extras) of the checkpoint at ``path``."""
  return _read_item(resolve_checkpoint(path), "manifest")


def checkpoint_config(path: str | os.PathLike) -> ml_collections.ConfigDict:
  """The resolved config stored with the checkpoint at ``path``."""
  return config_loader.config_from_dict(_read_item(resolve_checkpoint(path), "config"))


def load_flat(path: str | os.PathLike) -> dict[str, np.ndarray]:
  """Every stored leaf of the checkpoint at ``path`` as ``{tree path: host array}``, no template.

  Typed PRNG keys come back as their raw ``uint32`` key data; zero-size leaves as empty arrays.
  Useful to inspect or compare checkpoints without building a trainer.

  Raises:
    CheckpointError: no checkpoint at ``path``.
  """
  step_dir = resolve_checkpoint(path)
  leaves = _read_item(step_dir, "manifest")["leaves"]
  abstract = {
      _leaf_name(i): np.zeros(e["data_shape"], np.dtype(e["dtype"]))
      for i, e in enumerate(leaves) if int(np.prod(e["data_shape"]))
  }
  ckptr = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
  arrays = ckptr.restore(
      step_dir.resolve(), args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]
  return {
      e["path"]: np.asarray(arrays.get(_leaf_name(i), np.zeros(e["data_shape"], np.dtype(e["dtype"]))))
      for i, e in enumerate(leaves)
  }


def _flat_config(data: Any, prefix: str = "") -> dict[str, Any]:
  if isinstance(data, dict):
    out = {}
    for k, v in data.items():
      out.update(_flat_config(v, f"{prefix}{k}."))
    return out
  return {prefix[:-1]: data}


def _config_difference(stored: dict[str, Any], current: ml_collections.ConfigDict) -> str:
  a, b = _flat_config(stored), _flat_config(config_loader.config_to_dict(current))
  diffs = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
  # Network sizes first: they are what changes parameter shapes.
  diffs.sort(key=lambda k: (not k.startswith("network."), not k.startswith("ppo.num_envs")))
  shown = [f"{k}: {a.get(k)!r} in the run, {b.get(k)!r} now" for k in diffs[:3]]
  return "; ".join(shown)


def _mismatch(step_dir: pathlib.Path, what: str, config: ml_collections.ConfigDict | None) -> CheckpointError:
  diff = ""
  if config is not None:
    try:
      diff = _config_difference(_read_item(step_dir, "config"), config)
    except Exception:  # pylint: disable=broad-except
      diff = ""
  if diff:
    return CheckpointError(
        f"Checkpoint {step_dir} does not fit the current training state: {what}, so the config "
        f"differs from the one this run was trained with ({diff}) — use the run's own config "
        f"({step_dir.parent.parent / CONFIG_FILE}) or start a new run.")
  return CheckpointError(
      f"Checkpoint {step_dir} does not fit the current training state: {what}, with the same "
      "config, so it was written by another version of reasan_jax — continue it as a new run "
      "with --checkpoint (fresh env, same policy) or use that version.")


def restore(path: str | os.PathLike, template: Any, config: ml_collections.ConfigDict | None = None) -> Any:
  """Restores the training state saved at ``path`` into the structure of ``template``.

  Args:
    path: run folder, its ``checkpoints/`` folder or a ``checkpoints/<iteration>`` folder.
    template: a TrainState of the current config, concrete or abstract
      (``jax.eval_shape(trainer.init, rng)``); only its structure, shapes and dtypes are used.
    config: the current config; when given, a mismatch message also names the differing keys.

  Returns:
    The restored state (jax arrays where the template has jax arrays or ShapeDtypeStructs), bit-for-bit
    the saved one.

  Raises:
    CheckpointError: no checkpoint at ``path``, or the stored leaves do not match the template
      (the message names the first differing parameter with stored and expected shapes).
  """
  step_dir = resolve_checkpoint(path)
  manifest = _read_item(step_dir, "manifest")
  stored = manifest["leaves"]
  paths, leaves, described = _flatten(template)
  _, treedef = jax.tree_util.tree_flatten(template)

  stored_by_path = {e["path"]: e for e in stored}
  order = sorted(range(len(paths)), key=lambda i: "params" not in paths[i])  # parameters first
  for i in order:
    entry = stored_by_path.get(paths[i])
    if entry is None:
      raise _mismatch(step_dir, f"the checkpoint has no leaf {paths[i]!r}", config)
    if list(entry["shape"]) != described[i]["shape"]:
      raise _mismatch(
          step_dir,
          f"{paths[i]} has stored shape {tuple(entry['shape'])} but the current config expects "
          f"{tuple(described[i]['shape'])}", config)
    if entry["dtype"] != described[i]["dtype"]:
      raise _mismatch(
          step_dir, f"{paths[i]} has stored dtype {entry['dtype']} but the current code expects "
          f"{described[i]['dtype']}", config)
  if len(stored) != len(paths) or [e["path"] for e in stored] != paths:
    extra = sorted(set(stored_by_path) - set(paths))
    raise _mismatch(step_dir, f"the checkpoint has leaves the current state lacks ({', '.join(extra[:3])})", config)

  device = jax.local_devices()[0]  # only for template leaves without a sharding
  abstract = {}
  for i, info in enumerate(described):
    if int(np.prod(info["data_shape"])):
      sharding = getattr(leaves[i], "sharding", None) or jax.sharding.SingleDeviceSharding(device)
      abstract[_leaf_name(i)] = jax.ShapeDtypeStruct(
          tuple(info["data_shape"]), np.dtype(info["dtype"]), sharding=sharding)
  ckptr = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
  arrays = ckptr.restore(
      step_dir.resolve(), args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))["state"]

  out = []
  for i, (tmpl, info) in enumerate(zip(leaves, described)):
    name = _leaf_name(i)
    value = arrays[name] if name in arrays else np.zeros(info["data_shape"], np.dtype(info["dtype"]))
    if _is_key(tmpl):
      impl = stored[i].get("key_impl") or info["key_impl"]
      value = jax.random.wrap_key_data(jax.numpy.asarray(value), impl=impl) if impl else \
          jax.random.wrap_key_data(jax.numpy.asarray(value))
    elif isinstance(tmpl, (jax.Array, jax.ShapeDtypeStruct)):
      value = jax.numpy.asarray(value)
    elif isinstance(tmpl, np.ndarray):
      value = np.asarray(value)
    elif isinstance(tmpl, (bool, int, float, complex, np.generic)):
      value = type(tmpl)(np.asarray(value).item())
    out.append(value)
  return jax.tree_util.tree_unflatten(treedef, out)


def _placed_like(leaf: Any, value: np.ndarray) -> jax.Array:
  """``value`` as a jax array with ``leaf``'s sharding when it has one, so a run of several
  processes gets global arrays (each process places only its own shards)."""
  sharding = getattr(leaf, "sharding", None)
  if sharding is None:
    return jax.numpy.asarray(value)
  return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


LEARNER_FIELDS = ("params", "opt_state", "learning_rate", "normalizer", "iteration")
"""TrainState fields a *new* run continued from a checkpoint takes over (:func:`restore_learner`)."""


def restore_learner(path: str | os.PathLike, fresh: Any, config: ml_collections.ConfigDict | None = None) -> Any:
  """``fresh`` with the learner of the checkpoint at ``path``: policy and critic parameters, the
  optimiser state, the adaptive learning rate, the observation normaliser and the iteration counter.

  Everything else (env state, recurrent carries, RNG) stays ``fresh``'s: a new run built from a new
  config gets fresh domain randomisation and a curriculum at 0, like REASAN's stage 2 (which loads
  model and optimiser into a newly built environment, reasan-rl-core.md §9).

  Args:
    path: run folder, its ``checkpoints/`` folder or a ``checkpoints/<iteration>`` folder.
    fresh: a concrete TrainState of the new config (``trainer.init(rng)``).
    config: the new config (named in mismatch messages).

  Raises:
    CheckpointError: no checkpoint, or its network/optimiser shapes do not fit the new config (the
      message names the first differing parameter and the fix).
  """
  step_dir = resolve_checkpoint(path)
  stored = {e["path"]: e for e in _read_item(step_dir, "manifest")["leaves"]}
  flat = None
  updates = {}
  for field in LEARNER_FIELDS:
    sub = getattr(fresh, field)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(sub)
    values = []
    for p, leaf in leaves:
      name = f"{field}/{path_string(p)}" if p else field
      entry = stored.get(name)
      if entry is None or list(entry["shape"]) != list(np.shape(leaf)):
        what = (f"it has no {name!r}" if entry is None else
                f"{name} has shape {tuple(entry['shape'])} there but {tuple(np.shape(leaf))} in the new config")
        raise CheckpointError(
            f"Cannot continue from {step_dir}: {what}; keep the network section of the run it came "
            "from (network.*) or start without --checkpoint.")
      if flat is None:
        flat = load_flat(step_dir)
      values.append(_placed_like(leaf, np.asarray(flat[name], dtype=np.dtype(leaf.dtype))))
    updates[field] = jax.tree_util.tree_unflatten(treedef, values)
  return fresh.replace(**updates)
