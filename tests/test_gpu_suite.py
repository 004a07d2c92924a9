"""The blind GPU suite, tested on CPU: its wheel preparation, its plan and its step-status logic.

``prepare_gpu_wheels.sh`` needs the package index (skipped with the reason when it is unreachable).
``gpu_suite.sh`` runs here in its ``GPU_SUITE_DRY=plan`` mode: every step's command line (the real
GPU sizes) is checked against its program's parser and the loco config, through the same step
runner, JSON writing and status logic as on the GPU machine. ``run_step`` is also driven directly
with stand-in commands that succeed, fail, hang and outlive the budget.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time
import zipfile

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
NEEDED = ("mujoco", "mujoco-mjx", "brax", "ml-collections", "tensorboardx", "reasan-jax")
PLAN = ["info", "env_1024", "env_4096", "train_1024", "train_4096", "loco", "env_8192", "train_8192"]


def _suite():
  spec = importlib.util.spec_from_file_location("gpu_suite_under_test", BENCH / "gpu_suite.py")
  module = importlib.util.module_from_spec(spec)
  sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
  spec.loader.exec_module(module)
  return module


def _canon(name: str) -> str:
  return name.lower().replace("_", "-").replace(".", "-")


def _run_suite(tmp_path: pathlib.Path, **env_vars: str) -> dict:
  env = {**os.environ, "GPU_SUITE_DRY": "plan", "OUT": str(tmp_path / "out"), "PYTHON": sys.executable,
         "GPU_SUITE_WORK": str(tmp_path / "work"), **env_vars}
  proc = subprocess.run(["bash", str(BENCH / "gpu_suite.sh")], env=env, capture_output=True, text=True,
                        timeout=300, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return json.loads((tmp_path / "out" / "gpu_suite.json").read_text())


# ---------------------------------------------------------------------------------------------
# Preparation (needs the package index).


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> pathlib.Path:
  probe = tmp_path_factory.mktemp("probe")
  proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(probe),
                         "ml-collections==1.1.0"], capture_output=True, text=True, timeout=120, check=False)
  if proc.returncode != 0:
    pytest.skip(f"package index unreachable (pip download ml-collections failed: "
                f"{proc.stderr.strip().splitlines()[-1:] or proc.returncode})")
  dest = tmp_path_factory.mktemp("whl")
  proc = subprocess.run(["bash", str(BENCH / "prepare_gpu_wheels.sh"), str(dest)],
                        env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True,
                        timeout=600, check=False)
  assert proc.returncode == 0, proc.stderr[-2000:]
  return dest


def test_prepared_wheels_fit_the_gpu_machine(wheels):
  files = sorted(wheels.glob("*.whl"))
  names = [_canon(f.name.split("-")[0]) for f in files]
  assert len(names) == len(set(names)), "two versions of one package stop the whole install"
  for needed in NEEDED:
    assert needed in names, f"no wheel for {needed}"
  machine = {_canon(l.strip()) for l in (BENCH / "gpu_machine_packages.txt").read_text().splitlines()
             if l.strip() and not l.startswith("#")}
  assert not machine & set(names), f"carried though the machine has them: {machine & set(names)}"
  for f in files:
    python_tag, abi_tag, platform_tag = f.name[:-len(".whl")].split("-")[-3:]
    assert "cp312" in python_tag.split(".") or any(t.startswith("py3") for t in python_tag.split(".")), f.name
    assert abi_tag in ("none", "cp312", "abi3"), f.name
    assert platform_tag == "any" or all(t.startswith("manylinux") and t.endswith("_x86_64")
                                        for t in platform_tag.split(".")), f.name
    with zipfile.ZipFile(f) as z:
      assert any(n.endswith(".dist-info/METADATA") for n in z.namelist()), f.name
  total = sum(f.stat().st_size for f in files)
  assert total <= 64 * 2**20, f"{total / 2**20:.1f} MiB"
  # Every runtime requirement of every carried wheel is carried or on the machine (or left out on
  # purpose), so the --no-deps install there is complete.
  from packaging.requirements import Requirement  # pylint: disable=import-outside-toplevel

  target = {"python_version": "3.12", "python_full_version": "3.12.3", "sys_platform": "linux",
            "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
            "implementation_name": "cpython", "platform_python_implementation": "CPython", "extra": ""}
  left_out = {_canon(n) for n in json.loads((wheels / "wheels.json").read_text())["skipped"]}
  for f in files:
    with zipfile.ZipFile(f) as z:
      meta = z.read(next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    for line in meta.splitlines():
      if line.startswith("Requires-Dist:"):
        req = Requirement(line.split(":", 1)[1])
        if req.marker is None or req.marker.evaluate(target):
          assert _canon(req.name) in set(names) | machine | left_out, f"{f.name} needs {req.name}"
  manifest = json.loads((wheels / "wheels.json").read_text())
  assert {w["file"] for w in manifest["wheels"]} == {f.name for f in files}
  with zipfile.ZipFile(next(f for f in files if f.name.startswith("reasan_jax-"))) as z:
    assert "reasan_jax/assets/go2/scene_flat.xml" in z.namelist()
    assert "reasan_jax/configs/loco.py" in z.namelist()


def test_plan_with_the_prepared_wheels_checks_the_install(tmp_path, wheels):
  data = _run_suite(tmp_path, GPU_SUITE_WHEELS=str(wheels))
  assert [s["name"] for s in data["steps"]] == ["install"] + PLAN
  assert all(s["status"] == "ok" for s in data["steps"]), data["steps"]
  assert data["wheels"]["total_mib"] <= 64


# ---------------------------------------------------------------------------------------------
# The plan and the JSON (no network).


def test_plan_mode_checks_every_gpu_command_and_writes_the_json(tmp_path):
  data = _run_suite(tmp_path)
  assert data["mode"] == "plan" and [s["name"] for s in data["steps"]] == PLAN
  assert all(s["status"] == "ok" for s in data["steps"]), [s for s in data["steps"] if s["status"] != "ok"]
  cmds = {s["name"]: s["cmd"] for s in data["steps"]}
  assert "--batches 8192" in cmds["env_8192"] and "--config gpu" in cmds["train_4096"]
  assert "loco:gpu" in cmds["loco"]
  assert set(data["figures"]) == {"env_steps_per_s", "train_env_steps_per_s", "rollout_env_steps_per_s",
                                  "loco"}
  assert (tmp_path / "out" / "gpu_suite_steps.log").exists()
  assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gpu_suite.json", "gpu_suite_steps.log"]


def test_a_failed_step_does_not_stop_the_others(tmp_path):
  empty = tmp_path / "no_wheels"
  empty.mkdir()
  data = _run_suite(tmp_path, GPU_SUITE_WHEELS=str(empty))
  install, *rest = data["steps"]
  assert install["name"] == "install" and install["status"] == "failed"
  assert "lacks brax" in install["stderr_tail"]
  assert [s["name"] for s in rest] == PLAN and all(s["status"] == "ok" for s in rest)


def test_a_spent_budget_skips_the_remaining_steps(tmp_path):
  data = _run_suite(tmp_path, GPU_SUITE_BUDGET_S="6")
  statuses = [s["status"] for s in data["steps"]]
  assert statuses[0] == "ok" and statuses[-1] == "skipped", statuses
  # A step that starts with less time left than it needs is cut at the budget (timed_out).
  assert set(statuses) <= {"ok", "timed_out", "skipped"} and len(statuses) == len(PLAN)
  assert all(s["timeout_s"] <= 6 for s in data["steps"] if s["status"] != "skipped")
  assert "budget" in data["steps"][-1]["reason"] and data["wall_s"] < 30


def test_plan_check_catches_a_bad_flag_and_a_bad_config_key(tmp_path):
  suite = _suite()
  steps = {s.name: s for s in suite.build_steps("gpu", sys.executable, tmp_path, None, tmp_path / "site")}
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  bad_flag = steps["env_1024"]
  bad_flag.argv = bad_flag.argv + ["--no-such-flag"]
  bad_key = steps["loco"]
  bad_key.argv = bad_key.argv + ["--config.ppo.num_env=5"]
  with (tmp_path / "log.txt").open("w") as log:
    for step, expected in ((bad_flag, "unrecognized arguments: --no-such-flag"),
                           (bad_key, "Unknown config key 'ppo.num_env'")):
      record = suite.run_step(suite.as_plan_check(step, sys.executable), env, time.monotonic() + 120, log)
      assert record["status"] == "failed" and record["rc"] != 0
      assert expected in record["stderr_tail"]


def test_run_step_records_ok_failed_timed_out_and_skipped(tmp_path):
  suite = _suite()
  env = dict(os.environ)
  py = sys.executable
  later = time.monotonic() + 120
  pid_file = tmp_path / "grandchild.pid"
  steps = {
      "ok": suite.Step("ok", [py, "-c", f"print({suite.MARK!r} + '{{\"x\": 1}}')"], 30, "info",
                       suite._marked_json),  # pylint: disable=protected-access
      "failed": suite.Step("failed", [py, "-c", "import sys; print('a\\nb', file=sys.stderr); sys.exit(3)"],
                           30, "info"),
      "hung": suite.Step("hung", ["bash", "-c", f"sleep 60 & echo $! > {pid_file}; wait"], 1.5, "info"),
      "no_figures": suite.Step("no_figures", [py, "-c", "pass"], 30, "info",
                               suite._marked_json),  # pylint: disable=protected-access
  }
  with (tmp_path / "log.txt").open("w") as log:
    ok = suite.run_step(steps["ok"], env, later, log)
    failed = suite.run_step(steps["failed"], env, later, log)
    t0 = time.monotonic()
    hung = suite.run_step(steps["hung"], env, later, log)
    hung_wall = time.monotonic() - t0
    no_figures = suite.run_step(steps["no_figures"], env, later, log)
    skipped = suite.run_step(steps["ok"], env, time.monotonic() + 1.0, log)
  assert ok["status"] == "ok" and ok["rc"] == 0 and ok["figures"] == {"x": 1} and "stderr_tail" not in ok
  assert failed["status"] == "failed" and failed["rc"] == 3 and failed["stderr_tail"] == "a\nb"
  assert hung["status"] == "timed_out" and hung_wall < 15 and hung["timeout_s"] == 1.5
  grandchild = int(pid_file.read_text())
  time.sleep(0.2)
  assert not pathlib.Path(f"/proc/{grandchild}").exists() or \
      "zombie" in pathlib.Path(f"/proc/{grandchild}/status").read_text().lower(), "the step's children live on"
  assert no_figures["status"] == "ok" and "no result line" in no_figures["figures_error"]
  assert skipped["status"] == "skipped" and "budget" in skipped["reason"]
  log_text = (tmp_path / "log.txt").read_text()
  assert "===== failed: failed (rc 3" in log_text and "===== hung: timed_out" in log_text
