"""Crash-safe logs: a run killed with SIGKILL and resumed logs exactly what an uninterrupted run does.

The end-to-end test runs ``python -m reasan_jax.train`` in subprocesses on the toy point task (the
config file below registers it, since a subprocess does not run this file's fixtures): one
uninterrupted 12-iteration run, and one that is killed with a real ``SIGKILL`` a few iterations
after its checkpoint at iteration 4 and then resumed with ``--resume``. The killed session is slowed
down (``TOY_THROTTLE_S``, a sleep before each compiled call, outside the computation) so the kill
lands between checkpoints. TensorBoard event files are read with the protobufs tensorboardX ships
(tensorboard's own reader is not a dependency), applying TensorBoard's purge rule: a
``SessionLog.START`` event at step S discards every event read before it with step >= S.
"""

from __future__ import annotations

import csv
import os
import pathlib
import signal
import struct
import subprocess
import sys
import time

import pytest

from reasan_jax.io import checkpoints as ckpt_lib
from reasan_jax.io import log_rewind
from reasan_jax.io import run_summary

TESTS = pathlib.Path(__file__).resolve().parent
TIMING = ("wall_time", "env_steps_per_second")
TB_TIMING = ("Perf/wall_time", "Perf/env_steps_per_second")

CONFIG = '''
"""Toy point task, one iteration per compiled call (test_crash_resume)."""
import os
import sys
import time

sys.path.insert(0, {tests!r})
import toy_envs  # noqa: E402
from reasan_jax import registry  # noqa: E402
from reasan_jax.cli import train  # noqa: E402
from reasan_jax.configs import loco  # noqa: E402

registry.register(registry.Task("toy_point", lambda cfg: toy_envs.PointEnv(), None))

_THROTTLE = float(os.environ.get("TOY_THROTTLE_S", "0") or 0)
if _THROTTLE > 0:
  class _Throttled:
    def __init__(self, trainer):
      self._trainer = trainer

    def __getattr__(self, name):
      return getattr(self._trainer, name)

    def run(self, state, k):
      time.sleep(_THROTTLE)
      return self._trainer.run(state, k)

  _make = train.make_trainer
  train.make_trainer = lambda env, cfg: _Throttled(_make(env, cfg))


def get_config(arg=None):
  c = loco.get_config("cpu")
  c.env.task = "toy_point"
  c.ppo.num_envs = 4
  c.ppo.unroll_length = 4
  c.ppo.num_epochs = 1
  c.ppo.num_minibatches = 2
  c.network.rnn_size = 8
  c.network.actor_hidden = (8,)
  c.network.critic_hidden = (8,)
  c.run.num_iterations = 12
  c.run.iterations_per_call = 1
  c.run.checkpoint_every = 4
  c.run.keep_checkpoints = 5
  return c
'''


# ---------------------------------------------------------------------------------------------
# Helpers.


def _read_csv(path: pathlib.Path) -> list[dict[str, str]]:
  with path.open(newline="") as f:
    return list(csv.DictReader(f))


def _records(path: pathlib.Path):
  """TFRecord payloads of an event file (length u64, crc u32, data, crc u32); a torn tail is skipped."""
  data = path.read_bytes()
  pos = 0
  while pos + 12 <= len(data):
    (n,) = struct.unpack("<Q", data[pos:pos + 8])
    start, end = pos + 12, pos + 12 + n
    if end + 4 > len(data):
      break
    yield data[start:end]
    pos = end + 4


def tb_scalars(tb_dir: pathlib.Path) -> tuple[dict[str, dict[int, float]], int]:
  """(``{tag: {step: value}}`` as TensorBoard shows the folder, number of event files)."""
  from tensorboardX.proto import event_pb2  # pylint: disable=import-outside-toplevel

  files = sorted(tb_dir.glob("events.out.tfevents.*"))
  view: dict[str, dict[int, float]] = {}
  for path in files:
    for payload in _records(path):
      event = event_pb2.Event.FromString(payload)
      if event.HasField("session_log") and event.session_log.status == event_pb2.SessionLog.START:
        for tag in view:
          view[tag] = {s: v for s, v in view[tag].items() if s < event.step}
      for value in event.summary.value:
        steps = view.setdefault(value.tag, {})
        assert event.step not in steps, f"{value.tag} step {event.step} shown twice in TensorBoard"
        steps[event.step] = value.simple_value
  return view, len(files)


def _env() -> dict[str, str]:
  env = dict(os.environ)
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONUNBUFFERED"] = "1"
  env.setdefault("REASAN_JAX_CACHE", str(pathlib.Path.home() / ".cache" / "reasan_jax" / "jax"))
  env.pop("TOY_THROTTLE_S", None)
  return env


def _train(args: list[str], cwd: pathlib.Path) -> subprocess.CompletedProcess:
  proc = subprocess.run([sys.executable, "-m", "reasan_jax.train", "--no_progress", *args],
                        cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-3000:]
  return proc


def _logged_iterations(csv_path: pathlib.Path) -> list[int]:
  """Iterations of the complete rows of a metrics.csv being written (its first column)."""
  try:
    text = csv_path.read_text()
  except FileNotFoundError:
    return []
  return [int(line.split(",", 1)[0]) for line in text.split("\n")[1:-1] if line]  # [-1]: "" or torn


# ---------------------------------------------------------------------------------------------
# The rewind on its own.


def _write_metrics(path: pathlib.Path, iterations, torn: str = "") -> None:
  with path.open("w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["iteration", "env_steps", "wall_time", "loss"])
    for it in iterations:
      writer.writerow([it, 16 * it, 0.5 * it, 1.0 / it])
    f.write(torn)


def test_rewind_drops_rows_torn_lines_and_videos_after_the_checkpoint(tmp_path):
  _write_metrics(tmp_path / "metrics.csv", range(1, 8), torn="8,128,4.0")  # killed mid-write
  videos = tmp_path / "videos"
  videos.mkdir()
  for it in (2, 4, 6):
    log_rewind.video_path(tmp_path, it).write_bytes(b"mp4")
  (videos / "notes.txt").write_text("mine")
  result = log_rewind.rewind(tmp_path, 4)
  rows = _read_csv(tmp_path / "metrics.csv")
  assert [r["iteration"] for r in rows] == ["1", "2", "3", "4"]
  assert list(rows[0]) == ["iteration", "env_steps", "wall_time", "loss"]
  assert result.csv_iterations == (5, 6, 7) and result.torn_rows == 1
  assert result.videos == ("iter_000006.mp4",)
  assert sorted(p.name for p in videos.iterdir()) == ["iter_000002.mp4", "iter_000004.mp4", "notes.txt"]
  assert result.tb_purge_step is None  # no event files: nothing to purge
  line = result.describe()
  assert "\n" not in line and "checkpoint 4" in line and "3 metrics.csv rows (iteration 5-7)" in line
  assert "1 torn metrics.csv row" in line and "iter_000006.mp4" in line
  assert not list(tmp_path.glob("*.tmp"))


def test_rewind_with_nothing_to_drop_leaves_the_file_alone(tmp_path):
  _write_metrics(tmp_path / "metrics.csv", range(1, 5))
  before = (tmp_path / "metrics.csv").read_bytes()
  (tmp_path / "tb").mkdir()
  (tmp_path / "tb" / "events.out.tfevents.1.host").write_bytes(b"")
  result = log_rewind.rewind(tmp_path, 4)
  assert (tmp_path / "metrics.csv").read_bytes() == before
  assert result.describe() is None and result.tb_purge_step == 5
  assert log_rewind.rewind(tmp_path / "new_run", 0).describe() is None  # a new run: no files at all
  with pytest.raises(ValueError, match="must be >= 0"):
    log_rewind.rewind(tmp_path, -1)


def test_logger_resumed_at_a_checkpoint_continues_the_clock_from_its_row(tmp_path, capsys):
  import numpy as np  # pylint: disable=import-outside-toplevel

  from reasan_jax.io import config_loader  # pylint: disable=import-outside-toplevel
  from reasan_jax.io import logs  # pylint: disable=import-outside-toplevel

  _write_metrics(tmp_path / "metrics.csv", range(1, 8))  # wall_time 0.5 * iteration
  logger = logs.Logger(tmp_path, config_loader.load_config("loco:cpu"), start_iteration=4,
                       total_iterations=8, env_steps_per_iteration=16, progress=False)
  (row,) = logger.log({"loss": np.array([0.25])}, 4, seconds=1.0)
  logger.close()
  assert row["iteration"] == 5 and row["wall_time"] == pytest.approx(2.0 + 1.0)  # row 4's clock, not row 7's
  assert logger.rewind.csv_iterations == (5, 6, 7) and logger.rewind.tb_purge_step is None
  assert [r["iteration"] for r in _read_csv(tmp_path / "metrics.csv")] == ["1", "2", "3", "4", "5"]
  assert "Logs rewound to checkpoint 4" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# A real SIGKILL.


def test_sigkilled_and_resumed_run_logs_like_an_uninterrupted_one(tmp_path):
  cfg = tmp_path / "toy_cfg.py"
  cfg.write_text(CONFIG.format(tests=str(TESTS)))
  runs = tmp_path / "runs"

  # Uninterrupted reference run.
  _train(["--config", str(cfg), "--runs_dir", str(runs), "--run_name", "straight"], tmp_path)

  # The same run, killed with SIGKILL two or more iterations after its checkpoint at 4.
  env = _env()
  env["TOY_THROTTLE_S"] = "0.15"
  proc = subprocess.Popen(
      [sys.executable, "-m", "reasan_jax.train", "--no_progress", "--config", str(cfg), "--runs_dir",
       str(runs), "--run_name", "k"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
      stderr=subprocess.PIPE, text=True)
  run_dir = runs / "k"
  deadline = time.monotonic() + 240
  try:
    while True:
      assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read()[-2000:]}"
      assert time.monotonic() < deadline, "no rows past checkpoint 4 within 240 s"
      if max(_logged_iterations(run_dir / "metrics.csv"), default=0) >= 6:
        break
      time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
  finally:
    if proc.poll() is None:
      proc.kill()
    proc.wait()
    proc.stderr.close()
  assert proc.returncode == -signal.SIGKILL

  newest = ckpt_lib.checkpoint_steps(run_dir)[-1]
  logged = _logged_iterations(run_dir / "metrics.csv")
  assert newest == 4 and max(logged) > newest + 1, (newest, logged)  # there is something to drop
  _, files_before = tb_scalars(run_dir / "tb")
  log_rewind.video_path(run_dir, 6).parent.mkdir(exist_ok=True)  # as if run.video_every had made one
  log_rewind.video_path(run_dir, 6).write_bytes(b"mp4")

  resumed = _train(["--resume", "k", "--config", str(cfg), "--runs_dir", str(runs)], tmp_path)
  assert "resumed at iteration 4/12" in resumed.stdout
  (line,) = [l for l in resumed.stderr.splitlines() if l.startswith("Logs rewound")]
  assert f"(iteration 5-{max(logged)})" in line and "iter_000006.mp4" in line and "purge_step" in line
  assert not log_rewind.video_path(run_dir, 6).exists()

  # metrics.csv: the same rows, each iteration once, the same values except the timing columns.
  straight_rows = _read_csv(runs / "straight" / "metrics.csv")
  rows = _read_csv(run_dir / "metrics.csv")
  assert [int(r["iteration"]) for r in rows] == list(range(1, 13))
  assert list(rows[0]) == list(straight_rows[0])
  for ours, ref in zip(rows, straight_rows):
    assert {k: v for k, v in ours.items() if k not in TIMING} == \
        {k: v for k, v in ref.items() if k not in TIMING}, ours["iteration"]
  assert float(rows[4]["wall_time"]) > float(rows[3]["wall_time"])  # the clock continues from row 4

  # TensorBoard: each step once in the purged view, same values as the uninterrupted run.
  view, files = tb_scalars(run_dir / "tb")
  ref_view, _ = tb_scalars(runs / "straight" / "tb")
  assert files == files_before + 1
  assert sorted(view) == sorted(ref_view)
  for tag, steps in view.items():
    assert sorted(steps) == list(range(1, 13)), tag
    if tag not in TB_TIMING:
      assert steps == ref_view[tag], tag

  assert run_summary.summarize(run_dir) == run_summary.summarize(runs / "straight")
