"""User-defined obstacle layouts and MJCF geoms of primitives (rendering, MuJoCo cross-checks).

A layout replaces the generated filter world (REASAN filter §6.1) by a fixed list of static
obstacles, e.g. an evaluation scene. Format (JSON, or YAML when ``pyyaml`` is installed; or the
same structure as Python dicts / lists)::

  {"obstacles": [
     {"shape": "box", "pos": [2.0, 0.5], "size": [0.4, 0.4, 1.0], "yaw": 0.3},
     {"shape": "cylinder", "pos": [4.0, -1.0], "radius": 0.3, "height": 1.5}],
   "spawn": [[0.0, 0.0]]}

* ``pos``: [x, y] (the obstacle stands on z = 0) or [x, y, z] (centre height), m.
* box ``size``: full extents [x, y, height] in m; cylinder ``radius`` and ``height`` in m.
* ``yaw``: rad about world z (default 0).
* ``spawn`` (optional): robot start points [x, y] in m; default [[0, 0]].
"""

from __future__ import annotations

import json
import pathlib
from typing import Any, Iterable, Mapping

import jax.numpy as jnp
import mujoco
import numpy as np

from reasan_jax.scenes import obstacles
from reasan_jax.sensors import rays


class LayoutError(ValueError):
  """A user layout is malformed; the message is one sentence naming the entry and the problem."""


def _num(entry: str, key: str, v: Any, n: int | None) -> np.ndarray:
  try:
    a = np.asarray(v, np.float64)
  except (TypeError, ValueError):
    raise LayoutError(f"{entry}: '{key}' must be numeric, got {v!r}.") from None
  if n is not None and a.shape != (n,):
    raise LayoutError(f"{entry}: '{key}' must have {n} numbers, got {v!r}.")
  if not np.all(np.isfinite(a)):
    raise LayoutError(f"{entry}: '{key}' must be finite, got {v!r}.")
  return a


def parse_layout(data: Mapping[str, Any] | Iterable[Mapping[str, Any]]) -> dict[str, np.ndarray]:
  """Validates a layout and returns host arrays.

  Args:
    data: a mapping with ``obstacles`` (and optional ``spawn``) or a bare list of obstacles.

  Returns:
    ``center (N, 3)``, ``yaw (N,)``, ``half (N, 3)`` (m, MuJoCo half sizes: box (hx, hy, hz),
    cylinder (r, r, hz)), ``kind (N,)`` and ``spawn (P, 2)``.

  Raises:
    LayoutError: on a missing / unknown shape, a non-positive size, a wrong number of
      coordinates or a non-numeric value (one sentence naming the entry).
  """
  if isinstance(data, Mapping):
    unknown = set(data) - {"obstacles", "spawn"}
    if unknown:
      raise LayoutError(f"layout: unknown top-level key(s) {sorted(unknown)}, expected "
                        "'obstacles' and optional 'spawn'.")
    obs, spawn = data.get("obstacles"), data.get("spawn", [[0.0, 0.0]])
  else:
    obs, spawn = data, [[0.0, 0.0]]
  if not isinstance(obs, (list, tuple)):
    raise LayoutError(f"layout: 'obstacles' must be a list, got {type(obs).__name__}.")
  center, yaw, half, kind = [], [], [], []
  for i, o in enumerate(obs):
    entry = f"obstacle {i}"
    if not isinstance(o, Mapping):
      raise LayoutError(f"{entry}: must be a mapping with 'shape' and 'pos', got {o!r}.")
    shape = o.get("shape")
    if shape not in rays.KIND_NAMES:
      raise LayoutError(f"{entry}: unknown shape {shape!r}, expected 'box' or 'cylinder'.")
    allowed = {"shape", "pos", "yaw"} | ({"size"} if shape == "box" else {"radius", "height"})
    extra = set(o) - allowed
    if extra:
      raise LayoutError(f"{entry} ({shape}): unknown key(s) {sorted(extra)}, allowed "
                        f"{sorted(allowed)}.")
    if "pos" not in o:
      raise LayoutError(f"{entry} ({shape}): missing 'pos'.")
    pos = _num(entry, "pos", o["pos"], None)
    if pos.shape not in ((2,), (3,)):
      raise LayoutError(f"{entry} ({shape}): 'pos' must be [x, y] or [x, y, z], got {o['pos']!r}.")
    if shape == "box":
      if "size" not in o:
        raise LayoutError(f"{entry} (box): missing 'size' [x, y, height].")
      size = _num(entry, "size", o["size"], 3)
      h = size / 2
    else:
      for key in ("radius", "height"):
        if key not in o:
          raise LayoutError(f"{entry} (cylinder): missing '{key}'.")
      r = float(_num(entry, "radius", o["radius"], None))
      hh = float(_num(entry, "height", o["height"], None))
      size = np.array([2 * r, 2 * r, hh])
      h = np.array([r, r, hh / 2])
    if np.any(size <= 0):
      raise LayoutError(f"{entry} ({shape}): sizes must be positive, got "
                        f"{o.get('size', [o.get('radius'), o.get('height')])!r}.")
    z = pos[2] if pos.shape == (3,) else h[2]
    center.append([pos[0], pos[1], z])
    yaw.append(float(_num(entry, "yaw", o.get("yaw", 0.0), None)))
    half.append(h)
    kind.append(rays.KIND_NAMES.index(shape))
  sp = _num("spawn", "spawn", spawn, None)
  if sp.ndim != 2 or sp.shape[1] != 2:
    raise LayoutError(f"spawn: must be a list of [x, y] points, got {spawn!r}.")
  return {"center": np.asarray(center, np.float64).reshape(-1, 3),
          "yaw": np.asarray(yaw, np.float64), "half": np.asarray(half, np.float64).reshape(-1, 3),
          "kind": np.asarray(kind, np.int32), "spawn": sp}


def load_layout_file(path: str | pathlib.Path) -> dict[str, np.ndarray]:
  """Reads a ``.json`` / ``.yaml`` / ``.yml`` layout (see module doc) and parses it.

  Raises:
    LayoutError: unreadable or malformed file, YAML without ``pyyaml``, or an invalid entry.
  """
  path = pathlib.Path(path)
  try:
    text = path.read_text()
  except OSError as e:
    raise LayoutError(f"layout file {path}: cannot be read ({e.strerror}).") from None
  if path.suffix.lower() in (".yaml", ".yml"):
    try:
      import yaml  # pylint: disable=import-outside-toplevel
    except ImportError:
      raise LayoutError(f"layout file {path}: YAML needs the 'pyyaml' package (pip install "
                        "pyyaml), or write the layout as JSON.") from None
    try:
      data = yaml.safe_load(text)
    except yaml.YAMLError as e:
      raise LayoutError(f"layout file {path}: not valid YAML ({str(e).splitlines()[0]}).") from None
  else:
    try:
      data = json.loads(text)
    except json.JSONDecodeError as e:
      raise LayoutError(f"layout file {path}: not valid JSON ({e.msg} at line {e.lineno}, "
                        f"column {e.colno}).") from None
  if not isinstance(data, (Mapping, list)):
    raise LayoutError(f"layout file {path}: top level must be a mapping or a list.")
  return parse_layout(data)


def layout_world(layout: Mapping[str, np.ndarray] | str | pathlib.Path, pad_to: int | None = None
                 ) -> obstacles.StaticWorld:
  """A non-periodic :class:`reasan_jax.scenes.obstacles.StaticWorld` from a layout.

  Args:
    layout: output of :func:`parse_layout` / :func:`load_layout_file`, or a file path.
    pad_to: pad the primitive arrays to this many entries (invalid padding), so that several
      layouts share one compiled env; default: no padding (at least 1 entry).

  Raises:
    LayoutError: see :func:`load_layout_file`, or more obstacles than ``pad_to``.
  """
  if isinstance(layout, (str, pathlib.Path)):
    layout = load_layout_file(layout)
  n = len(layout["kind"])
  m = max(n, 1) if pad_to is None else int(pad_to)
  if n > m:
    raise LayoutError(f"layout: {n} obstacles exceed pad_to={m}.")
  pad = lambda a, fill=0.0: np.concatenate([a, np.full((m - n,) + a.shape[1:], fill, a.dtype)])
  center = pad(layout["center"].astype(np.float32), 1e6)
  kinds = tuple(rays.KIND_NAMES[k] for k in sorted(set(layout["kind"].tolist()))) or ("box",)
  prims = rays.make_primitives(center, pad(layout["yaw"].astype(np.float32)),
                               pad(layout["half"].astype(np.float32), 1.0),
                               pad(layout["kind"]), valid=np.arange(m) < n, kinds=kinds)
  prims = jax_tree_reshape(prims, (1, 1))
  return obstacles.StaticWorld(prims=prims, spawn=jnp.asarray(layout["spawn"], jnp.float32),
                               origin=(0.0, 0.0), cell=1e6, window=0, periodic=False)


def jax_tree_reshape(prims: rays.Primitives, lead: tuple[int, ...]) -> rays.Primitives:
  """Adds leading axes ``lead`` to every array of ``prims``."""
  import jax  # pylint: disable=import-outside-toplevel
  return jax.tree.map(lambda a: a.reshape(lead + a.shape), prims)


def geom_descriptions(center: np.ndarray, yaw: np.ndarray, half: np.ndarray, kind: np.ndarray,
                      prefix: str = "obstacle") -> list[dict[str, Any]]:
  """MJCF geom attributes of primitives (host arrays, e.g. from :func:`parse_layout` or
  :func:`reasan_jax.scenes.obstacles.world_boxes`).

  Returns:
    One dict per primitive: ``name``, ``type`` ("box" / "cylinder"), ``size`` (MuJoCo half sizes:
    box [hx, hy, hz], cylinder [r, hz]), ``pos`` [x, y, z], ``quat`` [w, x, y, z] (yaw about z).
  """
  out = []
  for i in range(len(kind)):
    t = rays.KIND_NAMES[int(kind[i])]
    h = [float(v) for v in half[i]]
    size = h if t == "box" else [h[0], h[2]]
    out.append({"name": f"{prefix}_{i}", "type": t, "size": size,
                "pos": [float(v) for v in center[i]],
                "quat": [float(np.cos(yaw[i] / 2)), 0.0, 0.0, float(np.sin(yaw[i] / 2))]})
  return out


def add_geoms(spec: mujoco.MjSpec, geoms: list[dict[str, Any]], body: Any = None,
              rgba=(0.6, 0.6, 0.65, 1.0), contype: int = 0, conaffinity: int = 0) -> list[Any]:
  """Adds geoms from :func:`geom_descriptions` to ``spec`` (world body by default).

  ``contype`` / ``conaffinity`` default to 0 (visual only); pass the robot's collision bits to
  let MuJoCo collide them (``tests/test_collisions.py`` does, for the MuJoCo-C cross-check).

  Returns:
    The created ``MjsGeom`` objects.
  """
  parent = spec.worldbody if body is None else body
  types = {"box": mujoco.mjtGeom.mjGEOM_BOX, "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER}
  out = []
  for g in geoms:
    size = list(g["size"]) + [0.0] * (3 - len(g["size"]))
    out.append(parent.add_geom(name=g["name"], type=types[g["type"]], size=size, pos=g["pos"],
                               quat=g["quat"], rgba=list(rgba), contype=contype,
                               conaffinity=conaffinity))
  return out
