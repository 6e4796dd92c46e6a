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

from skimp.metrics._calibration import (
    brier_score,
    calibration_report,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
    overconfidence,
    reliability_curve,
    smooth_calibration_error,
)
from skimp.metrics._distances import conditional_kl, total_variation
from skimp.metrics._scorers import brier_scorer, classwise_ece_scorer, ece_scorer, mce_scorer

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
