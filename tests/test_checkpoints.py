"""Checkpoints, resume after SIGKILL, Ctrl-C and portability."""

import os
import pickle
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from skimp.checkpoints import CheckpointStore, run_key
from tests.conftest import fast_clf

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "fit_for_resume.py"


def run_key_of(clf, X, y):
    return run_key(clf.get_params(), X, y)


def test_run_key_depends_on_what_changes_the_result(digits):
    X, y = digits
    base = run_key_of(fast_clf(), X, y)
    assert base == run_key_of(fast_clf(), X, y)
    assert base != run_key_of(fast_clf(random_state=1), X, y)
    assert base != run_key_of(fast_clf(label_noise=0.1), X, y)
    assert base != run_key_of(fast_clf(optimizer__momentum=0.9), X, y)
    assert base != run_key_of(fast_clf(), X[:-1], y[:-1])
    X2 = X.copy(); X2[0, 0] += 1e-9  # noqa: E702
    assert base != run_key_of(fast_clf(), X2, y)
    # Levels do not depend on these, so reruns may share records.
    assert base == run_key_of(fast_clf(max_levels=9, patience=2, verbose=1,
                                       selection="loss", checkpoint_dir="x"), X, y)


def test_run_key_is_the_same_in_another_process(digits):
    X, y = digits
    code = ("from tests.conftest import fast_clf; from tests.test_checkpoints import run_key_of;"
            "from sklearn.datasets import load_digits; import numpy as np;"
            "X, y = load_digits(return_X_y=True); X = (X[:600] / 16).astype(np.float64);"
            "print(run_key_of(fast_clf(), X, y[:600]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()[-1]
    assert out == run_key_of(fast_clf(), X, y)


def test_store_round_trip_and_atomic_files(tmp_path):
    store = CheckpointStore(tmp_path, "k")
    store.save(0, {"w": torch.arange(3.0), "bits": {"a": torch.tensor([1, 2], dtype=torch.uint8)}},
               {"level": 0, "val_accuracy": 0.5})
    tensors, row = store.load(0)
    assert torch.equal(tensors["w"], torch.arange(3.0)) and row["val_accuracy"] == 0.5
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["level_000.json", "level_000.pt"]
    assert store.load(1) is None


def test_resume_matches_uninterrupted_run_and_damaged_records_are_recomputed(digits, tmp_path):
    X, y = digits
    params = dict(max_levels=4, label_noise=0.2, checkpoint_dir=tmp_path)
    reference = fast_clf(max_levels=4, label_noise=0.2).fit(X, y).predict_proba(X)
    first = fast_clf(**params).fit(X, y)
    assert np.array_equal(first.predict_proba(X), reference)
    run_dir = next(tmp_path.iterdir())
    # Truncate level 2's tensors and drop level 4 entirely.
    pt = run_dir / "level_002.pt"
    pt.write_bytes(pt.read_bytes()[:100])
    (run_dir / "level_004.json").unlink()
    with pytest.warns(RuntimeWarning, match="level 2 .* damaged"):
        resumed = fast_clf(**params).fit(X, y)
    assert np.abs(resumed.predict_proba(X) - reference).max() <= 1e-6
    # The reused levels keep their recorded fit times.
    assert np.array_equal(resumed.imp_path_["fit_time"][:2], first.imp_path_["fit_time"][:2])


def test_more_levels_reuse_the_finished_ones(digits, tmp_path):
    X, y = digits
    short = fast_clf(max_levels=2, checkpoint_dir=tmp_path).fit(X, y)
    longer = fast_clf(max_levels=3, checkpoint_dir=tmp_path).fit(X, y)
    assert np.array_equal(longer.imp_path_["fit_time"][:3], short.imp_path_["fit_time"])
    direct = fast_clf(max_levels=3).fit(X, y)
    assert np.array_equal(longer.predict_proba(X), direct.predict_proba(X))


def test_checkpoint_dir_needs_int_random_state(digits, tmp_path):
    X, y = digits
    with pytest.raises(ValueError, match="checkpoint_dir needs an int random_state"):
        fast_clf(random_state=None, checkpoint_dir=tmp_path).fit(X, y)


def test_resume_after_sigkill(tmp_path):
    """Kill a real fit with SIGKILL mid-run, start it again, compare."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    full = subprocess.run([sys.executable, SCRIPT, tmp_path / "full", tmp_path / "full.npy"],
                          env=env, check=True, capture_output=True, text=True)

    ckpt = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, SCRIPT, ckpt, tmp_path / "never.npy"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.perf_counter()
    while not list(ckpt.glob("*/level_003.json")):
        assert proc.poll() is None, "the fit ended before it could be killed"
        assert time.perf_counter() - start < 300
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kill_time = time.perf_counter() - start
    assert not (tmp_path / "never.npy").exists()

    resumed = subprocess.run([sys.executable, SCRIPT, ckpt, tmp_path / "resumed.npy"],
                             env=env, check=True, capture_output=True, text=True)
    resumed_line = next(line for line in resumed.stdout.splitlines()
                        if line.startswith("resumed from"))
    resumed_after = int(resumed_line.split()[-1])
    assert resumed_after >= 3
    gap = np.abs(np.load(tmp_path / "resumed.npy") - np.load(tmp_path / "full.npy")).max()
    assert gap <= 1e-6

    def fit_seconds(out):
        return float(out.split("fit took")[1].split()[0])

    print(f"\nresume after SIGKILL: uninterrupted fit {fit_seconds(full.stdout):.2f} s; "
          f"killed {kill_time:.2f} s after start, with levels 0-{resumed_after} saved; "
          f"resumed fit {fit_seconds(resumed.stdout):.2f} s; "
          f"max |proba difference| {gap:.1e}")


class InterruptAfter(torch.nn.Module):
    """MLP that sends itself SIGINT on its n-th training forward pass."""

    def __init__(self, n_calls=40):
        super().__init__()
        self.hidden = torch.nn.Linear(64, 16)
        self.output = torch.nn.Linear(16, 10)
        self.calls, self.n_calls = 0, n_calls

    def forward(self, X):
        if self.training:
            self.calls += 1
            if self.calls == self.n_calls:
                os.kill(os.getpid(), signal.SIGINT)
        return self.output(self.hidden(X).relu())


def test_ctrl_c_keeps_best_finished_level(digits):
    X, y = digits
    # 540 training rows / 64 per batch = 9 batches per epoch, 3 epochs per level:
    # the 40th batch is in level 1.
    clf = fast_clf(module=InterruptAfter, max_levels=5)
    with pytest.warns(UserWarning, match="interrupted during IMP level 1"):
        clf.fit(X, y)
    assert clf.imp_path_["level"].tolist() == [0]
    assert clf.best_level_ == 0
    assert np.isfinite(clf.predict_proba(X)).all()
    # The handler is gone afterwards.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_before_any_level_propagates(digits):
    X, y = digits
    with pytest.raises(KeyboardInterrupt):
        fast_clf(module=InterruptAfter, module__n_calls=2).fit(X, y)


def test_divergence_under_grid_search_error_score(digits):
    X, y = digits
    grid = GridSearchCV(fast_clf(), {"lr": [0.1, 1e12]}, cv=2, error_score=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid.fit(X * 1e6, y)
    scores = grid.cv_results_["mean_test_score"]
    assert np.isfinite(scores[0]) and np.isnan(scores[1])
    with pytest.raises(ValueError, match="diverged"):
        GridSearchCV(fast_clf(), {"lr": [1e12]}, cv=2, error_score="raise").fit(X * 1e6, y)


def test_pickle_loads_in_another_process(digits, tmp_path):
    X, y = digits
    clf = fast_clf().fit(X, y)
    (tmp_path / "clf.pkl").write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "X.npy", X)
    code = ("import pickle, sys, numpy as np; from pathlib import Path; d = Path(sys.argv[1]);"
            "clf = pickle.loads((d / 'clf.pkl').read_bytes());"
            "np.save(d / 'p.npy', clf.predict_proba(np.load(d / 'X.npy')))")
    subprocess.run([sys.executable, "-c", code, tmp_path], check=True, cwd=ROOT)
    assert np.array_equal(np.load(tmp_path / "p.npy"), clf.predict_proba(X))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_unpickles_with_cpu_tensors_only(digits):
    X, y = digits
    clf = fast_clf(device="cuda").fit(X, y)
    state = pickle.dumps(clf.net_.mask_.to("cpu"))
    assert b"cuda" not in state
    clone = pickle.loads(pickle.dumps(clf))
    assert np.allclose(clone.predict_proba(X), clf.predict_proba(X), atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback without CUDA")
def test_net_saved_for_cuda_loads_on_cpu_only_machine(digits):
    """The CPU-only half of a CUDA round trip, runnable without a GPU.

    A fit on CUDA pickles its net with ``device="cuda"``; unpickled where torch
    sees no CUDA, skorch maps the weights to the CPU and the mask must follow.
    """
    from skorch.exceptions import DeviceWarning

    X, y = digits
    clf = fast_clf(optimizer__momentum=0.9).fit(X, y)
    expected = clf.predict_proba(X)
    clf.net_.device = "cuda"  # what a CUDA fit records
    with pytest.warns(DeviceWarning) as caught:
        clone = pickle.loads(pickle.dumps(clf))
    assert all("not available" in str(w.message) or "no CUDA devices" in str(w.message)
               for w in caught)
    assert str(clone.net_.device) == "cpu"
    assert all(t.device.type == "cpu" for t in clone.net_.mask_.tensors.values())
    np.testing.assert_array_equal(clone.predict_proba(X), expected)
