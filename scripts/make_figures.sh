#!/usr/bin/env bash
# Regenerate every figure in docs/_static from the examples' default modes,
# with the printed tables beside them (docs/_static/NAME.txt).
# About an hour on 2 CPU cores; pass names to run a subset, e.g.
#   bash scripts/make_figures.sh sparse_double_descent cnn_fashion_mnist
# The controls study (examples/plot_controls.py, every setting) has its own
# script, scripts/run_controls_study.sh: it takes hours.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/install.sh test
export MPLBACKEND=Agg
OUT=${SKIMP_FIGURES:-docs/_static}  # where the figures go
mkdir -p "$OUT"
# Output names: examples/plot_NAME.py, or examples/NAME.py (the main demo).
ALL=(demo_mnist1d sparse_double_descent width_convergence teacher_student
     noise_width_grid calibration_baselines cnn_fashion_mnist)
for name in "${@:-${ALL[@]}}"; do
    script="examples/plot_$name.py"
    [ -f "$script" ] || script="examples/$name.py"
    echo "== $script -> $OUT/$name.png"
    extra=()
    # The main demo's page shows the three seeds the README quotes.
    [ "$name" = demo_mnist1d ] && extra=(--seeds 0 1 2)
    .venv/bin/python "$script" --out "$OUT/$name.png" "${extra[@]}" | tee "$OUT/$name.txt"
done
