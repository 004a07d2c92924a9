#!/usr/bin/env bash
# The GPU suite, one blind command for a lent GPU machine (no network, its own CUDA jax):
#   bash benchmarks/gpu_suite.sh            # there, from the repository copy, with .whl carried
# Installs .whl/*.whl (made here by benchmarks/prepare_gpu_wheels.sh) into /tmp/site, then runs env
# throughput and training throughput at 1024/4096/8192 envs and a short loco training, each step
# under its own timeout, all within 8 minutes; writes $OUT/gpu_suite.json (without $OUT:
# benchmarks/results/gpu_suite.json) and the steps' logs. A failed step does not stop the others.
# GPU_SUITE_DRY=plan (check every command line, fast) or GPU_SUITE_DRY=tiny (tiny sizes on CPU)
# try it on a machine without a GPU. Details: benchmarks/gpu_suite.py, benchmarks/README.md.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py="${PYTHON:-python3}"
case "${GPU_SUITE_DRY:-}" in
  ""|0) exec timeout -k 5 "${GPU_SUITE_HARD_LIMIT_S:-475}" "$py" benchmarks/gpu_suite.py ;;
  *) exec "$py" benchmarks/gpu_suite.py ;;
esac
