#!/usr/bin/env bash
# The early-stopped tickets study (docs/results.md, "Early-stopped tickets"):
# in each setting of examples/plot_controls.py, one IMP fit per seed with
# early_stopping=True yields three answers, the last-epoch ticket
# (imp_last_epoch), the dense net stopped early (early_stopping, its level 0)
# and the early-stopped ticket (imp), plus small_dense. Writes
# docs/_static/early_stopped_tickets_SETTING[_SUFFIX].{png,csv,txt}, which
# examples/early_stopped_tickets.py summarises.
#
#   bash scripts/run_early_stopping_study.sh demo teacher        # some settings
#   SKIMP_N_ITER_NO_CHANGE=5 bash scripts/run_early_stopping_study.sh demo
#                                       # cut each level after 5 epochs without gain
#   SKIMP_NOISE=0.4 bash scripts/run_early_stopping_study.sh fashion2k   # 40% noise
#   SKIMP_EPOCHS=120 bash scripts/run_early_stopping_study.sh fashion60k # epochs per level
#
#   SKIMP_CALIBRATION=1 bash scripts/run_early_stopping_study.sh demo fashion60k
#       the calibrated-tickets study instead (examples/calibrated_tickets.py):
#       the same fits, each answer raw and with the noise-aware temperature,
#       against CalibratedClassifierCV and estimated noise; fashion60k at the
#       paper's 120 epochs unless SKIMP_EPOCHS says otherwise. Writes
#       docs/_static/calibrated_tickets_SETTING[_eE][_noiseN].{csv,txt}; the
#       fits' levels are kept in .study_cache/, so a rerun only scores.
#
# About an hour of CPU for the five small settings (one fit at a time), and
# about an hour per seed for fashion60k; SKIMP_SEEDS="0" runs fewer seeds.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/install.sh test
export MPLBACKEND=Agg
OUT=${SKIMP_FIGURES:-docs/_static}
mkdir -p "$OUT"
SETTINGS=("$@")
[ $# -gt 0 ] || SETTINGS=(demo teacher fashion2k cnn sdd)
if [ -n "${SKIMP_CALIBRATION:-}" ]; then
    for s in "${SETTINGS[@]}"; do
        args=(--setting "$s" --seeds ${SKIMP_SEEDS:-0 1 2} --out-dir "$OUT")
        epochs=${SKIMP_EPOCHS:-}
        [ "$s" = fashion60k ] && epochs=${SKIMP_EPOCHS:-120}
        [ -n "$epochs" ] && args+=(--epochs "$epochs")
        [ -n "${SKIMP_NOISE:-}" ] && args+=(--noise "$SKIMP_NOISE")
        [ "${SKIMP_NOISE:-}" = 0.4 ] && args+=(--figure)
        key="$s${epochs:+_e$epochs}"
        [ -n "${SKIMP_NOISE:-}" ] && [ "$SKIMP_NOISE" != 0.2 ] && key+="_noise${SKIMP_NOISE#0.}"
        echo "== examples/calibrated_tickets.py ${args[*]}"
        .venv/bin/python examples/calibrated_tickets.py "${args[@]}" \
            | tee "$OUT/calibrated_tickets_$key.txt"
    done
    .venv/bin/python examples/calibrated_tickets.py --summary --out-dir "$OUT"
    exit 0
fi
ARGS=(--early-stopping --methods imp imp_last_epoch early_stopping small_dense
      --n-jobs "${SKIMP_N_JOBS:-1}" --seeds ${SKIMP_SEEDS:-0 1 2})
SUFFIX=""
if [ -n "${SKIMP_N_ITER_NO_CHANGE:-}" ]; then
    # Cut levels train other masks: the last-epoch ticket would be a second
    # full fit, and is already in the run without the cut.
    ARGS=(--n-iter-no-change "$SKIMP_N_ITER_NO_CHANGE" --methods imp early_stopping
          --n-jobs "${SKIMP_N_JOBS:-1}" --seeds ${SKIMP_SEEDS:-0 1 2})
    SUFFIX+="_n${SKIMP_N_ITER_NO_CHANGE}"
fi
if [ -n "${SKIMP_EPOCHS:-}" ]; then
    ARGS+=(--epochs "$SKIMP_EPOCHS"); SUFFIX+="_e${SKIMP_EPOCHS}"
fi
if [ -n "${SKIMP_NOISE:-}" ]; then
    ARGS+=(--noise "$SKIMP_NOISE"); SUFFIX+="_noise${SKIMP_NOISE#0.}"
fi
for s in "${SETTINGS[@]}"; do
    out="$OUT/early_stopped_tickets_$s$SUFFIX"
    echo "== examples/plot_controls.py --setting $s ${ARGS[*]} -> $out.png"
    .venv/bin/python examples/plot_controls.py --setting "$s" "${ARGS[@]}" --resume \
        --out "$out.png" | tee "$out.txt"
done
