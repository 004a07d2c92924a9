"""Several processes training one run, on JAX's own multi-controller runtime.

One process per machine (or per GPU) runs the same training program; ``jax.devices()`` then lists
the devices of every process and the trainer's 1-D mesh spans them all (see
:mod:`reasan_jax.ppo.trainer`). Every array of the compiled program is a *global* array: each
process builds and steps only its addressable shards (its slice of the env batch), and means over
the env axis (gradients, statistics, metrics) are means over the global batch. Randomness comes
from one replicated key whose draws have global shapes (per-env keys split from it), so no random
stream repeats across processes and the run equals a one-process run on as many devices.

What is done once, by process 0 only (:func:`is_primary`): creating the run folder, writing
``config.json``, checkpoints (every process joins the gather of the sharded leaves, see
:func:`host_values`), ``metrics.csv``, TensorBoard, wandb and the progress bar. Restoring (resume,
``--checkpoint``) is done by every process and needs the run folder on a filesystem all of them
see (JAX's multi-process guide assumes the same).

This module wraps ``jax.distributed.initialize`` (coordinator address, number of processes,
process id, or its environment variables / cluster auto-detection such as SLURM) so that a launch
that cannot work fails with one sentence instead of a traceback or a hang.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from typing import Any, Sequence

import jax
import numpy as np

DEFAULT_TIMEOUT_S = 120  # seconds process 0 waits for the others (JAX's own default is 300)
_NAME_BYTES = 1024  # longest text broadcast by :func:`broadcast_text`


class DistributedError(ValueError):
  """A distributed launch that cannot start as given (one-sentence message)."""


def _backends_started() -> bool:
  """True once JAX has created its device backends (``initialize`` must come before)."""
  try:
    from jax._src import xla_bridge  # pylint: disable=import-outside-toplevel
  except ImportError:  # pragma: no cover - layout of a future jax
    return False
  check = getattr(xla_bridge, "backends_are_initialized", None)
  return bool(check()) if check is not None else False


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, timeout_s: int = DEFAULT_TIMEOUT_S) -> None:
  """Joins this process to a multi-process run (``jax.distributed.initialize``); once per process.

  Arguments left None come from JAX's environment variables (``JAX_COORDINATOR_ADDRESS``, ...)
  or its cluster auto-detection (SLURM, Open MPI, Kubernetes, Cloud TPU). Process 0 hosts the
  coordinator at ``coordinator_address`` (``host:port``); every process connects to it and waits
  up to ``timeout_s`` seconds for all ``num_processes`` to arrive. A second call is a no-op.

  A process other than 0 first checks, for up to ``timeout_s``, that the coordinator's port
  answers, and fails with one sentence when it does not. Once connected, a process whose peers do
  not all arrive within ``timeout_s`` is ended by JAX itself (its coordination client aborts from
  C++ with ``DEADLINE_EXCEEDED``, which Python cannot catch: jax 0.10.2 installs no error
  callback), after the one line this function prints on stderr saying what it waits for.

  Raises:
    DistributedError: bad numbers; JAX already started (initialisation must come first); no
      coordinator address / process count / id and no cluster to detect them from; the other
      processes did not connect within ``timeout_s``.
  """
  if jax.distributed.is_initialized():
    return
  if num_processes is not None and (not isinstance(num_processes, int) or num_processes < 1):
    raise DistributedError(f"--num_processes must be an integer >= 1, got {num_processes!r}.")
  if process_id is not None and (not isinstance(process_id, int) or process_id < 0
                                 or (num_processes is not None and process_id >= num_processes)):
    raise DistributedError(
        f"--process_id must be an integer in [0, num_processes), got {process_id!r} with "
        f"--num_processes {num_processes}.")
  if coordinator_address is not None and ":" not in coordinator_address:
    raise DistributedError(
        f"--coordinator_address must be HOST:PORT (process 0's address and a free port), got "
        f"{coordinator_address!r}.")
  if not isinstance(timeout_s, int) or timeout_s < 1:
    raise DistributedError(f"The distributed timeout must be an integer >= 1 s, got {timeout_s!r}.")
  if _backends_started():
    raise DistributedError(
        "Distributed training must be set up before JAX uses any device, but JAX has already "
        "started here; pass --distributed (or --coordinator_address/--num_processes/--process_id) "
        "on the command line instead of setting config.run.distributed in a config file that "
        "queries JAX.")
  if coordinator_address is not None and process_id not in (None, 0):
    _wait_for_coordinator(coordinator_address, timeout_s)
  if coordinator_address is not None and num_processes is not None:
    print(f"Waiting up to {timeout_s} s for {num_processes} processes to join at "
          f"{coordinator_address or 'the detected coordinator'} (this is process "
          f"{process_id if process_id is not None else '?'}).", file=sys.stderr, flush=True)
  try:
    jax.distributed.initialize(coordinator_address, num_processes, process_id,
                               initialization_timeout=timeout_s)
  except (ValueError, TypeError) as e:
    raise DistributedError(
        "Distributed training needs a coordinator address, the number of processes and this "
        "process's id, and none could be found for all three: pass --coordinator_address "
        "HOST:PORT --num_processes N --process_id I to every process (or launch under SLURM's "
        "srun, or set JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID).") from e
  except Exception as e:  # pylint: disable=broad-except  (XLA's connection errors have no own type)
    where = coordinator_address or "the detected coordinator"
    raise DistributedError(
        f"Could not form the distributed run at {where} within {timeout_s} s ({type(e).__name__}); "
        "start every process with the same --coordinator_address (process 0's reachable "
        "host:port) and --num_processes, each with its own --process_id.") from e


def _wait_for_coordinator(address: str, timeout_s: float) -> None:
  """Polls ``host:port`` until it accepts a TCP connection.

  Raises:
    DistributedError: nothing answered within ``timeout_s`` seconds.
  """
  host, _, port = address.rpartition(":")
  host = host.strip("[]")
  try:
    port_number = int(port)
  except ValueError:
    raise DistributedError(
        f"--coordinator_address must end in a port number, got {address!r}.") from None
  deadline = time.monotonic() + timeout_s
  while True:
    try:
      with socket.create_connection((host, port_number), timeout=1.0):
        return
    except OSError:
      if time.monotonic() >= deadline:
        raise DistributedError(
            f"No coordinator answered at {address} within {timeout_s:g} s; start process 0 (the "
            "coordinator) with the same --coordinator_address and --num_processes, or raise "
            "--distributed_timeout.") from None
      time.sleep(0.2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """Adds the command-line flags of a multi-process launch to ``parser`` (its own group):
  ``--distributed``, ``--coordinator_address``, ``--num_processes``, ``--process_id``,
  ``--distributed_timeout`` (see :func:`initialize_from_args`)."""
  g = parser.add_argument_group(
      "several machines", "one process per machine or per GPU (docs/training.md, 'Several GPUs "
      "and several machines'); any of these flags turns distributed training on.")
  g.add_argument("--distributed", action="store_true",
                 help="join a multi-process run, with settings from JAX's environment variables "
                 "or cluster auto-detection (e.g. under SLURM's srun).")
  g.add_argument("--coordinator_address", default=None, metavar="HOST:PORT",
                 help="process 0's address and a free port, the same for every process.")
  g.add_argument("--num_processes", type=int, default=None, metavar="N",
                 help="number of processes of the run.")
  g.add_argument("--process_id", type=int, default=None, metavar="I",
                 help="this process's index in [0, N); process 0 writes the run folder.")
  g.add_argument("--distributed_timeout", type=int, default=DEFAULT_TIMEOUT_S, metavar="S",
                 help="seconds to wait for all processes to connect (default "
                 f"{DEFAULT_TIMEOUT_S}).")


def initialize_from_args(args: argparse.Namespace, overrides: Sequence[str] = ()) -> bool:
  """:func:`initialize` when one of :func:`add_arguments`' flags, or the override
  ``--config.run.distributed=true`` (in ``overrides``, ``"--config.key=value"`` strings), asks
  for it. Call it before loading the config: loading one may start JAX. Returns whether it did.

  Raises:
    DistributedError: as :func:`initialize`.
  """
  wanted = bool(args.distributed or args.coordinator_address is not None
                or args.num_processes is not None or args.process_id is not None)
  for override in overrides:
    key, _, value = override.partition("=")
    if key == "--config.run.distributed":
      wanted = wanted or value.strip().lower() in ("true", "1", "yes")
  if wanted:
    initialize(args.coordinator_address, args.num_processes, args.process_id,
               timeout_s=args.distributed_timeout)
  return wanted


def with_shardings(template: Any, shardings: Any) -> Any:
  """``template``'s leaves as ShapeDtypeStructs carrying ``shardings`` (a tree of the same
  structure, e.g. ``Trainer.state_sharding``), so a checkpoint restore builds global arrays and
  each process reads only its own shards. ``template`` unchanged when ``shardings`` is None or
  does not describe it."""
  if shardings is None:
    return template
  try:
    return jax.tree.map(
        lambda x, s: jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=s), template, shardings)
  except (AttributeError, ValueError, TypeError):  # leaves the sharding tree does not describe
    return template


def process_count() -> int:
  """Number of processes of the run (1 without distributed training)."""
  return jax.process_count()


def is_multiprocess() -> bool:
  """True when more than one process takes part in the run."""
  return jax.process_count() > 1


def is_primary() -> bool:
  """True in process 0, the one that writes run folders, checkpoints and logs."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Waits until every process reached ``barrier(name)`` (no-op with one process)."""
  if is_multiprocess():
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel

    multihost_utils.sync_global_devices(name)


def broadcast_ints(values: Sequence[int] | None) -> list[int]:
  """Process 0's list of ints on every process (``values`` is ignored elsewhere; may be None).

  With one process, returns ``list(values)``.
  """
  if not is_multiprocess():
    return [int(v) for v in values or ()]
  from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel

  mine = np.asarray([int(v) for v in values or ()], np.int64) if is_primary() else None
  n = int(multihost_utils.broadcast_one_to_all(np.int32(len(mine) if mine is not None else 0)))
  if n == 0:
    return []
  data = mine if mine is not None else np.zeros(n, np.int64)
  return [int(v) for v in np.asarray(multihost_utils.broadcast_one_to_all(data))]


def broadcast_text(text: str | None) -> str:
  """Process 0's ``text`` (UTF-8, at most 1024 bytes) on every process; ``""`` for None.

  Raises:
    DistributedError: the text is too long to broadcast.
  """
  if not is_multiprocess():
    return text or ""
  raw = (text or "").encode() if is_primary() else b""
  if len(raw) > _NAME_BYTES:
    raise DistributedError(f"Text of {len(raw)} bytes is too long to share between processes "
                           f"(at most {_NAME_BYTES}); use a shorter run name or path.")
  codes = broadcast_ints(list(raw) if is_primary() else None)
  return bytes(codes).decode()


def host_values(leaves: Sequence[Any]) -> list[Any]:
  """Host (numpy) copies of ``leaves``, gathering global arrays that span other processes.

  Arrays sharded over devices of several processes (the env state and carries of a multi-process
  run) are gathered with ``multihost_utils.process_allgather`` (a collective: every process must
  call this with the same leaves) and come back whole on every process; fully addressable or
  replicated ones are fetched locally (``jax.device_get``). Non-array leaves are returned as is.
  """
  remote = [i for i, x in enumerate(leaves)
            if isinstance(x, jax.Array) and not x.is_fully_addressable
            and not x.is_fully_replicated]
  skip = set(remote)
  out = list(jax.device_get([None if i in skip else x for i, x in enumerate(leaves)]))
  if remote:
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel

    gathered = multihost_utils.process_allgather([leaves[i] for i in remote], tiled=True)
    for i, value in zip(remote, gathered):
      out[i] = np.asarray(value)
  return out


class SilentLogger:
  """Stand-in for :class:`reasan_jax.io.logs.Logger` in processes other than 0: writes nothing."""

  def log(self, metrics, first_iteration: int, seconds: float) -> list[dict[str, Any]]:
    """Accepts one call's metrics and drops them (process 0 logs the same global figures)."""
    del metrics, first_iteration, seconds
    return []

  def write(self, message: str) -> None:
    """Drops ``message``."""
    del message

  def close(self) -> None:
    """Nothing to close."""


__all__ = [
    "DEFAULT_TIMEOUT_S", "DistributedError", "SilentLogger", "add_arguments", "barrier",
    "broadcast_ints", "broadcast_text", "host_values", "initialize", "initialize_from_args",
    "is_multiprocess", "is_primary", "process_count", "with_shardings",
]
