import inspect
import pickle
import sys
import warnings

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate

from skimp.metrics import (
    brier_score,
    brier_scorer,
    calibration_report,
    classwise_calibration_error,
    classwise_ece_scorer,
    conditional_kl,
    ece_scorer,
    expected_calibration_error,
    maximum_calibration_error,
    mce_scorer,
    overconfidence,
    reliability_curve,
    smooth_calibration_error,
    total_variation,
)
from tests._helpers import fast_clf

# Top-label hand case, 3 classes, 5 bins with inner edges .2 .4 .6 .8:
#   row  conf  pred  true  right  bin
#    0   .70    0     0     yes   (.6, .8]
#    1   .55    0     1     no    (.4, .6]
#    2   .50    2     2     yes   (.4, .6]
#    3   .85    2     2     yes   (.8, 1]
#    4   .34    0     1     no    (.2, .4]
Y3 = np.array([0, 1, 2, 2, 1])
P3 = np.array(
    [
        [0.70, 0.20, 0.10],
        [0.55, 0.35, 0.10],
        [0.20, 0.30, 0.50],
        [0.10, 0.05, 0.85],
        [0.34, 0.33, 0.33],
    ]
)


def random_binary(n=500, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=n)
    # Labels drawn from p**2 make p overconfident, so every gap is nonzero.
    y = (rng.uniform(size=n) < p**2).astype(int)
    return y, p


def test_ece_and_mce_hand_case():
    # bin (.2,.4]: n=1, acc 0,  conf .34           gap .34
    # bin (.4,.6]: n=2, acc .5, conf (.55+.5)/2=.525 gap .025
    # bin (.6,.8]: n=1, acc 1,  conf .70           gap .30
    # bin (.8, 1]: n=1, acc 1,  conf .85           gap .15
    # ECE = (.34 + 2 * .025 + .30 + .15) / 5 = .84 / 5 = .168; MCE = .34
    assert expected_calibration_error(Y3, P3, n_bins=5) == pytest.approx(0.168)
    assert maximum_calibration_error(Y3, P3, n_bins=5) == pytest.approx(0.34)


def test_reliability_curve_hand_case():
    # The bins of test_ece_and_mce_hand_case, one entry per bin, NaN if empty.
    prob_true, prob_pred, counts, edges = reliability_curve(Y3, P3, n_bins=5)
    np.testing.assert_allclose(edges, [0, 0.2, 0.4, 0.6, 0.8, 1])
    np.testing.assert_array_equal(counts, [0, 1, 2, 1, 1])
    np.testing.assert_allclose(prob_true, [np.nan, 0, 0.5, 1, 1])
    np.testing.assert_allclose(prob_pred, [np.nan, 0.34, 0.525, 0.70, 0.85])


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_and_mce_are_the_gaps_of_the_reliability_curve(strategy):
    rng = np.random.default_rng(0)
    y_prob = rng.dirichlet(np.full(4, 0.5), size=400)
    y = rng.integers(0, 4, 400)
    prob_true, prob_pred, counts, edges = reliability_curve(
        y, y_prob, n_bins=8, strategy=strategy
    )
    assert counts.sum() == 400 and edges.shape == (9,)
    gaps = np.abs(prob_true - prob_pred)
    assert np.isnan(gaps).sum() == np.sum(counts == 0)
    ece = expected_calibration_error(y, y_prob, n_bins=8, strategy=strategy)
    mce = maximum_calibration_error(y, y_prob, n_bins=8, strategy=strategy)
    assert ece > 0.05
    assert ece == pytest.approx(np.nansum(counts * gaps) / 400)
    assert mce == pytest.approx(np.nanmax(gaps))
    report = calibration_report(y, y_prob, n_bins=8, strategy=strategy)
    assert (report["ece"], report["mce"]) == (ece, mce)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_curve_is_calibration_curve_of_the_top_label(strategy):
    # sklearn's binary calibration_curve of (right?, confidence) is the
    # top-label curve with its empty bins dropped. 300 rows and 8 bins put no
    # quantile edge on a data point, so percentile and quantile edges agree.
    rng = np.random.default_rng(1)
    y_prob = rng.dirichlet(np.ones(3), size=300)
    y = rng.integers(0, 3, 300)
    right = (y_prob.argmax(axis=1) == y).astype(int)
    expected = calibration_curve(right, y_prob.max(axis=1), n_bins=8, strategy=strategy)
    prob_true, prob_pred, counts, _ = reliability_curve(
        y, y_prob, n_bins=8, strategy=strategy
    )
    full = counts > 0
    np.testing.assert_allclose(prob_true[full], expected[0])
    np.testing.assert_allclose(prob_pred[full], expected[1])


def test_reliability_curve_labels():
    # Strings in sorted order are the columns, as the indices are.
    y_str = np.array(["x", "y", "z"])[Y3]
    for got, want in zip(
        reliability_curve(y_str, P3, n_bins=5), reliability_curve(Y3, P3, n_bins=5)
    ):
        np.testing.assert_array_equal(got, want)
    # Rows 0 and 1 only: class "z" is missing, so labels= is required.
    with pytest.raises(ValueError, match="Pass labels="):
        reliability_curve(y_str[:2], P3[:2], n_bins=5)
    prob_true, _, counts, _ = reliability_curve(
        y_str[:2], P3[:2], n_bins=5, labels=["z", "y", "x"]
    )
    # Row 0 (.70, right) in (.6, .8], row 1 (.55, wrong) in (.4, .6].
    np.testing.assert_array_equal(counts, [0, 0, 1, 1, 0])
    np.testing.assert_allclose(prob_true, [np.nan, np.nan, 0, 1, np.nan])


def test_score_on_inner_edge_goes_to_lower_bin():
    # Confidences .5 (wrong) and .9 (right), 2 bins (0,.5] and (.5,1]:
    # separate bins give ECE (.5 + .1) / 2 = .3; had .5 gone up, one bin with
    # acc .5 and conf .7 would give .2.
    y_prob = [[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]]
    ece = expected_calibration_error([1, 0], y_prob, n_bins=2, labels=[0, 1, 2])
    assert ece == pytest.approx(0.3)


def test_confidence_one_falls_in_last_bin():
    # Row 0: conf 1.0, wrong. Row 1: conf .6, right. Both in (.5, 1]:
    # acc .5, conf .8, ECE = MCE = .3. A separate bin for 1.0 would give
    # MCE 1 and ECE (1 + .4) / 2 = .7.
    y_prob = [[1.0, 0.0], [0.4, 0.6]]
    binning = dict(n_bins=2, labels=[0, 1])
    assert expected_calibration_error([1, 1], y_prob, **binning) == pytest.approx(0.3)
    assert maximum_calibration_error([1, 1], y_prob, **binning) == pytest.approx(0.3)
    assert expected_calibration_error(
        [1, 1], [0.0, 0.6], **binning
    ) == pytest.approx(0.3)


def test_empty_bins_are_skipped():
    # All confidences in (13/15, 14/15]; 14 of the 15 bins are empty.
    # acc 2/3, conf (.9 + .92 + .93) / 3 = .91666.., gap .25
    y_prob = [[0.9, 0.1], [0.92, 0.08], [0.07, 0.93]]
    y_true = [0, 1, 1]
    assert expected_calibration_error(y_true, y_prob) == pytest.approx(0.25)
    assert maximum_calibration_error(y_true, y_prob) == pytest.approx(0.25)


def test_quantile_bins_have_equal_mass():
    # Confidences .55 .60 .65 .95, right/right/wrong/right.
    # Quantile edges for 2 bins: [.55, .625, .95], so two rows per bin:
    #   {.55, .60}: acc 1,  conf .575 gap .425
    #   {.65, .95}: acc .5, conf .80  gap .30
    #   ECE = (.425 + .30) / 2 = .3625, MCE = .425
    # Uniform bins put all four in (.5, 1]: acc .75, conf .6875, ECE .0625.
    y_prob = [[0.55, 0.45], [0.4, 0.6], [0.65, 0.35], [0.05, 0.95]]
    y_true = [0, 1, 1, 1]
    quantile = dict(n_bins=2, strategy="quantile")
    assert expected_calibration_error(y_true, y_prob, **quantile) == pytest.approx(
        0.3625
    )
    assert maximum_calibration_error(y_true, y_prob, **quantile) == pytest.approx(
        0.425
    )
    assert expected_calibration_error(y_true, y_prob, n_bins=2) == pytest.approx(
        0.0625
    )


def test_classwise_hand_case():
    # 2 bins (0,.5] and (.5,1]; ECE_k = sum_b n_b/3 * gap_b
    # class 0: p=.6 .2 .1, y=1 0 0: {.2,.1}: gap .15; {.6}: gap .4  -> .7/3
    # class 1: p=.3 .7 .2, y=0 0 0: {.3,.2}: gap .25; {.7}: gap .7  -> 1.2/3
    # class 2: p=.1 .1 .7, y=0 1 1: {.1,.1}: gap .4;  {.7}: gap .3  -> 1.1/3
    # mean = (.7 + 1.2 + 1.1) / 9 = 1/3
    y_prob = [[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]]
    assert classwise_calibration_error(
        [0, 2, 2], y_prob, n_bins=2, labels=[0, 1, 2]
    ) == pytest.approx(1 / 3)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_binary_classwise_matches_calibration_curve(strategy):
    y, p = random_binary()
    n_bins = 10
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    if strategy == "uniform":
        edges = np.linspace(0, 1, n_bins + 1)
    else:
        edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
    counts = np.histogram(p, bins=edges)[0]
    counts = counts[counts > 0]
    expected = np.sum(counts / len(p) * np.abs(prob_true - prob_pred))
    assert expected > 0.05
    got = classwise_calibration_error(y, p, n_bins=n_bins, strategy=strategy)
    assert got == pytest.approx(expected)


def test_overconfidence_hand_case():
    # mean conf (.70 + .55 + .50 + .85 + .34) / 5 = .588, accuracy 3/5
    assert overconfidence(Y3, P3) == pytest.approx(0.588 - 0.6)
    # wrong rows 1 and 4: (.55 + .34) / 2
    assert overconfidence(Y3, P3, subset="wrong") == pytest.approx(0.445)
    assert overconfidence([0, 2], P3[[0, 2]], subset="wrong", labels=[0, 1, 2]) == 0.0


def test_brier_hand_case_and_binary_relation():
    # [.7 .2 .1] vs class 0: .09 + .04 + .01 = .14
    # [.2 .3 .5] vs class 2: .04 + .09 + .25 = .38   -> mean .26
    assert brier_score([0, 2], P3[[0, 2]], labels=[0, 1, 2]) == pytest.approx(0.26)
    y, p = random_binary()
    assert brier_score(y, p) == pytest.approx(2 * brier_score_loss(y, p))


@pytest.mark.parametrize(
    "metric",
    [
        expected_calibration_error,
        maximum_calibration_error,
        classwise_calibration_error,
        brier_score,
        overconfidence,
    ],
)
def test_binary_1d_and_2d_agree(metric):
    y, p = random_binary()
    two_col = np.column_stack([1 - p, p])
    one_d = metric(y, p)
    assert one_d > 0.01
    assert one_d == pytest.approx(metric(y, two_col))
    assert one_d == pytest.approx(metric(y.astype(bool), p))
    assert one_d == pytest.approx(metric(y.astype(float), p))


def test_string_labels_are_matched_in_sorted_order():
    # Sorted classes: ["ham", "spam"]; the 1-D column is P("spam").
    y, p = random_binary()
    y_str = np.array(["ham", "spam"])[y]
    assert expected_calibration_error(y_str, p) == pytest.approx(
        expected_calibration_error(y, p)
    )
    # Reading the column as P("ham") would flip which rows are right.
    assert expected_calibration_error(y_str, p) != pytest.approx(
        expected_calibration_error(1 - y, p)
    )
    y3 = np.array(["c", "a", "b"])[Y3]  # index 0 -> "c", so columns differ
    labels = ["c", "a", "b"]
    reordered = P3[:, [1, 2, 0]]  # columns now in sorted order a, b, c
    assert expected_calibration_error(y3, reordered, n_bins=5) == pytest.approx(0.168)
    assert expected_calibration_error(
        y3, reordered, n_bins=5, labels=labels
    ) == pytest.approx(0.168)


def test_integer_labels_are_labels_not_column_indices():
    # Every class present: {1, 2, 3} and {-5, 0, 7} are columns 0, 1, 2.
    for classes in ([1, 2, 3], [-5, 0, 7]):
        y = np.array(classes)[Y3]
        assert expected_calibration_error(y, P3, n_bins=5) == pytest.approx(0.168)
        assert expected_calibration_error(
            y, P3, n_bins=5, labels=classes
        ) == pytest.approx(0.168)
    # Binary {-1, 1}: the 1-D column is P(1), the larger label.
    assert brier_score([-1, 1], [0.2, 0.6]) == pytest.approx(0.2)
    assert brier_score([-1, 1], [0.2, 0.6]) == brier_score([0, 1], [0.2, 0.6])


ALL_METRICS = [
    expected_calibration_error,
    maximum_calibration_error,
    classwise_calibration_error,
    overconfidence,
    brier_score,
    calibration_report,
    reliability_curve,
]


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_missing_class_without_labels_raises(metric):
    # The case: classes [1, 2, 3], but y_true holds only 1 and 2.
    # Read as column indices (the old rule), the labels land one column off.
    y_prob = P3[[0, 2]]
    with pytest.raises(ValueError, match="2 distinct labels.*3 columns.*Pass labels="):
        metric([1, 2], y_prob)
    # Even 0-based integers are not guessed to be column indices.
    with pytest.raises(ValueError, match="Pass labels="):
        metric([0, 1], y_prob)
    with pytest.raises(ValueError, match="Pass labels="):
        metric(["b", "c"], y_prob)
    metric([1, 2], y_prob, labels=[1, 2, 3])  # the fix the message names


def test_labels_match_the_columns_when_a_class_is_missing():
    # Rows of P3 for true classes 1 and 2 of [1, 2, 3] sit in columns 0, 1:
    # row 0 predicts column 0 (.70, right), row 2 column 2 (.50, wrong).
    y_prob = P3[[0, 2]]
    ece = expected_calibration_error([1, 2], y_prob, n_bins=5, labels=[1, 2, 3])
    assert ece == pytest.approx((0.3 + 0.5) / 2)
    # The index reading would call row 0 wrong and row 2 right.
    ece_as_indices = expected_calibration_error(
        [1, 2], y_prob, n_bins=5, labels=[0, 1, 2]
    )
    assert ece_as_indices == pytest.approx((0.7 + 0.5) / 2)
    assert brier_score(["b"], P3[[1]], labels=["a", "b", "c"]) == pytest.approx(
        0.3025 + 0.4225 + 0.01
    )


def test_calibration_report():
    report = calibration_report(Y3, P3, n_bins=5)
    # Metrics only: every value is a float, none of them a setting.
    assert set(report) == {
        "ece", "mce", "classwise_ece", "brier", "nll", "accuracy",
        "mean_confidence", "overconfidence",
    }
    assert report["ece"] == pytest.approx(0.168)
    assert report["mce"] == pytest.approx(0.34)
    assert report["accuracy"] == pytest.approx(0.6)
    assert report["mean_confidence"] == pytest.approx(0.588)
    assert report["overconfidence"] == pytest.approx(0.588 - 0.6)
    assert report["nll"] == pytest.approx(log_loss(Y3, P3))
    assert report["classwise_ece"] == pytest.approx(
        classwise_calibration_error(Y3, P3, n_bins=5)
    )
    # brier: rows .14 | .3025+.4225+.01=.735 | .38 | .01+.0025+.0225=.035
    #        | .1156+.4489+.1089=.6734   -> mean 1.9634 / 5
    assert report["brier"] == pytest.approx(1.9634 / 5)
    assert all(type(value) is float for value in report.values())


def test_report_on_string_labels_and_quantile():
    y, p = random_binary()
    y_str = np.array(["ham", "spam"])[y]
    report = calibration_report(y_str, p, n_bins=8, strategy="quantile")
    assert report["nll"] == pytest.approx(log_loss(y, p))
    assert report["ece"] == pytest.approx(
        expected_calibration_error(y, p, n_bins=8, strategy="quantile")
    )


def test_conditional_kl():
    p = np.array([[0.5, 0.5], [1.0, 0.0]])
    q = np.array([[0.25, 0.75], [0.5, 0.5]])
    assert conditional_kl(p, p) == pytest.approx(0.0, abs=1e-12)
    # row 0: .5 ln(.5/.25) + .5 ln(.5/.75) = .5 ln(4/3); row 1: ln 2 (0 log 0 = 0)
    assert conditional_kl(p, q) == pytest.approx((0.5 * np.log(4 / 3) + np.log(2)) / 2)
    # A zero where p_true is positive is clipped to eps, not infinite.
    assert conditional_kl([[1.0, 0.0]], [[0.0, 1.0]], eps=1e-6) == pytest.approx(
        -np.log(1e-6)
    )


def test_total_variation():
    p = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    q = np.array([[0.25, 0.5, 0.25], [0.0, 0.0, 1.0]])
    # row 0: .5 * (.25 + 0 + .25) = .25; row 1: .5 * (1 + 0 + 1) = 1
    assert total_variation(p, q) == pytest.approx(0.625)
    assert total_variation(p, p) == 0.0


def test_float32_softmax_rows_are_accepted():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 10)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert 0 <= expected_calibration_error(rng.integers(0, 10, 200), probs) <= 1


BAD_INPUTS = [
    ([0, 1, 0], [[0.5, 0.5], [0.5, 0.5]], "inconsistent numbers of samples"),
    ([0, 1], [[1.2, -0.2], [0.5, 0.5]], r"\[0, 1\]"),
    ([0, 1], [0.5, 1.5], r"\[0, 1\]"),
    ([0, 1], [[0.6, 0.6], [0.5, 0.5]], "sum to 1"),
    ([0, 1], [[0.5, 0.5001], [0.5, 0.5]], "sum to 1"),
    ([0, 1], [[np.nan, 0.5], [0.5, 0.5]], "NaN"),
    ([1, 1], [[0.5, 0.5], [0.5, 0.5]], "1 distinct labels.*Pass labels="),
    ([0, 1, 2], [0.5, 0.5, 0.5], "3 distinct labels.*2 columns"),
    (["a", "a"], [[0.5, 0.5], [0.5, 0.5]], "1 distinct labels"),
    ([0.0, np.nan], [[0.5, 0.5], [0.5, 0.5]], "y_true contains NaN"),
    (np.array([1, "a"], dtype=object), [0.5, 0.5], "mixes label types"),
    ([], [], "empty"),
]


@pytest.mark.parametrize("metric", ALL_METRICS)
@pytest.mark.parametrize("y_true, y_prob, match", BAD_INPUTS)
def test_bad_inputs_raise(metric, y_true, y_prob, match):
    with pytest.raises(ValueError, match=match):
        metric(y_true, y_prob)


def test_labels_keyword_errors():
    with pytest.raises(ValueError, match=r"\['z'\] that are not in labels"):
        brier_score(["a", "z"], [0.2, 0.7], labels=["a", "b"])
    with pytest.raises(ValueError, match="labels holds 3 distinct labels"):
        brier_score(["a", "b"], [0.2, 0.7], labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="not in labels"):
        brier_score([1, 2], [0.2, 0.7], labels=["a", "b"])


@pytest.mark.parametrize(
    "metric",
    [
        expected_calibration_error,
        maximum_calibration_error,
        classwise_calibration_error,
        calibration_report,
        reliability_curve,
    ],
)
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_bins=0), "n_bins"),
        (dict(n_bins=2.5), "n_bins"),
        (dict(n_bins=True), "n_bins"),
        (dict(strategy="equal"), "strategy"),
    ],
)
def test_bad_binning_raises(metric, kwargs, match):
    with pytest.raises(ValueError, match=match):
        metric(Y3, P3, **kwargs)


def test_bad_subset_raises():
    with pytest.raises(ValueError, match="subset"):
        overconfidence(Y3, P3, subset="right")


@pytest.mark.parametrize("distance", [conditional_kl, total_variation])
@pytest.mark.parametrize(
    "p_true, p_pred, match",
    [
        ([[0.5, 0.5]], [[0.2, 0.3, 0.5]], "same shape"),
        ([0.5, 0.5], [0.5, 0.5], "2-D"),
        ([[0.5, 0.6]], [[0.5, 0.5]], "sum to 1"),
        ([[0.5, 0.5]], [[np.nan, 0.5]], "NaN"),
        ([[1.5, -0.5]], [[0.5, 0.5]], r"\[0, 1\]"),
    ],
)
def test_bad_distributions_raise(distance, p_true, p_pred, match):
    with pytest.raises(ValueError, match=match):
        distance(p_true, p_pred)


SCORERS = [
    (ece_scorer, expected_calibration_error),
    (mce_scorer, maximum_calibration_error),
    (classwise_ece_scorer, classwise_calibration_error),
    (brier_scorer, brier_score),
]


def _cross_validate_by_hand(X, y):
    cv = list(StratifiedKFold(3, shuffle=True, random_state=0).split(X, y))
    scoring = {metric.__name__: scorer for scorer, metric in SCORERS}
    result = cross_validate(
        LogisticRegression(), X, y, cv=cv, scoring=scoring, return_estimator=True
    )
    for fold, (estimator, (_, test)) in enumerate(zip(result["estimator"], cv)):
        proba = estimator.predict_proba(X[test])
        for _, metric in SCORERS:
            expected = metric(y[test], proba)
            assert expected > 0
            assert result[f"test_{metric.__name__}"][fold] == pytest.approx(-expected)
    return result, cv


def test_scorers_binary_string_labels():
    X, y = make_classification(300, flip_y=0.2, random_state=0)
    y = np.array(["spam", "ham"])[y]  # classes_ is ["ham", "spam"]
    result, cv = _cross_validate_by_hand(X, y)
    # The scorer sees only P(classes_[1]); using P("ham") instead would differ.
    estimator, (_, test) = result["estimator"][0], cv[0]
    p_ham = estimator.predict_proba(X[test])[:, 0]
    assert result["test_expected_calibration_error"][0] != pytest.approx(
        -expected_calibration_error(y[test], p_ham)
    )


def test_scorers_multiclass():
    X, y = make_classification(
        300, n_classes=3, n_informative=4, flip_y=0.1, random_state=0
    )
    _cross_validate_by_hand(X, y)
    _cross_validate_by_hand(X, np.array(["x", "y", "z"])[y])


def test_scorer_in_grid_search():
    X, y = make_classification(300, flip_y=0.2, random_state=0)
    search = GridSearchCV(
        LogisticRegression(), {"C": [1e-3, 1.0]}, scoring=brier_scorer, cv=3
    ).fit(X, y)
    assert -1 < search.best_score_ < 0


# -- The scorers match labels to columns through estimator.classes_ ----------

LABEL_SETS = {
    "1_to_10": np.arange(1, 11),
    "minus_one_one": np.array([-1, 1]),
    "strings": np.array(["cat", "dog", "emu"]),
}
SCORING = {
    "ece": ece_scorer,
    "mce": mce_scorer,
    "classwise_ece": classwise_ece_scorer,
    "brier": brier_scorer,
    "accuracy": "accuracy",
}
METRICS = {
    "ece": expected_calibration_error,
    "mce": maximum_calibration_error,
    "classwise_ece": classwise_calibration_error,
    "brier": brier_score,
}


def _labelled(label_set, n=300):
    classes = LABEL_SETS[label_set]
    X, y = make_classification(
        n, n_informative=10, n_classes=len(classes), n_clusters_per_class=1,
        flip_y=0.1, random_state=0,
    )
    return X, classes[y]


def _assert_scores_are_metrics_with_classes(result, X, y):
    for fold, estimator in enumerate(result["estimator"]):
        test = result["indices"]["test"][fold]
        proba = estimator.predict_proba(X[test])
        for key, metric in METRICS.items():
            score = result[f"test_{key}"][fold]
            assert np.isfinite(score) and score <= 0
            assert score == pytest.approx(
                -metric(y[test], proba, labels=estimator.classes_)
            )


@pytest.mark.parametrize(
    "make_estimator",
    [lambda: LogisticRegression(max_iter=1000), lambda: fast_clf(max_levels=1)],
    ids=["logistic_regression", "pruned_net"],
)
@pytest.mark.parametrize("label_set", LABEL_SETS)
def test_scorers_work_on_any_label_set(make_estimator, label_set):
    # {1..10} and {-1, 1} used to give NaN scores: they were read as column
    # indices, and 10 and -1 are no column.
    X, y = _labelled(label_set)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Short fits choose their last level, which says more might help.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        result = cross_validate(
            make_estimator(), X, y, cv=3, scoring=SCORING, error_score="raise",
            return_estimator=True, return_indices=True,
        )
    assert np.all(result["test_accuracy"] > 1 / len(LABEL_SETS[label_set]))
    _assert_scores_are_metrics_with_classes(result, X, y)


def test_scorers_on_a_test_fold_that_misses_a_class():
    X, y = _labelled("strings")
    # The model learns all three classes; the test rows hold two of them.
    test = np.flatnonzero(y != "emu")[:60]
    train = np.setdiff1d(np.arange(len(y)), test)
    result = cross_validate(
        LogisticRegression(max_iter=1000), X, y, cv=[(train, test)],
        scoring=SCORING, error_score="raise", return_estimator=True,
        return_indices=True,
    )
    assert set(y[test]) == {"cat", "dog"}
    _assert_scores_are_metrics_with_classes(result, X, y)


def test_scorers_in_grid_search_scoring_dict():
    X, y = _labelled("1_to_10")
    search = GridSearchCV(
        LogisticRegression(max_iter=1000), {"C": [0.01, 1.0]}, cv=3,
        scoring={"ece": ece_scorer, "accuracy": "accuracy"}, refit="ece",
        error_score="raise",
    ).fit(X, y)
    mean_ece = search.cv_results_["mean_test_ece"]
    assert np.isfinite(mean_ece).all() and np.all(mean_ece < 0)
    assert search.best_score_ == mean_ece.max()
    # The fitted search has classes_, so the scorer takes it directly.
    assert ece_scorer(search, X, y) == -expected_calibration_error(
        y, search.predict_proba(X), labels=search.classes_
    )


def test_scorer_needs_a_classifier_and_pickles():
    X, y = _labelled("minus_one_one")
    with pytest.raises(ValueError, match="LinearRegression has no classes_"):
        ece_scorer(LinearRegression().fit(X, y), X, y)
    clf = LogisticRegression().fit(X, y)
    for scorer in (ece_scorer, brier_scorer):
        # joblib pickles the scorer for n_jobs > 1.
        assert pickle.loads(pickle.dumps(scorer))(clf, X, y) == scorer(clf, X, y)
    assert "labels=estimator.classes_" in repr(ece_scorer)


# -- Cross-checks against independent implementations -----------------------
#
# torchmetrics' MulticlassCalibrationError is the top-label ECE of Guo et
# al. (2017) over n_bins equal-width bins, computed in float32. Its bins are
# left-closed, [lo, hi) (torch.bucketize(..., right=True)), with a bin of its
# own for a confidence of exactly 1.0; skimp's are right-closed, (lo, hi],
# like sklearn's calibration_curve, with 1.0 in the last bin. So they agree
# on every input whose confidences avoid the edges and 1.0, and on inputs
# that hit them once those confidences move one float32 step down, into the
# bin skimp puts them in.


def torchmetrics_ece(y_idx, y_prob, n_bins):
    """torchmetrics' ECE of float32 probabilities and class indices."""
    import torch
    from torchmetrics.classification import MulticlassCalibrationError

    y_prob = np.asarray(y_prob, dtype=np.float32)
    metric = MulticlassCalibrationError(num_classes=y_prob.shape[1], n_bins=n_bins, norm="l1")
    return float(metric(torch.from_numpy(y_prob), torch.as_tensor(np.asarray(y_idx))))


def float32_edges(n_bins):
    """torchmetrics' bin edges, exactly as it computes them."""
    import torch

    return torch.linspace(0, 1, n_bins + 1, dtype=torch.float32).numpy()


def one_step_down(y_prob, rows):
    """``y_prob`` in float32 with the top probability of ``rows`` moved one
    float32 step towards 0."""
    y_prob = np.array(y_prob, dtype=np.float32)
    cols = y_prob.argmax(axis=1)
    for i in rows:
        y_prob[i, cols[i]] = np.nextafter(y_prob[i, cols[i]], np.float32(0))
    return y_prob


def miscalibrated_sample(n, n_classes, seed):
    """float32 probabilities, and labels drawn from a flatter distribution,
    so the predictions are overconfident and every bin has a gap."""
    rng = np.random.default_rng(seed)
    y_prob = rng.dirichlet(np.full(n_classes, 0.7), size=n).astype(np.float32)
    flatter = (y_prob + 0.5) / (1 + 0.5 * n_classes)
    y = np.array([rng.choice(n_classes, p=row / row.sum()) for row in flatter])
    return y, y_prob


@pytest.mark.parametrize("n_classes", [2, 3, 10])
@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_ece_equals_torchmetrics_on_random_inputs(n_classes, n_bins):
    y, y_prob = miscalibrated_sample(3000, n_classes, seed=n_classes * 100 + n_bins)
    confidence = y_prob.max(axis=1)
    # The premise: no confidence on an edge or at 1.0 (that case is below).
    assert not np.isin(confidence, float32_edges(n_bins)).any()
    ours = expected_calibration_error(y, y_prob.astype(np.float64), n_bins=n_bins,
                                      labels=np.arange(n_classes))
    assert ours > 0.02
    assert ours == pytest.approx(torchmetrics_ece(y, y_prob, n_bins), abs=1e-6)


def test_binary_1d_ece_equals_torchmetrics_on_two_columns():
    y, y_prob = miscalibrated_sample(2000, 2, seed=7)
    p = y_prob[:, 1].astype(np.float64)
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(
        torchmetrics_ece(y, np.column_stack([1 - p, p]), 10), abs=1e-6)


def test_ece_on_an_inner_edge_follows_calibration_curve_not_torchmetrics():
    # 4 bins, inner edges .25 .5 .75 (exact in float32 and float64).
    #   row  conf  right  skimp bin     torchmetrics bin
    #    0   .75   yes    (.5, .75]     [.75, 1)
    #    1   .60   yes    (.5, .75]     [.5, .75)
    #    2   .90   no     (.75, 1]      [.75, 1)
    y = np.array([0, 0, 1])
    y_prob = np.array([[0.75, 0.15, 0.10], [0.60, 0.30, 0.10], [0.90, 0.05, 0.05]])
    # skimp: 2/3 * |1 - .675| + 1/3 * .9 = 31/60
    ours = expected_calibration_error(y, y_prob, n_bins=4, labels=[0, 1, 2])
    assert ours == pytest.approx(31 / 60)
    # torchmetrics: 1/3 * |1 - .6| + 2/3 * |.5 - .825| = 0.35
    assert torchmetrics_ece(y, y_prob, 4) == pytest.approx(0.35, abs=1e-6)
    # One float32 step below the edge, torchmetrics bins row 0 as skimp does.
    assert torchmetrics_ece(y, one_step_down(y_prob, [0]), 4) == pytest.approx(ours, abs=1e-6)
    # And skimp's bins are sklearn's: calibration_curve of (right, confidence).
    prob_true, _, counts, _ = reliability_curve(y, y_prob, n_bins=4, labels=[0, 1, 2])
    expected, _ = calibration_curve([1, 1, 0], [0.75, 0.6, 0.9], n_bins=4)
    np.testing.assert_allclose(prob_true[counts > 0], expected)


def test_ece_at_confidence_one_follows_calibration_curve_not_torchmetrics():
    import torch

    # A saturated float32 softmax gives a confidence of exactly 1.0.
    saturated = torch.softmax(torch.tensor([[30.0, 0.0, 0.0]]), dim=1).numpy()
    assert saturated[0, 0] == 1.0
    y = np.array([1, 0])  # row 0 (confidence 1.0) is wrong, row 1 (.95) right
    y_prob = np.vstack([saturated, [[0.95, 0.05, 0.0]]]).astype(np.float64)
    # skimp: one bin (.9, 1]: |.5 - .975| = .475
    ours = expected_calibration_error(y, y_prob, n_bins=10, labels=[0, 1, 2])
    assert ours == pytest.approx(0.475, abs=1e-6)
    # torchmetrics: bin {1.0}: 1/2 * 1, bin [.9, 1): 1/2 * .05 -> .525
    assert torchmetrics_ece(y, y_prob, 10) == pytest.approx(0.525, abs=1e-6)
    assert torchmetrics_ece(y, one_step_down(y_prob, [0]), 10) == pytest.approx(ours, abs=1e-6)


def test_ece_with_tied_top_probabilities_equals_torchmetrics():
    # Both take the first of tied columns as the prediction. 7 bins keep the
    # tied confidences .4, .5 and .35 off the edges (k / 7).
    y_prob = np.array([[0.4, 0.4, 0.2], [0.5, 0.5, 0.0], [0.35, 0.35, 0.3],
                       [0.2, 0.4, 0.4], [0.6, 0.2, 0.2]] * 3)
    y = np.array([1, 0, 0, 1, 2] * 3)
    assert not np.isin(y_prob.max(axis=1).astype(np.float32), float32_edges(7)).any()
    # The first tied column is the prediction: rows 0 and 3 predict class 0
    # and 1, so rows 0 and 4 are wrong.
    assert calibration_report(y, y_prob, n_bins=7)["accuracy"] == pytest.approx(0.6)
    assert expected_calibration_error(y, y_prob, n_bins=7) == pytest.approx(
        torchmetrics_ece(y, y_prob, 7), abs=1e-6)


def test_ece_when_y_true_holds_one_class_equals_torchmetrics():
    _, y_prob = miscalibrated_sample(500, 4, seed=3)
    y = np.full(500, 2)
    ours = expected_calibration_error(y, y_prob.astype(np.float64), n_bins=10,
                                      labels=[0, 1, 2, 3])
    assert ours == pytest.approx(torchmetrics_ece(y, y_prob, 10), abs=1e-6)


# sklearn >= 1.7 scores multiclass probabilities; skimp's Brier score is its
# unscaled form, sum over classes, for every number of classes (sklearn's
# default halves binary scores only).
needs_multiclass_brier = pytest.mark.skipif(
    "scale_by_half" not in inspect.signature(brier_score_loss).parameters,
    reason="multiclass brier_score_loss needs scikit-learn >= 1.7")


@needs_multiclass_brier
@pytest.mark.parametrize("n_classes", [3, 10])
def test_brier_equals_sklearn_multiclass(n_classes):
    y, y_prob = miscalibrated_sample(1000, n_classes, seed=n_classes)
    y_prob = y_prob.astype(np.float64)
    y_prob /= y_prob.sum(axis=1, keepdims=True)
    ours = brier_score(y, y_prob)
    assert ours == pytest.approx(brier_score_loss(y, y_prob), rel=1e-12)
    assert ours == pytest.approx(brier_score_loss(y, y_prob, scale_by_half=False), rel=1e-12)


@needs_multiclass_brier
def test_brier_is_sklearn_unscaled_for_binary():
    y, p = random_binary()
    two_columns = np.column_stack([1 - p, p])
    ours = brier_score(y, p)
    assert ours == pytest.approx(brier_score_loss(y, p, scale_by_half=False), rel=1e-12)
    assert ours == pytest.approx(brier_score_loss(y, two_columns, scale_by_half=False),
                                 rel=1e-12)
    assert ours == pytest.approx(2 * brier_score_loss(y, p), rel=1e-12)


@needs_multiclass_brier
def test_brier_equals_sklearn_on_string_labels_and_one_present_class():
    labels = ["ant", "bee", "cat"]
    y_prob = np.array([[0.2, 0.5, 0.3], [0.1, 0.1, 0.8], [1.0, 0.0, 0.0], [0.4, 0.4, 0.2]])
    y = np.array(["bee", "cat", "ant", "ant"])
    assert brier_score(y, y_prob) == pytest.approx(brier_score_loss(y, y_prob), rel=1e-12)
    only_bee = np.array(["bee"] * 4)
    assert brier_score(only_bee, y_prob, labels=labels) == pytest.approx(
        brier_score_loss(only_bee, y_prob, labels=labels), rel=1e-12)


# -- Smooth ECE (relplot) ---------------------------------------------------


def test_smooth_ece_is_relplot_on_the_top_label():
    relplot = pytest.importorskip("relplot")
    y, y_prob = miscalibrated_sample(2000, 5, seed=11)
    y_prob = y_prob.astype(np.float64)
    y_prob /= y_prob.sum(axis=1, keepdims=True)
    right = (y_prob.argmax(axis=1) == y).astype(float)
    expected = relplot.smECE(y_prob.max(axis=1), right)
    assert smooth_calibration_error(y, y_prob) == pytest.approx(expected, rel=1e-12)
    assert calibration_report(y, y_prob, smooth=True)["smooth_ece"] == pytest.approx(
        expected, rel=1e-12)


def test_smooth_ece_tells_calibrated_from_overconfident():
    pytest.importorskip("relplot")
    rng = np.random.default_rng(0)
    y_prob = rng.dirichlet(np.full(4, 0.5), size=4000)
    calibrated = np.array([rng.choice(4, p=row) for row in y_prob])
    y_over, p_over = miscalibrated_sample(4000, 4, seed=0)
    low = smooth_calibration_error(calibrated, y_prob)
    high = smooth_calibration_error(y_over, p_over.astype(np.float64))
    assert low < 0.04 < 0.15 < high
    # With no bins to choose it still lands near the binned ECE.
    assert high == pytest.approx(
        expected_calibration_error(y_over, p_over.astype(np.float64)), abs=0.03)
    # Always right at confidence 1: perfectly calibrated.
    assert smooth_calibration_error([0, 1, 1], [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]) == (
        pytest.approx(0.0, abs=1e-9))


def test_smooth_ece_labels_like_the_other_metrics():
    pytest.importorskip("relplot")
    y_prob = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1]])
    value = smooth_calibration_error(["b", "c", "c"], y_prob, labels=["b", "c", "d"])
    assert value == pytest.approx(smooth_calibration_error([0, 1, 1], y_prob, labels=[0, 1, 2]))
    with pytest.raises(ValueError, match="labels="):
        smooth_calibration_error(["b", "c", "c"], y_prob)


def test_smooth_ece_without_relplot_names_the_extra(monkeypatch):
    # None in sys.modules makes `import relplot` raise ImportError.
    monkeypatch.setitem(sys.modules, "relplot", None)
    with pytest.raises(ImportError, match=r'pip install "skimp\[smooth\]"'):
        smooth_calibration_error(Y3, P3)
    with pytest.raises(ImportError, match=r"skimp\[smooth\]"):
        calibration_report(Y3, P3, smooth=True)
    # The default report needs no relplot, and has the same keys either way.
    without = calibration_report(Y3, P3)
    monkeypatch.delitem(sys.modules, "relplot")
    pytest.importorskip("relplot")
    assert set(calibration_report(Y3, P3)) == set(without)
    assert set(calibration_report(Y3, P3, smooth=True)) == set(without) | {"smooth_ece"}
