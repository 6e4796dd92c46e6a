"""Noise-aware temperature scaling: calibrate a ticket on noisy validation labels.

A network stopped early has learned the distribution of the *noisy* labels,
which is flatter than the clean one, so on clean labels it is underconfident.
Ordinary temperature scaling fitted on noisy held-out labels calibrates the
model to the noise and makes this worse. When the noise is known as a
transition matrix ``M[i, j] = P(noisy label j | true label i)``, the
temperature can instead be fitted *through* the noise (forward correction,
Patrini et al., CVPR 2017): ``T`` maximises the likelihood of the noisy labels
under ``softmax(z / T) @ M``, and the model then predicts with
``softmax(z / T)``, its estimate of the clean labels. One scalar, so the
predicted classes, and the accuracy, never change.

This module is the one place that does it:

- :func:`calibration_noise_matrix` checks the noise a user states and composes
  it with the noise the estimator injects;
- :func:`fit_temperature` fits ``T`` for a matrix;
- :func:`estimate_noise_matrix` estimates the matrix when it is not known,
  either jointly with ``T`` under a symmetric model (``method="symmetric"``)
  or with cleanlab's confident joint (``method="confident_joint"``, the
  ``skimp[cleanlab]`` extra).

:class:`skimp.PrunedNetClassifier` (``calibration``, ``calibration_noise``)
and :func:`skimp.model_selection.compare_controls` call these functions.
"""

from numbers import Real

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, logsumexp

from skimp._validation import is_bool

__all__ = ["calibration_noise_matrix", "fit_temperature", "forward_nll",
           "estimate_noise_matrix", "symmetric_noise_matrix", "output_layer",
           "fold_temperature", "TEMPERATURE_RANGE"]

#: The temperatures :func:`fit_temperature` searches. Beyond them the
#: likelihood is flat to within rounding: every row already has one class at
#: probability 1, or all classes are equal.
TEMPERATURE_RANGE = (1e-2, 1e2)

# Points of the coarse grid over log T that brackets the optimum before
# Brent's method refines it; the forward-corrected likelihood need not be
# concave in 1 / T, so a local search alone could stop in the wrong valley.
_GRID_POINTS = 41


def _is_estimate(calibration_noise):
    """Whether ``calibration_noise`` asks for the noise to be estimated."""
    return isinstance(calibration_noise, str) and calibration_noise == "estimate"


def symmetric_noise_matrix(rate, n_classes):
    """Transition matrix of symmetric noise at ``rate``, as the estimator draws it.

    A fraction ``rate`` of the labels is replaced by a class drawn uniformly
    from all ``n_classes`` classes (the true one included), so
    ``M = (1 - rate) * I + rate / n_classes``.

    Parameters
    ----------
    rate : float in [0, 1)
    n_classes : int

    Returns
    -------
    M : ndarray of shape (n_classes, n_classes)
    """
    return (1.0 - rate) * np.eye(n_classes) + rate / n_classes


def calibration_noise_matrix(calibration_noise, injected, n_classes):
    """The noise matrix that the labels of the validation split carry.

    The labels passed to ``fit`` carry ``calibration_noise``; the estimator's
    ``label_noise`` is then drawn on top of them, as ``injected``. The
    validation labels therefore carry ``A @ B``: true class ``i`` becomes
    the passed label ``k`` with probability ``A[i, k]``, which becomes the
    noisy label ``j`` with probability ``B[k, j]``.

    Parameters
    ----------
    calibration_noise : None, float in [0, 1) or array-like of shape (C, C)
        The noise already in ``y``: ``None`` for clean labels, a rate of
        symmetric noise, or a row-stochastic matrix with rows and columns in
        the order of ``classes_``.
    injected : ndarray of shape (C, C)
        The matrix of the noise the estimator injects
        (:func:`skimp.noise.noise_transition_matrix`).
    n_classes : int

    Returns
    -------
    M : ndarray of shape (C, C)

    Raises
    ------
    ValueError
        If ``calibration_noise`` is not one of the forms above, or if a
        row of the composed matrix does not leave the true class the most
        likely label: the temperature of such noise is not identifiable.
    """
    if calibration_noise is None:
        stated = np.eye(n_classes)
    elif isinstance(calibration_noise, str):
        raise ValueError(
            f"calibration_noise={calibration_noise!r} is not a known option; pass None "
            f"(clean labels), a float rate of symmetric noise in [0, 1), a "
            f"({n_classes}, {n_classes}) row-stochastic matrix, or 'estimate'.")
    elif isinstance(calibration_noise, Real) and not is_bool(calibration_noise):
        rate = float(calibration_noise)
        if not 0.0 <= rate < 1.0:
            raise ValueError(
                f"calibration_noise={calibration_noise!r} is outside [0, 1); it is the "
                f"fraction of the labels passed to fit that were replaced by a class "
                f"drawn uniformly, e.g. calibration_noise=0.2.")
        stated = symmetric_noise_matrix(rate, n_classes)
    else:
        stated = _check_matrix(calibration_noise, n_classes)
    M = stated @ injected
    _check_identifiable(M, "the composition of calibration_noise and label_noise"
                        if calibration_noise is not None else "label_noise's matrix")
    return M


def _check_matrix(matrix, n_classes):
    if is_bool(matrix):
        raise ValueError(
            f"calibration_noise={matrix!r} is a bool; pass None (clean labels), a "
            f"float rate in [0, 1), a ({n_classes}, {n_classes}) matrix or 'estimate'.")
    try:
        M = np.asarray(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"calibration_noise must be None, a float rate in [0, 1), a "
            f"({n_classes}, {n_classes}) row-stochastic matrix or 'estimate'; could "
            f"not read {type(matrix).__name__} as a matrix.") from None
    if M.shape != (n_classes, n_classes):
        raise ValueError(
            f"calibration_noise is a matrix of shape {M.shape}, but y has {n_classes} "
            f"classes; pass a ({n_classes}, {n_classes}) matrix whose row i is "
            f"P(label | true class classes_[i]).")
    if not np.all(np.isfinite(M)) or np.any(M < 0):
        raise ValueError(
            "calibration_noise has entries that are negative, NaN or inf; every entry "
            "is a probability in [0, 1].")
    sums = M.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > 1e-6)
    if bad.size:
        raise ValueError(
            f"calibration_noise is not row-stochastic: row {bad[0]} sums to "
            f"{sums[bad[0]]:.6g}, not 1 (rows {bad.tolist()} are off); row i must be "
            f"the distribution of the label given true class classes_[i].")
    _check_identifiable(M, "calibration_noise")
    return M


def _check_identifiable(M, what):
    off = M - np.diag(np.full(len(M), np.inf))
    worst = off.max(axis=1)
    bad = np.flatnonzero(np.diag(M) <= worst)
    if bad.size:
        i = bad[0]
        raise ValueError(
            f"{what} makes another label at least as likely as the true one in row {i} "
            f"(P(true) = {M[i, i]:.3g}, largest other = {worst[i]:.3g}): such noise cannot "
            f"be told apart from a relabelling of the classes, so no temperature can be "
            f"fitted through it. Check the matrix's row order (that of classes_) or its "
            f"rate, or pass calibration=None.")


def forward_nll(logits, y, noise_matrix=None, temperature=1.0):
    """Mean negative log-likelihood of noisy labels under ``softmax(z / T) @ M``.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
    y : array-like of int of shape (n_samples,)
        Observed (noisy) labels, as column indices.
    noise_matrix : array-like of shape (n_classes, n_classes), default=None
        ``M[i, j] = P(noisy j | true i)``; ``None`` is the identity (plain
        temperature scaling).
    temperature : float, default=1.0

    Returns
    -------
    nll : float
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    log_p = log_softmax(z / temperature, axis=1)
    if noise_matrix is None:
        return float(-log_p[np.arange(len(y)), y].mean())
    with np.errstate(divide="ignore"):  # a zero in M is a label it never produces
        log_m = np.log(np.asarray(noise_matrix, dtype=np.float64)[:, y].T)  # log M[k, y_n]
        return float(-logsumexp(log_p + log_m, axis=1).mean())


def fit_temperature(logits, y, noise_matrix=None):
    """The temperature that maximises the likelihood of ``y`` through the noise.

    Minimises :func:`forward_nll` over ``T`` in :data:`TEMPERATURE_RANGE`:
    a grid over ``log T`` finds the best valley, and Brent's method refines
    it. With ``noise_matrix=None`` this is ordinary temperature scaling.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        The model's logits on held-out rows.
    y : array-like of int of shape (n_samples,)
        Their observed labels, as column indices.
    noise_matrix : array-like of shape (n_classes, n_classes), default=None
        ``M[i, j] = P(observed j | true i)``.

    Returns
    -------
    temperature : float
        Divide the logits by it: ``softmax(logits / temperature)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skimp.calibration import fit_temperature, symmetric_noise_matrix
    >>> rng = np.random.RandomState(0)
    >>> z = rng.normal(size=(2000, 3)) * 3
    >>> y = np.array([rng.choice(3, p=np.exp(r) / np.exp(r).sum()) for r in z / 2])
    >>> round(fit_temperature(z, y), 1)  # the labels were drawn at T = 2
    2.0
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    lo, hi = np.log(TEMPERATURE_RANGE)
    grid = np.linspace(lo, hi, _GRID_POINTS)
    losses = [forward_nll(z, y, noise_matrix, np.exp(t)) for t in grid]
    best = int(np.argmin(losses))
    bounds = (grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)])
    result = minimize_scalar(lambda t: forward_nll(z, y, noise_matrix, np.exp(t)),
                             bounds=bounds, method="bounded", options={"xatol": 1e-5})
    t = result.x if result.fun <= losses[best] else grid[best]
    return float(np.exp(t))


def estimate_noise_matrix(logits, y, *, method="symmetric"):
    """Estimate the noise matrix of held-out labels from a model's logits.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes)
        The model's logits on held-out rows it was not trained on.
    y : array-like of int of shape (n_samples,)
        Their observed labels, as column indices.
    method : {"symmetric", "confident_joint"}, default="symmetric"
        ``"symmetric"`` assumes symmetric noise and fits its rate ``r``
        jointly with the temperature, by maximising the forward-corrected
        likelihood of ``y`` (a grid over ``r``, Brent's method on the best
        bracket, ``T`` fitted for each ``r``). Model error lowers the
        likelihood of every label alike and is absorbed by ``T``; label
        noise puts mass on the other classes evenly, which only ``r``
        explains. Asymmetric noise is read as its symmetric part.
        ``"confident_joint"`` is cleanlab's estimate
        (``cleanlab.count.estimate_py_and_noise_matrices_from_probabilities``
        on ``softmax(logits)``); it needs the ``skimp[cleanlab]`` extra.

    Returns
    -------
    M : ndarray of shape (n_classes, n_classes)
        ``M[i, j]``, the estimated ``P(observed j | true i)``.

    Raises
    ------
    ImportError
        With ``method="confident_joint"`` when cleanlab is not installed.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    n_classes = z.shape[1]
    if method == "confident_joint":
        try:
            from cleanlab.count import estimate_py_and_noise_matrices_from_probabilities
        except ImportError as exc:
            raise ImportError(
                "method='confident_joint' uses cleanlab, which is not installed; "
                "pip install 'skimp[cleanlab]', or use method='symmetric'.") from exc
        proba = np.exp(log_softmax(z, axis=1))
        noise = estimate_py_and_noise_matrices_from_probabilities(y, proba)[1]
        # cleanlab's noise_matrix[i, j] is P(observed i | true j): columns are true.
        return np.asarray(noise, dtype=np.float64).T
    if method != "symmetric":
        raise ValueError(f"method must be 'symmetric' or 'confident_joint', got {method!r}.")
    # Symmetric noise stays identifiable while 1 - r + r / C > r / C, i.e. r < 1.
    r_max = 0.95

    def profile(r):
        M = symmetric_noise_matrix(r, n_classes)
        return forward_nll(z, y, M, fit_temperature(z, y, M))

    grid = np.linspace(0.0, r_max, 12)
    losses = [profile(r) for r in grid]
    best = int(np.argmin(losses))
    bounds = (grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)])
    result = minimize_scalar(profile, bounds=bounds, method="bounded",
                             options={"xatol": 1e-4})
    rate = result.x if result.fun <= losses[best] else grid[best]
    return symmetric_noise_matrix(float(rate), n_classes)


def output_layer(module, rows=None):
    """The name of the Linear layer whose output is ``module``'s logits.

    It is the last ``torch.nn.Linear`` in ``module.modules()`` order. With
    ``rows``, the claim is checked: halving that layer's weight and bias must
    give the probabilities of the halved logits, which fails when anything
    but the identity or a log-softmax (a normalisation, a non-linearity,
    another layer) follows it.

    Parameters
    ----------
    module : torch.nn.Module
    rows : torch.Tensor, default=None
        A few input rows on the module's device, for the check.

    Returns
    -------
    name : str

    Raises
    ------
    ValueError
        If there is no Linear layer, or the check fails.
    """
    linears = [name for name, sub in module.named_modules()
               if isinstance(sub, torch.nn.Linear)]
    fix = ("Make the module end in a Linear layer that returns the logits, or pass "
           "calibration=None.")
    if not linears:
        raise ValueError(
            f"calibration folds the temperature into the output layer, but "
            f"{type(module).__name__} has no Linear layer. {fix}")
    name = linears[-1]
    if rows is not None:
        layer = module.get_submodule(name)
        training = module.training
        module.eval()
        try:
            saved = {k: v.clone() for k, v in layer.state_dict().items()}
            with torch.no_grad():
                before = module(rows).double()
                _scale_layer(layer, 0.5)
                after = module(rows).double()
        finally:
            layer.load_state_dict(saved)
            module.train(training)
        # Compared as probabilities: a head that returns log-probabilities
        # (logits up to a per-row constant) calibrates as well as raw logits.
        if not torch.allclose(torch.softmax(after, 1), torch.softmax(before * 0.5, 1),
                              rtol=1e-4, atol=1e-6):
            raise ValueError(
                f"calibration folds the temperature into the output layer, but scaling "
                f"{type(module).__name__}'s last Linear layer ({name!r}) does not scale "
                f"its logits: something other than the logits' identity follows it. {fix}")
    return name


def _scale_layer(layer, factor):
    layer.weight.mul_(factor)
    if layer.bias is not None:
        layer.bias.mul_(factor)


@torch.no_grad()
def fold_temperature(module, temperature):
    """Divide ``module``'s logits by ``temperature``, in place, through its weights.

    The output layer's weight and bias are divided by ``temperature``, so the
    module returns ``logits / temperature`` with no extra operation: exported
    or compacted, it reproduces the calibrated probabilities without skimp.
    Pruned weights stay exactly zero.

    Parameters
    ----------
    module : torch.nn.Module
        Its output layer is found by :func:`output_layer`.
    temperature : float

    Returns
    -------
    module : torch.nn.Module
        The same module.
    """
    if temperature != 1.0:
        _scale_layer(module.get_submodule(output_layer(module)), 1.0 / temperature)
    return module
