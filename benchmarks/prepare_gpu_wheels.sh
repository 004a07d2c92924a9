#!/usr/bin/env bash
# Wheels for the lent GPU machine (no network there): what our package needs and that machine lacks,
# plus our own package, into DIR (default: .whl in the repository root, git-ignored). Run here:
#   bash benchmarks/prepare_gpu_wheels.sh [DIR]
# then carry DIR to the machine and run `bash benchmarks/gpu_suite.sh` there (benchmarks/README.md).
# Details: benchmarks/gpu_wheels.py. Exits 1 with one sentence if pip fails or DIR exceeds 60 MiB.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$here/gpu_wheels.py" "$@"
