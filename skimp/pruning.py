"""Pruning strategies: functions that return the next, smaller mask.

A strategy has two parts:

criterion
    Scores every masked weight; the lowest scores are pruned first.
    ``"magnitude"`` scores ``|w|`` (the lottery-ticket rule), ``"random"``
    draws fresh uniform scores from a seeded generator (the random-pruning
    baseline, uncorrelated with the weights), and a callable
    ``criterion(module) -> {param_name: scores}`` scores any other way.
scope
    Where the weights compete. ``"global"`` ranks all layers together, so
    layers with many small weights lose more; ``"layerwise"`` removes the same
    fraction of each layer's alive weights, so every layer follows the density
    schedule ``(1 - fraction) ** level``.

:func:`next_mask` combines both and is what an IMP loop calls once per level;
:func:`compute_scores` and :func:`prune` are its two halves. Whatever the
scores, only alive weights compete and already-pruned weights stay pruned, so
the masks of successive levels shrink monotonically. Counts are exact (see
:func:`prune`) and ties are broken by position, so the result is
deterministic.
"""

from collections.abc import Mapping
from numbers import Real

import numpy as np
import torch
from sklearn.utils import check_random_state

from skimp._validation import HasMethods, validate_params
from skimp.masks import Mask, prunable_parameter_names

__all__ = ["CRITERIA", "SCOPES", "check_criterion", "check_scope", "compute_scores",
           "next_mask", "prune"]

CRITERIA = ("magnitude", "random")
SCOPES = ("global", "layerwise")

# The parameters of the public functions. fraction, criterion and scope are
# checked by hand (_check_fraction, check_criterion, check_scope): users and
# tests match their messages ("fraction must be in [0, 1), got ..."), which
# validate_params words its own way. Each is checked once per call: next_mask
# checks all three and runs the unchecked halves _scores and _prune, and the
# scores are checked against the mask, which no constraint can express.
_CONSTRAINTS = {
    "module": [HasMethods(["named_parameters"])],
    "mask": [Mask],
    "scores": "no_validation",
    "fraction": "no_validation",
    "criterion": "no_validation",
    "scope": "no_validation",
    "random_state": ["random_state"],
}


def _declared(*names):
    """The constraints of ``names``, for ``validate_params``."""
    return {name: _CONSTRAINTS[name] for name in names}


def check_criterion(criterion):
    """Validate a pruning criterion.

    Parameters
    ----------
    criterion : {"magnitude", "random"} or callable
        A built-in name, or ``criterion(module) -> {param_name: scores}``.

    Returns
    -------
    criterion : str or callable
        ``criterion`` unchanged.

    Raises
    ------
    ValueError
        If ``criterion`` is neither a built-in name nor callable.

    Examples
    --------
    >>> from skimp.pruning import check_criterion
    >>> check_criterion("random")
    'random'
    """
    if callable(criterion) or (isinstance(criterion, str) and criterion in CRITERIA):
        return criterion
    raise ValueError(
        f"criterion must be one of {', '.join(map(repr, CRITERIA))} or a callable "
        f"criterion(module) -> {{param_name: scores}}; got {criterion!r}.")


def check_scope(scope):
    """Validate a pruning scope.

    Parameters
    ----------
    scope : {"global", "layerwise"}
        Whether all layers compete in one ranking or each layer is pruned by
        the same fraction.

    Returns
    -------
    scope : str
        ``scope`` unchanged.

    Raises
    ------
    ValueError
        If ``scope`` is not one of :data:`SCOPES`.

    Examples
    --------
    >>> from skimp.pruning import check_scope
    >>> check_scope("layerwise")
    'layerwise'
    """
    if isinstance(scope, str) and scope in SCOPES:
        return scope
    raise ValueError(f"scope must be one of {', '.join(map(repr, SCOPES))}; got {scope!r}.")


@validate_params(_declared("module", "mask", "criterion", "random_state"),
                 prefer_skip_nested_validation=True)
def compute_scores(module, mask, criterion="magnitude", *, random_state=None):
    """Score every weight that ``mask`` covers.

    Parameters
    ----------
    module : torch.nn.Module
        The network, with the weights the criterion looks at.
    mask : skimp.masks.Mask
        The current mask; its parameter names are the ones scored.
    criterion : {"magnitude", "random"} or callable, default="magnitude"
        ``"magnitude"`` scores ``|w|``. ``"random"`` draws uniform scores in
        ``[0, 1)`` for every weight, alive or not, so the draw does not depend
        on the mask. A callable ``criterion(module)`` must return a dict of
        ``torch.Tensor`` or ``numpy.ndarray`` scores, one per masked parameter,
        each of the parameter's shape; it may also score prunable weights the
        mask leaves dense (such as an unpruned output layer), which are
        ignored.
    random_state : int, RandomState instance or None, default=None
        Seeds ``"random"``; unused otherwise. Pass one ``RandomState`` for a
        whole IMP run to draw fresh scores at every level.

    Returns
    -------
    scores : dict of str to torch.Tensor
        float64 CPU tensors keyed and shaped like ``mask.tensors``.

    Raises
    ------
    ValueError
        If ``module`` has no ``named_parameters``, ``mask`` is not a
        :class:`~skimp.masks.Mask`, ``random_state`` cannot seed a
        ``RandomState``, the criterion is unknown, or a callable's return is
        not a dict,
        misses a masked parameter, names a parameter that is not a prunable
        weight, or has a value of the wrong type or shape, or NaN or inf at an
        alive weight.

    Examples
    --------
    >>> import torch
    >>> from skimp.masks import Mask
    >>> from skimp.pruning import compute_scores
    >>> net = torch.nn.Linear(2, 2)
    >>> scores = compute_scores(net, Mask.ones_like(net, ["weight"]), "random",
    ...                         random_state=0)
    >>> scores["weight"].shape, scores["weight"].dtype
    (torch.Size([2, 2]), torch.float64)
    """
    return _scores(module, mask, check_criterion(criterion), random_state)


@validate_params(_declared("mask", "scores", "fraction", "scope"),
                 prefer_skip_nested_validation=True)
def prune(mask, scores, fraction, *, scope="global"):
    """Remove the alive weights with the lowest scores.

    Parameters
    ----------
    mask : skimp.masks.Mask
        The current mask; it is left unchanged.
    scores : dict of str to torch.Tensor or numpy.ndarray
        One score per weight, keyed and shaped like ``mask.tensors``. Lower is
        pruned first. Scores of already-pruned weights are ignored.
    fraction : float in [0, 1)
        Fraction of the *alive* weights to remove.
    scope : {"global", "layerwise"}, default="global"
        ``"global"`` removes exactly ``round(fraction * n_alive)`` weights in
        one ranking over all layers. ``"layerwise"`` removes exactly
        ``round(fraction * alive_in_layer)`` from each layer, so after ``L``
        levels a layer of ``n`` weights keeps ``n * (1 - fraction) ** L`` of
        them, up to the accumulated rounding: less than ``0.5 / fraction``
        weights.

    Returns
    -------
    mask : skimp.masks.Mask
        A new mask, on the devices of ``mask``, with ``new <= mask``.

    Raises
    ------
    ValueError
        If ``mask`` is not a :class:`~skimp.masks.Mask`, ``fraction`` or
        ``scope`` is out of range, or ``scores`` does not
        match the mask (missing or extra names, wrong type or shape, NaN or
        inf at an alive weight).

    Notes
    -----
    Ties are broken by position (a stable sort over the parameters in mask
    order, each flattened), which keeps the counts exact and the result
    deterministic. With ``|w|`` scores and ``scope="global"`` this is the
    global magnitude pruning of the lottery-ticket papers.

    Examples
    --------
    >>> import torch
    >>> from skimp.masks import Mask
    >>> from skimp.pruning import prune
    >>> mask = Mask({"a": torch.ones(4, dtype=bool), "b": torch.ones(2, dtype=bool)})
    >>> scores = {"a": torch.tensor([4., 3., 2., 1.]), "b": torch.tensor([5., 0.])}
    >>> prune(mask, scores, 0.5).tensors["a"].tolist()
    [True, True, False, False]
    >>> new = prune(mask, scores, 0.5, scope="layerwise")
    >>> new.tensors["a"].tolist(), new.tensors["b"].tolist()
    ([True, True, False, False], [True, False])
    """
    fraction = _check_fraction(fraction)
    scope = check_scope(scope)
    return _prune(mask, _check_scores(scores, mask, "scores"), fraction, scope)


@validate_params(_declared("module", "mask", "fraction", "criterion", "scope", "random_state"),
                 prefer_skip_nested_validation=True)
def next_mask(module, mask, fraction, *, criterion="magnitude", scope="global",
              random_state=None):
    """One pruning step: score the weights, then prune the lowest.

    Parameters
    ----------
    module : torch.nn.Module
        The trained network of the current level.
    mask : skimp.masks.Mask
        The current mask; it is left unchanged.
    fraction : float in [0, 1)
        Fraction of the alive weights to remove.
    criterion : {"magnitude", "random"} or callable, default="magnitude"
        See :func:`compute_scores`.
    scope : {"global", "layerwise"}, default="global"
        See :func:`prune`.
    random_state : int, RandomState instance or None, default=None
        Seeds ``criterion="random"``. One ``RandomState`` shared by every level
        of a run gives reproducible runs with fresh scores at each level.

    Returns
    -------
    mask : skimp.masks.Mask
        The next mask, ``new <= mask``. ``criterion="magnitude"`` with
        ``scope="global"`` is global magnitude pruning: one ranking of
        ``|w|`` over all layers.

    Raises
    ------
    ValueError
        As :func:`compute_scores` and :func:`prune`; the arguments are checked
        before any score is computed.

    Examples
    --------
    >>> import torch
    >>> from skimp.masks import Mask
    >>> from skimp.pruning import next_mask
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.Linear(20, 2))
    >>> mask = Mask.ones_like(net, ["0.weight", "1.weight"])
    >>> for level in range(3):
    ...     mask = next_mask(net, mask, 0.5, scope="layerwise")
    >>> mask.tensors["0.weight"].sum().item(), mask.tensors["1.weight"].sum().item()
    (25, 5)
    """
    fraction = _check_fraction(fraction)
    scope = check_scope(scope)
    criterion = check_criterion(criterion)
    return _prune(mask, _scores(module, mask, criterion, random_state), fraction, scope)


def _scores(module, mask, criterion, random_state):
    """:func:`compute_scores` for a checked ``criterion``."""
    if criterion == "magnitude":
        params = _masked_parameters(module, mask)
        scores = {n: p.detach().abs() for n, p in params.items()}
        return _check_scores(scores, mask, "the magnitude criterion")
    if criterion == "random":
        rng = check_random_state(random_state)
        scores = {n: rng.random_sample(tuple(t.shape)) for n, t in mask.tensors.items()}
        return _check_scores(scores, mask, "the random criterion")
    return _scores_from_callable(criterion, module, mask)


def _prune(mask, scores, fraction, scope):
    """:func:`prune` for checked arguments."""
    names = list(mask.tensors)
    if not names:
        return Mask({})
    alive = [mask.tensors[n].detach().reshape(-1).cpu() for n in names]
    flat = [scores[n].reshape(-1) for n in names]
    if scope == "global":
        keep = _drop_lowest(torch.cat(alive), torch.cat(flat), fraction)
        kept = torch.split(keep, [a.numel() for a in alive])
    else:
        kept = [_drop_lowest(a, s, fraction) for a, s in zip(alive, flat)]
    return Mask({
        n: k.reshape(mask.tensors[n].shape).to(mask.tensors[n].device)
        for n, k in zip(names, kept)
    })


def _drop_lowest(alive, scores, fraction):
    """Copy of the flat ``alive`` without its ``round(fraction * n)`` lowest scores."""
    idx = torch.nonzero(alive).reshape(-1)
    n_prune = int(round(fraction * idx.numel()))
    keep = alive.clone()
    if n_prune == 0:
        return keep
    # What a stable sort would drop (equal scores in position order: exact
    # counts, and the same mask on every run), without sorting: every score
    # below the n_prune-th smallest, then the first of the scores equal to
    # it. A selection is linear; the sort of all the weights was most of an
    # MNIST-scale level's pruning time.
    alive_scores = scores[idx]
    threshold = torch.kthvalue(alive_scores, n_prune).values
    below = alive_scores < threshold
    ties = torch.nonzero(alive_scores == threshold).reshape(-1)
    keep[idx[below]] = False
    keep[idx[ties[:n_prune - int(below.sum())]]] = False
    return keep


def _masked_parameters(module, mask):
    params = dict(module.named_parameters())
    missing = [n for n in mask.tensors if n not in params]
    if missing:
        raise ValueError(f"The mask covers {missing}, which the module does not have; "
                         f"build the mask from this module's parameter names.")
    return {n: params[n] for n in mask.tensors}


def _scores_from_callable(criterion, module, mask):
    name = getattr(criterion, "__name__", repr(criterion))
    source = f"criterion {name}"
    scores = criterion(module)
    if not isinstance(scores, Mapping):
        raise ValueError(f"{source} returned {type(scores).__name__}; it must return a dict "
                         f"mapping parameter names to score tensors or arrays.")
    # A criterion may score every prunable weight; the ones this mask leaves
    # dense are simply not ranked. Any other name is a mistake worth reporting.
    prunable = set(prunable_parameter_names(module))
    extra = [k for k in scores if k not in mask.tensors and k not in prunable]
    if extra:
        raise ValueError(
            f"{source} returned scores for {extra}, which are not prunable weights of the "
            f"module; score only the masked parameters {list(mask.tensors)}.")
    scores = {k: v for k, v in scores.items() if k in mask.tensors}
    return _check_scores(scores, mask, source)


def _check_scores(scores, mask, source):
    """Scores as float64 CPU tensors, after checking them against ``mask``."""
    if not isinstance(scores, Mapping):
        raise ValueError(f"{source} must be a dict mapping parameter names to scores, "
                         f"got {type(scores).__name__}.")
    missing = [n for n in mask.tensors if n not in scores]
    if missing:
        raise ValueError(f"{source} has no scores for {missing}; give one score per weight "
                         f"of every masked parameter.")
    extra = [n for n in scores if n not in mask.tensors]
    if extra:
        raise ValueError(f"{source} has scores for {extra}, which the mask does not cover; "
                         f"the masked parameters are {list(mask.tensors)}.")
    return {n: _as_score_tensor(scores[n], n, mask.tensors[n], source) for n in mask.tensors}


def _as_score_tensor(value, name, keep, source):
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise ValueError(f"{source} gave complex scores for {name!r}; scores must be real.")
        tensor = value.detach().to("cpu", torch.float64)
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise ValueError(f"{source} gave scores of dtype {value.dtype} for {name!r}; "
                             f"scores must be real numbers.")
        tensor = torch.from_numpy(value.astype(np.float64))
    else:
        raise ValueError(f"{source} gave a {type(value).__name__} for {name!r}; scores must "
                         f"be a torch.Tensor or numpy.ndarray.")
    if tuple(tensor.shape) != tuple(keep.shape):
        raise ValueError(f"{source} gave scores of shape {tuple(tensor.shape)} for {name!r}, "
                         f"whose weight has shape {tuple(keep.shape)}.")
    # Scores of dead weights are never ranked, so only alive ones must be usable.
    if not bool(torch.isfinite(tensor[keep.cpu()]).all()):
        raise ValueError(f"{source} gave NaN or inf scores for alive weights of {name!r}; "
                         f"every alive weight needs a finite score.")
    return tensor


def _check_fraction(fraction):
    if isinstance(fraction, bool) or not isinstance(fraction, Real) or not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction!r}; it is the share of "
                         f"the alive weights removed at this level.")
    return float(fraction)
