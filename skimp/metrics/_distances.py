"""Distances between predicted and true class distributions, row by row."""

import numpy as np
from scipy.special import rel_entr

from skimp._validation import validate_params
from skimp.metrics._inputs import check_distributions, declared

__all__ = ["conditional_kl", "total_variation"]


def _check_pair(p_true, p_pred):
    p_true = check_distributions(p_true, "p_true")
    p_pred = check_distributions(p_pred, "p_pred")
    if p_true.ndim != 2 or p_true.shape != p_pred.shape:
        raise ValueError(
            "p_true and p_pred must be 2-D arrays of the same shape, got "
            f"{p_true.shape} and {p_pred.shape}."
        )
    return p_true, p_pred


@validate_params(declared("p_true", "p_pred", "eps"), prefer_skip_nested_validation=True)
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


@validate_params(declared("p_true", "p_pred"), prefer_skip_nested_validation=True)
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
