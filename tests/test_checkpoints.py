"""Checkpoints, resume after SIGKILL, Ctrl-C and portability."""

import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skimp.checkpoints import CheckpointStore, run_key
from tests._helpers import fast_clf

# The callables the cross-process script fits: one set, tested both ways.
from tests.fit_for_keys import LOOP, ONE_LINE, Centre, Scale, Scaler, scale, scaled, tempered

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


@pytest.mark.parametrize("mode", ["last", "early"])
def test_resume_after_sigkill(tmp_path, mode):
    """Kill a real fit with SIGKILL mid-run, start it again, compare.

    ``early``: early_stopping with n_iter_no_change, whose levels end early
    and prune weights other than the kept ones.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    extra = ["6", mode]
    full = subprocess.run([sys.executable, SCRIPT, tmp_path / "full", tmp_path / "full.npy",
                           *extra], env=env, check=True, capture_output=True, text=True)

    ckpt = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, SCRIPT, ckpt, tmp_path / "never.npy", *extra],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.perf_counter()
    while not list(ckpt.glob("*/level_003.json")):
        assert proc.poll() is None, "the fit ended before it could be killed"
        assert time.perf_counter() - start < 300
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kill_time = time.perf_counter() - start
    assert not (tmp_path / "never.npy").exists()

    resumed = subprocess.run([sys.executable, SCRIPT, ckpt, tmp_path / "resumed.npy", *extra],
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
    dict(max_levels=4, early_stopping=True),
    dict(max_levels=4, early_stopping=True, n_iter_no_change=1, selection="loss"),
], ids=["max_levels=1", "max_levels=0", "patience", "patience+loss", "patience+callable",
        "early_stopping", "n_iter_no_change+loss"])
def test_resume_runs_only_the_levels_a_plain_fit_runs(digits, tmp_path, params):
    X, y = digits
    early = {k: v for k, v in params.items()
             if k in ("early_stopping", "n_iter_no_change", "selection")} if params.get(
        "early_stopping") else {}
    stored = fast_clf(max_levels=4, label_noise=0.2, checkpoint_dir=tmp_path, max_epochs=6,
                      **early).fit(X, y)
    assert len(list(next(tmp_path.iterdir()).glob("level_*.json"))) == 5
    plain = fast_clf(label_noise=0.2, max_epochs=6, **params).fit(X, y)
    resumed = fast_clf(label_noise=0.2, checkpoint_dir=tmp_path, max_epochs=6,
                       **params).fit(X, y)
    assert_same_fit(resumed, plain, X)
    # The levels were loaded, not trained again: their recorded fit times.
    n = len(resumed.imp_path_["level"])
    np.testing.assert_array_equal(resumed.imp_path_["fit_time"], stored.imp_path_["fit_time"][:n])
    if params.get("early_stopping"):
        # The last-epoch weights come back too.
        for a, b in zip(resumed.staged_predict_proba(X, epoch="last"),
                        plain.staged_predict_proba(X, epoch="last")):
            np.testing.assert_array_equal(a, b)


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
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
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


# -- keys of callables, classes and tensors ------------------------------------


# Classes as a notebook cell defines them, before and after an edit of one
# constant: both have this module's name and the same qualified name.
SET_LR = """
from skorch.callbacks import Callback
class SetLR(Callback):
    def on_epoch_begin(self, net, **kwargs):
        for group in net.optimizer_.param_groups:
            group["lr"] = {}
"""
JITTER = """
from dataclasses import dataclass
@dataclass(frozen=True)
class Jitter:
    scale: float = 1.0
    def __call__(self, X):
        return X * self.scale * {}
"""
TUNED_SGD = """
import torch
class TunedSGD(torch.optim.SGD):
    def __init__(self, params, lr, **kwargs):
        super().__init__(params, lr=lr * {}, **kwargs)
"""


def edited(source, value):
    namespace = {"__name__": __name__}
    exec(source.format(value), namespace)
    (cls,) = (v for v in namespace.values() if isinstance(v, type) and v.__module__ == __name__)
    return cls


def transition(column):
    """A 40-class noise model; row 20, which repr elides, sends noise to ``column``."""
    T = torch.full((40, 40), 0.5 / 39, dtype=torch.float64)
    T.fill_diagonal_(0.5)
    T[20] = 0.0
    T[20, 20] = T[20, column] = 0.5
    return T


def twice_defined(folder):
    """Two classes ``Net`` in one file; the first kept under another name."""
    source = NET_V1 + "\nFirstNet = Net\n" + NET_V1.replace("relu()", "tanh()")
    load_net_class(folder, source, name=f"twice_{folder.name}")
    module = sys.modules[f"twice_{folder.name}"]
    return module.FirstNet, module.Net


def differing_settings(case, tmp_path):
    """Two settings that train differently, and the data to fit them on."""
    if case == "class defined twice in one file":
        first, second = twice_defined(tmp_path)
        return dict(module=first), dict(module=second), None
    if case == "large tensors":
        rng = np.random.RandomState(0)
        data = rng.standard_normal((800, 8)), np.arange(800) % 40
        return (dict(noise_model=transition(21), label_noise=0.5),
                dict(noise_model=transition(22), label_noise=0.5), data)
    a, b = {
        "closures": (scaled(0.5), scaled(2.0)),
        "loop lambdas with a default": tuple(LOOP),
        "two lambdas on one line": tuple(ONE_LINE),
        "partials": (functools.partial(scale, s=0.5), functools.partial(scale, s=2.0)),
        "callable objects": (Scale(0.5), Scale(2.0)),
        "bound methods": (Scaler(0.5).apply, Scaler(2.0).apply),
        "edited callback class": ([edited(SET_LR, 0.1)()], [edited(SET_LR, 1e-6)()]),
        "edited transform class": (edited(JITTER, 0.5)(), edited(JITTER, 2.0)()),
        "edited optimizer class": (edited(TUNED_SGD, 0.5), edited(TUNED_SGD, 2.0)),
        "module instances differing in a private attribute": (tempered(0.5), tempered(2.0)),
        "transforms fitted on other data": (Centre().fit(np.eye(64)),
                                            Centre().fit(np.eye(64) * 60)),
    }[case]
    name = {"edited callback class": "callbacks",
            "edited optimizer class": "optimizer",
            "module instances differing in a private attribute": "module"}.get(
                case, "train_transform")
    return {name: a}, {name: b}, None


@pytest.mark.parametrize("case", [
    "closures", "loop lambdas with a default", "two lambdas on one line", "partials",
    "callable objects", "bound methods", "edited callback class", "edited transform class",
    "edited optimizer class", "class defined twice in one file", "large tensors",
    "module instances differing in a private attribute", "transforms fitted on other data"])
def test_settings_that_train_differently_never_share_levels(digits, tmp_path, case):
    a, b, data = differing_settings(case, tmp_path)
    X, y = digits if data is None else data
    assert run_key_of(fast_clf(**a), X, y) != run_key_of(fast_clf(**b), X, y)
    ckpt = tmp_path / "ckpt"
    first = fast_clf(checkpoint_dir=ckpt, **a).fit(X, y)
    second = fast_clf(checkpoint_dir=ckpt, **b).fit(X, y)
    plain = fast_clf(**b).fit(X, y)
    # The two settings do train differently, so reusing a's levels would show.
    assert not np.array_equal(first.predict_proba(X), plain.predict_proba(X))
    assert len(list(ckpt.iterdir())) == 2
    assert_same_fit(second, plain, X)


def test_a_class_defined_twice_in_one_file_gets_its_own_architecture(tmp_path):
    from skimp.checkpoints import describe_architecture

    first, second = twice_defined(tmp_path)
    assert first.__qualname__ == second.__qualname__ and first.__module__ == second.__module__
    assert describe_architecture(first()) != describe_architecture(second())
    assert describe_architecture(second()) == describe_architecture(second())


def test_tensors_are_keyed_by_their_bytes(digits):
    X, y = digits
    key = {column: run_key({"noise_model": transition(column)}, X, y) for column in (21, 22)}
    assert key[21] != key[22]
    assert key[21] == run_key({"noise_model": transition(21)}, X, y)
    # Also when the values sit in another dtype or shape.
    base = torch.zeros(4, 4)
    assert len({run_key({"w": t}, X, y) for t in
                (base, base.double(), base.reshape(2, 8), base.to(torch.bfloat16))}) == 4


def test_equal_settings_share_a_key(digits):
    X, y = digits
    pairs = [(scaled(0.5), scaled(0.5)), (Scale(0.5), Scale(0.5)),
             (Scaler(0.5).apply, Scaler(0.5).apply),
             (functools.partial(scale, s=0.5), functools.partial(scale, s=0.5)),
             (edited(JITTER, 0.5)(), edited(JITTER, 0.5)()),
             (Centre().fit(np.eye(64)), Centre().fit(np.eye(64))),
             (tempered(0.5), tempered(0.5))]
    for a, b in pairs:
        assert run_key({"train_transform": a}, X, y) == run_key({"train_transform": b}, X, y)


def lazy_net():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.LazyLinear(16), torch.nn.ReLU(),
                                   torch.nn.Linear(16, 10))


def test_a_lazy_network_instance_resumes(digits, tmp_path):
    # Its layers hold no values yet, and hook handles numbered by how many
    # hooks this process has registered: neither may break or move the key.
    X, y = digits
    assert run_key({"module": lazy_net()}, X, y) == run_key({"module": lazy_net()}, X, y)
    ckpt = tmp_path / "ckpt"
    first = fast_clf(module=lazy_net(), checkpoint_dir=ckpt).fit(X, y)
    resumed = fast_clf(module=lazy_net(), checkpoint_dir=ckpt).fit(X, y)
    assert len(list(ckpt.iterdir())) == 1
    np.testing.assert_array_equal(resumed.imp_path_["fit_time"], first.imp_path_["fit_time"])
    assert_same_fit(resumed, fast_clf(module=lazy_net()).fit(X, y), X)


def test_equal_settings_reuse_levels_across_processes(tmp_path):
    """Run tests/fit_for_keys.py twice; the second run loads every setting's levels."""
    script = ROOT / "tests" / "fit_for_keys.py"
    reports = []
    for run, hash_seed in enumerate(("1", "2")):
        # Other string hashes: a set's order must not reach the key.
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hash_seed}
        out = tmp_path / f"run{run}.json"
        subprocess.run([sys.executable, script, tmp_path / "ckpt", out], env=env, check=True,
                       capture_output=True, text=True)
        reports.append(json.loads(out.read_text()))
    first, second = reports
    assert set(first) == set(second) and len(first) == 14
    for setting in first:
        assert first[setting]["warnings"] == [], setting
        assert len(first[setting]["keys"]) == 1, setting
        # The same key folder, and the levels loaded from it with their times.
        assert second[setting] == first[setting], setting


def test_a_value_without_a_stable_description_warns_and_is_never_reused(digits, tmp_path):
    X, y = digits
    lock = threading.Lock()  # its repr is its address, and it has no state to read

    def transform(batch):
        with lock:
            return batch

    ckpt = tmp_path / "ckpt"
    fits = []
    for _ in range(2):
        with pytest.warns(UserWarning, match=r"train_transform holds .*lock.*will not be "
                                             r"reused") as caught:
            fits.append(fast_clf(train_transform=transform, checkpoint_dir=ckpt).fit(X, y))
        assert len([w for w in caught if "checkpoint_dir" in str(w.message)]) == 1
    assert len(list(ckpt.iterdir())) == 2
    assert not np.array_equal(fits[0].imp_path_["fit_time"], fits[1].imp_path_["fit_time"])
    assert_same_fit(fits[1], fast_clf(train_transform=transform).fit(X, y), X)
    # One warning for all such parameters of a fit, naming each.
    generator = (i for i in range(3))
    with pytest.warns(UserWarning) as caught:
        run_key({"train_transform": transform, "iterator_train__sampler": generator}, X, y)
    assert len(caught) == 1
    assert "train_transform" in str(caught[0].message)
    assert "iterator_train__sampler holds a generator" in str(caught[0].message)


def test_a_cpu_fit_records_and_restores_only_the_cpu_generators(digits, tmp_path, monkeypatch):
    # The CUDA generator is recorded on CUDA only (tests/test_cuda.py checks
    # that a resumed CUDA run matches); a CPU fit must not touch it, which
    # would initialise CUDA on a machine that has it, or fail on one without.
    def no_cuda(*args, **kwargs):
        raise AssertionError("a CPU fit read or set the CUDA generator")

    monkeypatch.setattr(torch.cuda, "get_rng_state", no_cuda)
    monkeypatch.setattr(torch.cuda, "set_rng_state", no_cuda)
    X, y = digits
    fast_clf(max_levels=1, checkpoint_dir=tmp_path).fit(X, y)
    resumed = fast_clf(max_levels=2, checkpoint_dir=tmp_path).fit(X, y)
    (run,) = tmp_path.iterdir()
    record, _ = CheckpointStore(tmp_path, run.name).load(1)
    assert set(record) == {"mask", "weights", "rewind", "batch_rng", "torch_rng"}
    assert_same_fit(resumed, fast_clf(max_levels=2).fit(X, y), X)


def test_a_grid_of_lambdas_on_one_line_can_share_one_checkpoint_dir(digits, tmp_path):
    X, y = digits
    grid = {"train_transform": [lambda X: X * 0.5, lambda X: X * 2.0]}
    plain = GridSearchCV(fast_clf(), grid, cv=2).fit(X, y)
    shared = GridSearchCV(fast_clf(checkpoint_dir=tmp_path), grid, cv=2).fit(X, y)
    scores = [f"split{i}_test_score" for i in range(2)]
    # The two lambdas score differently, so sharing levels would show.
    assert plain.cv_results_["split0_test_score"][0] != plain.cv_results_["split0_test_score"][1]
    for key in scores:
        np.testing.assert_array_equal(shared.cv_results_[key], plain.cv_results_[key])
    # One folder per setting and fold, and one for the refit.
    assert len(list(tmp_path.iterdir())) == 5


def test_a_resumed_early_stopped_run_prunes_the_last_weights_of_the_stored_levels(
        digits, tmp_path):
    # Levels 0-2 come from the store, levels 3-4 are trained after it: they
    # must prune level 2's last weights, not the kept ones, as a plain fit does.
    X, y = digits
    params = dict(label_noise=0.2, max_epochs=8, early_stopping=True, n_iter_no_change=1)
    short = fast_clf(max_levels=2, checkpoint_dir=tmp_path, **params).fit(X, y)
    assert (short.imp_path_["epoch"] < short.imp_path_["n_epochs"]).any()
    longer = fast_clf(max_levels=4, checkpoint_dir=tmp_path, **params).fit(X, y)
    np.testing.assert_array_equal(longer.imp_path_["fit_time"][:3], short.imp_path_["fit_time"])
    direct = fast_clf(max_levels=4, **params).fit(X, y)
    for epoch in ("kept", "last"):
        for a, b in zip(longer.staged_predict_proba(X, epoch=epoch),
                        direct.staged_predict_proba(X, epoch=epoch)):
            np.testing.assert_array_equal(a, b)
