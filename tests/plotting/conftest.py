"""Fixtures of the display tests."""

import sys

import pytest

from tests._helpers import fast_clf


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt = sys.modules.get("matplotlib.pyplot")  # None where matplotlib is missing
    if plt is not None:
        plt.close("all")


@pytest.fixture(scope="package")
def fitted(digits):
    """A tiny PrunedNetClassifier fitted on part of digits, and held-out rows."""
    X, y = digits
    clf = fast_clf(max_levels=3).fit(X[:400], y[:400])
    return clf, X[400:], y[400:]
