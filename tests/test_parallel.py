"""Parallel sweeps with joblib's loky processes: each fit caps its torch threads."""

import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_validate
from torch import nn

from .conftest import fast_clf


class ThreadProbe(nn.Module):
    """An MLP that records the torch thread count it trains under."""

    def __init__(self, n_features=64, n_classes=10):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, 16), nn.ReLU(), nn.Linear(16, n_classes))
        self.threads_seen = set()

    def forward(self, X):
        if self.training:
            self.threads_seen.add(torch.get_num_threads())
        return self.net(X)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_each_loky_worker_trains_with_n_threads(digits, n_threads):
    X, y = digits
    before = torch.get_num_threads()
    clf = fast_clf(module=ThreadProbe, n_threads=n_threads)
    result = cross_validate(clf, X, y, cv=2, n_jobs=2, return_estimator=True)
    seen = set().union(*(est.net_.module_.threads_seen for est in result["estimator"]))
    assert seen == {n_threads}
    # The parent's own setting is untouched.
    assert torch.get_num_threads() == before


def test_parallel_and_serial_cross_validation_agree(digits):
    X, y = digits
    serial = cross_validate(fast_clf(), X, y, cv=2, n_jobs=1)["test_score"]
    parallel = cross_validate(fast_clf(), X, y, cv=2, n_jobs=2)["test_score"]
    np.testing.assert_array_equal(serial, parallel)
