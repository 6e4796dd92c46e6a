"""The calibration metrics: binned (ECE, MCE, class-wise), Brier, smooth ECE.

Binned metrics share :func:`reliability_curve`'s top-label bins, as
described in :mod:`skimp.metrics`.
"""

import warnings

import numpy as np
from sklearn.metrics import brier_score_loss, log_loss

from skimp._validation import validate_params
from skimp.metrics._inputs import check_inputs, declared

__all__ = ["brier_score", "calibration_report", "classwise_calibration_error",
           "expected_calibration_error", "maximum_calibration_error", "overconfidence",
           "reliability_curve", "smooth_calibration_error"]

_BINNED = declared("y_true", "y_prob", "n_bins", "strategy", "labels")


def _bin(score, target, n_bins, strategy):
    """Bin ``score`` and return per-bin ``(mean target, mean score, count,
    edges)``, with NaN means for empty bins."""
    if strategy == "quantile":
        edges = np.quantile(score, np.linspace(0.0, 1.0, n_bins + 1))
    else:
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Searching only the inner edges is calibration_curve's assignment, so the
    # two agree, and it sends 0 to the first bin and 1.0 to the last.
    bin_ids = np.searchsorted(edges[1:-1], score)
    counts = np.bincount(bin_ids, minlength=n_bins)
    score_sums = np.bincount(bin_ids, weights=score, minlength=n_bins)
    target_sums = np.bincount(bin_ids, weights=target, minlength=n_bins)
    full = counts > 0
    mean_target = np.full(n_bins, np.nan)
    mean_score = np.full(n_bins, np.nan)
    mean_target[full] = target_sums[full] / counts[full]
    mean_score[full] = score_sums[full] / counts[full]
    return mean_target, mean_score, counts, edges


def _gaps(prob_true, prob_pred, bin_counts):
    """Weights ``n_b / n`` and gaps ``|prob_true - prob_pred|`` of the
    non-empty bins."""
    full = bin_counts > 0
    weights = bin_counts[full] / bin_counts.sum()
    return weights, np.abs(prob_true[full] - prob_pred[full])


def _top_label(y_idx, y_prob):
    """Confidence of the predicted class and whether the prediction is right."""
    pred = y_prob.argmax(axis=1)
    confidence = y_prob[np.arange(len(pred)), pred]
    return confidence, (pred == y_idx).astype(float)


def _top_label_curve(y_idx, y_prob, n_bins, strategy):
    return _bin(*_top_label(y_idx, y_prob), n_bins, strategy)


@validate_params(_BINNED, prefer_skip_nested_validation=True)
def reliability_curve(y_true, y_prob, *, n_bins=15, strategy="uniform", labels=None):
    """Top-label reliability curve: accuracy against confidence per bin.

    The confidence of a row is its largest probability, and the prediction is
    right when that column is the true class. Rows are binned by confidence,
    and each bin gives its accuracy and mean confidence. These are the values
    of a reliability diagram (:class:`skimp.plotting.ReliabilityDisplay`) and
    the bins of :func:`expected_calibration_error` and
    :func:`maximum_calibration_error`. For binary 1-D input the confidence is
    ``max(p, 1 - p)``.

    Unlike :func:`sklearn.calibration.calibration_curve`, which bins the
    positive-class probability of a binary problem and drops empty bins, this
    bins the top label of any number of classes and returns one value per
    bin, NaN for empty ones, so that every array lines up with
    ``bin_edges``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, matched to the columns of ``y_prob`` as described in
        :mod:`skimp.metrics`.
    y_prob : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, rows summing to 1, or the positive-class
        probability of a binary problem.
    n_bins : int, default=15
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins over [0, 1], or equal-mass bins with edges at the
        quantiles of the confidences.
    labels : array-like of shape (n_classes,), default=None
        Every class, in column order once sorted, as ``classes_``. Needed
        when ``y_true`` does not hold every class.

    Returns
    -------
    prob_true : ndarray of shape (n_bins,)
        Accuracy in each bin, NaN for empty bins.
    prob_pred : ndarray of shape (n_bins,)
        Mean confidence in each bin, NaN for empty bins.
    bin_counts : ndarray of shape (n_bins,)
        Number of rows in each bin.
    bin_edges : ndarray of shape (n_bins + 1,)
        Bin ``b`` is ``(bin_edges[b], bin_edges[b + 1]]``; the first bin also
        holds its lower edge.

    See Also
    --------
    expected_calibration_error : Weighted mean gap of these bins.
    skimp.plotting.ReliabilityDisplay : Plots these values.

    Examples
    --------
    >>> from skimp.metrics import reliability_curve
    >>> y_prob = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    >>> prob_true, prob_pred, bin_counts, bin_edges = reliability_curve(
    ...     [0, 1, 1, 0], y_prob, n_bins=4)
    >>> bin_edges
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    >>> bin_counts
    array([0, 0, 2, 2])
    >>> prob_true
    array([nan, nan, 0.5, 0.5])
    >>> prob_pred.round(3)
    array([ nan,  nan, 0.65, 0.85])
    """
    y_idx, y_prob = check_inputs(y_true, y_prob, labels)
    return _top_label_curve(y_idx, y_prob, n_bins, strategy)


@validate_params(_BINNED, prefer_skip_nested_validation=True)
def expected_calibration_error(
    y_true, y_prob, *, n_bins=15, strategy="uniform", labels=None
):
    """Top-label expected calibration error (ECE).

    The confidence of a row is its largest probability, and the prediction is
    right when that column is the true class. Rows are binned by confidence
    as in :func:`reliability_curve`, and
    ``ECE = sum_b (n_b / n) * |acc_b - conf_b|`` over the non-empty bins,
    with ``acc_b`` the accuracy and ``conf_b`` the mean confidence in bin b.
    For binary 1-D input the confidence is ``max(p, 1 - p)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, matched to the columns of ``y_prob`` as described in
        :mod:`skimp.metrics`: without ``labels``, ``y_true`` must hold one
        distinct label per column.
    y_prob : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, rows summing to 1, or the positive-class
        probability of a binary problem.
    n_bins : int, default=15
        Number of bins.
    strategy : {"uniform", "quantile"}, default="uniform"
        Equal-width bins over [0, 1], or equal-mass bins with edges at the
        quantiles of the confidences. Bins are right-closed, ``(lo, hi]``; a
        confidence of exactly 1.0 falls in the last bin.
    labels : array-like of shape (n_classes,), default=None
        Every class, in column order once sorted, as ``classes_``. Needed
        when ``y_true`` does not hold every class.

    Returns
    -------
    ece : float
        In [0, 1]; 0 means perfectly calibrated at this binning.

    See Also
    --------
    reliability_curve : The bins behind this value.
    smooth_calibration_error : A calibration error without bins.

    Notes
    -----
    With ``strategy="uniform"`` this is the top-label ECE of Guo et al.
    (2017), as torchmetrics' ``MulticlassCalibrationError(num_classes=C,
    n_bins=n_bins, norm="l1")`` computes it, except at the bin edges. skimp's
    bins are right-closed, ``(lo, hi]``, as in
    :func:`sklearn.calibration.calibration_curve`; torchmetrics' are
    left-closed, ``[lo, hi)`` (``torch.bucketize(..., right=True)``), and a
    confidence of exactly 1.0 gets a bin of its own. So the two agree unless
    a confidence lies exactly on an inner edge, or is exactly 1.0, which a
    saturated float32 softmax does give; torchmetrics also computes in
    float32. Rows whose largest probability is tied go to the first of the
    tied columns in both. The test suite checks all of this against
    torchmetrics.

    Examples
    --------
    >>> from skimp.metrics import expected_calibration_error
    >>> y_prob = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    >>> round(expected_calibration_error([0, 1, 1, 0], y_prob, n_bins=4), 4)
    0.25

    Labels other than ``0..n_classes-1`` are matched to the columns in sorted
    order; when a class is missing from ``y_true``, pass ``labels``:

    >>> y_prob = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]
    >>> round(expected_calibration_error(["b", "c"], y_prob,
    ...                                  labels=["b", "c", "d"]), 4)
    0.25
    """
    curve = reliability_curve(
        y_true, y_prob, n_bins=n_bins, strategy=strategy, labels=labels
    )
    weights, gaps = _gaps(*curve[:3])
    return float(weights @ gaps)


@validate_params(_BINNED, prefer_skip_nested_validation=True)
def maximum_calibration_error(
    y_true, y_prob, *, n_bins=15, strategy="uniform", labels=None
):
    """Top-label maximum calibration error (MCE).

    Binned like :func:`expected_calibration_error`, through
    :func:`reliability_curve`, but returns the largest gap
    ``max_b |acc_b - conf_b|`` over the non-empty bins, whatever their size.

    Parameters
    ----------
    y_true, y_prob, n_bins, strategy, labels
        As in :func:`expected_calibration_error`.

    Returns
    -------
    mce : float
        In [0, 1].

    Examples
    --------
    >>> from skimp.metrics import maximum_calibration_error
    >>> y_prob = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    >>> round(maximum_calibration_error([0, 1, 1, 0], y_prob, n_bins=4), 4)
    0.35
    """
    curve = reliability_curve(
        y_true, y_prob, n_bins=n_bins, strategy=strategy, labels=labels
    )
    _, gaps = _gaps(*curve[:3])
    return float(gaps.max())


def _classwise_error(y_idx, y_prob, n_bins, strategy):
    errors = []
    for k in range(y_prob.shape[1]):
        curve = _bin(y_prob[:, k], (y_idx == k).astype(float), n_bins, strategy)
        weights, gaps = _gaps(*curve[:3])
        errors.append(weights @ gaps)
    return float(np.mean(errors))


@validate_params(_BINNED, prefer_skip_nested_validation=True)
def classwise_calibration_error(
    y_true, y_prob, *, n_bins=15, strategy="uniform", labels=None
):
    """Class-wise expected calibration error (Kull et al., 2019).

    For each class k, the column ``p_k`` is binned and compared with the
    one-vs-rest target ``1[y == k]``: ``ECE_k = sum_b (n_b / n) *
    |mean_b(1[y == k]) - mean_b(p_k)|``. The result is the mean of ``ECE_k``
    over the classes. For binary data with uniform bins both classes give the
    same ``ECE_k`` (barring scores exactly on an edge), the error of the
    positive-class reliability curve.

    Parameters
    ----------
    y_true, y_prob, n_bins, labels
        As in :func:`expected_calibration_error`.
    strategy : {"uniform", "quantile"}, default="uniform"
        As in :func:`expected_calibration_error`; quantile edges are taken per
        class, over that class's column.

    Returns
    -------
    classwise_ece : float
        In [0, 1].

    Examples
    --------
    >>> from skimp.metrics import classwise_calibration_error
    >>> round(classwise_calibration_error([0, 1, 1, 0], [0.1, 0.9, 0.6, 0.2],
    ...                                   n_bins=2), 4)
    0.2
    """
    y_idx, y_prob = check_inputs(y_true, y_prob, labels)
    return _classwise_error(y_idx, y_prob, n_bins, strategy)


@validate_params(declared("y_true", "y_prob", "subset", "labels"),
                 prefer_skip_nested_validation=True)
def overconfidence(y_true, y_prob, *, subset="all", labels=None):
    """Mean top-label confidence minus accuracy.

    Parameters
    ----------
    y_true, y_prob, labels
        As in :func:`expected_calibration_error`.
    subset : {"all", "wrong"}, default="all"
        ``"all"``: mean confidence minus accuracy over every prediction,
        positive when the model is overconfident. ``"wrong"``: mean
        confidence over the wrong predictions only (where accuracy is 0), or
        0.0 when none is wrong.

    Returns
    -------
    gap : float
        In [-1, 1] for ``"all"``, in [0, 1] for ``"wrong"``.

    Examples
    --------
    >>> from skimp.metrics import overconfidence
    >>> y_prob = [[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]]
    >>> round(overconfidence([0, 1, 1, 0], y_prob), 4)
    0.25
    >>> round(overconfidence([0, 1, 1, 0], y_prob, subset="wrong"), 4)
    0.7
    """
    confidence, hit = _top_label(*check_inputs(y_true, y_prob, labels))
    if subset == "all":
        return float(confidence.mean() - hit.mean())
    wrong = hit == 0
    return float(confidence[wrong].mean()) if wrong.any() else 0.0


def _brier(y_idx, y_prob):
    with warnings.catch_warnings():
        # check_inputs already held the rows to a sum of 1 within ROW_SUM_TOL,
        # which float32 softmax outputs meet; sklearn warns at ~1.5e-8.
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        return float(brier_score_loss(y_idx, y_prob, labels=np.arange(y_prob.shape[1]),
                                      scale_by_half=False))


@validate_params(declared("y_true", "y_prob", "labels"),
                 prefer_skip_nested_validation=True)
def brier_score(y_true, y_prob, *, labels=None):
    """Multiclass Brier score.

    ``mean_i sum_k (p_ik - 1[y_i == k])^2``, summed over all classes, so it
    ranges over [0, 2] for any number of classes.

    This is :func:`sklearn.metrics.brier_score_loss` (scikit-learn 1.7 or
    later) with ``scale_by_half=False``, for any number of classes. Its
    default, ``scale_by_half="auto"``, halves binary scores only: for binary
    data this is twice sklearn's default, the classical positive-class Brier
    score, and for three or more classes it equals sklearn's default. One
    scale for every number of classes keeps scores comparable across tasks.

    Parameters
    ----------
    y_true, y_prob, labels
        As in :func:`expected_calibration_error`.

    Returns
    -------
    brier : float
        In [0, 2].

    Examples
    --------
    >>> from skimp.metrics import brier_score
    >>> round(brier_score([0, 1], [[0.8, 0.2], [0.4, 0.6]]), 4)
    0.2
    """
    return _brier(*check_inputs(y_true, y_prob, labels))


def _relplot():
    try:
        import relplot
    except ImportError as error:
        raise ImportError(
            "smooth_calibration_error needs the relplot package, which is "
            "not installed; install it with: pip install \"skimp[smooth]\" "
            "(or pip install relplot)."
        ) from error
    return relplot


def _smooth_error(y_idx, y_prob):
    confidence, hit = _top_label(y_idx, y_prob)
    return float(_relplot().smECE(confidence, hit))


@validate_params(declared("y_true", "y_prob", "labels"),
                 prefer_skip_nested_validation=True)
def smooth_calibration_error(y_true, y_prob, *, labels=None):
    """Top-label smooth ECE (Błasiok & Nakkiran, ICLR 2024).

    The confidence of a row is its largest probability, and the prediction
    is right when that column is the true class, as in
    :func:`expected_calibration_error`. Instead of binning the confidences,
    the smooth ECE smooths the residuals ``confidence - right`` with a
    Gaussian kernel (reflected at 0 and 1) whose bandwidth ``sigma`` is the
    fixed point ``smECE_sigma = sigma``, and returns the density-weighted
    mean absolute smoothed residual. It has no binning to choose, changes
    little when the predictions change a little (the binned ECE can jump
    when a confidence crosses an edge), and is a consistent calibration
    measure: it is small exactly when the predictions are close to perfectly
    calibrated ones. Computed by ``relplot.smECE``, the authors' package.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, matched to the columns of ``y_prob`` as described in
        :mod:`skimp.metrics`.
    y_prob : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, rows summing to 1, or the positive-class
        probability of a binary problem (whose confidence is then
        ``max(p, 1 - p)``).
    labels : array-like of shape (n_classes,), default=None
        Every class, in column order once sorted, as ``classes_``. Needed
        when ``y_true`` does not hold every class.

    Returns
    -------
    smooth_ece : float
        In [0, 1]; 0 for perfectly calibrated predictions.

    Raises
    ------
    ImportError
        When ``relplot`` is not installed; ``pip install "skimp[smooth]"``
        installs it.

    See Also
    --------
    expected_calibration_error : The binned top-label ECE.
    calibration_report : Adds this as ``smooth_ece`` with ``smooth=True``.

    References
    ----------
    J. Błasiok and P. Nakkiran, "Smooth ECE: Principled Reliability Diagrams
    via Kernel Smoothing", ICLR 2024.

    Examples
    --------
    >>> from skimp.metrics import smooth_calibration_error
    >>> y_prob = [[0.7, 0.3], [0.7, 0.3], [0.3, 0.7], [0.3, 0.7]]
    >>> round(smooth_calibration_error([0, 1, 1, 0], y_prob), 2)
    0.2
    """
    return _smooth_error(*check_inputs(y_true, y_prob, labels))


@validate_params(declared("y_true", "y_prob", "n_bins", "strategy", "labels", "smooth"),
                 prefer_skip_nested_validation=True)
def calibration_report(
    y_true, y_prob, *, n_bins=15, strategy="uniform", labels=None, smooth=False
):
    """All calibration metrics of a set of predictions at once.

    Parameters
    ----------
    y_true, y_prob, n_bins, strategy, labels
        As in :func:`expected_calibration_error`.
    smooth : bool, default=False
        Also compute :func:`smooth_calibration_error`, as ``smooth_ece``.
        It needs the optional ``relplot`` package (``pip install
        "skimp[smooth]"``) and raises an ``ImportError`` without it, so the
        report's keys depend only on the arguments, never on what is
        installed.

    Returns
    -------
    report : dict
        Python floats ``ece``, ``mce``, ``classwise_ece``, ``brier``
        (:func:`brier_score`), ``nll`` (:func:`sklearn.metrics.log_loss` over
        all columns), ``accuracy`` and ``mean_confidence`` (top-label),
        ``overconfidence`` (their difference); with ``smooth=True``,
        ``smooth_ece`` too. Metrics only: the binning behind the binned
        metrics is the ``n_bins`` and ``strategy`` passed.

    Examples
    --------
    >>> from skimp.metrics import calibration_report
    >>> report = calibration_report([0, 1], [[0.8, 0.2], [0.4, 0.6]], n_bins=5)
    >>> report["accuracy"], round(report["brier"], 4)
    (1.0, 0.2)
    """
    y_idx, y_prob = check_inputs(y_true, y_prob, labels)
    confidence, hit = _top_label(y_idx, y_prob)
    # The inputs are checked once; ECE and MCE share reliability_curve's bins.
    weights, gaps = _gaps(*_top_label_curve(y_idx, y_prob, n_bins, strategy)[:3])
    report = {
        "ece": float(weights @ gaps),
        "mce": float(gaps.max()),
        "classwise_ece": _classwise_error(y_idx, y_prob, n_bins, strategy),
        "brier": _brier(y_idx, y_prob),
        "nll": float(log_loss(y_idx, y_prob, labels=np.arange(y_prob.shape[1]))),
        "accuracy": float(hit.mean()),
        "mean_confidence": float(confidence.mean()),
        "overconfidence": float(confidence.mean() - hit.mean()),
    }
    if smooth:
        report["smooth_ece"] = _smooth_error(y_idx, y_prob)
    return report
