#!/usr/bin/env bash
# Install skimp and its extras into ./.venv.
# torch is installed first, pinned to the CPU build that pip finds in the local
# wheel folder on these machines; the package's own requirement is a normal
# range (torch>=2.1), which the already-installed wheel satisfies, so pip does
# not fetch the registry's multi-GB CUDA build. Set SKIMP_TORCH to change it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q "${SKIMP_TORCH:-torch==2.13.0}"
.venv/bin/python -m pip install -q -e ".[${1:-test}]"
