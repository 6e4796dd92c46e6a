#!/usr/bin/env bash
# Run the controls study of examples/plot_controls.py in every setting, three
# seeds, two fits at a time, writing docs/_static/controls_SETTING.{png,csv,txt}.
# Several hours of CPU on 2 cores; pass names to run a subset, e.g.
#   bash scripts/run_controls_study.sh demo teacher
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/install.sh test
export MPLBACKEND=Agg
OUT=${SKIMP_FIGURES:-docs/_static}
mkdir -p "$OUT"
SETTINGS=("$@")
[ $# -gt 0 ] || SETTINGS=(demo teacher fashion2k cnn sdd)
for s in "${SETTINGS[@]}"; do
    echo "== examples/plot_controls.py --setting $s -> $OUT/controls_$s.png"
    .venv/bin/python examples/plot_controls.py --setting "$s" \
        --out "$OUT/controls_$s.png" | tee "$OUT/controls_$s.txt"
done
