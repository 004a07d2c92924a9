"""The installable package: a wheel built from the checkout works from any directory.

Builds the wheel, checks it carries the Go2 MJCF files and the task configs inside the package and
no top-level ``configs`` module, installs it into a fresh virtual environment (system site-packages
visible for jax & co., ``--no-deps`` so nothing is downloaded), then trains 2 iterations with the
``reasan-train`` console script and plays the run with ``python -m reasan_jax.play``, both from a
temporary working directory.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import venv
import zipfile

import pytest

import tiny_loco

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
  """pyproject.toml lists the packages explicitly (configs/ and assets/ are mapped into the
  package), so a new sub-package must be added there or the wheel silently lacks it."""
  tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python >= 3.11")

  listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
  found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "reasan_jax").rglob("__init__.py")}
  assert found - listed == set(), f"add these to [tool.setuptools] packages: {sorted(found - listed)}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
  out = tmp_path_factory.mktemp("wheel")
  proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                         "-q", "-w", str(out), str(ROOT)], capture_output=True, text=True)
  if proc.returncode != 0:
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                           str(ROOT)], capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr
  (path,) = out.glob("reasan_jax-*.whl")
  return path


def test_wheel_contents(wheel):
  names = zipfile.ZipFile(wheel).namelist()
  assert "reasan_jax/assets/go2/go2.xml" in names
  assert "reasan_jax/assets/go2/scene_flat.xml" in names
  assert "reasan_jax/configs/loco.py" in names
  assert not [n for n in names if n.startswith("configs/") or n.startswith("assets/")]
  top = {n.split("/")[0] for n in names if not n.startswith("reasan_jax-")}
  assert top == {"reasan_jax"}
  entry_points = next(n for n in names if n.endswith("entry_points.txt"))
  text = zipfile.ZipFile(wheel).read(entry_points).decode()
  for script in ("reasan-train", "reasan-play", "reasan-sim2sim"):
    assert script in text


def test_installed_wheel_trains_and_plays_from_another_directory(wheel, tmp_path):
  env_dir = tmp_path / "venv"
  venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
  python = env_dir / "bin" / "python"
  proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                        capture_output=True, text=True)
  assert proc.returncode == 0, proc.stderr
  work = tmp_path / "elsewhere"
  work.mkdir()
  env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
  where = subprocess.run([str(python), "-c", "import reasan_jax.configs.loco as c, reasan_jax; "
                          "print(reasan_jax.__file__); print(c.__file__)"],
                         cwd=work, env=env, capture_output=True, text=True)
  assert where.returncode == 0, where.stderr
  assert all(str(env_dir) in line for line in where.stdout.split()), where.stdout
  show = subprocess.run([str(python), "-m", "pip", "show", "-f", "reasan_jax"], capture_output=True,
                        text=True, env=env).stdout
  assert "reasan_jax/assets/go2/go2.xml" in show and "\n  configs/" not in show

  overrides = [o for o in tiny_loco.OVERRIDES if "num_iterations" not in o]
  train = subprocess.run(
      [str(env_dir / "bin" / "reasan-train"), "--config", tiny_loco.CONFIG, *overrides,
       "--config.run.num_iterations=2", "--run_name", "w", "--no_progress"],
      cwd=work, env=env, capture_output=True, text=True, timeout=900)
  assert train.returncode == 0, train.stderr[-2000:]
  assert (work / "runs" / "w" / "checkpoints" / "2").is_dir()
  play = subprocess.run([str(python), "-m", "reasan_jax.play", "--run", "w", "--steps", "10"],
                        cwd=work, env=env, capture_output=True, text=True, timeout=900)
  assert play.returncode == 0, play.stderr[-2000:]
