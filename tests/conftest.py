"""Session fixtures of the test suite; helpers to import live in tests/_helpers.py."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.preprocessing import StandardScaler


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:600] / 16).astype(np.float64), y[:600]


@pytest.fixture(scope="session")
def binary():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y
