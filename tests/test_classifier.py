"""Behaviour of PrunedNetClassifier through its public API."""

import math
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import accuracy_score

from skimp import PrunedNetClassifier
from tests.conftest import fast_clf


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
    with pytest.raises(ValueError, match="level must be one of"):
        clf.level_module(5)


def test_small_validation_fraction_is_sized_up_to_one_row_per_class(digits):
    X, y = digits
    clf = fast_clf(validation_fraction=0.001).fit(X[:200], y[:200])
    assert len(clf.classes_) == 10


def test_verbose_prints_progress_table(digits, capsys):
    X, y = digits
    fast_clf(verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "weights left" in out and "val acc" in out
    assert len(out.strip().splitlines()) == 1 + 3


def test_calibration_report_matches_metrics_on_string_labels(binary):
    from skimp.metrics import calibration_report, expected_calibration_error

    X, y = binary
    labels = np.array(["benign", "malignant"])[y]
    clf = fast_clf().fit(X, labels)
    report = clf.calibration_report(X, labels)
    proba = clf.predict_proba(X)
    assert report == calibration_report(labels, proba)
    assert report["ece"] == expected_calibration_error((labels == clf.classes_[1]).astype(int), proba)
    assert report["accuracy"] == clf.score(X, labels)
    # val_ece is recorded per level on the validation split.
    assert np.all((clf.imp_path_["val_ece"] >= 0) & (clf.imp_path_["val_ece"] <= 1))


def test_set_params_rejects_unknown_unprefixed_names():
    with pytest.raises(ValueError, match="Invalid parameter 'momentum'"):
        fast_clf().set_params(momentum=0.9)
