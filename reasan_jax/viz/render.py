"""Headless MuJoCo rendering and atomic MP4 writing, with one-sentence errors naming the fix.

Two pieces, both used by :mod:`reasan_jax.viz.video` (play, training videos):

* :func:`open_renderer` builds a ``mujoco.Renderer`` on an OpenGL backend chosen by
  :func:`gl_backend`: ``$MUJOCO_GL`` when set, otherwise ``egl`` on a Linux machine without a
  display (this CPU box with Mesa's software EGL, Colab's GPU with NVIDIA's EGL) and MuJoCo's own
  default elsewhere. MuJoCo fixes its backend when ``mujoco`` is first imported; if that happened
  before ``$MUJOCO_GL`` was decided (a notebook, a test session), the context class of the chosen
  backend is supplied to that one ``Renderer`` construction, so the choice still holds. A missing
  system library becomes a :class:`RenderError` naming the ``MUJOCO_GL`` value to set or the Debian /
  Ubuntu packages to install (:data:`APT_PACKAGES`).
* :class:`VideoWriter` encodes frames to H.264 MP4 into a temporary file next to the target and
  moves it into place only when every frame was written, so a failed or interrupted run never
  leaves a partial video behind. :func:`check_video_path` rejects an unusable path up front.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import dataclasses
import functools
import os
import pathlib
import platform
import secrets
import sys
import threading
import warnings
from typing import Any, Iterator

import numpy as np

BACKENDS = ("egl", "osmesa", "glfw")
"""OpenGL backends ``MUJOCO_GL`` may name on Linux (``glx`` is an alias of ``glfw``)."""

APT_PACKAGES = {
    "egl": ("libegl1", "libegl-mesa0", "libgl1-mesa-dri"),
    "osmesa": ("libosmesa6",),
    "glfw": ("libgl1", "libglx-mesa0"),
}
"""Debian 12 / Ubuntu packages providing each backend (Mesa's software rasteriser included, so no
GPU is needed): EGL = the glvnd loader + Mesa's EGL vendor + the DRI drivers (llvmpipe)."""

_LIBRARIES = {"egl": "EGL", "osmesa": "OSMesa", "glfw": "GL"}
_CONTEXT_MODULES = {"egl": "mujoco.egl", "osmesa": "mujoco.osmesa", "glfw": "mujoco.glfw"}
_swap_lock = threading.Lock()


class RenderError(RuntimeError):
  """No usable OpenGL backend, or a video that cannot be written (one sentence naming the fix)."""


def _apt(backend: str) -> str:
  return "apt-get install -y " + " ".join(APT_PACKAGES[backend])


def _headless() -> bool:
  return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def gl_backend() -> str:
  """The OpenGL backend :func:`open_renderer` uses: ``"egl"``, ``"osmesa"`` or ``"glfw"``.

  ``$MUJOCO_GL`` when set (``glx`` counts as ``glfw``); otherwise ``"egl"`` on Linux without
  ``$DISPLAY``/``$WAYLAND_DISPLAY`` and ``"glfw"`` elsewhere (MuJoCo's default).

  Raises:
    RenderError: ``$MUJOCO_GL`` names no backend this package can use.
  """
  value = os.environ.get("MUJOCO_GL", "").strip().lower()
  if not value:
    return "egl" if platform.system() == "Linux" and _headless() else "glfw"
  if value == "glx":
    return "glfw"
  if value not in BACKENDS:
    raise RenderError(
        f"MUJOCO_GL={value!r} is not an OpenGL backend reasan_jax can render with; set "
        "MUJOCO_GL=egl (headless, GPU or Mesa), MUJOCO_GL=osmesa (software) or MUJOCO_GL=glfw "
        "(with a display).")
  return value


def configure_gl() -> str:
  """Decides the backend and exports it as ``$MUJOCO_GL`` (if unset) for MuJoCo and subprocesses.

  Call before ``import mujoco`` where possible (the CLI does); afterwards it still works through
  :func:`open_renderer`. Returns the backend name.

  Raises:
    RenderError: ``$MUJOCO_GL`` is invalid.
  """
  backend = gl_backend()
  if not os.environ.get("MUJOCO_GL") and platform.system() == "Linux":
    os.environ["MUJOCO_GL"] = backend
  return backend


def _missing_library_error(backend: str, detail: str = "") -> RenderError:
  others = [b for b in ("egl", "osmesa") if b != backend]
  why = f" ({detail})" if detail else ""
  if backend == "glfw":
    return RenderError(
        "MuJoCo could not open an OpenGL window with glfw, as happens without a display; set "
        f"MUJOCO_GL=egl to render headless (Debian/Ubuntu: {_apt('egl')}).")
  return RenderError(
      f"OpenGL backend MUJOCO_GL={backend} is not available{why}; install it with "
      f"'{_apt(backend)}' (Debian/Ubuntu) or set MUJOCO_GL={others[0]}.")


def check_library(backend: str | None = None) -> str:
  """Checks, without importing mujoco, that the backend's system library can be found.

  ``import mujoco`` itself fails with an obscure error when ``MUJOCO_GL=osmesa`` names a missing
  library, so callers that will import mujoco check this first. Returns the backend name.

  Raises:
    RenderError: the library (libEGL, libOSMesa) is not installed, or ``$MUJOCO_GL`` is invalid.
  """
  backend = backend or gl_backend()
  if backend not in BACKENDS:
    raise RenderError(f"Unknown OpenGL backend {backend!r}; use one of {', '.join(BACKENDS)}.")
  if platform.system() == "Linux" and backend != "glfw" and \
      ctypes.util.find_library(_LIBRARIES[backend]) is None:
    raise _missing_library_error(backend, f"lib{_LIBRARIES[backend]} was not found")
  return backend


def _context_class(backend: str) -> Any:
  """The GLContext class of ``backend`` (imports MuJoCo's wrapper module for it)."""
  import importlib  # pylint: disable=import-outside-toplevel

  pyopengl = os.environ.get("PYOPENGL_PLATFORM", "").lower()
  expected = "" if backend == "glfw" else backend
  if expected and pyopengl and pyopengl != expected:
    raise RenderError(
        f"PYOPENGL_PLATFORM={pyopengl} contradicts MUJOCO_GL={backend}; unset PYOPENGL_PLATFORM (or "
        f"set it to {expected}) before starting Python.")
  if expected and "OpenGL.platform" in sys.modules:
    loaded = type(sys.modules["OpenGL.platform"].PLATFORM).__module__.rsplit(".", 1)[-1]
    if loaded != expected:
      raise RenderError(
          f"PyOpenGL is already set up for {loaded!r} in this Python process, so MUJOCO_GL={backend} "
          f"cannot be used here; restart Python with MUJOCO_GL={backend} set before importing mujoco.")
  check_library(backend)
  try:
    return importlib.import_module(_CONTEXT_MODULES[backend]).GLContext
  except (ImportError, OSError, AttributeError) as e:
    raise _missing_library_error(backend, f"{type(e).__name__}: {e}") from e


@contextlib.contextmanager
def _mujoco_uses(backend: str) -> Iterator[None]:
  """Makes ``mujoco.Renderer`` construct its GL context with ``backend``'s class while inside."""
  import mujoco  # pylint: disable=import-outside-toplevel

  module = sys.modules[mujoco.Renderer.__module__]
  gl_module = getattr(module, "gl_context", None)
  chosen = getattr(gl_module, "_MUJOCO_GL", None)
  same = chosen == backend or (backend == "glfw" and chosen in ("", "glfw", "glx"))
  if gl_module is None or (same and hasattr(gl_module, "GLContext")):
    yield
    return
  cls = _context_class(backend)
  with _swap_lock:
    missing = object()
    previous = getattr(gl_module, "GLContext", missing)
    gl_module.GLContext = cls
    try:
      yield
    finally:
      if previous is missing:
        del gl_module.GLContext
      else:
        gl_module.GLContext = previous


def open_renderer(model: Any, width: int, height: int, backend: str | None = None) -> Any:
  """A ``mujoco.Renderer`` of ``width`` x ``height`` pixels on a working OpenGL backend.

  The model's offscreen buffer is enlarged in place if it is smaller than the image.

  Args:
    model: the ``mujoco.MjModel`` to render.
    width, height: image size in pixels (positive).
    backend: ``"egl"``, ``"osmesa"`` or ``"glfw"``; default :func:`gl_backend`.

  Returns:
    The renderer (call ``close()`` when done).

  Raises:
    RenderError: the backend's system libraries are missing or no GL context can be created (the
      message names the ``MUJOCO_GL`` value or the apt packages that fix it).
    ValueError: a non-positive size.
  """
  if int(width) < 1 or int(height) < 1:
    raise ValueError(f"image size must be positive, got {width} x {height}.")
  backend = check_library(backend)
  import mujoco  # pylint: disable=import-outside-toplevel

  model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), int(width))
  model.vis.global_.offheight = max(int(model.vis.global_.offheight), int(height))
  try:
    with _mujoco_uses(backend):
      return mujoco.Renderer(model, height=int(height), width=int(width))
  except RenderError:
    raise
  except Exception as e:  # pylint: disable=broad-except  (GL failures surface as many types)
    text = f"{type(e).__name__}: {e}".splitlines()[0]
    raise _missing_library_error(backend, text) from e


@dataclasses.dataclass(frozen=True)
class GLInfo:
  """What :func:`gl_info` found out about the OpenGL implementation.

  Attributes:
    backend: ``"egl"``, ``"osmesa"`` or ``"glfw"``.
    renderer: the ``GL_RENDERER`` string, e.g. ``"llvmpipe (LLVM 15.0.6, 256 bits)"``.
    software: True for Mesa's CPU rasterisers (llvmpipe, softpipe, swrast), which are ~10x slower
      than a GPU; :mod:`reasan_jax.viz.video` then renders with lighter shadows and no multisampling.
  """

  backend: str
  renderer: str
  software: bool


@functools.lru_cache(maxsize=None)
def _probe(backend: str) -> GLInfo:
  check_library(backend)
  import mujoco  # pylint: disable=import-outside-toplevel

  model = mujoco.MjModel.from_xml_string(
      "<mujoco><worldbody><light pos='0 0 2'/><geom type='sphere' size='0.1'/></worldbody></mujoco>")
  renderer = open_renderer(model, 16, 16, backend)
  try:
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    renderer.update_scene(data)
    if not np.any(renderer.render()):
      raise RenderError(
          f"OpenGL backend MUJOCO_GL={backend} rendered an all-black test image; set another "
          "MUJOCO_GL (egl or osmesa).")
    try:
      from OpenGL import GL  # pylint: disable=import-outside-toplevel

      name = GL.glGetString(GL.GL_RENDERER)
      name = name.decode(errors="replace") if isinstance(name, bytes) else str(name or "")
    except Exception:  # pylint: disable=broad-except  (informational only)
      name = ""
  finally:
    renderer.close()
  software = any(k in name.lower() for k in ("llvmpipe", "softpipe", "swrast", "software"))
  return GLInfo(backend, name, software)


def gl_info(backend: str | None = None) -> GLInfo:
  """Renders one tiny frame to prove OpenGL works and describes it (cached per backend).

  Raises:
    RenderError: as :func:`open_renderer`.
  """
  return _probe(backend or gl_backend())


def check_gl(backend: str | None = None) -> str:
  """Renders one tiny frame to prove OpenGL works; returns the backend name.

  Raises:
    RenderError: as :func:`open_renderer`.
  """
  return gl_info(backend).backend


# ------------------------------------------------------------------------------------------------
# Video files.


def check_video_path(path: str | os.PathLike) -> pathlib.Path:
  """Checks that an MP4 can be written at ``path`` (nothing is left behind); returns it absolute.

  Raises:
    RenderError: the name does not end in ``.mp4``, it is a folder, its folder does not exist or
      is not writable.
  """
  path = pathlib.Path(path).expanduser()
  if path.is_dir():
    raise RenderError(f"Video path {path} is a folder; pass a file name such as {path / 'out.mp4'}.")
  if path.suffix.lower() != ".mp4":
    raise RenderError(f"Video path {path} must end in .mp4 (H.264 MP4 is the only format written).")
  folder = path.parent if str(path.parent) else pathlib.Path(".")
  if not folder.is_dir():
    raise RenderError(
        f"Cannot write the video {path}: the folder {folder} does not exist; create it first or "
        "choose another path.")
  probe = folder / f".{path.name}.{secrets.token_hex(4)}.probe"
  try:
    probe.open("xb").close()
    probe.unlink()
  except OSError as e:
    raise RenderError(
        f"Cannot write the video {path}: the folder {folder} is not writable ({e.strerror}); choose "
        "a path in a writable folder.") from e
  return path.resolve()


class VideoWriter:
  """Writes RGB frames to an H.264 MP4 atomically (temporary file, then ``os.replace``).

  Use as a context manager; the video appears at ``path`` only if the block finishes without an
  exception, otherwise the temporary file is deleted and ``path`` is left untouched.

  Args:
    path: target ``.mp4`` file (checked with :func:`check_video_path`).
    fps: frames per second.
    width, height: frame size in pixels; both must be even (yuv420p).

  Raises:
    RenderError: unusable path or odd size.
  """

  def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int):
    if width % 2 or height % 2:
      raise RenderError(
          f"Video size {width} x {height} has an odd side; H.264 (yuv420p) needs even width and "
          "height, e.g. 640 x 480.")
    self.path = check_video_path(path)
    self.fps = float(fps)
    self.width, self.height = int(width), int(height)
    self.frames = 0
    self._tmp = self.path.parent / f".{self.path.stem}.{secrets.token_hex(4)}.tmp.mp4"
    self._writer = None

  def __enter__(self) -> "VideoWriter":
    import imageio.v2 as imageio  # pylint: disable=import-outside-toplevel

    self._writer = imageio.get_writer(
        self._tmp, format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
        pixelformat="yuv420p", macro_block_size=1, quality=8, ffmpeg_log_level="error")
    return self

  def append(self, frame: np.ndarray) -> None:
    """Adds one (height, width, 3) uint8 frame.

    Raises:
      ValueError: wrong frame shape or dtype.
    """
    frame = np.asarray(frame)
    if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
      raise ValueError(f"frame must be ({self.height}, {self.width}, 3) uint8, got "
                       f"{frame.shape} {frame.dtype}.")
    with warnings.catch_warnings():
      # imageio starts ffmpeg (fork + exec) with the first frame; JAX's fork warning does not apply.
      warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
      self._writer.append_data(frame)
    self.frames += 1

  def __exit__(self, exc_type, exc, tb) -> None:
    writer, self._writer = self._writer, None
    try:
      if writer is not None:
        writer.close()
    except Exception:  # pylint: disable=broad-except
      if exc_type is None:
        self._discard()
        raise
    if exc_type is not None or self.frames == 0:
      self._discard()
      if exc_type is None:
        raise RenderError(f"No frames were rendered, so no video was written to {self.path}.")
      return
    try:
      os.replace(self._tmp, self.path)
    except OSError as e:
      self._discard()
      raise RenderError(f"Cannot move the finished video into place at {self.path} "
                        f"({e.strerror}); choose another path.") from e

  def _discard(self) -> None:
    with contextlib.suppress(OSError):
      self._tmp.unlink()


__all__ = [
    "APT_PACKAGES", "BACKENDS", "GLInfo", "RenderError", "VideoWriter", "check_gl",
    "check_library", "check_video_path", "configure_gl", "gl_backend", "gl_info", "open_renderer",
]
