"""Helpers shared by the side-by-side benchmarks (no JAX import at module level).

The benchmarks run each side (ours, Brax, Playground) in its own subprocess, possibly in another
interpreter (``benchmarks/.venv-brax``, see ``setup_brax_venv.sh``). A worker prints one JSON line
prefixed by :data:`MARK` on stdout; :func:`run_worker` collects it and adds the worker's peak RSS.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import platform
import resource
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
BRAX_VENV = ROOT / "benchmarks" / ".venv-brax"
MARK = "@@RESULT@@ "


def use_tree() -> bool:
  """Whether the repository root goes on ``sys.path`` (and the workers' ``PYTHONPATH``).

  True unless ``reasan_jax`` is importable as a full installed package, i.e. a wheel whose
  ``reasan_jax/configs`` is a real folder (as ``gpu_suite.sh`` installs it on the GPU machine): the
  bare tree lacks the ``configs``/``assets`` the wheel maps into the package, so there the installed
  copy must win. An editable install (its package folder is this tree) keeps the tree first.
  """
  spec = importlib.util.find_spec("reasan_jax")
  if spec is None or not spec.origin:
    return True
  return not (pathlib.Path(spec.origin).parent / "configs").is_dir()


def brax_python(path: str | None = None) -> pathlib.Path | None:
  """The peers' interpreter (``--brax-python`` or ``benchmarks/.venv-brax``), None if absent."""
  p = pathlib.Path(path) if path else BRAX_VENV / "bin" / "python"
  return p if p.exists() else None


VENV_HINT = "no peers' venv (run: bash benchmarks/setup_brax_venv.sh)"


def drop_venv_sides(sides: list[str], in_venv, bpy) -> tuple[list[str], dict[str, str]]:
  """Sides that can run, and ``{side: reason}`` for those skipped.

  ``in_venv(side)`` says whether a side runs in the peers' interpreter; without one (``bpy`` None)
  those sides are dropped with the reason printed.
  """
  kept, skipped = [], {}
  for s in sides:
    if bpy is None and in_venv(s):
      skipped[s] = VENV_HINT
      print(f"skipping {s}: {VENV_HINT}")
    else:
      kept.append(s)
  return kept, skipped


def machine() -> dict:
  """Machine description plus the 1-min load average (other users share this CPU)."""
  info = {"platform": platform.platform(), "processor": platform.processor(),
          "cpu_count": os.cpu_count(), "python": platform.python_version()}
  try:
    info["loadavg_1_5_15"] = list(os.getloadavg())
  except OSError:
    pass
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        info["cpu_model"] = line.split(":", 1)[1].strip()
        break
  except OSError:
    pass
  return info


def versions() -> dict:
  """Versions of the packages that matter, in the current interpreter."""
  import importlib.metadata as md  # pylint: disable=import-outside-toplevel

  out = {"python": platform.python_version()}
  for name in ("jax", "jaxlib", "mujoco", "mujoco-mjx", "brax", "playground", "flax", "optax"):
    try:
      out[name] = md.version(name)
    except md.PackageNotFoundError:
      pass
  return out


def emit(result: dict) -> None:
  """Worker side: adds versions and own peak RSS, prints the marked JSON line."""
  result = dict(result)
  result.setdefault("versions", versions())
  result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
  print(MARK + json.dumps(result), flush=True)


def run_worker(python: str | os.PathLike, script: str | os.PathLike, args: list[str],
               timeout: float | None = None) -> dict:
  """Runs ``python script args`` (niced like its parent), returns the worker's JSON result.

  Raises:
    RuntimeError: the worker failed or printed no result (its stderr tail is in the message).
  """
  env = dict(os.environ)
  env.setdefault("JAX_PLATFORMS", "cpu")
  if use_tree():
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
  t0 = time.perf_counter()
  proc = subprocess.run([str(python), str(script), *args], capture_output=True, text=True,
                        env=env, timeout=timeout, check=False)
  wall = time.perf_counter() - t0
  for line in proc.stdout.splitlines():
    if line.startswith(MARK):
      out = json.loads(line[len(MARK):])
      out["process_wall_s"] = wall
      return out
  raise RuntimeError(f"worker {script} {' '.join(args)} failed (rc {proc.returncode}):\n"
                     f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def write(name: str, result: dict, out: str | None = None) -> pathlib.Path:
  """Writes ``result`` (plus machine) as JSON to ``out`` or ``benchmarks/results/<name>.json``."""
  path = pathlib.Path(out) if out else RESULTS / f"{name}.json"
  path.parent.mkdir(parents=True, exist_ok=True)
  result = {"benchmark": name, "machine": machine(), **result}
  path.write_text(json.dumps(result, indent=2))
  print(f"wrote {path}")
  return path


def table(rows: list[dict], cols: list[tuple[str, str, str]]) -> str:
  """Plain-text table: ``cols`` are (header, key, format) triples."""
  head = " | ".join(h for h, _, _ in cols)
  lines = [head, "-" * len(head)]
  for r in rows:
    cells = []
    for h, k, f in cols:
      v = r.get(k)
      cells.append((format(v, f) if isinstance(v, (int, float)) and f else str(v)).rjust(len(h)))
    lines.append(" | ".join(cells))
  return "\n".join(lines)
