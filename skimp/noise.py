"""Symmetric label noise, as in the lottery-ticket label-noise experiments.

A fraction ``f`` of the rows, exactly ``ceil(f * n)`` of them, gets its label
replaced by a class drawn uniformly from all ``C`` classes. Because the draw may
land on the true class, the realised error rate is about ``f * (C - 1) / C``.
"""

import math

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["symmetric_label_noise"]


def symmetric_label_noise(y, noise_rate, *, n_classes=None, random_state=None):
    """Replace a fraction of integer labels by uniformly drawn classes.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Integer-encoded labels in ``[0, n_classes)``.
    noise_rate : float in [0, 1)
        Fraction of rows whose label is redrawn. ``ceil(noise_rate * n)`` rows
        are picked without replacement.
    n_classes : int, default=None
        Number of classes to draw from. Defaults to ``y.max() + 1``.
    random_state : int, RandomState instance or None, default=None
        Controls which rows are picked and which classes are drawn.

    Returns
    -------
    y_noisy : ndarray of shape (n_samples,)
        A copy of ``y`` with the picked rows redrawn.
    noise_mask : ndarray of bool of shape (n_samples,)
        True for every picked row, including those whose draw landed on the
        original class.

    Examples
    --------
    >>> import numpy as np
    >>> from skimp.noise import symmetric_label_noise
    >>> y_noisy, picked = symmetric_label_noise(np.zeros(10, int), 0.2,
    ...                                         n_classes=3, random_state=0)
    >>> int(picked.sum())
    2
    """
    y = np.asarray(y)
    if not 0.0 <= noise_rate < 1.0:
        raise ValueError(f"noise_rate must be in [0, 1), got {noise_rate!r}.")
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError("y must be a 1-D array of integer-encoded labels.")
    if n_classes is None:
        n_classes = int(y.max()) + 1 if y.size else 0
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}).")
    rng = check_random_state(random_state)
    n = y.shape[0]
    n_noisy = math.ceil(noise_rate * n)
    noise_mask = np.zeros(n, dtype=bool)
    noise_mask[rng.choice(n, size=n_noisy, replace=False)] = True
    y_noisy = y.copy()
    y_noisy[noise_mask] = rng.randint(0, n_classes, size=n_noisy)
    return y_noisy, noise_mask
