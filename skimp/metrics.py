"""Calibration metrics and distances between predicted class distributions.

All metrics take ``(y_true, y_prob)`` like scikit-learn's metrics, where
``y_prob`` is ``predict_proba`` output: a 2-D array with one column per class,
or, for binary problems, a 1-D array with the probability of the positive
class. A 1-D ``y_prob`` is turned into the two columns ``[1 - p, p]``, so both
binary forms give the same value.

How ``y_true`` is matched to the columns of ``y_prob`` follows
:func:`sklearn.metrics.log_loss`:

* The columns belong to the class labels in sorted order, which is the order
  of a fitted classifier's ``classes_``. The labels are ``labels`` when given,
  otherwise the distinct values of ``y_true``. Integers are labels like any
  other: ``y_true`` drawn from ``{1, 2, 3}`` against three columns means
  columns 0, 1 and 2, and ``{0, ..., k-1}`` against ``k`` columns reads the
  same as column indices.
* Without ``labels``, ``y_true`` must hold exactly one distinct label per
  column (two for a 1-D ``y_prob``). Otherwise nothing says which column
  belongs to which label: ``y_true = [1, 2]`` against three columns could be
  classes ``[0, 1, 2]`` or ``[1, 2, 3]``. Such a call raises a ``ValueError``
  that says to pass ``labels=``, e.g. ``labels=estimator.classes_``; it is
  never guessed. This also applies when a small sample misses a class.
* With ``labels``, every value of ``y_true`` must be one of them, and there
  must be one label per column.
* For a 1-D ``y_prob`` the positive class is the larger label, as in
  scikit-learn.

Binned metrics place scores in ``n_bins`` bins over ``[0, 1]``: equal-width
bins for ``strategy="uniform"``, equal-mass bins with edges at the quantiles of
the scores for ``strategy="quantile"``. Bins are right-closed, ``(lo, hi]``,
as in :func:`sklearn.calibration.calibration_curve`, except that a score of 0
falls in the first bin; a score of exactly 1.0 falls in the last bin. Empty
bins are skipped. The top-label bins are those of :func:`reliability_curve`,
which :func:`expected_calibration_error`, :func:`maximum_calibration_error`,
:func:`calibration_report` and :class:`skimp.plotting.ReliabilityDisplay` all
use.

:func:`smooth_calibration_error` needs no bins: it is the smooth ECE of
Błasiok & Nakkiran (ICLR 2024), computed by the optional ``relplot`` package
(``pip install "skimp[smooth]"``).

The scorers ``ece_scorer``, ``mce_scorer``, ``classwise_ece_scorer`` and
``brier_scorer`` are ready for ``cross_validate`` and ``GridSearchCV``, alone
or in a ``scoring`` dict next to strings such as ``"accuracy"``. Each calls
``estimator.predict_proba(X)`` and passes ``labels=estimator.classes_`` to the
metric, so any label set works (strings, ``{-1, 1}``, ``{1, ..., 10}``), even
on a fold that misses a class. Lower metric values are better, so each scorer
returns the metric negated, with the default binning (15 uniform bins). For
other settings, pass the full label set yourself, e.g.
``make_scorer(expected_calibration_error, greater_is_better=False,
response_method="predict_proba", n_bins=10, labels=np.unique(y))``.
"""

import numbers

import numpy as np
from scipy.special import rel_entr
from sklearn.metrics import log_loss
from sklearn.utils.validation import check_consistent_length, column_or_1d

__all__ = [
    "expected_calibration_error",
    "maximum_calibration_error",
    "classwise_calibration_error",
    "overconfidence",
    "brier_score",
    "smooth_calibration_error",
    "calibration_report",
    "reliability_curve",
    "conditional_kl",
    "total_variation",
    "ece_scorer",
    "mce_scorer",
    "classwise_ece_scorer",
    "brier_scorer",
]

_STRATEGIES = ("uniform", "quantile")
# float32 softmax outputs miss a sum of 1 by ~1e-7; anything beyond this is a
# real error such as passing logits or unnormalised scores.
_ROW_SUM_TOL = 1e-5


def _check_distributions(p, name):
    p = np.asarray(p, dtype=float)
    # NaN compares False against every bound, so it must be caught first.
    if np.isnan(p).any():
        raise ValueError(f"{name} contains NaN.")
    if p.size and (p.min() < 0.0 or p.max() > 1.0):
        raise ValueError(
            f"{name} must hold probabilities in [0, 1], "
            f"got values in [{p.min()}, {p.max()}]."
        )
    if p.ndim == 2:
        worst = np.abs(p.sum(axis=1) - 1.0).max(initial=0.0)
        if worst > _ROW_SUM_TOL:
            raise ValueError(
                f"rows of {name} must sum to 1, one is off by {worst:.3g}."
            )
    return p


def _sorted_classes(values, name):
    try:
        return np.unique(values)
    except TypeError:
        # np.unique sorts, which fails on e.g. a mix of str and int.
        raise ValueError(
            f"{name} mixes label types that cannot be sorted, such as strings "
            "and numbers; use one type."
        ) from None


def _preview(values, limit=5):
    shown = ", ".join(repr(v) for v in np.asarray(values)[:limit].tolist())
    return f"[{shown}, ...]" if len(values) > limit else f"[{shown}]"


def _encode(y_true, n_columns, labels):
    """Column index of each label in ``y_true``, by the rule in the module
    docstring."""
    if y_true.dtype.kind == "f" and np.isnan(y_true).any():
        raise ValueError("y_true contains NaN.")
    if labels is None:
        classes = _sorted_classes(y_true, "y_true")
        if len(classes) != n_columns:
            raise ValueError(
                f"y_true holds {len(classes)} distinct labels "
                f"{_preview(classes)} but y_prob has {n_columns} columns, so "
                "which column belongs to which label is unknown. Pass "
                "labels= listing every class in column order, e.g. "
                "labels=estimator.classes_."
            )
        return np.searchsorted(classes, y_true)
    classes = _sorted_classes(column_or_1d(labels), "labels")
    if len(classes) != n_columns:
        raise ValueError(
            f"labels holds {len(classes)} distinct labels but y_prob has "
            f"{n_columns} columns; pass one label per column, e.g. "
            "labels=estimator.classes_."
        )
    unknown = ~np.isin(y_true, classes)
    if unknown.any():
        raise ValueError(
            f"y_true contains labels {_preview(np.unique(y_true[unknown]))} "
            f"that are not in labels={_preview(classes)}."
        )
    return np.searchsorted(classes, y_true)


def _check_inputs(y_true, y_prob, labels):
    """Validate and return ``(column indices of y_true, 2-D probabilities)``."""
    y_prob = _check_distributions(y_prob, "y_prob")
    if y_prob.ndim == 1:
        y_prob = np.column_stack([1.0 - y_prob, y_prob])
    elif y_prob.ndim != 2:
        raise ValueError(f"y_prob must be 1-D or 2-D, got {y_prob.ndim} dimensions.")
    y_true = column_or_1d(y_true)
    check_consistent_length(y_true, y_prob)
    if y_true.shape[0] == 0:
        raise ValueError("y_true and y_prob are empty.")
    return _encode(y_true, y_prob.shape[1], labels), y_prob


def _check_binning(n_bins, strategy):
    if (
        isinstance(n_bins, bool)
        or not isinstance(n_bins, numbers.Integral)
        or n_bins < 1
    ):
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}.")
    if strategy not in _STRATEGIES:
        raise ValueError(
            f"strategy must be one of {_STRATEGIES}, got {strategy!r}."
        )


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
    _check_binning(n_bins, strategy)
    y_idx, y_prob = _check_inputs(y_true, y_prob, labels)
    return _top_label_curve(y_idx, y_prob, n_bins, strategy)


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
    _check_binning(n_bins, strategy)
    y_idx, y_prob = _check_inputs(y_true, y_prob, labels)
    return _classwise_error(y_idx, y_prob, n_bins, strategy)


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
    if subset not in ("all", "wrong"):
        raise ValueError(f"subset must be 'all' or 'wrong', got {subset!r}.")
    confidence, hit = _top_label(*_check_inputs(y_true, y_prob, labels))
    if subset == "all":
        return float(confidence.mean() - hit.mean())
    wrong = hit == 0
    return float(confidence[wrong].mean()) if wrong.any() else 0.0


def _brier(y_idx, y_prob):
    onehot = np.eye(y_prob.shape[1])[y_idx]
    return float(np.mean(np.sum((y_prob - onehot) ** 2, axis=1)))


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
    return _brier(*_check_inputs(y_true, y_prob, labels))


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
    return _smooth_error(*_check_inputs(y_true, y_prob, labels))


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
        ``overconfidence`` (their difference), plus ``n_bins`` and
        ``strategy`` naming the binning behind the binned metrics; with
        ``smooth=True``, ``smooth_ece`` too.

    Examples
    --------
    >>> from skimp.metrics import calibration_report
    >>> report = calibration_report([0, 1], [[0.8, 0.2], [0.4, 0.6]], n_bins=5)
    >>> report["accuracy"], round(report["brier"], 4), report["strategy"]
    (1.0, 0.2, 'uniform')
    """
    _check_binning(n_bins, strategy)
    y_idx, y_prob = _check_inputs(y_true, y_prob, labels)
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
        "n_bins": int(n_bins),
        "strategy": strategy,
    }
    if smooth:
        report["smooth_ece"] = _smooth_error(y_idx, y_prob)
    return report


def _check_pair(p_true, p_pred):
    p_true = _check_distributions(p_true, "p_true")
    p_pred = _check_distributions(p_pred, "p_pred")
    if p_true.ndim != 2 or p_true.shape != p_pred.shape:
        raise ValueError(
            "p_true and p_pred must be 2-D arrays of the same shape, got "
            f"{p_true.shape} and {p_pred.shape}."
        )
    return p_true, p_pred


def conditional_kl(p_true, p_pred, *, eps=1e-12):
    """Mean over rows of ``KL(p_true[i] || p_pred[i])``, in nats.

    Measures how far predicted class distributions are from known true
    conditional distributions ``p(y | x)``, e.g. on synthetic data.

    Parameters
    ----------
    p_true, p_pred : array-like of shape (n_samples, n_classes)
        Rows are probability distributions.
    eps : float, default=1e-12
        ``p_pred`` is clipped below at ``eps`` so that a zero where
        ``p_true`` is positive gives a large finite value instead of inf.
        Terms with ``p_true == 0`` count as 0.

    Returns
    -------
    kl : float

    Examples
    --------
    >>> from skimp.metrics import conditional_kl
    >>> round(conditional_kl([[1.0, 0.0]], [[0.5, 0.5]]), 4)  # log 2
    0.6931
    """
    p_true, p_pred = _check_pair(p_true, p_pred)
    return float(rel_entr(p_true, np.maximum(p_pred, eps)).sum(axis=1).mean())


def total_variation(p_true, p_pred):
    """Mean over rows of the total variation distance ``0.5 * sum |p - q|``.

    Parameters
    ----------
    p_true, p_pred : array-like of shape (n_samples, n_classes)
        Rows are probability distributions.

    Returns
    -------
    tv : float
        In [0, 1].

    Examples
    --------
    >>> from skimp.metrics import total_variation
    >>> round(total_variation([[1.0, 0.0]], [[0.7, 0.3]]), 4)
    0.3
    """
    p_true, p_pred = _check_pair(p_true, p_pred)
    return float(0.5 * np.abs(p_true - p_pred).sum(axis=1).mean())


class _ClassesScorer:
    """``scorer(estimator, X, y_true)``: minus a metric of
    ``estimator.predict_proba(X)``, with ``labels=estimator.classes_``.

    ``make_scorer`` cannot do this: it hands the metric only ``y_true`` and
    the probabilities, so a fold that misses a class, or labels that are not
    ``0..n_classes-1``, could not be matched to the columns.
    """

    def __init__(self, name, metric):
        self._name = name
        self._metric = metric

    def __call__(self, estimator, X, y_true):
        classes = getattr(estimator, "classes_", None)
        if classes is None:
            raise ValueError(
                f"{self._name} needs a fitted classifier with classes_ and "
                f"predict_proba; {type(estimator).__name__} has no classes_."
            )
        y_prob = estimator.predict_proba(X)
        return -self._metric(y_true, y_prob, labels=classes)

    def __repr__(self):
        return (
            f"{self._name}: -{self._metric.__name__}(y, "
            "estimator.predict_proba(X), labels=estimator.classes_)"
        )


ece_scorer = _ClassesScorer("ece_scorer", expected_calibration_error)
mce_scorer = _ClassesScorer("mce_scorer", maximum_calibration_error)
classwise_ece_scorer = _ClassesScorer(
    "classwise_ece_scorer", classwise_calibration_error
)
brier_scorer = _ClassesScorer("brier_scorer", brier_score)
