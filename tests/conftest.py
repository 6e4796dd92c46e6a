import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.preprocessing import StandardScaler

from skimp import PrunedNetClassifier


def fast_clf(**params):
    """A PrunedNetClassifier small enough for unit tests."""
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=3, max_levels=2,
                    batch_size=64, random_state=0)
    return PrunedNetClassifier(**{**defaults, **params})


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:600] / 16).astype(np.float64), y[:600]


@pytest.fixture(scope="session")
def binary():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y
