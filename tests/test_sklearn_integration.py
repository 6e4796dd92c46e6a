"""PrunedNetClassifier inside scikit-learn's tools."""

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV, CalibrationDisplay
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tests._helpers import fast_clf


def test_pipeline_and_cross_val_score(digits):
    X, y = digits
    scores = cross_val_score(make_pipeline(StandardScaler(), fast_clf(max_epochs=10)), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.5)


def test_grid_search_over_noise_and_width_in_parallel(digits):
    X, y = digits
    grid = GridSearchCV(
        fast_clf(), {"label_noise": [0.0, 0.2], "hidden_layer_sizes": [(8,), (16,)]},
        cv=2, n_jobs=2)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert grid.best_estimator_.n_params_ > 0


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "temperature"])
def test_calibrated_classifier_with_frozen_estimator(digits, method):
    X, y = digits
    X_fit, X_cal, y_fit, y_cal = train_test_split(X, y, random_state=0, stratify=y)
    clf = fast_clf().fit(X_fit, y_fit)
    calibrated = CalibratedClassifierCV(FrozenEstimator(clf), method=method).fit(X_cal, y_cal)
    proba = calibrated.predict_proba(X_cal)
    assert proba.shape == (len(X_cal), 10) and np.allclose(proba.sum(1), 1)


def test_temperature_scaling_scales_logits(digits):
    X, y = digits
    clf = fast_clf(label_noise=0.3, max_epochs=10).fit(X, y)
    calibrated = CalibratedClassifierCV(FrozenEstimator(clf), method="temperature").fit(X, y)
    # Temperature scaling keeps the ranking of classes, so labels agree.
    assert np.array_equal(calibrated.predict(X), clf.predict(X))


def test_calibrated_classifier_with_cv(binary):
    X, y = binary
    calibrated = CalibratedClassifierCV(fast_clf(), method="sigmoid", cv=3).fit(X, y)
    assert calibrated.score(X, y) > 0.8


def test_calibration_display_on_binary(binary):
    import matplotlib

    matplotlib.use("Agg")
    X, y = binary
    clf = fast_clf().fit(X, y)
    display = CalibrationDisplay.from_estimator(clf, X, y, n_bins=5)
    assert display.prob_pred.shape == display.prob_true.shape
    assert display.estimator_name == "PrunedNetClassifier"


def test_grid_search_over_early_stopping(digits):
    X, y = digits
    grid = GridSearchCV(
        fast_clf(max_epochs=6, label_noise=0.2),
        {"early_stopping": [False, True], "n_iter_no_change": [None, 2]},
        cv=2, error_score="raise")
    with pytest.raises(ValueError, match="n_iter_no_change=2 needs early_stopping=True"):
        grid.fit(X, y)
    grid = GridSearchCV(
        fast_clf(max_epochs=6, label_noise=0.2),
        [{"early_stopping": [False]}, {"early_stopping": [True], "n_iter_no_change": [None, 2]}],
        cv=2).fit(X, y)
    assert len(grid.cv_results_["params"]) == 3
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    best = grid.best_estimator_
    assert best.best_epoch_ == best.imp_path_["epoch"][best.best_level_]


def test_cleanlab_finds_the_mislabelled_rows_with_a_ticket():
    # cleanlab's CleanLearning drives any sklearn classifier through
    # cross-validated predict_proba: a real client of the estimator contract.
    cleanlab = pytest.importorskip("cleanlab.classification")
    from sklearn.datasets import load_digits

    from skimp import PrunedNetClassifier, apply_label_noise

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    y_noisy, _ = apply_label_noise(y, 0.3, random_state=0)
    wrong = y_noisy != y
    clf = PrunedNetClassifier(hidden_layer_sizes=(64,), max_epochs=15, max_levels=2,
                              early_stopping=True, random_state=0, n_threads=1)
    issues = cleanlab.CleanLearning(clf, cv_n_folds=3, seed=0).find_label_issues(X, y_noisy)
    flagged = issues["is_label_issue"].to_numpy()
    precision = (flagged & wrong).sum() / flagged.sum()
    recall = (flagged & wrong).sum() / wrong.sum()
    assert precision > 0.8 and recall > 0.8, (precision, recall)
