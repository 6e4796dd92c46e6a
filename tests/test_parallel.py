"""Parallel sweeps with joblib's loky processes: each fit caps its torch threads."""

import os

import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_validate
from torch import nn

from ._helpers import auto_threads_now, fast_clf


class ThreadProbe(nn.Module):
    """An MLP that records the torch thread count it trains under."""

    def __init__(self, n_features=64, n_classes=10, width=16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, width), nn.ReLU(),
                                 nn.Linear(width, n_classes))
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


def test_auto_threads_do_not_oversubscribe_loky_workers(digits):
    X, y = digits
    # Wide enough that "auto" asks for torch's setting rather than one thread.
    clf = fast_clf(module=ThreadProbe, module__width=1024, batch_size=256, n_threads="auto")
    result = cross_validate(clf, X, y, cv=2, n_jobs=2, return_estimator=True)
    seen = set().union(*(est.net_.module_.threads_seen for est in result["estimator"]))
    cores = len(os.sched_getaffinity(0))
    assert seen == {max(1, cores // 2)}
    assert {est.n_threads_ for est in result["estimator"]} == seen


def test_auto_threads_use_the_cores_for_one_large_fit(digits):
    X, y = digits
    cores = len(os.sched_getaffinity(0))
    large = fast_clf(module=ThreadProbe, module__width=1024, batch_size=256).fit(X, y)
    assert large.n_threads_ in (min(torch.get_num_threads(), cores), auto_threads_now())
    assert large.net_.module_.threads_seen == {large.n_threads_}
    small = fast_clf(module=ThreadProbe).fit(X, y)
    assert small.n_threads_ == 1 and small.net_.module_.threads_seen == {1}
