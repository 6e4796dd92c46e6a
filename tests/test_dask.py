"""A grid search runs on a real Dask cluster through joblib's dask backend.

The cluster is local (worker processes on the loopback interface, no
dashboard) but the code path is the one a remote cluster uses: estimators,
data and results travel by pickle over TCP between separate processes.
"""

import os

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from ._helpers import fast_clf

distributed = pytest.importorskip("dask.distributed")


def worker_state():
    import torch
    return os.getpid(), torch.get_num_threads()


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, local_directory=str(tmp_path_factory.mktemp("dask")))
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()
        assert cluster.status.name == "closed"


def test_grid_search_runs_on_the_cluster_and_matches_a_local_run(client, digits):
    X, y = digits
    search = GridSearchCV(fast_clf(), {"hidden_layer_sizes": [(8,), (16,)], "lr": [0.05, 0.1]},
                          cv=2, n_jobs=-1)
    with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        search.fit(X, y)
    workers = set(client.scheduler_info()["workers"])
    ran_on = {task["worker"] for task in tasks.data}
    assert ran_on and ran_on <= workers  # the fits ran on the workers...
    local = clone(search).set_params(n_jobs=1).fit(X, y)
    # ... and gave what a local run gives: fits with an int seed are exact.
    np.testing.assert_array_equal(search.cv_results_["mean_test_score"],
                                  local.cv_results_["mean_test_score"])
    assert search.best_params_ == local.best_params_
    np.testing.assert_array_equal(search.predict(X), local.predict(X))


def test_workers_are_separate_processes_with_one_torch_thread(client):
    state = client.run(worker_state)
    assert len(state) == 2
    pids = {pid for pid, _ in state.values()}
    assert os.getpid() not in pids and len(pids) == 2
    # Dask starts workers with OMP_NUM_THREADS=1; n_threads=1 caps fits anyway.
    assert {threads for _, threads in state.values()} == {1}
