"""ReliabilityDisplay, checked through the artists it draws."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

from skimp.metrics import expected_calibration_error, reliability_curve  # noqa: E402
from skimp.plotting import ReliabilityDisplay  # noqa: E402


def _random_proba(n, k, seed=0):
    rng = np.random.RandomState(seed)
    logits = rng.normal(scale=2.0, size=(n, k))
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in p])
    # Sharpen so that predictions are overconfident.
    q = p ** 2
    return y, q / q.sum(axis=1, keepdims=True)


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# -- ReliabilityDisplay ---------------------------------------------------


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [5, 15])
def test_reliability_bars_match_bins(strategy, n_bins):
    y, p = _random_proba(300, 4)
    disp = ReliabilityDisplay.from_predictions(
        y, p, n_bins=n_bins, strategy=strategy, name="MyNet")
    full = disp.bin_counts > 0
    assert disp.prob_true.shape == (n_bins,)
    assert disp.bin_edges.shape == (n_bins + 1,)
    assert disp.bin_counts.sum() == 300
    assert np.isnan(disp.prob_true[~full]).all()

    # Per-bin values recomputed by hand.
    conf = p.max(axis=1)
    hit = p.argmax(axis=1) == y
    ids = np.searchsorted(disp.bin_edges[1:-1], conf)
    for b in np.flatnonzero(full):
        assert disp.bin_counts[b] == np.sum(ids == b)
        assert disp.prob_true[b] == pytest.approx(hit[ids == b].mean())
        assert disp.prob_pred[b] == pytest.approx(conf[ids == b].mean())

    # One bar per non-empty bin, heights are the accuracies.
    assert len(disp.bars_) == full.sum()
    assert len(disp.gap_bars_) == full.sum()
    heights = [r.get_height() for r in disp.bars_]
    np.testing.assert_allclose(heights, disp.prob_true[full])
    np.testing.assert_allclose([r.get_x() for r in disp.bars_],
                               disp.bin_edges[:-1][full])
    # Gap bars run from accuracy to mean confidence.
    np.testing.assert_allclose([r.get_y() for r in disp.gap_bars_],
                               disp.prob_true[full])
    np.testing.assert_allclose(
        [r.get_y() + r.get_height() for r in disp.gap_bars_],
        disp.prob_pred[full])

    # ECE equals the metric and agrees with the bins.
    ece = expected_calibration_error(y, p, n_bins=n_bins, strategy=strategy)
    assert disp.ece == ece
    gaps = np.abs(disp.prob_true[full] - disp.prob_pred[full])
    assert disp.bin_counts[full] @ gaps / 300 == pytest.approx(ece)
    assert f"MyNet (ECE = {ece:.3f})" in _legend_texts(disp.ax_)


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_reliability_display_shows_reliability_curve(strategy):
    # Binned in one place: the display stores reliability_curve's arrays, and
    # its ECE is expected_calibration_error's, bit for bit.
    y, p = _random_proba(300, 4, seed=2)
    labels = np.array([10, 20, 30, 40])
    for y_true, kwargs in ((y, {}), (labels[y], {"labels": labels})):
        disp = ReliabilityDisplay.from_predictions(
            y_true, p, n_bins=7, strategy=strategy, **kwargs)
        curve = reliability_curve(y_true, p, n_bins=7, strategy=strategy,
                                  **kwargs)
        for got, want in zip((disp.prob_true, disp.prob_pred, disp.bin_counts,
                              disp.bin_edges), curve):
            np.testing.assert_array_equal(got, want)
        assert disp.ece == expected_calibration_error(
            y_true, p, n_bins=7, strategy=strategy, **kwargs)
    # A class missing from y_true needs labels=, as in the metrics.
    with pytest.raises(ValueError, match="Pass labels="):
        ReliabilityDisplay.from_predictions(labels[y][y != 3], p[y != 3])


def test_reliability_name():
    y, p = _random_proba(100, 3)
    prob_true, prob_pred, counts, edges = reliability_curve(y, p, n_bins=5)
    disp = ReliabilityDisplay(prob_true, prob_pred, counts, edges, 0.1,
                              name="net").plot()
    assert disp.name == "net"
    assert _legend_texts(disp.ax_)[0] == "net (ECE = 0.100)"


def test_reliability_artists_and_histogram():
    y, p = _random_proba(200, 3, seed=1)
    disp = ReliabilityDisplay.from_predictions(y, p, n_bins=10)
    assert disp.figure_ is disp.ax_.figure
    assert disp.hist_ax_ is not None and disp.hist_ax_ is not disp.ax_
    assert disp.hist_ax_.figure is disp.figure_
    full = disp.bin_counts > 0
    np.testing.assert_allclose([r.get_height() for r in disp.hist_bars_],
                               disp.bin_counts[full] / 200)
    assert disp.gap_bars_.patches[0].get_hatch() == "//"
    np.testing.assert_allclose(disp.line_.get_xdata(), [0, 1])
    np.testing.assert_allclose(disp.line_.get_ydata(), [0, 1])
    texts = _legend_texts(disp.ax_)
    assert texts[0] == f"ECE = {disp.ece:.3f}"  # no name given
    assert texts[1:] == ["Gap", "Perfectly calibrated"]
    assert disp.ax_.get_ylabel() == "Accuracy"
    assert disp.hist_ax_.get_xlabel() == "Confidence"


def test_reliability_without_hist_or_ref_line():
    y, p = _random_proba(100, 3)
    disp = ReliabilityDisplay.from_predictions(y, p, hist=False, ref_line=False,
                                               bar_kwargs={"color": "green"})
    assert disp.hist_ax_ is None and disp.line_ is None
    assert len(disp.figure_.axes) == 1
    assert disp.bars_.patches[0].get_facecolor()[:3] == pytest.approx(
        matplotlib.colors.to_rgb("green"))


def test_reliability_binary_1d_prob():
    rng = np.random.RandomState(0)
    p1 = rng.uniform(size=200)
    y = (rng.uniform(size=200) < p1).astype(int)
    one = ReliabilityDisplay.from_predictions(y, p1, n_bins=8)
    two = ReliabilityDisplay.from_predictions(
        y, np.column_stack([1 - p1, p1]), n_bins=8)
    np.testing.assert_array_equal(one.bin_counts, two.bin_counts)
    np.testing.assert_allclose(one.prob_true, two.prob_true)
    np.testing.assert_allclose(one.prob_pred, two.prob_pred)
    assert one.ece == expected_calibration_error(y, p1, n_bins=8)
    # Top-label confidence of a binary problem is at least 0.5.
    assert one.bin_counts[:4].sum() == 0


def test_reliability_string_labels():
    y = np.array(["cat", "dog", "dog", "cat", "dog"])
    p = np.array([0.25, 0.9, 0.45, 0.35, 0.7])  # P(dog)
    disp = ReliabilityDisplay.from_predictions(y, p, n_bins=5)
    assert disp.ece == expected_calibration_error(y, p, n_bins=5)
    # Confidences .75 .9 .55 .65 .7; wrong only for the third row.
    assert disp.bin_counts.tolist() == [0, 0, 1, 3, 1]
    np.testing.assert_allclose(disp.prob_true[2:], [0.0, 1.0, 1.0])


def test_reliability_user_ax():
    y, p = _random_proba(100, 3)
    fig, (ax1, ax2) = plt.subplots(1, 2)
    disp = ReliabilityDisplay.from_predictions(y, p, ax=ax2, name="net")
    assert disp.ax_ is ax2
    assert disp.figure_ is fig
    assert disp.hist_ax_.figure is fig
    assert len(ax2.patches) > 0 and len(ax1.patches) == 0
    # plot() on a stored display draws anew on another axes.
    _, ax3 = plt.subplots()
    disp.plot(ax=ax3, hist=False)
    assert disp.ax_ is ax3
    assert _legend_texts(ax3)[0] == f"net (ECE = {disp.ece:.3f})"


def test_reliability_from_estimator_equals_from_predictions(fitted):
    clf, X, y = fitted
    est = ReliabilityDisplay.from_estimator(clf, X, y, n_bins=10)
    pred = ReliabilityDisplay.from_predictions(y, clf.predict_proba(X), n_bins=10)
    np.testing.assert_array_equal(est.bin_counts, pred.bin_counts)
    np.testing.assert_allclose(est.prob_true, pred.prob_true)
    np.testing.assert_allclose(est.prob_pred, pred.prob_pred)
    np.testing.assert_array_equal(est.bin_edges, pred.bin_edges)
    assert est.ece == pred.ece
    assert est.name == "PrunedNetClassifier"
    assert _legend_texts(est.ax_)[0] == (
        f"PrunedNetClassifier (ECE = {est.ece:.3f})")


def test_reliability_from_estimator_maps_labels_through_classes():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(120, 3))
    y_idx = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    y = np.array([10, 20, 30])[y_idx]
    clf = LogisticRegression().fit(X, y)
    disp = ReliabilityDisplay.from_estimator(clf, X, y, n_bins=5, name="lr")
    ece = expected_calibration_error(y, clf.predict_proba(X), n_bins=5,
                                     labels=clf.classes_)
    assert disp.ece == ece
    # Rows of one class only still map through classes_.
    sub = y == 20
    disp = ReliabilityDisplay.from_estimator(clf, X[sub], y[sub], n_bins=5)
    acc = np.mean(clf.predict(X[sub]) == 20)
    counts = disp.bin_counts
    full = counts > 0
    assert counts[full] @ disp.prob_true[full] / counts.sum() == pytest.approx(acc)


def test_reliability_invalid_input():
    y, p = _random_proba(20, 3)
    with pytest.raises(ValueError, match="n_bins"):
        ReliabilityDisplay.from_predictions(y, p, n_bins=0)
    with pytest.raises(ValueError, match="strategy"):
        ReliabilityDisplay.from_predictions(y, p, strategy="bogus")
    with pytest.raises(ValueError, match="sum to 1"):
        ReliabilityDisplay.from_predictions(y, p / 2)
    with pytest.raises(TypeError, match="predict_proba"):
        from sklearn.svm import LinearSVC
        X = np.random.RandomState(0).normal(size=(20, 2))
        ReliabilityDisplay.from_estimator(
            LinearSVC().fit(X, y), X, y)


@pytest.mark.parametrize("underconfident", [False, True])
def test_the_legend_covers_no_bar(underconfident):
    # An underconfident model: every bin more accurate than its confidence,
    # the low-confidence ones too, so the bars fill the upper left.
    rng = np.random.RandomState(0)
    n, k = 4000, 3
    conf = rng.uniform(1 / k, 1, n)
    p_right = np.minimum(1, conf + 0.35) if underconfident else conf
    right = rng.rand(n) < p_right
    y_true = rng.randint(0, k, n)
    pred = np.where(right, y_true, (y_true + 1) % k)
    proba = np.zeros((n, k))
    proba[np.arange(n), pred] = conf
    for j in range(k):
        other = pred != j
        proba[other, j] = (1 - conf[other]) / (k - 1)
    disp = ReliabilityDisplay.from_predictions(y_true, proba, n_bins=10)
    fig = disp.figure_
    fig.canvas.draw()
    box = disp.ax_.get_legend().get_window_extent()
    for bar in [*disp.bars_, *disp.gap_bars_]:
        assert not box.overlaps(bar.get_window_extent()), bar
    plt.close(fig)
