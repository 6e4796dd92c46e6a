#!/usr/bin/env bash
# Build the sdist and the wheel, install the wheel into a fresh virtual
# environment and fit a model from a folder outside the checkout, so that
# what is tested is the package as a user gets it, not the source tree.
# Needs ./.venv (scripts/install.sh test) for `build`. Writes to a temporary
# folder only; set SKIMP_DIST to keep the built files there instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DIST=${SKIMP_DIST:-$WORK/dist}

.venv/bin/python -m build --outdir "$DIST" . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
echo "release check: sdist and wheel built (${SECONDS}s)"
# setuptools leaves its staging folder in the checkout.
rm -rf "$ROOT/build"
VERSION=$(.venv/bin/python -c "import tomllib; print(tomllib.load(open('pyproject.toml', 'rb'))['project']['version'])")
WHEEL="$DIST/skimp-$VERSION-py3-none-any.whl"
SDIST="$DIST/skimp-$VERSION.tar.gz"
[ -f "$WHEEL" ] && [ -f "$SDIST" ] || { echo "expected $WHEEL and $SDIST, got:"; ls "$DIST"; exit 1; }

# The sdist carries the license, the changelog and a test suite that runs.
LISTING=$(tar -tzf "$SDIST")
for f in LICENSE CHANGELOG.md README.md pyproject.toml tests/conftest.py examples/demo_mnist1d.py; do
    grep -qx "skimp-$VERSION/$f" <<<"$LISTING" || { echo "sdist lacks $f"; exit 1; }
done

# A fresh environment with the wheel and what it asks for, plus the torch
# build scripts/install.sh pins (pip finds the CPU wheel locally; the
# package itself asks for torch>=2.1, which would fetch a CUDA build).
# --no-compile: byte-compiling torch's files would triple the install time,
# and the one process that imports them compiles what it needs.
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --no-compile "${SKIMP_TORCH:-torch==2.13.0}" "$WHEEL"
echo "release check: wheel installed in a fresh environment (${SECONDS}s)"

cd "$(mktemp -d -p "$WORK")"
SKIMP_SOURCE=$ROOT SKIMP_VERSION=$VERSION "$WORK/venv/bin/python" - <<'EOF'
import os
from importlib.metadata import version
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import skimp
from skimp import PrunedNetClassifier
from skimp.metrics import calibration_report, smooth_calibration_error

source = Path(os.environ["SKIMP_SOURCE"])
where = Path(skimp.__file__).resolve()
assert source not in where.parents, f"imported skimp from the checkout: {where}"
assert skimp.__version__ == version("skimp") == os.environ["SKIMP_VERSION"], skimp.__version__

X, y = load_digits(return_X_y=True)
X_fit, X_test, y_fit, y_test = train_test_split(X / 16, y, test_size=0.3, random_state=0)
clf = PrunedNetClassifier(hidden_layer_sizes=(64,), max_epochs=15, max_levels=3,
                          n_threads=1, random_state=0).fit(X_fit, y_fit)
accuracy = clf.score(X_test, y_test)
assert accuracy > 0.8, accuracy
assert clf.n_params_ < 64 * 64 and len(clf.imp_path_["level"]) == 4
report = calibration_report(y_test, clf.predict_proba(X_test), labels=clf.classes_)
assert "smooth_ece" not in report

# relplot is an extra this environment does not have: the error says how
# to get it.
try:
    smooth_calibration_error(y_test, clf.predict_proba(X_test), labels=clf.classes_)
except ImportError as error:
    assert 'pip install "skimp[smooth]"' in str(error), error
else:
    raise AssertionError("smooth_calibration_error ran without relplot")
print(f"release check: skimp {skimp.__version__} from {where.parent}, "
      f"ticket of {clf.n_params_} weights at level {clf.best_level_}, "
      f"test accuracy {accuracy:.3f}")
EOF
echo "release check: passed (${SECONDS}s)"
