"""Multi-process training on JAX's own runtime: 2 processes on 127.0.0.1, one CPU device each.

The same tiny run (``toy_envs.PointEnv``) is trained three ways, each ``python -m reasan_jax.train``
in its own subprocess: one process with two CPU devices (the reference), two processes with one
device each, and those two processes resuming their run. The 2-process checkpoints must hold the
reference's state (float tolerance: the cross-process reductions add in another order), be written
once (one run folder, one row per iteration), and resume to the reference's later state.
"""

from __future__ import annotations

import csv
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest

from reasan_jax.io import checkpoints as ckpt_lib
from reasan_jax.io import distributed

TESTS_DIR = pathlib.Path(__file__).resolve().parent
REPO = TESTS_DIR.parent

CONFIG = '''
"""Tiny run of the toy point task; registers the task itself (it runs in fresh subprocesses)."""
import sys
sys.path.insert(0, {tests!r})
import toy_envs
from reasan_jax import registry
from reasan_jax.configs import loco

registry.register(registry.Task("toy_point", lambda cfg: toy_envs.PointEnv(), None))


def get_config(arg=None):
  c = loco.get_config("cpu")
  c.env.task = "toy_point"
  c.ppo.num_envs = 8
  c.ppo.unroll_length = 4
  c.ppo.num_epochs = 2
  c.ppo.num_minibatches = 2
  c.network.rnn_size = 8
  c.network.actor_hidden = (8,)
  c.network.critic_hidden = (8,)
  c.run.num_iterations = int(arg or 4)
  c.run.iterations_per_call = 2
  c.run.checkpoint_every = 2
  c.run.keep_checkpoints = 5
  return c
'''

_TIMEOUT = 150  # seconds per subprocess: a hang fails the test instead of blocking the suite


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _env(devices: int) -> dict[str, str]:
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(("SLURM_", "OMPI_", "PMI_", "JAX_COORDINATOR", "JAX_NUM_PROC",
                              "JAX_PROCESS_ID"))}
  env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
             PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]))
  return env


def _train(args: list[str], cwd: pathlib.Path, devices: int = 1) -> subprocess.Popen:
  return subprocess.Popen(
      [sys.executable, "-m", "reasan_jax.train", "--no_progress", *args], cwd=cwd,
      env=_env(devices), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(procs: list[subprocess.Popen]) -> list[tuple[int, str, str]]:
  out = []
  try:
    for p in procs:
      stdout, stderr = p.communicate(timeout=_TIMEOUT)
      out.append((p.returncode, stdout, stderr))
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.communicate()
  return out


def _start_two(args: list[str], cwd: pathlib.Path) -> list[subprocess.Popen]:
  address = f"127.0.0.1:{_free_port()}"
  return [_train([*args, "--coordinator_address", address, "--num_processes", "2",
                  "--process_id", str(i)], cwd) for i in range(2)]


def _finish(procs: list[subprocess.Popen], what: str) -> list[tuple[int, str, str]]:
  results = _wait(procs)
  for i, (code, stdout, stderr) in enumerate(results):
    assert code == 0, f"{what}, process {i} failed ({code}):\n{stdout[-2000:]}\n{stderr[-4000:]}"
  return results


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """(reference run folder, 2-process run folder, outputs of its first session, work folder)."""
  work = tmp_path_factory.mktemp("multihost")
  config = work / "tiny.py"
  config.write_text(CONFIG.format(tests=str(TESTS_DIR)))
  tiny = lambda n: ["--config", f"{config}:{n}"]  # noqa: E731
  # 1. Reference: 1 process, 2 devices, 6 iterations (checkpoints 0, 2, 4, 6), alongside the
  #    2-process run of 4 iterations.
  ref = _train([*tiny(6), "--runs_dir", "ref", "--run_name", "r"], work, devices=2)
  first = _finish(_start_two([*tiny(4), "--runs_dir", "multi", "--run_name", "m"], work), "run")
  _finish([ref], "reference run")
  # 2. At once: the 2-process run resumed to 6 (--config again: the run's config.json names the
  #    toy task, which only the config file registers); a new 2-process run continued from its
  #    checkpoint 4 (fresh envs, its learner); the same continuation of the reference on 1 process.
  resumed = _start_two(["--resume", "m", "--runs_dir", "multi", *tiny(6)], work)
  cont = _start_two([*tiny(6), "--checkpoint", "multi/m/checkpoints/4", "--runs_dir", "cont",
                     "--run_name", "c"], work)
  ref_cont = _train([*tiny(6), "--checkpoint", "ref/r/checkpoints/4", "--runs_dir", "cont",
                     "--run_name", "rc"], work, devices=2)
  _finish(resumed, "resume")
  _finish(cont, "continue")
  _finish([ref_cont], "reference continue")
  return work / "ref" / "r", work / "multi" / "m", first, work


def _assert_same_state(a: pathlib.Path, b: pathlib.Path) -> None:
  fa, fb = ckpt_lib.load_flat(a), ckpt_lib.load_flat(b)
  assert sorted(fa) == sorted(fb)
  for name in fa:
    x, y = fa[name], fb[name]
    assert x.shape == y.shape and x.dtype == y.dtype, name
    if np.issubdtype(x.dtype, np.floating):
      np.testing.assert_allclose(x, y, rtol=2e-4, atol=2e-5, err_msg=name)
    else:
      np.testing.assert_array_equal(x, y, err_msg=name)


def test_two_processes_train_the_one_process_run(runs):
  ref, multi, _, _ = runs
  for step in (2, 4):
    _assert_same_state(ref / "checkpoints" / str(step), multi / "checkpoints" / str(step))
  # The parameters moved (the comparison above is not between two initial states).
  p0 = ckpt_lib.load_flat(multi / "checkpoints" / "0")
  p4 = ckpt_lib.load_flat(multi / "checkpoints" / "4")
  moved = [k for k in p0 if k.startswith("params/") and not np.array_equal(p0[k], p4[k])]
  assert moved


def test_each_process_steps_its_own_envs(runs):
  """Process 1's half of the env batch is not a copy of process 0's (per-env seeds differ)."""
  _, multi, _, _ = runs
  flat = ckpt_lib.load_flat(multi / "checkpoints" / "0")
  pos = flat["env_state/data/pos"]
  assert pos.shape == (8, 2)
  assert not np.allclose(pos[:4], pos[4:])
  assert len({tuple(np.round(p, 6)) for p in pos}) == 8


def test_written_once_by_process_zero(runs):
  _, multi, first, _ = runs
  assert sorted(p.name for p in multi.parent.iterdir()) == ["m"]
  assert ckpt_lib.checkpoint_steps(multi) == [0, 2, 4, 6]
  leftovers = [p.name for p in (multi / "checkpoints").iterdir() if not p.name.isdigit()]
  assert not leftovers
  with open(multi / "metrics.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert [int(r["iteration"]) for r in rows] == list(range(1, 7))
  assert len(list((multi / "tb").rglob("events.out.tfevents*"))) <= 2  # one per session
  (_, out0, _), (_, out1, _) = first
  assert "Run folder" in out0 and "Done" in out0
  assert "Run folder" not in out1 and "Done" not in out1 and "learning progress" not in out1


def test_resume_with_two_processes(runs):
  ref, multi, _, _ = runs
  _assert_same_state(ref / "checkpoints" / "6", multi / "checkpoints" / "6")


def test_continue_from_checkpoint_with_two_processes(runs):
  """``--checkpoint`` (a new run: the learner restored, envs fresh) gives the 1-process result."""
  _, _, _, work = runs
  cont, ref_cont = work / "cont" / "c", work / "cont" / "rc"
  assert ckpt_lib.checkpoint_steps(cont) == [4, 6]
  assert (cont / ckpt_lib.ORIGIN_FILE).is_file()
  _assert_same_state(ref_cont / "checkpoints" / "6", cont / "checkpoints" / "6")


def _fails_fast(args: list[str], tmp_path: pathlib.Path, timeout: float = 60.0) -> str:
  p = subprocess.run([sys.executable, "-m", "reasan_jax.train", "--no_progress", *args],
                     cwd=tmp_path, env=_env(1), capture_output=True, text=True, timeout=timeout)
  assert p.returncode == 2, p.stderr[-3000:]
  lines = [ln for ln in p.stderr.splitlines() if ln.startswith("python -m reasan_jax.train")]
  assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr[-3000:]
  assert not (tmp_path / "runs").exists()
  return lines[0]


def test_missing_coordinator_is_one_sentence(tmp_path):
  message = _fails_fast(["--num_processes", "2", "--process_id", "0"], tmp_path)
  assert "--coordinator_address" in message


def test_absent_coordinator_times_out_with_one_sentence(tmp_path):
  """Process 1 started without process 0: a clear sentence after the timeout, no hang."""
  message = _fails_fast(["--coordinator_address", f"127.0.0.1:{_free_port()}", "--num_processes",
                         "2", "--process_id", "1", "--distributed_timeout", "3"], tmp_path)
  assert "within 3 s" in message and "process 0" in message


def test_bad_process_id_is_one_sentence(tmp_path):
  message = _fails_fast(["--coordinator_address", "127.0.0.1:1", "--num_processes", "2",
                         "--process_id", "2"], tmp_path)
  assert "--process_id" in message


# In-process: this pytest process has one process and has already started JAX.


@pytest.mark.parametrize("kwargs, flag", [
    ({"coordinator_address": "127.0.0.1:1", "num_processes": 0, "process_id": 0}, "--num_processes"),
    ({"coordinator_address": "127.0.0.1:1", "num_processes": 2, "process_id": -1}, "--process_id"),
    ({"coordinator_address": "localhost", "num_processes": 2, "process_id": 0},
     "--coordinator_address"),
    ({"coordinator_address": "127.0.0.1:1", "num_processes": 2, "process_id": 0, "timeout_s": 0},
     "timeout"),
])
def test_initialize_rejects_bad_settings(kwargs, flag):
  with pytest.raises(distributed.DistributedError, match=flag):
    distributed.initialize(**kwargs)


def test_initialize_after_jax_started_names_the_flag():
  import jax  # pylint: disable=import-outside-toplevel

  jax.devices()  # JAX has started (it has in any test process that ran a computation)
  with pytest.raises(distributed.DistributedError, match="--distributed"):
    distributed.initialize("127.0.0.1:1", 2, 0)


def test_single_process_helpers():
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel

  assert not distributed.is_multiprocess() and distributed.is_primary()
  assert distributed.broadcast_ints((3, 1)) == [3, 1] and distributed.broadcast_ints(None) == []
  assert distributed.broadcast_text("run") == "run" and distributed.broadcast_text(None) == ""
  values = distributed.host_values([jnp.arange(3), np.ones(2), 5])
  np.testing.assert_array_equal(values[0], np.arange(3))
  assert isinstance(values[0], np.ndarray) and values[2] == 5
  distributed.barrier("no-op with one process")
  logger = distributed.SilentLogger()
  assert logger.log({"a": 1.0}, 0, 1.0) == []
  import argparse  # pylint: disable=import-outside-toplevel

  parser = argparse.ArgumentParser()
  distributed.add_arguments(parser)
  args = parser.parse_args([])
  assert not distributed.initialize_from_args(args, ["--config.run.distributed=false"])
  tree = {"a": jnp.zeros((4, 2))}
  sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  shaped = distributed.with_shardings(tree, {"a": sharding})
  assert shaped["a"].shape == (4, 2) and shaped["a"].sharding == sharding
  assert distributed.with_shardings(tree, None) is tree
