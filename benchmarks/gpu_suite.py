"""The GPU suite's driver (``bash benchmarks/gpu_suite.sh`` runs it): one blind run on a lent GPU machine.

The machine has no network, its own CUDA build of jax and none of mujoco, mujoco-mjx, brax,
ml-collections or tensorboardX; ``benchmarks/prepare_gpu_wheels.sh`` made the wheels beforehand
(``.whl``). Steps, each a subprocess with its own timeout, in their own process group (a hung step
is killed with everything it started) and all within one time budget (``GPU_SUITE_BUDGET_S``,
default 460 s, so the suite ends within 8 minutes even when steps hang):

1. ``install``: ``pip install --no-index --no-deps --target $GPU_SUITE_SITE .whl/*.whl``; the later
   steps run with ``PYTHONPATH`` = that folder, so the machine's own jax stays in use.
2. ``info``: versions of everything that matters, ``jax.devices()``, ``nvidia-smi``.
3. ``env_N`` for N = 1024, 4096, 8192: ``env_throughput.py`` (loco env, rough terrain, env alone).
4. ``train_N``: ``train_throughput.py --config gpu`` (a full PPO iteration and the rollout alone).
5. ``loco``: ``python -m reasan_jax.train --config loco:gpu`` for 40 iterations, with its
   first-vs-last learning summary.

They run in the order install, info, env/train at 1024 and 4096, loco, env/train at 8192: the
per-step caps add up to more than the budget, so if compiles are slow the largest batch is the one
cut short, not the loco run.

A failed or timed-out step is recorded (its status, exit code, the last lines of its stderr) and
the next one runs. After every step ``gpu_suite.json`` is rewritten (atomically): device, versions,
each step's status and figures, and ``figures`` collecting them. It goes to ``$OUT`` when set, else
``benchmarks/results/``; the logs (all steps' output, the loco run's ``metrics.csv``) go next to it
when ``$OUT`` is set, else stay in the work folder.

``GPU_SUITE_DRY`` (for this CPU): ``plan`` runs no step but checks each one's command line against
its program's own parser and the loco config (fast); ``tiny`` (or ``1``) runs every step on CPU at
tiny sizes. Dry runs skip the install unless ``GPU_SUITE_WHEELS`` is set, and write their JSON to the
work folder unless ``$OUT`` is set (never over the committed GPU result). Standard library only.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import json
import os
import pathlib
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

ROOT = pathlib.Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
MARK = "@@GPU_SUITE@@ "
SIZES = (1024, 4096, 8192)
TINY_SIZES = (2, 4, 8)
LOCO_ITERATIONS = 40  # 4 calls of run.iterations_per_call = 10 (the first one compiles)
MIN_STEP_S = 5.0  # a step with less budget left than this is skipped
TAIL_LINES = 25
LOG_CHARS = 200_000  # per stream and step in gpu_suite_steps.log (a returned file holds 16 MiB)
VERSIONS = ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda13-pjrt", "numpy", "flax", "optax",
            "orbax-checkpoint", "mujoco", "mujoco-core", "mujoco-mjx", "brax", "ml-collections",
            "tensorboardX", "reasan_jax")

INFO = f'''
import importlib.metadata as md, json, platform, subprocess, sys
out = {{"python": platform.python_version(), "executable": sys.executable, "versions": {{}}}}
for name in {VERSIONS!r}:
  try:
    out["versions"][name] = md.version(name)
  except md.PackageNotFoundError:
    pass
import jax
import jax.numpy as jnp
devices = jax.devices()
out["backend"] = jax.default_backend()
out["devices"] = [str(d) for d in devices]
out["device_kind"] = devices[0].device_kind
out["device_sum_check"] = float(jnp.arange(4.0).sum())
import mujoco
from mujoco import mjx
import reasan_jax
out["reasan_jax_from"] = reasan_jax.__file__
try:
  out["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                                      "--format=csv,noheader"], capture_output=True, text=True,
                                     timeout=20).stdout.strip()
except (OSError, subprocess.SubprocessError) as e:
  out["nvidia_smi"] = f"unavailable: {{e}}"
print({MARK!r} + json.dumps(out), flush=True)
'''


@dataclasses.dataclass
class Step:
  """One command of the suite.

  Attributes:
    name: key in the JSON. argv: the command. timeout_s: its own limit (the budget may cut it).
    kind: what ``plan`` checks it against: install, info, env_throughput, train_throughput, train.
    figures: ``f(step, stdout) -> dict`` read after the run (also after a failure or timeout).
    cwd: working folder (the training runs outside the repository, so the installed package wins).
  """

  name: str
  argv: list[str]
  timeout_s: float
  kind: str
  figures: Callable[["Step", str], dict] | None = None
  cwd: pathlib.Path | None = None
  out: pathlib.Path | None = None


def _tail(text: str, lines: int = TAIL_LINES) -> str:
  return "\n".join(text.rstrip().splitlines()[-lines:])


def run_step(step: Step, env: dict[str, str], deadline: float, log) -> dict[str, Any]:
  """Runs ``step`` within ``min(step.timeout_s, deadline - now)``; returns its JSON record.

  Status: ``ok`` (exit 0), ``failed`` (another exit code; ``stderr_tail`` holds its last lines),
  ``timed_out`` (killed with its process group at the limit) or ``skipped`` (budget spent).
  ``log`` (a text file) receives the step's stdout and stderr.
  """
  record: dict[str, Any] = {"name": step.name, "cmd": shlex.join(step.argv)}
  remaining = deadline - time.monotonic()
  if remaining < MIN_STEP_S:
    record.update(status="skipped", reason=f"suite time budget spent ({remaining:.0f} s left)")
    return record
  limit = min(step.timeout_s, remaining)
  record["timeout_s"] = round(limit, 1)
  t0 = time.monotonic()
  with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
    try:
      proc = subprocess.Popen(step.argv, cwd=step.cwd, env=env, stdout=out_f, stderr=err_f,
                              start_new_session=True)
    except OSError as e:
      record.update(status="failed", rc=None, wall_s=0.0, stderr_tail=f"could not start: {e}")
      return record
    try:
      rc = proc.wait(timeout=limit)
      record.update(status="ok" if rc == 0 else "failed", rc=rc)
    except subprocess.TimeoutExpired:
      _kill_group(proc)
      record.update(status="timed_out", rc=proc.returncode)
    record["wall_s"] = round(time.monotonic() - t0, 2)
    out_f.seek(0)
    err_f.seek(0)
    stdout, stderr = out_f.read(), err_f.read()
  log.write(f"\n===== {step.name}: {record['status']} (rc {record.get('rc')}, {record['wall_s']} s)\n"
            f"$ {record['cmd']}\n--- stdout\n{stdout[-LOG_CHARS:]}\n--- stderr\n{stderr[-LOG_CHARS:]}\n")
  log.flush()
  if record["status"] != "ok":
    record["stderr_tail"] = _tail(stderr) or _tail(stdout)
  if step.figures is not None:
    try:
      record["figures"] = step.figures(step, stdout)
    except Exception as e:  # pylint: disable=broad-except  (a partial run has partial files)
      record["figures_error"] = f"{type(e).__name__}: {e}"
  return record


def _kill_group(proc: subprocess.Popen) -> None:
  for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
    try:
      os.killpg(proc.pid, sig)
    except ProcessLookupError:
      return
    try:
      proc.wait(timeout=wait)
      return
    except subprocess.TimeoutExpired:
      continue


# ---------------------------------------------------------------------------------------------
# Figures.


def _marked_json(_: Step, stdout: str) -> dict:
  for line in stdout.splitlines():
    if line.startswith(MARK):
      return json.loads(line[len(MARK):])
  raise ValueError("no result line in the output")


def _row_figures(keys: tuple[str, ...]) -> Callable[[Step, str], dict]:
  def read(step: Step, _: str) -> dict:
    row = json.loads(step.out.read_text())["rows"][0]
    return {k: row.get(k) for k in keys if k in row}
  return read


def _run_summary_module():
  spec = importlib.util.spec_from_file_location("_gpu_suite_run_summary",
                                                ROOT / "reasan_jax" / "io" / "run_summary.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _loco_figures(step: Step, _: str) -> dict:
  import csv  # pylint: disable=import-outside-toplevel

  run_dir = step.out
  with (run_dir / "metrics.csv").open(newline="") as f:
    rows = list(csv.DictReader(f))
  if not rows:
    raise ValueError("metrics.csv has no rows")
  fig: dict[str, Any] = {"iterations": int(rows[-1]["iteration"]), "env_steps": int(rows[-1]["env_steps"]),
                         "wall_time_s": float(rows[-1]["wall_time"]),
                         "first_call_env_steps_per_s": float(rows[0]["env_steps_per_second"]),
                         "last_call_env_steps_per_s": float(rows[-1]["env_steps_per_second"])}
  summary = _run_summary_module().summarize(run_dir)
  fig["summary_first_vs_last_20pct"] = {k: list(v) for k, v in summary.items()}
  return fig


# ---------------------------------------------------------------------------------------------
# The plan.


def build_steps(mode: str, python: str, work: pathlib.Path, wheels: pathlib.Path | None,
                site: pathlib.Path) -> list[Step]:
  """The suite's steps for ``mode`` (``gpu``, ``tiny`` or ``plan``; plan has the GPU sizes)."""
  tiny = mode == "tiny"
  sizes = TINY_SIZES if tiny else SIZES
  scale = 6.0 if tiny else 1.0  # a CPU compiles far slower
  steps = []
  if wheels is not None:
    files = sorted(str(p) for p in wheels.glob("*.whl")) if wheels.is_dir() else []
    install = [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
               "--no-cache-dir", "--upgrade", "--target", str(site), *files] if files else [
                   python, "-c", f"import sys; sys.exit('No wheels in {wheels}: run bash "
                   "benchmarks/prepare_gpu_wheels.sh where the package index is reachable and carry "
                   "the folder along.')"]
    steps.append(Step("install", install, 25, "install"))
  steps.append(Step("info", [python, "-c", INFO], 35 * scale, "info", _marked_json, cwd=work))

  def env_step(n: int) -> Step:
    out = work / f"env_{n}.json"
    size = ["--steps", "2", "--repeats", "1", "--terrain", "flat"] if tiny else [
        "--steps", "50", "--repeats", "3", "--terrain", "rough"]
    return Step(f"env_{n}", [python, str(BENCH / "env_throughput.py"), "--batches", str(n), *size,
                             "--no-raw", "--out", str(out)], 60 * scale, "env_throughput",
                _row_figures(("env_steps_per_s", "env_compile_s")), out=out)

  def train_step(n: int) -> Step:
    out = work / f"train_{n}.json"
    size = ["--config", "cpu", "--unroll", "4", "--minibatches", "1", "--epochs", "1"] if tiny else [
        "--config", "gpu"]
    return Step(f"train_{n}", [python, str(BENCH / "train_throughput.py"), "--batches", str(n), *size,
                               "--repeats", "1", "--programs", "iteration", "rollout", "--out", str(out)],
                75 * scale, "train_throughput",
                _row_figures(("train_env_steps_per_s", "rollout_env_steps_per_s", "iteration_s", "rollout_s",
                              "iteration_compile_s", "rollout_compile_s", "peak_rss_mb")), out=out)

  runs = work / "runs"
  run_name = "gpu_loco"
  while (runs / run_name).exists():  # a reused work folder: train never reuses a run folder
    run_name += "_"
  loco = ["--config", "loco:cpu", "--config.ppo.num_envs=4", "--config.ppo.unroll_length=4",
          "--config.ppo.num_epochs=1", "--config.ppo.num_minibatches=1", "--config.network.rnn_size=8",
          "--config.network.actor_hidden=(8,)", "--config.network.critic_hidden=(8,)",
          "--config.run.num_iterations=4", "--config.run.iterations_per_call=2"] if tiny else [
              "--config", "loco:gpu", f"--config.run.num_iterations={LOCO_ITERATIONS}",
              "--config.run.iterations_per_call=10"]
  loco_step = Step("loco", [python, "-m", "reasan_jax.train", *loco, "--run_name", run_name,
                            "--runs_dir", str(runs), "--no_progress"], 150 * scale, "train",
                   _loco_figures, cwd=work, out=runs / run_name)
  # The essentials first, so a slow compile costs the largest batch, not the loco run: per-step
  # caps sum above the budget, and the budget (not the caps) ends the suite in time.
  small, mid, large = sizes
  steps += [env_step(small), env_step(mid), train_step(small), train_step(mid), loco_step,
            env_step(large), train_step(large)]
  return steps


CHECK = '''
import pathlib, sys
kind, argv = sys.argv[1], sys.argv[2:]
bench = pathlib.Path({bench!r})
sys.path.insert(0, str(bench))
if kind == "env_throughput":
  import env_throughput
  env_throughput.build_parser().parse_args(argv)
elif kind == "train_throughput":
  import scaling
  scaling.build_parser().parse_args(argv)
elif kind == "train":
  from reasan_jax.cli import train
  from reasan_jax.io import config_loader
  args, overrides = train.parse_args(argv)
  config_loader.load_config(args.config, overrides)
elif kind == "info":
  compile(argv[0], "<info>", "exec")
elif kind == "install":
  names = {{pathlib.Path(a).name.split("-")[0].lower() for a in argv if a.endswith(".whl")}}
  missing = {{"mujoco", "mujoco_mjx", "brax", "ml_collections", "tensorboardx", "reasan_jax"}} - names
  if missing:
    sys.exit("the wheels folder lacks " + ", ".join(sorted(missing)))
print("plan ok:", kind)
'''


def as_plan_check(step: Step, python: str) -> Step:
  """The same step, but its command line is only checked against its program's parser."""
  argv = step.argv
  if step.kind in ("env_throughput", "train_throughput"):
    args = argv[2:]
  elif step.kind == "train":
    args = argv[3:]
  elif step.kind == "info":
    args = [argv[2]]
  else:
    args = argv
  return dataclasses.replace(step, argv=[python, "-c", CHECK.format(bench=str(BENCH)), step.kind, *args],
                             figures=None)


# ---------------------------------------------------------------------------------------------
# The suite.


def _write_json(path: pathlib.Path, data: dict) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(json.dumps(data, indent=2) + "\n")
  os.replace(tmp, path)


def _collect(steps: list[dict]) -> dict:
  figures: dict[str, Any] = {"env_steps_per_s": {}, "train_env_steps_per_s": {},
                             "rollout_env_steps_per_s": {}, "loco": None}
  for rec in steps:
    fig = rec.get("figures") or {}
    if rec["name"].startswith("env_") and "env_steps_per_s" in fig:
      figures["env_steps_per_s"][rec["name"][4:]] = fig["env_steps_per_s"]
    elif rec["name"].startswith("train_"):
      for key in ("train_env_steps_per_s", "rollout_env_steps_per_s"):
        if key in fig:
          figures[key][rec["name"][6:]] = fig[key]
    elif rec["name"] == "loco" and fig:
      figures["loco"] = fig
  return figures


def main() -> int:
  dry = os.environ.get("GPU_SUITE_DRY", "").strip().lower()
  mode = {"": "gpu", "0": "gpu", "plan": "plan", "tiny": "tiny", "1": "tiny"}.get(dry)
  if mode is None:
    print(f"gpu_suite: error: GPU_SUITE_DRY={dry!r} is not one of plan, tiny (or 1), or empty.",
          file=sys.stderr)
    return 2
  python = os.environ.get("PYTHON") or "python3"
  out_env = os.environ.get("OUT")
  work = pathlib.Path(os.environ.get("GPU_SUITE_WORK") or tempfile.mkdtemp(prefix="gpu_suite_"))
  work.mkdir(parents=True, exist_ok=True)
  if out_env:
    out_dir = pathlib.Path(out_env)
  else:
    out_dir = ROOT / "benchmarks" / "results" if mode == "gpu" else work
  out_dir.mkdir(parents=True, exist_ok=True)
  json_path = out_dir / "gpu_suite.json"
  log_path = (out_dir if out_env else work) / "gpu_suite_steps.log"
  wheels_env = os.environ.get("GPU_SUITE_WHEELS")
  wheels = pathlib.Path(wheels_env or ROOT / ".whl") if (wheels_env or mode == "gpu") else None
  site = pathlib.Path(os.environ.get("GPU_SUITE_SITE") or "/tmp/site")
  budget = float(os.environ.get("GPU_SUITE_BUDGET_S") or {"gpu": 460, "plan": 300, "tiny": 3600}[mode])

  env = dict(os.environ)
  env["JAX_PLATFORMS"] = "cuda" if mode == "gpu" else "cpu"  # a broken GPU fails loudly, not on CPU
  env["PYTHONUNBUFFERED"] = "1"
  env.setdefault("REASAN_JAX_CACHE", str(work / "xla"))
  if wheels is not None:
    env["PYTHONPATH"] = str(site) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
  steps = build_steps("gpu" if mode == "plan" else mode, python, work, wheels, site)
  if mode == "plan":
    steps = [as_plan_check(s, python) for s in steps]

  started = time.monotonic()
  deadline = started + budget
  result: dict[str, Any] = {
      "suite": "gpu_suite", "mode": mode, "started_utc": datetime.datetime.now(datetime.timezone.utc)
      .isoformat(timespec="seconds"), "budget_s": budget, "host": platform.node(),
      "work_dir": str(work), "log": str(log_path), "device": None, "versions": None, "steps": [],
  }
  manifest = wheels / "wheels.json" if wheels is not None else None
  if manifest is not None and manifest.exists():
    result["wheels"] = json.loads(manifest.read_text())
  print(f"gpu_suite ({mode}): {len(steps)} steps, budget {budget:.0f} s, work {work}, JSON {json_path}",
        flush=True)
  with log_path.open("w") as log:
    for step in steps:
      record = run_step(step, env, deadline, log)
      result["steps"].append(record)
      if step.name == "info" and record.get("figures"):
        info = record["figures"]
        result["device"] = {k: info.get(k) for k in ("backend", "devices", "device_kind", "nvidia_smi")}
        result["versions"] = {"python": info.get("python"), **info.get("versions", {}),
                              "reasan_jax_from": info.get("reasan_jax_from")}
        print(f"  jax.devices(): {info.get('devices')} ({info.get('device_kind')}); "
              + ", ".join(f"{k} {v}" for k, v in result["versions"].items()), flush=True)
      result["figures"] = _collect(result["steps"])
      result["wall_s"] = round(time.monotonic() - started, 1)
      if step.name == "loco" and out_env and step.out is not None and (step.out / "metrics.csv").exists():
        (out_dir / "gpu_suite_loco_metrics.csv").write_bytes((step.out / "metrics.csv").read_bytes())
      _write_json(json_path, result)
      print(f"  {record['name']:10s} {record['status']:9s} {record.get('wall_s', 0):7.1f} s"
            + (f"  {record['stderr_tail'].splitlines()[-1][:100]}" if record.get("stderr_tail") else ""),
            flush=True)
  result["finished_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
  _write_json(json_path, result)
  counts = {s: sum(r["status"] == s for r in result["steps"]) for s in ("ok", "failed", "timed_out", "skipped")}
  print(f"gpu_suite: {', '.join(f'{v} {k}' for k, v in counts.items() if v)} in {result['wall_s']} s; "
        f"wrote {json_path}", flush=True)
  return 0


if __name__ == "__main__":
  sys.exit(main())
