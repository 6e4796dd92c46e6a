#!/usr/bin/env bash
# Install skimp with its test extras into ./.venv and run the default suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test
export MPLBACKEND=Agg
.venv/bin/python -m pytest -q -rs -p no:cacheprovider --doctest-modules skimp tests "$@"
