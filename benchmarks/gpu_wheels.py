"""Wheels for the lent GPU machine: what our package needs there and the machine lacks, plus our own.

``bash benchmarks/prepare_gpu_wheels.sh [DIR]`` runs this (default DIR: ``.whl`` in the repository
root, git-ignored); the folder then travels with the working tree and ``benchmarks/gpu_suite.sh``
installs it there with ``pip install --no-index --no-deps --target``. The machine has no network
but its own CUDA build of jax, flax, optax, orbax, numpy, ... (``benchmarks/gpu_machine_packages.txt``),
so its jax is kept and only the missing packages travel:

1. roots: the ``[project] dependencies`` of ``pyproject.toml`` that the machine lacks (mujoco,
   mujoco-mjx, brax, ml-collections, tensorboardX), at our pins; ``>=`` requirements at the version
   installed here when it satisfies them (the one our tests ran with);
2. their runtime dependencies, read from each downloaded wheel's ``Requires-Dist`` (extras and
   markers evaluated for CPython 3.12 on x86-64 Linux), again skipping what the machine has; extras
   asked of a package the machine has (``etils[epath]``) are read from its metadata here;
3. our package, ``pip wheel --no-deps .``.

Downloads are ``pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp
--platform manylinux_2_{17..39}_x86_64 ...`` (the device notes' flags), so every wheel is cp312 or
pure Python and manylinux x86-64. ``DIR/wheels.json`` records each wheel, its size and why it is
there. Fails with one sentence (exit 1) when pip fails or the wheels exceed 60 MiB (a call carries
64 MiB with the whole working tree).
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import pathlib
import subprocess
import sys
import tomllib
import zipfile

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

ROOT = pathlib.Path(__file__).resolve().parents[1]
MACHINE_LIST = ROOT / "benchmarks" / "gpu_machine_packages.txt"
LIMIT_MIB = 60.0
TARGET_ENV = {  # PEP 508 marker environment of the GPU machine's python3
    "python_version": "3.12", "python_full_version": "3.12.3", "implementation_name": "cpython",
    "implementation_version": "3.12.3", "platform_python_implementation": "CPython",
    "os_name": "posix", "sys_platform": "linux", "platform_system": "Linux",
    "platform_machine": "x86_64", "platform_release": "", "platform_version": "", "extra": "",
}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"] + [
                 f"manylinux_2_{n}_x86_64" for n in range(18, 40) if n not in (27, 28)]
SKIPPED = {  # needed by pyproject but not by anything the GPU suite runs
    "imageio-ffmpeg": "videos only (the suite renders none); its ffmpeg binary is ~30 MiB",
}


class PrepareError(RuntimeError):
  """The wheels cannot be prepared (one-sentence message)."""


def machine_packages(path: pathlib.Path = MACHINE_LIST) -> set[str]:
  """Canonical names of the packages the GPU machine already has."""
  names = set()
  for line in path.read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if line:
      names.add(canonicalize_name(line))
  return names


def _applies(req: Requirement, extras: set[str] = frozenset()) -> bool:
  if req.marker is None:
    return True
  return any(req.marker.evaluate({**TARGET_ENV, "extra": e}) for e in (extras or {""}))


def _local_version(name: str) -> str | None:
  try:
    return md.version(name)
  except md.PackageNotFoundError:
    return None


def _pin(req: Requirement) -> str:
  """``name==version``: the requirement's own pin, else the version installed here if it fits."""
  name = canonicalize_name(req.name)
  for spec in req.specifier:
    if spec.operator == "==" and "*" not in spec.version:
      return f"{name}=={spec.version}"
  local = _local_version(name)
  if local is not None and req.specifier.contains(Version(local), prereleases=True):
    return f"{name}=={local}"
  return f"{name}{req.specifier}"


def _wheel_requires(path: pathlib.Path) -> list[str]:
  with zipfile.ZipFile(path) as z:
    meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
    text = z.read(meta).decode()
  return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def _download(specs: list[str], dest: pathlib.Path) -> None:
  cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.12", "--implementation", "cp", "-d", str(dest)]
  for p in PLATFORMS:
    cmd += ["--platform", p]
  proc = subprocess.run(cmd + specs, capture_output=True, text=True, check=False)
  if proc.returncode != 0:
    errors = [l for l in proc.stderr.splitlines() if l.startswith("ERROR")] or proc.stderr.splitlines()[-1:]
    raise PrepareError(f"pip download of {' '.join(specs)} failed ({' '.join(errors)[:400]}); check "
                       "the package index is reachable and the versions exist for CPython 3.12.")


def _downloaded(dest: pathlib.Path) -> dict[str, pathlib.Path]:
  return {canonicalize_name(parse_wheel_filename(p.name)[0]): p for p in dest.glob("*.whl")}


def prepare(dest: pathlib.Path, limit_mib: float = LIMIT_MIB) -> dict:
  """Fills ``dest`` with the wheels (old ``*.whl`` there are removed first); returns the manifest.

  Raises:
    PrepareError: a download or the build of our wheel failed, or the total exceeds ``limit_mib``.
  """
  dest.mkdir(parents=True, exist_ok=True)
  for old in dest.glob("*.whl"):
    old.unlink()
  have = machine_packages()
  project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
  reasons: dict[str, str] = {}
  queue: list[tuple[Requirement, str]] = [(Requirement(r), "pyproject.toml") for r in project["dependencies"]]
  skipped = {}
  while queue:
    wanted = {}
    for req, why in queue:
      name = canonicalize_name(req.name)
      if not _applies(req):
        continue
      if name in SKIPPED:
        skipped[name] = SKIPPED[name]
        continue
      if name in have:
        for extra in sorted(req.extras):  # extras of a package the machine has: from its metadata here
          for line in md.requires(name) or []:
            sub = Requirement(line)
            if sub.marker is not None and _applies(sub, {extra}) and not _applies(sub):
              wanted_name = canonicalize_name(sub.name)
              if wanted_name not in have and wanted_name not in reasons and wanted_name not in wanted:
                wanted[wanted_name] = (sub, f"{name}[{extra}]")
        continue
      if name in reasons or name in wanted:
        continue
      wanted[name] = (req, why)
    queue = []
    if not wanted:
      break
    _download([_pin(req) for req, _ in wanted.values()], dest)
    files = _downloaded(dest)
    for name, (req, why) in wanted.items():
      if name not in files:
        raise PrepareError(f"pip downloaded no wheel named {name} for {_pin(req)}; check its name.")
      reasons[name] = why
      for line in _wheel_requires(files[name]):
        sub = Requirement(line)
        if _applies(sub, set(req.extras)):
          queue.append((sub, name))

  cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(ROOT)]
  proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
  if proc.returncode != 0:
    errors = [l.strip() for l in (proc.stdout + proc.stderr).splitlines() if "error" in l.lower()]
    raise PrepareError(f"pip wheel of this repository failed ({'; '.join(errors[:2])[:300]}); run "
                       f"'{' '.join(cmd)}' to see why.")
  reasons["reasan-jax"] = "this repository"

  files = _downloaded(dest)
  total = sum(p.stat().st_size for p in files.values())
  manifest = {
      "target": "CPython 3.12 on manylinux x86_64 (the lent nvidia-h200 machine)",
      "total_mib": round(total / 2**20, 2),
      "skipped": skipped,
      "wheels": [{"file": p.name, "name": n, "version": str(parse_wheel_filename(p.name)[1]),
                  "mib": round(p.stat().st_size / 2**20, 3), "why": reasons.get(n, "?")}
                 for n, p in sorted(files.items())],
  }
  (dest / "wheels.json").write_text(json.dumps(manifest, indent=2) + "\n")
  if total > limit_mib * 2**20:
    raise PrepareError(f"The wheels in {dest} total {total / 2**20:.1f} MiB, over the {limit_mib:g} MiB "
                       "a device call can carry with the working tree; drop a package from the list.")
  return manifest


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("dest", nargs="?", default=str(ROOT / ".whl"),
                 help="folder for the wheels (default: .whl in the repository root, where gpu_suite.sh "
                 "looks)")
  p.add_argument("--limit-mib", type=float, default=LIMIT_MIB, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  try:
    manifest = prepare(pathlib.Path(args.dest), args.limit_mib)
  except PrepareError as e:
    print(f"prepare_gpu_wheels: error: {e}", file=sys.stderr)
    return 1
  for w in manifest["wheels"]:
    print(f"{w['mib']:8.2f} MiB  {w['file']}  ({w['why']})")
  for name, why in manifest["skipped"].items():
    print(f"     skipped  {name}: {why}")
  print(f"{manifest['total_mib']:8.2f} MiB in {args.dest} (limit {args.limit_mib:g})")
  return 0


if __name__ == "__main__":
  sys.exit(main())
