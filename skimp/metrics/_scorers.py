"""Scorers for ``cross_validate`` and ``GridSearchCV`` that pass ``classes_``."""

from skimp.metrics._calibration import (
    brier_score,
    classwise_calibration_error,
    expected_calibration_error,
    maximum_calibration_error,
)

__all__ = ["brier_scorer", "classwise_ece_scorer", "ece_scorer", "mce_scorer"]


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
