"""Checkpoints, resume after SIGKILL, Ctrl-C and portability."""

import os
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
from tests._helpers import fast_clf

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
    code = ("from tests._helpers import fast_clf; from tests.test_checkpoints import run_key_of;"
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




def assert_same_fit(fitted, reference, X):
    """Same path (fit times aside), same ticket, same probabilities."""
    assert set(fitted.imp_path_) == set(reference.imp_path_)
    for key, values in reference.imp_path_.items():
        if key != "fit_time":
            np.testing.assert_array_equal(fitted.imp_path_[key], values, err_msg=key)
    assert fitted.best_level_ == reference.best_level_
    np.testing.assert_array_equal(fitted.predict_proba(X), reference.predict_proba(X))


@pytest.mark.parametrize("params", [
    dict(max_levels=1),
    dict(max_levels=0),
    dict(max_levels=4, patience=1),
    dict(max_levels=3, patience=1, selection="loss"),
    dict(max_levels=4, patience=2, selection=lambda p: int(p["level"][np.argmin(p["train_loss"])])),
], ids=["max_levels=1", "max_levels=0", "patience", "patience+loss", "patience+callable"])
def test_resume_runs_only_the_levels_a_plain_fit_runs(digits, tmp_path, params):
    X, y = digits
    fast_clf(max_levels=4, label_noise=0.2, checkpoint_dir=tmp_path).fit(X, y)
    assert len(list(next(tmp_path.iterdir()).glob("level_*.json"))) == 5
    plain = fast_clf(label_noise=0.2, **params).fit(X, y)
    resumed = fast_clf(label_noise=0.2, checkpoint_dir=tmp_path, **params).fit(X, y)
    assert_same_fit(resumed, plain, X)


def test_patience_cuts_the_stored_path_short(digits, tmp_path):
    # The case above only bites when patience stops before the stored levels end.
    X, y = digits
    fast_clf(max_levels=4, label_noise=0.2, checkpoint_dir=tmp_path).fit(X, y)
    resumed = fast_clf(max_levels=4, label_noise=0.2, patience=1,
                       selection=lambda p: 0, checkpoint_dir=tmp_path).fit(X, y)
    assert resumed.imp_path_["level"].tolist() == [0, 1]


def test_grid_search_sharing_one_checkpoint_dir_equals_plain(digits, tmp_path):
    X, y = digits
    grid = {"max_levels": [3, 1, 2], "patience": [None, 1]}
    plain = GridSearchCV(fast_clf(label_noise=0.2), grid, cv=2).fit(X, y)
    shared = GridSearchCV(fast_clf(label_noise=0.2, checkpoint_dir=tmp_path), grid,
                          cv=2).fit(X, y)
    for key in ("mean_test_score", "split0_test_score", "split1_test_score"):
        np.testing.assert_array_equal(shared.cv_results_[key], plain.cv_results_[key])
    assert shared.best_params_ == plain.best_params_
    assert_same_fit(shared.best_estimator_, plain.best_estimator_, X)


NET_V1 = """
import torch
class Net(torch.nn.Module):
    unpruned_layers = ("output",)
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(64, 16)
        self.output = torch.nn.Linear(16, 10)
    def forward(self, X):
        return self.output(self.hidden(X).relu())
"""


def load_net_class(folder, source, name="notebook_net"):
    """Import ``Net`` from freshly written source, as a notebook edit would."""
    import importlib

    (folder / f"{name}.py").write_text(source)
    sys.path.insert(0, str(folder))
    try:
        sys.modules.pop(name, None)
        importlib.invalidate_caches()
        return importlib.import_module(name).Net
    finally:
        sys.path.remove(str(folder))


def test_a_network_without_source_is_keyed_by_its_bytecode():
    from skimp.checkpoints import describe_architecture

    def define(source):
        namespace = {}
        exec(compile(source, "<no file>", "exec"), namespace)
        return namespace["Net"]

    relu, tanh = define(NET_V1), define(NET_V1.replace("relu()", "tanh()"))
    assert describe_architecture(relu()) == describe_architecture(define(NET_V1)())
    assert describe_architecture(relu()) != describe_architecture(tanh())


@pytest.mark.parametrize("edit", [
    ("16)\n        self.output = torch.nn.Linear(16",
     "24)\n        self.output = torch.nn.Linear(24"),
    ("Linear(16, 10)", "Linear(16, 10, bias=False)"),
    ("hidden(X).relu()", "hidden(X).tanh()"),
], ids=["new layer sizes", "a parameter less", "same shapes, new forward"])
def test_an_edited_network_never_reuses_levels(digits, tmp_path, edit):
    X, y = digits
    src = tmp_path / "src"
    src.mkdir()
    ckpt = tmp_path / "ckpt"
    name = f"notebook_net_{tmp_path.name}"
    fast_clf(module=load_net_class(src, NET_V1, name), checkpoint_dir=ckpt).fit(X, y)
    edited = load_net_class(src, NET_V1.replace(*edit), name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stale level is even looked at
        refit = fast_clf(module=edited, checkpoint_dir=ckpt).fit(X, y)
    assert len(list(ckpt.iterdir())) == 2
    assert_same_fit(refit, fast_clf(module=edited).fit(X, y), X)


def test_a_stored_level_that_does_not_fit_is_recomputed(digits, tmp_path):
    X, y = digits
    small, large = tmp_path / "small", tmp_path / "large"
    fast_clf(hidden_layer_sizes=(8,), checkpoint_dir=small).fit(X, y)
    fast_clf(checkpoint_dir=large).fit(X, y)
    # Put the small net's level 1 (consistent in itself) in the large run's place.
    small_run, large_run = next(small.iterdir()), next(large.iterdir())
    for suffix in (".pt", ".json"):
        (large_run / f"level_001{suffix}").write_bytes(
            (small_run / f"level_001{suffix}").read_bytes())
    with pytest.warns(RuntimeWarning, match=r"level 1 .* does not fit this network.*"
                                            r"hidden.0.weight has shape \(8, 64\)"):
        resumed = fast_clf(checkpoint_dir=large).fit(X, y)
    assert_same_fit(resumed, fast_clf().fit(X, y), X)
