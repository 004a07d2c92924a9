#!/usr/bin/env bash
# Creates benchmarks/.venv-brax: the peers' side of the side-by-side benchmarks.
#
#   bash benchmarks/setup_brax_venv.sh        # from the repository root, once (~2-5 min, PyPI)
#
# Why a separate interpreter: brax 0.14.2's PPO calls jax.device_put_replicated, which jax 0.10
# (our pin) removed. jax 0.8.2 still has it, and jax 0.8.2 + mujoco-mjx 3.17.0 + brax 0.14.2 +
# playground 0.2.0 run Brax PPO and Playground's envs. mujoco is pinned to our version (4.0.0) so
# both sides use the same MuJoCo/MJX physics; flax/optax/orbax are left to pip's resolver (they
# only need to accept jax 0.8.2). This repository is installed into the venv with --no-deps so the
# peers' side can import our env (for the Brax adapter) with the venv's jax.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${BRAX_VENV:-$ROOT/benchmarks/.venv-brax}"
PY="${PYTHON:-python3}"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet \
  "jax==0.8.2" "jaxlib==0.8.2" "mujoco==4.0.0" "mujoco-mjx==3.17.0" "brax==0.14.2" \
  "playground==0.2.0" "ml-collections==1.1.0"
"$VENV/bin/python" -m pip install --quiet --no-deps -e "$ROOT"
"$VENV/bin/python" -m pip freeze > "$VENV/freeze.txt"
"$VENV/bin/python" - <<'PY'
import jax, brax, mujoco
from mujoco import mjx  # noqa: F401
print("venv ok: jax", jax.__version__, "brax", brax.__version__, "mujoco", mujoco.__version__,
      "device_put_replicated", hasattr(jax, "device_put_replicated"))
PY
