"""notebooks/train_loco.ipynb and notebooks/rollout_video.ipynb run end to end (nbclient, CPU).

Each notebook's ``parameters`` cell is followed by an injected cell with tiny values (the same tiny
training run and rollout length as tests/test_play.py, so the kernels find every compiled program
in JAX's persistent cache once either file has run).
"""

from __future__ import annotations

import json
import pathlib

import jax
import pytest

import tiny_loco
from conftest import REPO
from reasan_jax.viz import render

nbformat = pytest.importorskip(
    "nbformat", reason="nbformat is not installed; pip install -e '.[test]' adds it")
nbclient = pytest.importorskip(
    "nbclient", reason="nbclient is not installed; pip install -e '.[test]' adds it")
pytest.importorskip("ipykernel", reason="ipykernel is not installed; pip install -e '.[test]' adds it")

pytestmark = pytest.mark.filterwarnings(  # kernels and ffmpeg are fork + exec subprocesses
    r"ignore:os\.fork\(\) was called:RuntimeWarning")

NOTEBOOKS = REPO / "notebooks"
CELL_TIMEOUT = 1200  # s; a cold compile of the Go2 training program takes minutes on 2 CPU cores


@pytest.fixture(scope="module")
def kernel_env():
  """Rendering backend and compile cache for the kernels (inherited environment)."""
  try:
    backend = render.check_gl()
  except render.RenderError as e:
    pytest.skip(f"No OpenGL backend for MuJoCo rendering on this machine: {e}")
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv("MUJOCO_GL", backend)
    cache = jax.config.jax_compilation_cache_dir
    if cache:
      mp.setenv("REASAN_JAX_CACHE", str(cache))
    mp.setenv("JAX_PLATFORMS", "cpu")
    yield


def _execute(name: str, params: dict, cwd: pathlib.Path):
  """Runs notebook ``name`` with ``params`` injected after its ``parameters`` cell; returns it."""
  nb = nbformat.read(NOTEBOOKS / name, as_version=4)
  tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
  assert len(tagged) == 1, f"{name} needs exactly one cell tagged 'parameters'"
  source = "# Injected by tests/test_notebooks.py\n" + "\n".join(
      f"{k} = {v!r}" for k, v in params.items())
  nb.cells.insert(tagged[0] + 1, nbformat.v4.new_code_cell(
      source, metadata={"tags": ["injected-parameters"]}))
  client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                   resources={"metadata": {"path": str(cwd)}})
  client.execute()
  (cwd / f"executed_{name}").write_text(nbformat.writes(nb))  # kept in tmp for debugging
  return nb


def _outputs(nb) -> tuple[str, str]:
  """(all stream text, all HTML) of the executed notebook."""
  text, html = [], []
  for cell in nb.cells:
    for out in cell.get("outputs", []):
      if out.get("output_type") == "stream":
        text.append(out.get("text", ""))
      data = out.get("data", {})
      html.append(data.get("text/html", ""))
      text.append(data.get("text/plain", ""))
  return "".join(text), "".join(html)


@pytest.fixture(scope="module")
def trained(kernel_env, tmp_path_factory):
  cwd = tmp_path_factory.mktemp("train_nb")
  nb = _execute("train_loco.ipynb", {
      "CONFIG": tiny_loco.CONFIG,
      "OVERRIDES": tiny_loco.OVERRIDES,
      "RUNS_DIR": str(cwd / "runs"),
      "RUN_NAME": "nb",
      "REQUIRE_GPU": False,
      "VIDEO_STEPS": tiny_loco.STEPS,
      "VIDEO_WIDTH": tiny_loco.WIDTH,
      "VIDEO_HEIGHT": tiny_loco.HEIGHT,
  }, cwd)
  return nb, cwd / "runs" / "nb"


def test_train_loco_notebook(trained):
  nb, run_dir = trained
  text, html = _outputs(nb)
  assert (run_dir / "metrics.csv").is_file() and (run_dir / "checkpoints" / "1").is_dir()
  assert "Not on Colab" in text and "1 iterations" in text
  assert "episode/return" in text or "<Figure" in text  # printed curves, or a matplotlib plot
  assert "|err vx|" in text and "<video" in html
  tiny_loco.assert_moving_video(tiny_loco.decode(run_dir / "videos" / "final.mp4"))


def test_rollout_video_notebook(trained, tmp_path):
  """With the checkpoint the train notebook wrote (the ONNX path is tests/test_play.py's)."""
  _, run_dir = trained
  video = tmp_path / "rollout.mp4"
  nb = _execute("rollout_video.ipynb", {
      "RUN": str(run_dir), "STEPS": tiny_loco.STEPS, "NUM_ENVS": 1, "WIDTH": tiny_loco.WIDTH,
      "HEIGHT": tiny_loco.HEIGHT, "VIDEO": str(video)}, tmp_path)
  text, html = _outputs(nb)
  assert f"checkpoint {run_dir / 'checkpoints' / '1'}" in text
  assert "|err vx|" in text and "mean |command - achieved|" in text and "<video" in html
  tiny_loco.assert_moving_video(tiny_loco.decode(video))


def test_notebooks_have_a_guarded_colab_install_cell():
  for name in ("train_loco.ipynb", "rollout_video.ipynb"):
    nb = json.loads((NOTEBOOKS / name).read_text())
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    install = [s for s in sources if '"-m", "pip", "install"' in s]
    assert len(install) == 1 and 'IN_COLAB = "google.colab" in sys.modules' in install[0]
    assert "if IN_COLAB:" in install[0]
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code"), \
        f"{name} is stored with outputs; clear them before committing"
