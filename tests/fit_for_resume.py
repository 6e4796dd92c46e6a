"""Fit used by the resume tests, run as a separate process.

Usage: python tests/fit_for_resume.py CHECKPOINT_DIR OUT.npy [max_levels] [early]

``early`` fits with ``early_stopping=True, n_iter_no_change=5``.
"""

import sys
import time

import numpy as np
from sklearn.datasets import load_digits

from skimp import PrunedNetClassifier


def make_data():
    X, y = load_digits(return_X_y=True)
    return X / 16, y


def make_estimator(checkpoint_dir=None, max_levels=6, early=False):
    return PrunedNetClassifier(hidden_layer_sizes=(64,), max_epochs=40, max_levels=max_levels,
                               label_noise=0.2, random_state=0, checkpoint_dir=checkpoint_dir,
                               early_stopping=early, n_iter_no_change=5 if early else None,
                               verbose=1)


if __name__ == "__main__":
    checkpoint_dir, out = sys.argv[1], sys.argv[2]
    max_levels = int(sys.argv[3]) if len(sys.argv) > 3 else 6
    early = len(sys.argv) > 4 and sys.argv[4] == "early"
    X, y = make_data()
    start = time.perf_counter()
    clf = make_estimator(checkpoint_dir, max_levels, early).fit(X, y)
    print(f"fit took {time.perf_counter() - start:.2f} s", flush=True)
    np.save(out, clf.predict_proba(X))
