"""Input checks shared by the metrics: labels to columns, probabilities.

The rules are those of the :mod:`skimp.metrics` docstring. Plain parameter
checks (``n_bins``, ``strategy``, ``labels``, ...) are declared in
:data:`CONSTRAINTS`, for ``validate_params``; what constraints cannot
express, the contents of the arrays and how they match, is checked here.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_consistent_length, column_or_1d

from skimp._validation import NotBoolInterval, StrOptions

__all__ = ["CONSTRAINTS", "check_distributions", "check_inputs", "declared", "encode"]

#: The metrics' parameters, for ``validate_params``. ``n_bins`` and ``eps``
#: refuse booleans, as the hand-written checks did.
CONSTRAINTS = {
    "y_true": ["array-like"],
    "y_prob": ["array-like"],
    "p_true": ["array-like"],
    "p_pred": ["array-like"],
    "n_bins": [NotBoolInterval(Integral, 1, None, closed="left")],
    "strategy": [StrOptions({"uniform", "quantile"})],
    "labels": ["array-like", None],
    "subset": [StrOptions({"all", "wrong"})],
    "smooth": ["boolean"],
    "eps": [NotBoolInterval(Real, 0, None, closed="left")],
}

# float32 softmax outputs miss a sum of 1 by ~1e-7; anything beyond this is a
# real error such as passing logits or unnormalised scores.
ROW_SUM_TOL = 1e-5


def declared(*names):
    """The constraints of ``names``, for ``validate_params``."""
    return {name: CONSTRAINTS[name] for name in names}


def check_distributions(p, name):
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
        if worst > ROW_SUM_TOL:
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


def encode(y_true, n_columns, labels):
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


def check_inputs(y_true, y_prob, labels):
    """Validate and return ``(column indices of y_true, 2-D probabilities)``."""
    y_prob = check_distributions(y_prob, "y_prob")
    if y_prob.ndim == 1:
        y_prob = np.column_stack([1.0 - y_prob, y_prob])
    elif y_prob.ndim != 2:
        raise ValueError(f"y_prob must be 1-D or 2-D, got {y_prob.ndim} dimensions.")
    y_true = column_or_1d(y_true)
    check_consistent_length(y_true, y_prob)
    if y_true.shape[0] == 0:
        raise ValueError("y_true and y_prob are empty.")
    return encode(y_true, y_prob.shape[1], labels), y_prob
