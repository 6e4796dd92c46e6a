"""Label noise models, as in the lottery-ticket label-noise experiments.

Every model works the same way: a fraction ``rate`` of the rows, exactly
``ceil(rate * n)`` of them picked uniformly without replacement whatever their
class, gets its label replaced by a draw from a replacement distribution. The
models differ only in that distribution, and so in the realised error rate
(the share of rows whose label ends up wrong):

``"symmetric"``
    A class drawn uniformly from all ``C`` classes. The draw may land on the
    true class, so the realised error rate is ``rate * (C - 1) / C``.
``"pairflip"``
    Class ``k`` becomes ``(k + 1) mod C``. Every picked row changes, so the
    realised error rate is ``rate`` (for ``C >= 2``).
a ``(C, C)`` row-stochastic matrix ``T``
    Row ``k`` is the replacement distribution for true class ``k``, for
    asymmetric noise such as CIFAR-10's truck -> automobile. The realised error
    rate is ``rate`` times the mean of ``1 - T[k, k]`` over the picked rows.

:func:`noise_transition_matrix` gives the resulting ``P(noisy = j | true = i)``
of each model; ``1 - diag`` is the per-class error rate.
"""

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state

from skimp._validation import NotBoolInterval, validate_params

__all__ = ["apply_label_noise", "noise_transition_matrix"]

NOISE_MODELS = ("symmetric", "pairflip")

# Tolerance on row sums: loose enough for matrices typed in by hand with
# rounded decimals, tight enough to catch a forgotten entry.
_ROW_SUM_ATOL = 1e-6


# rate, model and n_classes are checked by hand (_check_rate, _check_model_name,
# _check_transition, _check_n_classes): users and tests match their messages
# ("rate must be in [0, 1)", "Unknown noise model", "n_classes must be a
# positive integer"), which validate_params words its own way, and a matrix
# model's checks (square, probabilities, rows summing to 1) are beyond
# constraints. noise_transition_matrix has no other parameter, so it has no
# decorator. The labels are checked against n_classes in the body.
@validate_params(
    {"y": ["array-like"], "rate": "no_validation", "model": "no_validation",
     "n_classes": "no_validation", "random_state": ["random_state"]},
    prefer_skip_nested_validation=True)
def apply_label_noise(y, rate, *, model="symmetric", n_classes=None, random_state=None):
    """Replace a fraction of integer labels by draws from a noise model.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Integer-encoded labels in ``[0, n_classes)``.
    rate : float in [0, 1)
        Fraction of rows whose label is replaced. ``ceil(rate * n)`` rows are
        picked without replacement, uniformly whatever their class.
    model : {"symmetric", "pairflip"} or array-like of shape (n_classes, n_classes)
        Replacement distribution; see the module docstring for the realised
        error rate of each. A matrix ``T`` must be row-stochastic: row ``k`` is
        the distribution of the new label of a picked row of class ``k``.
    n_classes : int, default=None
        Number of classes ``C``. Defaults to the size of the matrix ``model``,
        else to ``y.max() + 1``.
    random_state : int, RandomState instance or None, default=None
        Controls which rows are picked and which classes are drawn. The rows
        are picked first, so for the same ``random_state`` every model picks
        the same rows, and ``"symmetric"`` draws the classes as skimp always
        has, so fits from before the other models stay bit-for-bit identical.

    Returns
    -------
    y_noisy : ndarray of shape (n_samples,)
        A copy of ``y`` with the picked rows replaced.
    replaced_mask : ndarray of bool of shape (n_samples,)
        True for every picked row, including those whose draw landed on the
        original class.

    Examples
    --------
    >>> import numpy as np
    >>> from skimp.noise import apply_label_noise
    >>> y = np.array([0, 1, 2, 0, 1, 2])
    >>> y_noisy, picked = apply_label_noise(y, 0.5, model="pairflip", random_state=0)
    >>> int(picked.sum()), bool(np.all(y_noisy[picked] == (y[picked] + 1) % 3))
    (3, True)

    Asymmetric noise, where class 2 is read as class 1 and the others are kept:

    >>> T = [[1, 0, 0], [0, 1, 0], [0, 1, 0]]
    >>> y_noisy, picked = apply_label_noise(y, 0.5, model=T, random_state=0)
    >>> y[picked].tolist(), y_noisy[picked].tolist()
    ([1, 2, 2], [1, 1, 1])
    """
    y = np.asarray(y)
    rate = _check_rate(rate)
    transition = None if isinstance(model, str) else _check_transition(model)
    model = _check_model_name(model) if transition is None else "matrix"
    if n_classes is not None:
        _check_n_classes(n_classes)
    else:
        if transition is not None:
            n_classes = transition.shape[0]
        else:
            # 0 classes only for an empty y, where nothing is drawn.
            n_classes = int(y.max()) + 1 if y.ndim == 1 and y.size else 0
    _check_labels(y, n_classes)
    if transition is not None and transition.shape[0] != n_classes:
        raise ValueError(
            f"model is a {transition.shape[0]}x{transition.shape[0]} transition matrix "
            f"but there are n_classes={n_classes} classes; pass a "
            f"{n_classes}x{n_classes} matrix.")

    rng = check_random_state(random_state)
    n = y.shape[0]
    n_noisy = math.ceil(rate * n)
    replaced_mask = np.zeros(n, dtype=bool)
    replaced_mask[rng.choice(n, size=n_noisy, replace=False)] = True
    y_noisy = y.copy()
    # The draws below must consume rng exactly as symmetric noise always has,
    # so that existing fits stay bit-for-bit identical.
    if model == "symmetric":
        y_noisy[replaced_mask] = rng.randint(0, n_classes, size=n_noisy)
    elif model == "pairflip":
        y_noisy[replaced_mask] = (y[replaced_mask] + 1) % n_classes
    else:
        y_noisy[replaced_mask] = sample_labels(transition[y[replaced_mask]], rng)
    return y_noisy, replaced_mask


def noise_transition_matrix(model, n_classes, rate):
    """Expected ``P(noisy = j | true = i)`` of a noise model.

    Each row is ``(1 - rate) * e_i + rate * R[i]``, where ``R`` is the model's
    replacement distribution. It is the large-sample limit of
    :func:`apply_label_noise`, whose ``ceil`` on the number of picked rows adds
    less than one row.

    Parameters
    ----------
    model : {"symmetric", "pairflip"} or array-like of shape (n_classes, n_classes)
        As in :func:`apply_label_noise`.
    n_classes : int
        Number of classes ``C``.
    rate : float in [0, 1)
        Fraction of rows whose label is replaced.

    Returns
    -------
    P : ndarray of shape (n_classes, n_classes)
        Row-stochastic; ``1 - P[i, i]`` is the realised error rate on class
        ``i``, and its mean under the class frequencies the overall one.

    Examples
    --------
    >>> from skimp.noise import noise_transition_matrix
    >>> P = noise_transition_matrix("symmetric", 4, 0.2)
    >>> P.round(3).tolist()[0]
    [0.85, 0.05, 0.05, 0.05]
    >>> noise_transition_matrix("pairflip", 4, 0.2).round(3).tolist()[0]
    [0.8, 0.2, 0.0, 0.0]
    """
    rate = _check_rate(rate)
    _check_n_classes(n_classes)
    if isinstance(model, str):
        model = _check_model_name(model)
        if model == "symmetric":
            replacement = np.full((n_classes, n_classes), 1.0 / n_classes)
        else:
            replacement = np.roll(np.eye(n_classes), 1, axis=1)
    else:
        replacement = _check_transition(model)
        if replacement.shape[0] != n_classes:
            raise ValueError(
                f"model is a {replacement.shape[0]}x{replacement.shape[0]} transition "
                f"matrix but n_classes={n_classes}; pass a {n_classes}x{n_classes} matrix.")
    return (1.0 - rate) * np.eye(n_classes) + rate * replacement


@validate_params(
    {"y": ["array-like"], "noise_rate": [NotBoolInterval(Real, 0, 1, closed="left")],
     "n_classes": "no_validation", "random_state": ["random_state"]},
    prefer_skip_nested_validation=True)
def symmetric_label_noise(y, noise_rate, *, n_classes=None, random_state=None):
    """Replace a fraction of integer labels by uniformly drawn classes.

    Same as ``apply_label_noise(y, noise_rate, model="symmetric", ...)``,
    which is the name skimp lists; this one stays for code that calls it.

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

    See Also
    --------
    apply_label_noise : The same, with pair-flip and matrix noise models.

    Examples
    --------
    >>> import numpy as np
    >>> from skimp.noise import symmetric_label_noise
    >>> y_noisy, picked = symmetric_label_noise(np.zeros(10, int), 0.2,
    ...                                         n_classes=3, random_state=0)
    >>> int(picked.sum())
    2
    """
    return apply_label_noise(y, noise_rate, model="symmetric", n_classes=n_classes,
                             random_state=random_state)


def sample_labels(p, rng):
    """One label per row of ``p``, drawn by inverting the row's cumulative sum.

    The one sampler of skimp's random labels: the noise models' transition
    rows here, the teacher's ``p(y|x)`` in :mod:`skimp.datasets`.

    Parameters
    ----------
    p : ndarray of shape (n_rows, n_classes)
        Row-stochastic, up to rounding.
    rng : numpy.random.RandomState
        Draws one uniform number per row.

    Returns
    -------
    labels : ndarray of int of shape (n_rows,)
        Never a class of probability 0.

    Examples
    --------
    >>> import numpy as np
    >>> from skimp.noise import sample_labels
    >>> sample_labels(np.array([[0.0, 1.0], [1.0, 0.0]]), np.random.RandomState(0)).tolist()
    [1, 0]
    """
    cdf = np.cumsum(p, axis=1)
    # Dividing by the last entry makes it exactly 1.0, and so are trailing
    # entries after zero-probability classes (x / x == 1), so u < 1 can never
    # select a class whose probability is 0.
    cdf /= cdf[:, -1:]
    u = rng.random_sample(p.shape[0])
    return (cdf <= u[:, None]).sum(axis=1)


def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, Real) or not 0.0 <= rate < 1.0:
        raise ValueError(
            f"rate must be in [0, 1), got {rate!r}; it is the fraction of rows whose "
            f"label is replaced.")
    return float(rate)


def _check_n_classes(n_classes):
    if isinstance(n_classes, bool) or not isinstance(n_classes, Integral) or n_classes < 1:
        raise ValueError(f"n_classes must be a positive integer, got {n_classes!r}.")


def _check_model_name(model):
    if model not in NOISE_MODELS:
        raise ValueError(
            f"Unknown noise model {model!r}; use one of {', '.join(map(repr, NOISE_MODELS))} "
            f"or a (n_classes, n_classes) row-stochastic transition matrix.")
    return model


def _check_labels(y, n_classes):
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError("y must be a 1-D array of integer-encoded labels.")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}).")


def _check_transition(model):
    try:
        T = np.asarray(model, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            "model must be 'symmetric', 'pairflip' or a (n_classes, n_classes) array of "
            f"replacement probabilities; could not read {type(model).__name__} as a "
            "numeric matrix.") from None
    if T.ndim != 2 or T.shape[0] != T.shape[1] or T.shape[0] == 0:
        raise ValueError(
            f"A transition matrix must be square, (n_classes, n_classes); got shape "
            f"{T.shape}. Row k is the replacement distribution of true class k.")
    if not np.all(np.isfinite(T)):
        raise ValueError("The transition matrix contains NaN or inf; every entry must be "
                         "a probability in [0, 1].")
    if np.any(T < 0):
        i, j = np.argwhere(T < 0)[0]
        raise ValueError(f"The transition matrix has a negative entry T[{i}, {j}] = "
                         f"{T[i, j]:g}; every entry must be a probability in [0, 1].")
    sums = T.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > _ROW_SUM_ATOL)
    if bad.size:
        k = bad[0]
        raise ValueError(
            f"Row {k} of the transition matrix sums to {sums[k]:.6g}, not 1; each row k "
            f"must be the replacement distribution of true class k (rows {bad.tolist()} "
            f"are off).")
    return T
