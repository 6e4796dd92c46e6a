"""Behaviour of PrunedNetClassifier through its public API."""

import math
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score

from skimp import PrunedNetClassifier
from tests._helpers import fast_clf


def test_fitted_attributes(digits):
    X, y = digits
    clf = fast_clf(max_levels=3).fit(X, y)
    path = pd.DataFrame(clf.imp_path_)
    assert len(path) == 4
    for key in ["level", "density", "n_params", "train_loss", "train_accuracy",
                "val_loss", "val_accuracy", "val_ece", "fit_time"]:
        assert key in path
    assert path["level"].tolist() == [0, 1, 2, 3]
    # Prunable weights of the default MLP: the hidden layer only (64 * 16).
    assert path["n_params"][0] == 64 * 16
    assert np.allclose(path["density"], 0.8 ** path["level"], atol=1e-3)
    assert clf.best_level_ in path["level"].tolist()
    assert clf.n_params_ == path["n_params"][clf.best_level_]
    assert clf.sparsity_ == pytest.approx(1 - path["density"][clf.best_level_])
    assert clf.n_features_in_ == 64
    assert np.array_equal(clf.classes_, np.arange(10))
    # The net really holds the chosen ticket.
    weight = clf.net_.module_.hidden[0].weight
    assert int((weight != 0).sum()) == clf.n_params_


def test_predict_proba_decision_function_and_predict_agree(digits):
    X, y = digits
    clf = fast_clf().fit(X, y)
    proba = clf.predict_proba(X)
    logits = clf.decision_function(X)
    assert proba.shape == logits.shape == (len(X), 10)
    assert np.allclose(proba.sum(1), 1)
    assert np.allclose(proba, torch.softmax(torch.tensor(logits), 1).numpy())
    assert np.array_equal(clf.predict(X), clf.classes_[proba.argmax(1)])


def test_binary_decision_function_is_one_dimensional(binary):
    X, y = binary
    clf = fast_clf().fit(X, y)
    scores = clf.decision_function(X)
    assert scores.shape == (len(X),)
    proba = clf.predict_proba(X)
    assert np.allclose(proba[:, 1], 1 / (1 + np.exp(-scores)))


def test_string_labels_int_input_and_pandas(digits):
    X, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six",
                      "seven", "eight", "nine"])
    frame = pd.DataFrame((X * 16).astype(int), columns=[f"px{i}" for i in range(64)])
    clf = fast_clf().fit(frame, names[y])
    assert set(clf.predict(frame)) <= set(names)
    assert np.array_equal(clf.classes_, np.sort(names))
    assert list(clf.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(frame.to_numpy())


def test_label_noise_on_all_fit_rows_and_reproducible(digits):
    X, y = digits
    clf = fast_clf(label_noise=0.3).fit(X, y)
    # Noise covers every row passed to fit, validation rows included.
    assert clf.noise_mask_.shape == (len(X),)
    assert clf.noise_mask_.sum() == math.ceil(0.3 * len(X))
    again = fast_clf(label_noise=0.3).fit(X, y)
    assert np.array_equal(clf.noise_mask_, again.noise_mask_)
    other = fast_clf(label_noise=0.3, random_state=1).fit(X, y)
    assert not np.array_equal(clf.noise_mask_, other.noise_mask_)


def test_score_uses_labels_as_given(digits):
    X, y = digits
    clf = fast_clf(label_noise=0.4).fit(X, y)
    y_copy = y.copy()
    assert clf.score(X, y) == accuracy_score(y, clf.predict(X))
    assert np.array_equal(y, y_copy)


def test_same_random_state_gives_identical_probabilities(digits):
    X, y = digits
    a = fast_clf(random_state=7, label_noise=0.2).fit(X, y).predict_proba(X)
    b = fast_clf(random_state=7, label_noise=0.2).fit(X, y).predict_proba(X)
    c = fast_clf(random_state=8, label_noise=0.2).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_fit_leaves_global_torch_rng_alone(digits):
    X, y = digits
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fast_clf().fit(X, y)
    assert torch.equal(torch.rand(3), expected)


def test_pickle_and_joblib_round_trip(digits, tmp_path):
    X, y = digits
    clf = fast_clf().fit(X, y)
    expected = clf.predict_proba(X)
    assert np.array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), expected)
    joblib.dump(clf, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    assert np.array_equal(loaded.predict_proba(X), expected)
    # The mask survives too: refitting state is intact.
    assert loaded.net_.mask_.n_alive == clf.n_params_


def test_prefixed_params_reach_the_net_and_survive_clone(digits):
    X, y = digits
    clf = fast_clf(optimizer__momentum=0.5)
    clf.set_params(optimizer__weight_decay=1e-3, criterion__label_smoothing=0.1)
    params = clf.get_params()
    assert params["optimizer__momentum"] == 0.5
    assert params["optimizer__weight_decay"] == 1e-3
    cloned = clone(clf)
    assert cloned.get_params()["criterion__label_smoothing"] == 0.1
    cloned.fit(X, y)
    defaults = cloned.net_.optimizer_.defaults
    assert defaults["momentum"] == 0.5 and defaults["weight_decay"] == 1e-3
    assert cloned.net_.criterion_.label_smoothing == 0.1


def test_optimizer_choice(digits):
    X, y = digits
    clf = fast_clf(optimizer=torch.optim.Adam, lr=1e-3).fit(X, y)
    assert isinstance(clf.net_.optimizer_, torch.optim.Adam)


class ConvNet(torch.nn.Module):
    unpruned_layers = ("head",)

    def __init__(self, channels=4):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, channels, 3)
        self.head = torch.nn.Linear(channels * 36, 10)

    def forward(self, X):
        return self.head(self.conv(X).relu().flatten(1))


def test_custom_module_class_with_images(digits):
    X, y = digits
    images = X.reshape(-1, 1, 8, 8)
    clf = fast_clf(module=ConvNet, module__channels=3).fit(images, y)
    # Only the conv weights are prunable; the head stays dense.
    assert clf.imp_path_["n_params"][0] == 3 * 9
    assert clf.predict_proba(images).shape == (len(X), 10)


def test_custom_module_instance_is_copied_not_mutated(digits):
    X, y = digits
    module = ConvNet()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    clf = fast_clf(module=module).fit(X.reshape(-1, 1, 8, 8), y)
    assert all(torch.equal(module.state_dict()[k], v) for k, v in before.items())
    assert clf.net_.module_ is not module


def test_staged_predict_proba_and_level_module(digits):
    X, y = digits
    clf = fast_clf(max_levels=2).fit(X, y)
    staged = list(clf.staged_predict_proba(X[:50]))
    assert len(staged) == 3
    assert np.allclose(staged[clf.best_level_], clf.predict_proba(X[:50]), atol=1e-6)
    module = clf.level_module(2)
    nonzero = int((module.hidden[0].weight != 0).sum())
    assert nonzero == clf.imp_path_["n_params"][2]
    for bad in (5, -1, 1.0, True, "1"):
        with pytest.raises(ValueError, match="level must be an int, one of"):
            clf.level_module(bad)


def test_small_validation_fraction_is_sized_up_to_one_row_per_class(digits):
    X, y = digits
    clf = fast_clf(validation_fraction=0.001).fit(X[:200], y[:200])
    held_out = y[:200][clf.validation_mask_]
    assert clf.validation_mask_.sum() == 10
    assert set(held_out) == set(range(10))


def test_validation_split_holds_every_class_when_one_class_dominates():
    # One class of 500 rows and four of 2 rows: a plain stratified 10% split
    # rounds the small classes down to no validation row.
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(500, int), np.repeat([1, 2, 3, 4], 2)]
    X = rng.normal(size=(len(y), 4)) + y[:, None]
    clf = fast_clf().fit(X, y)
    assert set(y[clf.validation_mask_]) == set(range(5))
    assert set(y[~clf.validation_mask_]) == set(range(5))
    assert clf.validation_mask_.sum() >= np.ceil(0.1 * len(y))


def test_verbose_prints_progress_table(digits, capsys):
    X, y = digits
    clf = fast_clf(verbose=1).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    # Not a terminal: a line after the first epoch, the table, the summary.
    assert lines[0].strip().startswith("level 0/2, epoch 1/3, left")
    assert lines[1].split()[:4] == ["level", "weights", "left", "n_params"]
    rows = [line.split() for line in lines[2:5]]
    assert [int(row[0]) for row in rows] == [0, 1, 2]
    assert [int(row[3]) for row in rows] == clf.imp_path_["epoch"].tolist()
    assert rows[-1][-1] == "0s"
    assert lines[5].startswith(f"chosen: level {clf.best_level_},")
    assert len(lines) == 6


def test_calibration_report_matches_metrics_on_string_labels(binary):
    from skimp.metrics import calibration_report, expected_calibration_error

    X, y = binary
    labels = np.array(["benign", "malignant"])[y]
    clf = fast_clf().fit(X, labels)
    report = clf.calibration_report(X, labels)
    proba = clf.predict_proba(X)
    assert report == calibration_report(labels, proba)
    assert report["ece"] == expected_calibration_error(
        (labels == clf.classes_[1]).astype(int), proba)
    assert report["accuracy"] == clf.score(X, labels)
    # val_ece is recorded per level on the validation split.
    assert np.all((clf.imp_path_["val_ece"] >= 0) & (clf.imp_path_["val_ece"] <= 1))


def test_set_params_rejects_unknown_unprefixed_names():
    with pytest.raises(ValueError, match="Invalid parameter 'momentum'"):
        fast_clf().set_params(momentum=0.9)


def test_pickle_loads_in_another_process(digits, tmp_path):
    X, y = digits
    clf = fast_clf().fit(X, y)
    (tmp_path / "clf.pkl").write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "X.npy", X)
    code = ("import pickle, sys, numpy as np; from pathlib import Path; d = Path(sys.argv[1]);"
            "clf = pickle.loads((d / 'clf.pkl').read_bytes());"
            "np.save(d / 'p.npy', clf.predict_proba(np.load(d / 'X.npy')))")
    subprocess.run([sys.executable, "-c", code, tmp_path], check=True,
                   cwd=Path(__file__).resolve().parents[1])
    assert np.array_equal(np.load(tmp_path / "p.npy"), clf.predict_proba(X))




def test_staged_score_is_the_accuracy_of_each_level(digits):
    X, y = digits
    clf = fast_clf(max_levels=2).fit(X[:400], y[:400])
    scores = list(clf.staged_score(X[400:], y[400:]))
    assert len(scores) == 3
    expected = [accuracy_score(y[400:], clf.classes_[p.argmax(1)])
                for p in clf.staged_predict_proba(X[400:])]
    assert scores == expected
    assert scores[clf.best_level_] == clf.score(X[400:], y[400:])


# -- a failed fit leaves the estimator as it was ------------------------------

def test_failed_refit_keeps_the_previous_fit(digits):
    X, y = digits
    clf = fast_clf().fit(X, y)
    before = {k: v for k, v in vars(clf).items() if k.endswith("_")}
    proba = clf.predict_proba(X)
    # New labels and a diverging learning rate: the fit fails after it has
    # seen the new classes.
    with pytest.raises(ValueError, match="diverged"):
        clf.set_params(lr=1e12).fit(X * 1e6, y + 10)
    assert {k for k in vars(clf) if k.endswith("_")} == set(before)
    assert all(vars(clf)[k] is v for k, v in before.items())
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_failed_first_fit_leaves_the_estimator_unfitted(digits):
    from sklearn.exceptions import NotFittedError

    X, y = digits
    clf = fast_clf(lr=1e12)
    with pytest.raises(ValueError, match="diverged"):
        clf.fit(X * 1e6, y)
    assert not [k for k in vars(clf) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        clf.predict(X)


# -- modules: output width, lazy layers, a bare layer, tied weights, BatchNorm --

class TwelveLogits(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(64, 16)
        self.output = torch.nn.Linear(16, 12)

    def forward(self, X):
        return self.output(self.hidden(X).relu())


def test_output_width_must_match_the_classes(digits):
    X, y = digits
    with pytest.raises(ValueError, match="returns 12 logits per row but y holds 10 classes"):
        fast_clf(module=TwelveLogits).fit(X, y)


class LazyNet(torch.nn.Module):
    unpruned_layers = ("output",)

    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.LazyLinear(16)
        self.output = torch.nn.Linear(16, 10)

    def forward(self, X):
        return self.output(self.hidden(X).relu())


def test_lazy_layers_are_materialised_before_pruning(digits):
    X, y = digits
    clf = fast_clf(module=LazyNet, max_levels=2).fit(X, y)
    assert clf.net_.module_.hidden.weight.shape == (16, 64)
    assert list(clf.net_.mask_.tensors) == ["hidden.weight"]
    assert clf.imp_path_["n_params"].tolist() == [1024, 819, 655]
    assert clf.predict_proba(X).shape == (len(X), 10)


def test_a_bare_linear_layer_is_a_module(digits):
    X, y = digits
    clf = fast_clf(module=torch.nn.Linear(64, 10), max_levels=2).fit(X, y)
    assert list(clf.net_.mask_.tensors) == ["weight"]
    ticket = clf.level_module(2)
    assert int((ticket.weight != 0).sum()) == clf.imp_path_["n_params"][2] == 410
    assert np.mean(clf.predict(X) == y) > 0.5


class TiedNet(torch.nn.Module):
    unpruned_layers = ("output",)

    def __init__(self):
        super().__init__()
        self.encode = torch.nn.Linear(64, 64)
        self.decode = torch.nn.Linear(64, 64)
        self.decode.weight = self.encode.weight  # one tensor, two layers
        self.output = torch.nn.Linear(64, 10)

    def forward(self, X):
        return self.output(self.decode(self.encode(X).relu()).relu())


def test_tied_weights_are_pruned_once(digits):
    X, y = digits
    clf = fast_clf(module=TiedNet, max_levels=2).fit(X, y)
    assert list(clf.net_.mask_.tensors) == ["encode.weight"]
    assert clf.imp_path_["n_params"].tolist() == [4096, 3277, 2622]
    ticket = clf.level_module(2)
    assert ticket.decode.weight is ticket.encode.weight
    assert int((ticket.encode.weight != 0).sum()) == 2622


class BatchNormNet(torch.nn.Module):
    unpruned_layers = ("output",)

    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(64, 32)
        self.norm = torch.nn.BatchNorm1d(32)
        self.output = torch.nn.Linear(32, 10)

    def forward(self, X):
        return self.output(self.norm(self.hidden(X)).relu())


def test_batchnorm_with_a_one_row_last_batch_needs_drop_last(digits):
    X, y = digits
    # 600 rows, 60 held out: 540 training rows = 7 * 77 + 1.
    with pytest.raises(ValueError, match="iterator_train__drop_last=True"):
        fast_clf(module=BatchNormNet, batch_size=77).fit(X, y)
    clf = fast_clf(module=BatchNormNet, batch_size=77, iterator_train__drop_last=True).fit(X, y)
    assert np.isfinite(clf.imp_path_["train_loss"]).all()
    assert clf.get_params()["iterator_train__drop_last"] is True


def test_a_tiny_last_batch_is_announced_once(digits):
    import warnings

    X, y = digits
    # 600 rows, 60 held out: 540 training rows = 8 * 67 + 4.
    with pytest.warns(UserWarning, match=r"last training batch of every epoch holds 4 "
                                         r"rows, against batch_size=67.*540 training rows"
                                         r".*iterator_train__drop_last=True") as caught:
        fast_clf(batch_size=67).fit(X, y)
    ours = [w for w in caught if "last training batch" in str(w.message)]
    assert len(ours) == 1  # once per fit, not once per level or epoch
    assert ours[0].filename == __file__  # points at the call to fit
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # These fits choose their last level, which warns that more might help.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        fast_clf(batch_size=67, iterator_train__drop_last=True).fit(X, y)
        fast_clf(batch_size=66).fit(X, y)  # 12 rows, over 1/16 of a batch: no harm measured
        fast_clf(batch_size=64).fit(X, y)  # a last batch of 28 rows, 44% of one
        fast_clf(batch_size=1024).fit(X, y)  # one batch holds every row
        fast_clf(batch_size=64, iterator_train__batch_size=54).fit(X, y)  # 10 batches of 54
    with pytest.warns(UserWarning, match="holds 4 rows, against batch_size=134"):
        fast_clf(iterator_train__batch_size=134).fit(X, y)


# -- parameters -----------------------------------------------------------------

def test_a_misspelt_parameter_survives_clone_and_fails_in_cross_validation(digits):
    from sklearn.model_selection import cross_val_score

    X, y = digits
    clf = PrunedNetClassifier(max_epoch=50)
    assert clone(clf).get_params()["max_epoch"] == 50
    with pytest.raises(TypeError, match=r"unexpected parameters \['max_epoch'\]"):
        cross_val_score(clf, X, y, cv=2, error_score="raise")


def test_unpruned_layers_string_is_one_name(digits):
    class HeadNet(TwelveLogits):
        unpruned_layers = "output"  # a str, not a tuple of letters

        def __init__(self):
            super().__init__()
            self.output = torch.nn.Linear(16, 10)

    X, y = digits
    clf = fast_clf(module=HeadNet).fit(X, y)
    assert list(clf.net_.mask_.tensors) == ["hidden.weight"]


def test_unpruned_layers_must_name_submodules(digits):
    class WrongName(TwelveLogits):
        unpruned_layers = ("output.weight",)

        def __init__(self):
            super().__init__()
            self.output = torch.nn.Linear(16, 10)

    X, y = digits
    with pytest.raises(ValueError, match=r"\['output.weight'\].*prunable layers are "
                                         r"\['hidden', 'output'\]"):
        fast_clf(module=WrongName).fit(X, y)


def test_predict_on_read_only_arrays_is_silent(digits):
    import warnings

    X, y = digits
    clf = fast_clf().fit(X, y)
    expected = clf.predict_proba(X)
    for dtype in (np.float32, np.float64):
        X_ro = X.astype(dtype)
        X_ro.flags.writeable = False
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            proba = clf.predict_proba(X_ro)
            clf.predict(X_ro)
            clf.decision_function(X_ro)
        np.testing.assert_allclose(proba, expected, atol=1e-6)


# -- research controls: criteria, scope, retraining, noise models, callbacks ----

def step_schedule():
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import StepLR

    return [LRScheduler(policy=StepLR, step_size=2, gamma=0.5)]


CONTROL_GRIDS = {
    "pruning_criterion": ["magnitude", "random"],
    "pruning_scope": ["global", "layerwise"],
    "retrain": ["reinit", "lr_rewind"],
    "noise_model": ["pairflip", np.full((10, 10), 0.1)],
    "callbacks": [None, step_schedule()],
}


@pytest.mark.parametrize("name", list(CONTROL_GRIDS))
def test_each_control_is_swept_by_grid_search_and_resumes_exactly(digits, tmp_path, name):
    from sklearn.model_selection import GridSearchCV

    X, y = digits
    base = dict(max_levels=2, label_noise=0.2, rewind_epoch=1)
    grid = GridSearchCV(fast_clf(**base), {name: CONTROL_GRIDS[name]}, cv=2,
                        error_score="raise").fit(X, y)
    assert np.isfinite(grid.cv_results_["mean_test_score"]).all()
    value = CONTROL_GRIDS[name][1]
    plain = fast_clf(**base, **{name: value}).fit(X, y)
    assert plain.get_params()[name] is value
    first = fast_clf(**base, **{name: value}, checkpoint_dir=tmp_path).fit(X, y)
    resumed = fast_clf(**base, **{name: value}, checkpoint_dir=tmp_path).fit(X, y)
    for fitted in (first, resumed):
        np.testing.assert_array_equal(fitted.predict_proba(X), plain.predict_proba(X))
        np.testing.assert_array_equal(fitted.imp_path_["val_loss"], plain.imp_path_["val_loss"])
    assert len(list(tmp_path.iterdir())) == 1  # the second fit loaded every level
    # The value is in the checkpoint key: another value is another run.
    fast_clf(**base, **{name: CONTROL_GRIDS[name][0]}, checkpoint_dir=tmp_path).fit(X, y)
    assert len(list(tmp_path.iterdir())) == 2


def test_random_pruning_is_uncorrelated_with_magnitude(digits):
    X, y = digits
    masks = {}
    for criterion in ("magnitude", "random"):
        clf = fast_clf(hidden_layer_sizes=(64,), pruning_criterion=criterion, max_levels=1,
                       pruning_fraction=0.5).fit(X, y)
        dense = clf.level_module(0).hidden[0].weight.detach().abs().flatten()
        # Pruned weights are exactly 0 in a level's module; survivors are not.
        kept = (clf.level_module(1).hidden[0].weight != 0).flatten().float()
        masks[criterion] = (np.corrcoef(dense.numpy(), kept.numpy())[0, 1], kept)
    assert masks["magnitude"][0] > 0.7
    assert abs(masks["random"][0]) < 0.05
    assert (masks["random"][1] != masks["magnitude"][1]).float().mean() > 0.3


def test_layerwise_scope_puts_every_layer_at_the_same_density(digits):
    X, y = digits
    clf = fast_clf(hidden_layer_sizes=(40, 20), pruning_scope="layerwise", max_levels=4).fit(X, y)
    for level in range(5):
        table = clf.layer_summary(level)
        expected = table["n_weights"] * 0.8 ** level
        # Each level rounds per layer; the drift stays below 0.5 / 0.2 weights.
        assert np.all(np.abs(table["n_alive"] - expected) < 2.5), (level, table["n_alive"])
    glob = fast_clf(hidden_layer_sizes=(40, 20), max_levels=4).fit(X, y).layer_summary(4)
    assert np.ptp(glob["density"]) > 0.01  # global scope does not


def test_layer_summary_counts_dead_units(digits):
    X, y = digits
    clf = fast_clf(hidden_layer_sizes=(32,), max_levels=12, pruning_fraction=0.5).fit(X, y)
    table = clf.layer_summary(12)
    assert table["layer"].tolist() == ["hidden.0.weight"]
    assert table["shape"].tolist() == [(32, 64)]
    mask = clf.level_module(12).hidden[0].weight.detach() != 0
    assert table["n_alive"][0] == int(mask.sum()) == clf.imp_path_["n_params"][12]
    assert table["dead_outputs"][0] == int((mask.sum(1) == 0).sum()) > 0
    assert table["dead_inputs"][0] == int((mask.sum(0) == 0).sum()) > 0
    assert pd.DataFrame(clf.layer_summary()).shape == (1, 7)
    with pytest.raises(ValueError, match="level must be an int"):
        clf.layer_summary(99)


def test_callable_criterion_is_used(digits):
    X, y = digits

    def smallest_first(module):  # keeps the largest |w|: magnitude pruning again
        return {"hidden.0.weight": module.hidden[0].weight.detach().abs()}

    by_callable = fast_clf(pruning_criterion=smallest_first).fit(X, y)
    by_magnitude = fast_clf().fit(X, y)
    np.testing.assert_array_equal(by_callable.predict_proba(X), by_magnitude.predict_proba(X))


@pytest.mark.parametrize("params, match", [
    ({"pruning_criterion": "snip"}, "'pruning_criterion' parameter"),
    ({"pruning_criterion": lambda m: {"nope": torch.zeros(1)}}, "hidden.0.weight"),
    ({"pruning_scope": "local"}, "'pruning_scope' parameter"),
    ({"retrain": "finetune"}, "'retrain' parameter"),
    ({"noise_model": "asymmetric"}, "'noise_model' parameter"),
    ({"noise_model": np.eye(3)}, r"3x3 transition matrix.*10 classes"),
    ({"noise_model": np.full((10, 10), 0.2)}, "sums to 2, not 1"),
    ({"callbacks": "lr"}, "'callbacks' parameter"),
    ({"callbacks": [object()]}, "must hold skorch callbacks"),
    ({"callbacks": [step_schedule()[0].__class__]}, "pass an instance"),
], ids=["criterion", "criterion return", "scope", "retrain", "noise name", "noise size",
        "noise rows", "callbacks str", "callbacks object", "callbacks class"])
def test_controls_reject_bad_values(digits, params, match):
    X, y = digits
    clf = fast_clf(label_noise=0.2, **params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "net_")


def test_callbacks_that_cannot_follow_imp_are_refused(digits):
    from skorch.callbacks import EarlyStopping, LRScheduler
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    X, y = digits
    with pytest.raises(ValueError, match="EarlyStopping cannot run inside IMP.*patience"):
        fast_clf(callbacks=[EarlyStopping()]).fit(X, y)
    with pytest.raises(ValueError, match="cannot be fast-forwarded to rewind_epoch"):
        fast_clf(rewind_epoch=1, callbacks=[LRScheduler(policy=ReduceLROnPlateau)]).fit(X, y)
    # Without rewinding it has nothing to fast-forward, and runs.
    fast_clf(callbacks=[LRScheduler(policy=ReduceLROnPlateau)]).fit(X, y)


def test_callback_parameters_route_through_set_params(digits):
    X, y = digits
    clf = fast_clf(callbacks=step_schedule(), callbacks__LRScheduler__gamma=0.25).fit(X, y)
    assert clf.net_.callbacks_[-1][1].gamma == 0.25


class ImageLinear(torch.nn.Module):
    """Takes n_classes and input_shape, as skimp's conv nets do."""

    def __init__(self, n_classes, input_shape=(1, 4, 4)):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.linear = torch.nn.Linear(int(np.prod(input_shape)), n_classes)

    def forward(self, X):
        return self.linear(X.reshape(len(X), -1))


def test_module_classes_get_n_classes_and_the_image_shape(digits):
    X, y = digits
    images = X.reshape(-1, 1, 8, 8)
    clf = fast_clf(module=ImageLinear).fit(images, y)
    assert clf.net_.module_.input_shape == (1, 8, 8)
    assert clf.net_.module_.linear.out_features == 10
    assert clf.predict(images).shape == (len(X),)
    # Flat X carries no image shape: the module's default, or the user's, holds.
    flat = fast_clf(module=ImageLinear, module__input_shape=(1, 8, 8)).fit(X, y)
    assert flat.net_.module_.input_shape == (1, 8, 8)
    with pytest.raises(ValueError, match=r"ImageLinear failed on the first 2 rows"):
        fast_clf(module=ImageLinear).fit(X, y)  # default (1, 4, 4) reads 16 of 64 columns
    # A user's setting wins over the filled one.
    binary = fast_clf(module=ImageLinear, module__n_classes=10)
    with pytest.raises(ValueError, match="returns 10 logits per row but y holds 2 classes"):
        binary.fit(images[y < 2], y[y < 2])


# -- input layouts --------------------------------------------------------------

def _small_convnet(**params):
    from skimp.modules import ConvNet

    return fast_clf(module=ConvNet, module__n_conv_pairs=1, module__width=0.125,
                    module__hidden_layer_sizes=(16,), max_levels=1, **params)


def _three_channel_images(X):
    """sklearn's digits as (n, 3, 8, 8) images: 192 values per row."""
    return np.concatenate([X, X ** 2, 1 - X], axis=1).reshape(-1, 3, 8, 8)


@pytest.mark.parametrize("layout", ["reversed rows", "flipped images", "Fortran order"])
def test_any_numpy_layout_fits_and_predicts_as_its_contiguous_copy(digits, layout):
    X, y = digits
    images = X.reshape(-1, 1, 8, 8)
    view, y_view = {
        "reversed rows": (images[::-1], y[::-1]),
        "flipped images": (images[..., ::-1], y),
        "Fortran order": (np.asfortranarray(images), y),
    }[layout]
    copy = np.array(view, order="C")
    fitted = _small_convnet().fit(view, y_view)
    reference = _small_convnet().fit(copy, np.array(y_view))
    np.testing.assert_array_equal(fitted.imp_path_["val_loss"], reference.imp_path_["val_loss"])
    np.testing.assert_array_equal(fitted.predict_proba(view), reference.predict_proba(copy))
    # The default MLP, on 2-D views of the same kinds.
    flat = view.reshape(len(view), -1) if layout != "flipped images" else X[:, ::-1]
    mlp = fast_clf().fit(flat, y_view)
    flat_copy = np.array(flat, order="C")
    np.testing.assert_array_equal(mlp.predict_proba(flat),
                                  fast_clf().fit(flat_copy, y_view).predict_proba(flat_copy))
    np.testing.assert_array_equal(mlp.predict(np.asfortranarray(flat)), mlp.predict(flat_copy))


def test_images_and_their_flat_rows_predict_alike(digits):
    X, y = digits
    images = _three_channel_images(X)
    flat = images.reshape(len(images), -1)
    clf = _small_convnet().fit(images, y)
    # sklearn counts X.shape[1]: the channels, for images.
    assert clf.n_features_in_ == 3
    expected = clf.predict_proba(images)
    np.testing.assert_array_equal(clf.predict_proba(flat), expected)
    np.testing.assert_array_equal(clf.decision_function(flat), clf.decision_function(images))
    assert clf.score(flat, y) == clf.score(images, y)
    # Channels last holds as many values, in another order: refused, not guessed.
    with pytest.raises(ValueError, match=r"rows of shape \(8, 8, 3\).*fitted on rows of "
                                         r"shape \(3, 8, 8\).*\(n_samples, 3, 8, 8\) or "
                                         r"flat rows of 192 columns"):
        clf.predict(images.transpose(0, 2, 3, 1))
    with pytest.raises(ValueError, match=r"rows of shape \(100,\).*flat rows of 192 columns"):
        clf.predict(np.zeros((2, 100)))
    # Fitted on flat rows (as after a scaler), it takes the images too.
    on_flat = _small_convnet(module__input_shape=(3, 8, 8)).fit(flat, y)
    assert on_flat.n_features_in_ == 192
    np.testing.assert_array_equal(on_flat.predict_proba(images), on_flat.predict_proba(flat))


def test_the_validation_split_is_the_same_at_every_noise_level(digits):
    """The split is stratified on the labels as passed to fit; the simulated
    noise then reaches training and validation rows alike, so a search over
    label_noise compares every level on the same validation rows."""
    X, y = digits
    clean = fast_clf(max_levels=0).fit(X, y)
    for params in ({"label_noise": 0.6}, {"label_noise": 0.6, "noise_model": "pairflip"}):
        noisy = fast_clf(max_levels=0, **params).fit(X, y)
        np.testing.assert_array_equal(noisy.validation_mask_, clean.validation_mask_)
        # 60% of the validation rows, give or take, carry a redrawn label.
        noised = (noisy.noise_mask_ & noisy.validation_mask_).sum()
        assert noised > 0.5 * clean.validation_mask_.sum()
        assert (noisy.noise_mask_ & ~noisy.validation_mask_).any()
    # Stratified on the labels as given: every class keeps its share.
    counts = np.bincount(y[clean.validation_mask_], minlength=10)
    np.testing.assert_allclose(counts / counts.sum(), np.bincount(y) / len(y), atol=0.02)


def test_by_default_each_level_keeps_its_last_epoch_calibrated_through_the_noise(digits):
    # The defaults decided by docs/results.md, "Calibrated tickets".
    X, y = digits
    params = dict(hidden_layer_sizes=(16,), max_epochs=6, max_levels=1, label_noise=0.3,
                  random_state=0)
    default = PrunedNetClassifier(**params)
    assert default.get_params()["early_stopping"] is False
    assert default.get_params()["calibration"] == "auto"
    default.fit(X, y)
    assert (default.imp_path_["epoch"] == 6).all() and default.best_epoch_ == 6
    assert default.temperature_ != 1.0 and default.noise_matrix_ is not None
    # Early-stopped levels are one parameter away, with the same masks.
    early = PrunedNetClassifier(early_stopping=True, **params).fit(X, y)
    assert early.best_epoch_ == early.imp_path_["epoch"][early.best_level_]
    assert early.imp_path_["n_params"].tolist() == default.imp_path_["n_params"].tolist()
    # Without label noise there is nothing to calibrate for.
    clean = PrunedNetClassifier(**{**params, "label_noise": 0.0}).fit(X, y)
    assert clean.temperature_ == 1.0 and clean.noise_matrix_ is None


def test_choosing_the_last_level_warns_that_more_levels_might_help(digits, capsys):
    import warnings

    X, y = digits
    last = lambda path: int(path["level"][-1])  # noqa: E731
    with pytest.warns(ConvergenceWarning, match=r"last level run \(level 2, max_levels=2\)"
                                                r".*Raise max_levels"):
        fast_clf(selection=last, verbose=1).fit(X, y)
    assert "That is the last level, max_levels=2" in capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fast_clf(selection=lambda path: 1).fit(X, y)
        fast_clf(max_levels=0).fit(X, y)  # the dense net alone: nothing to raise
