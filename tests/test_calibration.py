"""Noise-aware temperature scaling: skimp.calibration, and through the estimator."""

import io
import pickle
import sys

import numpy as np
import pytest
import torch
from scipy.special import softmax
from sklearn.base import clone
from sklearn.metrics import log_loss
from sklearn.model_selection import GridSearchCV

from skimp.calibration import (
    TEMPERATURE_RANGE,
    calibration_noise_matrix,
    estimate_noise_matrix,
    fit_temperature,
    fold_temperature,
    forward_nll,
    output_layer,
    symmetric_noise_matrix,
)
from skimp.model_selection import compare_controls
from skimp.modules import MLP
from skimp.noise import noise_transition_matrix
from tests._helpers import fast_clf


def noisy_problem(n=3000, n_classes=5, scale=4.0, rate=0.4, seed=0, model="symmetric"):
    """Logits, clean labels drawn from softmax(logits), and those labels after noise."""
    rng = np.random.RandomState(seed)
    z = rng.normal(size=(n, n_classes)) * scale
    p = softmax(z, axis=1)
    y_clean = (p.cumsum(1) > rng.rand(n, 1)).argmax(1)
    M = noise_transition_matrix(model, n_classes, rate)
    y_noisy = (M[y_clean].cumsum(1) > rng.rand(n, 1)).argmax(1)
    return z, y_clean, y_noisy, M


# -- the temperature ------------------------------------------------------

@pytest.mark.parametrize("model", ["symmetric", "pairflip"])
def test_the_temperature_minimises_the_forward_corrected_nll(model):
    z, _, y_noisy, M = noisy_problem(model=model, rate=0.3)
    T = fit_temperature(z, y_noisy, M)
    grid = np.exp(np.linspace(*np.log(TEMPERATURE_RANGE), 4001))
    brute = grid[np.argmin([forward_nll(z, y_noisy, M, t) for t in grid])]
    assert T == pytest.approx(brute, rel=5e-3)
    assert forward_nll(z, y_noisy, M, T) <= min(forward_nll(z, y_noisy, M, t) for t in grid) + 1e-9


def test_the_noise_aware_temperature_recovers_the_clean_one_where_plain_scaling_does_not():
    z, y_clean, y_noisy, M = noisy_problem(n=8000, rate=0.4)
    # The clean labels were drawn at T = 1.
    assert fit_temperature(z, y_clean) == pytest.approx(1.0, abs=0.06)
    assert fit_temperature(z, y_noisy, M) == pytest.approx(1.0, abs=0.1)
    # Plain temperature scaling on noisy labels flattens the model towards the noise.
    assert fit_temperature(z, y_noisy) > 1.5


def test_forward_nll_with_the_identity_is_the_log_loss():
    z, y, _, _ = noisy_problem(n=500)
    expected = log_loss(y, softmax(z / 2, axis=1), labels=range(5))
    assert forward_nll(z, y, None, 2.0) == pytest.approx(expected)
    assert forward_nll(z, y, np.eye(5), 2.0) == pytest.approx(expected)


# -- the noise matrix -----------------------------------------------------

def test_the_matrix_composes_the_stated_noise_with_the_injected_one():
    injected = noise_transition_matrix("pairflip", 4, 0.2)
    assert np.array_equal(calibration_noise_matrix(None, injected, 4), injected)
    M = calibration_noise_matrix(0.3, injected, 4)
    assert np.allclose(M, symmetric_noise_matrix(0.3, 4) @ injected)
    assert np.allclose(M.sum(1), 1)
    stated = np.full((4, 4), 0.1) + 0.6 * np.eye(4)
    assert np.allclose(calibration_noise_matrix(stated, np.eye(4), 4), stated)


@pytest.mark.parametrize("noise, match", [
    (1.0, r"calibration_noise=1.0 is outside \[0, 1\)"),
    (-0.1, r"outside \[0, 1\)"),
    (True, r"calibration_noise=True is a bool"),
    ("estimated", r"calibration_noise='estimated' is not a known option.*'estimate'"),
    (np.eye(3), r"shape \(3, 3\), but y has 4 classes.*\(4, 4\)"),
    (np.full((4, 4), 0.3), r"not row-stochastic: row 0 sums to 1.2"),
    (np.roll(np.eye(4), 1, axis=1), r"another label at least as likely as the true one in row 0"),
    (np.full((4, 4), 0.25), r"cannot be told apart from a relabelling"),
    (1.2 * np.eye(4) - 0.2 / 3 * (1 - np.eye(4)), r"negative, NaN or inf"),
])
def test_bad_calibration_noise_is_named_with_the_fix(noise, match):
    with pytest.raises(ValueError, match=match):
        calibration_noise_matrix(noise, np.eye(4), 4)


def test_a_composition_that_is_not_identifiable_is_refused():
    with pytest.raises(ValueError, match="composition of calibration_noise and label_noise"):
        # Each alone leaves the true class the likeliest; together they do not.
        stated = noise_transition_matrix("pairflip", 4, 0.4)
        calibration_noise_matrix(stated, noise_transition_matrix("pairflip", 4, 0.45), 4)


# -- the estimate ---------------------------------------------------------

def test_the_symmetric_estimate_recovers_the_rate_and_finds_none_in_clean_labels():
    z, y_clean, y_noisy, _ = noisy_problem(n=6000, rate=0.4)
    M = estimate_noise_matrix(z, y_noisy)
    rate = (1 - M[0, 0]) * 5 / 4  # M = (1 - r) I + r / C
    assert rate == pytest.approx(0.4, abs=0.05)
    assert np.allclose(M, symmetric_noise_matrix(rate, 5))
    M_clean = estimate_noise_matrix(z, y_clean)
    assert (1 - M_clean[0, 0]) * 5 / 4 < 0.05
    # Model error is not label noise: an over-confident model on clean labels
    # is absorbed by the temperature, not read as noise.
    assert (1 - estimate_noise_matrix(3 * z, y_clean)[0, 0]) * 5 / 4 < 0.05


def test_the_confident_joint_needs_the_cleanlab_extra(monkeypatch):
    z, _, y_noisy, _ = noisy_problem(n=300)
    monkeypatch.setitem(sys.modules, "cleanlab.count", None)
    with pytest.raises(ImportError, match=r"skimp\[cleanlab\]"):
        estimate_noise_matrix(z, y_noisy, method="confident_joint")


def test_the_confident_joint_estimate_is_cleanlabs():
    pytest.importorskip("cleanlab")
    from cleanlab.count import estimate_py_and_noise_matrices_from_probabilities

    z, _, y_noisy, _ = noisy_problem(n=2000, rate=0.3)
    M = estimate_noise_matrix(z, y_noisy, method="confident_joint")
    expected = estimate_py_and_noise_matrices_from_probabilities(y_noisy, softmax(z, axis=1))[1]
    assert np.allclose(M, np.asarray(expected).T)
    assert np.allclose(M.sum(1), 1)


def test_an_unknown_estimate_method():
    with pytest.raises(ValueError, match="method must be 'symmetric' or 'confident_joint'"):
        estimate_noise_matrix(np.zeros((4, 2)), np.array([0, 1, 0, 1]), method="cleanlab")


# -- folding into the output layer ------------------------------------------

def test_folding_divides_the_logits_and_keeps_pruned_weights_zero():
    torch.manual_seed(0)
    module = MLP(6, 3, (8,)).eval()
    name = output_layer(module, torch.randn(2, 6))
    with torch.no_grad():
        module.get_submodule(name).weight[0, :4] = 0
        x = torch.randn(5, 6)
        before = module(x)
        fold_temperature(module, 2.5)
        assert torch.allclose(module(x), before / 2.5, atol=1e-6)
    assert (module.get_submodule(name).weight[0, :4] == 0).all()


class TanhHead(torch.nn.Module):
    """Logits squashed after the last Linear layer: no temperature folds into it."""

    def __init__(self, n_classes=2, squash=True):
        super().__init__()
        self.fc = torch.nn.Linear(5, n_classes)
        self.squash = squash

    def forward(self, x):
        z = self.fc(x)
        return 3 * torch.tanh(z) if self.squash else torch.log_softmax(z, dim=1)


def test_a_module_whose_last_linear_is_not_the_logits_is_named():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"last Linear layer \('fc'\) does not scale"):
        output_layer(TanhHead(), torch.randn(2, 5) * 3)
    # Log-probabilities are logits up to a per-row constant: they fold.
    assert output_layer(TanhHead(squash=False), torch.randn(2, 5)) == "fc"
    with pytest.raises(ValueError, match="has no Linear layer"):
        output_layer(torch.nn.Conv2d(1, 2, 3))


# -- through the estimator ------------------------------------------------

@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    raw = fast_clf(max_epochs=6, label_noise=0.3, early_stopping=True,
                   calibration=None).fit(X, y)
    cal = clone(raw).set_params(calibration="auto").fit(X, y)
    return X, y, raw, cal


def test_calibration_leaves_the_predictions_and_the_path_alone(fitted):
    X, _, raw, cal = fitted
    assert np.array_equal(raw.predict(X), cal.predict(X))
    assert cal.best_level_ == raw.best_level_
    for key in raw.imp_path_:
        if "temperature" not in key and key != "fit_time":
            assert np.array_equal(raw.imp_path_[key], cal.imp_path_[key]), key
    assert np.all(raw.imp_path_["temperature"] == 1) and raw.temperature_ == 1.0
    assert raw.noise_matrix_ is None


def test_the_fitted_temperature_is_the_forward_fit_on_the_validation_rows(fitted):
    X, _, raw, cal = fitted
    assert np.allclose(cal.noise_matrix_, noise_transition_matrix("symmetric", 10, 0.3))
    val = cal.validation_mask_
    y_val = np.searchsorted(cal.classes_, cal.noisy_labels_[val])
    for level in cal.imp_path_["level"]:
        for epoch, column in (("kept", "temperature"), ("last", "last_temperature")):
            module = cal.level_module(int(level), epoch=epoch, calibrated=False)
            with torch.no_grad():
                z = module(torch.as_tensor(X[val], dtype=torch.float32)).double().numpy()
            expected = fit_temperature(z, y_val, cal.noise_matrix_)
            assert cal.imp_path_[column][level] == pytest.approx(expected, rel=1e-6)
    assert cal.temperature_ == cal.imp_path_["temperature"][cal.best_level_]
    # The early-stopped net is underconfident on clean labels: T < 1 sharpens it.
    assert cal.temperature_ < 1
    # The noisy labels are those the fit trained on.
    assert np.mean(cal.noisy_labels_ != fitted[1]) == pytest.approx(0.3 * 0.9, abs=0.05)


def test_every_output_agrees_with_predict_proba(fitted):
    X, _, raw, cal = fitted
    proba = cal.predict_proba(X)
    assert np.allclose(proba, softmax(cal.decision_function(X), axis=1), atol=1e-6)
    assert np.allclose(cal.decision_function(X), raw.decision_function(X) / cal.temperature_,
                       atol=1e-4)
    staged = list(cal.staged_predict_proba(X))
    assert np.allclose(staged[cal.best_level_], proba, atol=1e-6)
    x = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        for level in cal.imp_path_["level"]:
            level = int(level)
            T = cal.imp_path_["temperature"][level]
            folded = cal.level_module(level)(x)
            plain = cal.level_module(level, calibrated=False)(x)
            assert torch.allclose(folded, plain / T, atol=1e-4)
            assert np.allclose(softmax(folded.double().numpy(), axis=1), staged[level], atol=1e-5)
        compact = cal.compact_module()
        assert np.allclose(torch.softmax(compact(x), 1).numpy(), proba, atol=1e-5)
        program = torch.export.export(compact, (x[:4],))
        buffer = io.BytesIO()
        torch.export.save(program, buffer)
        buffer.seek(0)
        exported = torch.export.load(buffer).module()
        assert np.allclose(torch.softmax(exported(x[:4]), 1).numpy(), proba[:4], atol=1e-5)


def test_calibration_lowers_the_clean_ece_of_a_noisy_fit(fitted, digits):
    from sklearn.datasets import load_digits

    from skimp.metrics import expected_calibration_error

    X_all, y_all = load_digits(return_X_y=True)
    X_test, y_test = X_all[600:] / 16, y_all[600:]
    _, _, raw, cal = fitted
    ece_raw = expected_calibration_error(y_test, raw.predict_proba(X_test))
    ece_cal = expected_calibration_error(y_test, cal.predict_proba(X_test))
    assert ece_cal < ece_raw - 0.05


@pytest.mark.parametrize("params, expected", [
    ({"calibration": "auto"}, None),  # no noise known: nothing to correct for
    ({"calibration": "temperature"}, np.eye(10)),
    ({"calibration": "auto", "calibration_noise": 0.2}, symmetric_noise_matrix(0.2, 10)),
    ({"calibration": "auto", "label_noise": 0.2, "noise_model": "pairflip"},
     noise_transition_matrix("pairflip", 10, 0.2)),
    ({"calibration": "auto", "label_noise": 0.2, "calibration_noise": 0.1},
     symmetric_noise_matrix(0.1, 10) @ symmetric_noise_matrix(0.2, 10)),
    ({"calibration": "auto", "label_noise": 0.1,
      "noise_model": 0.5 * np.eye(10) + 0.05},
     noise_transition_matrix(0.5 * np.eye(10) + 0.05, 10, 0.1)),
    ({"calibration": None, "label_noise": 0.2}, None),
    ({"label_noise": 0.2}, symmetric_noise_matrix(0.2, 10)),  # the default is "auto"
])
def test_noise_matrix_for_each_noise_model(digits, params, expected):
    X, y = digits
    clf = fast_clf(max_levels=1, **params).fit(X, y)
    if expected is None:
        assert clf.noise_matrix_ is None and clf.temperature_ == 1.0
    else:
        assert np.allclose(clf.noise_matrix_, expected)
        assert clf.temperature_ != 1.0


def test_the_noise_can_be_estimated(digits):
    X, y = digits
    clf = fast_clf(max_epochs=6, label_noise=0.3, early_stopping=True, calibration="auto",
                   calibration_noise="estimate").fit(X, y)
    M = clf.noise_matrix_
    rate = (1 - M[0, 0]) * 10 / 9
    assert np.allclose(M, symmetric_noise_matrix(rate, 10))
    assert 0.0 < rate < 0.9
    assert clf.temperature_ < 1


@pytest.mark.parametrize("params, match", [
    ({"calibration": True}, "'calibration' parameter"),
    ({"calibration": "platt"}, "'calibration' parameter"),
    ({"calibration": "auto", "calibration_noise": 1.5}, r"calibration_noise=1.5 is outside \[0, 1\)"),
    ({"calibration": "auto", "calibration_noise": np.eye(3)}, r"shape \(3, 3\), but y has 10"),
    ({"calibration": "auto", "calibration_noise": np.full((10, 10), 0.2)}, "not row-stochastic"),
    ({"calibration": "auto", "calibration_noise": np.roll(np.eye(10), 1, 1)}, "as likely as the true one"),
    ({"calibration": "auto", "calibration_noise": "unknown"}, "not a known option"),
    # Checked even when it would not be used, so a search over calibration fails at once.
    ({"calibration": None, "calibration_noise": -0.2}, r"outside \[0, 1\)"),
    ({"calibration": "temperature", "module": TanhHead}, r"does not scale its logits"),
])
def test_bad_calibration_settings_keep_a_fitted_model(digits, params, match):
    X, y = digits
    if "module" in params:
        X = X[:, :5]
    clf = fast_clf(max_levels=1, calibration=None).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match=match):
        clf.set_params(**params).fit(X, y)
    assert np.array_equal(clf.predict_proba(X), before)
    assert clf.temperature_ == 1.0


def test_noise_no_temperature_fits_through(digits):
    X, y = digits
    # Pair-flip at 0.6: most labels of each class name the next class.
    params = dict(max_levels=0, label_noise=0.6, noise_model="pairflip")
    with pytest.warns(UserWarning, match=r"calibration='auto' leaves this fit uncalibrated.*"
                                         r"as likely as the true one"):
        clf = fast_clf(calibration="auto", **params).fit(X, y)
    assert clf.temperature_ == 1.0 and clf.noise_matrix_ is None
    with pytest.raises(ValueError, match="label_noise's matrix makes another label"):
        fast_clf(calibration="temperature", **params).fit(X, y)


def test_resume_equals_the_uninterrupted_fit_and_reuses_uncalibrated_levels(digits, tmp_path):
    X, y = digits
    params = dict(label_noise=0.3, early_stopping=True, max_levels=3, calibration="auto")
    reference = fast_clf(**params).fit(X, y)
    fast_clf(**{**params, "calibration": None, "max_levels": 2},
             checkpoint_dir=tmp_path).fit(X, y)
    resumed = fast_clf(**params, checkpoint_dir=tmp_path).fit(X, y)
    assert len(list(next(tmp_path.iterdir()).glob("level_*.json"))) == 4
    assert np.array_equal(resumed.predict_proba(X), reference.predict_proba(X))
    for key in ("temperature", "last_temperature", "val_loss"):
        assert np.array_equal(resumed.imp_path_[key], reference.imp_path_[key])


def test_clone_pickle_and_grid_search(digits):
    X, y = digits
    clf = fast_clf(calibration="auto", calibration_noise=0.1, label_noise=0.2)
    assert clone(clf).get_params()["calibration_noise"] == 0.1
    fitted = clf.fit(X, y)
    again = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(again.predict_proba(X), fitted.predict_proba(X))
    assert again.temperature_ == fitted.temperature_
    grid = GridSearchCV(fast_clf(max_levels=1), {"calibration": [None, "auto"],
                                                 "label_noise": [0.0, 0.3]},
                        cv=2, scoring="neg_log_loss").fit(X, y)
    temps = {(p["calibration"], p["label_noise"]) for p in grid.cv_results_["params"]}
    assert len(temps) == 4
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))


def test_compare_controls_calibrates_every_method_the_same_way(digits):
    X, y = digits
    X_fit, y_fit, X_test, y_test = X[:450], y[:450], X[450:], y[450:]
    clf = fast_clf(label_noise=0.3, early_stopping=True, calibration="auto", max_epochs=5)
    methods = ("imp", "imp_last_epoch", "early_stopping", "random")
    res = compare_controls(clf, X_fit, y_fit, X_test, y_test, methods=methods, seeds=(0,))
    fit = clone(clf).set_params(random_state=0).fit(X_fit, y_fit)
    imp = res["method"] == "imp"
    assert np.array_equal(res["temperature"][imp], fit.imp_path_["temperature"])
    last = res["method"] == "imp_last_epoch"
    assert np.array_equal(res["temperature"][last], fit.imp_path_["last_temperature"])
    assert np.all(res["temperature"][res["method"] == "random"] != 1)
    # The derived last-epoch rows equal a separate early_stopping=False fit's.
    alone = compare_controls(clf.set_params(early_stopping=False), X_fit, y_fit, X_test,
                             y_test, methods=("imp",), seeds=(0,))
    for key in ("test_accuracy", "test_ece", "test_log_loss", "temperature", "chosen"):
        assert np.allclose(res[key][last], alone[key], atol=1e-9), key
