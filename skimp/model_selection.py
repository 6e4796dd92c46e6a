"""Is it the mask, the sparsity, or just stopping early? IMP against its controls.

:func:`compare_controls` fits one :class:`~skimp.PrunedNetClassifier` per
method and seed, in the spirit of sklearn's ``validation_curve``, and
returns every level of every fit scored on clean held-out labels:

- the field's controls, along the same density schedule as IMP: random
  pruning, random re-initialisation and learning-rate rewinding;
- the cheap remedies a practitioner tries before IMP: the dense network
  stopped early on the validation split, and a dense network as small as
  the IMP ticket.

Every method of one seed shares the label noise, the validation split and
(where the architecture is the same) the initial weights, so the per-seed
differences between methods are paired.
"""

import inspect
import math
import warnings
from numbers import Integral

import numpy as np
import torch
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.metrics import accuracy_score, log_loss
from sklearn.utils.validation import check_array

from skimp._data import hold_small_last_batch_warnings
from skimp.calibration import _is_estimate
from skimp.classifier import PrunedNetClassifier
from skimp.imp import select_level
from skimp.masks import prunable_parameter_names
from skimp.metrics import expected_calibration_error
from skimp.modules import MLP

__all__ = ["compare_controls", "CONTROL_METHODS", "RESULT_KEYS"]

#: The methods :func:`compare_controls` knows, and what each changes in the
#: estimator. ``None`` marks the dense baselines, which are not IMP runs.
CONTROL_METHODS = {
    "imp": {},
    "imp_last_epoch": {"early_stopping": False, "n_iter_no_change": None},
    "random": {"pruning_criterion": "random"},
    "reinit": {"retrain": "reinit"},
    "lr_rewind": {"retrain": "lr_rewind"},
    "early_stopping": None,
    "small_dense": None,
}

#: The keys of :func:`compare_controls`' result, before any ``metrics``.
RESULT_KEYS = ("method", "seed", "level", "n_params", "epochs", "n_epochs", "train_accuracy",
               "val_accuracy", "val_loss", "test_accuracy", "test_ece", "test_log_loss",
               "temperature", "chosen", "fit_time")

_BASELINES = ("early_stopping", "small_dense")

#: The methods whose rows can be read from the ``"imp"`` fit instead of
#: fitted again (see :func:`_derivable`).
_DERIVED = ("imp_last_epoch", "early_stopping")


def compare_controls(estimator, X, y, X_test, y_test, *,
                     methods=("imp", "random", "reinit", "lr_rewind", "early_stopping",
                              "small_dense"),
                     seeds=(0, 1, 2), metrics=None, n_jobs=None, verbose=0):
    """Fit IMP, its controls and two dense baselines; score them on clean data.

    Each method fits a clone of ``estimator`` whose ``random_state`` is the
    seed, so every method of one seed shares the label noise, the validation
    split and, for the pruning methods and ``early_stopping``, the initial
    weights and batch order.

    Methods:

    - ``"imp"``: the estimator as given;
    - ``"imp_last_epoch"``: IMP as the papers run it, keeping each level's
      last epoch (``early_stopping=False``). Without ``n_iter_no_change``
      its masks are those of ``"imp"``, so with ``"imp"`` in ``methods`` its
      rows are read from the ``"imp"`` fit (its last-epoch weights, chosen
      on their own validation scores, each with its own temperature)
      instead of fitted again, unless ``patience`` could stop the two
      fits after different levels or ``calibration_noise="estimate"``;
    - ``"random"``: ``pruning_criterion="random"``, the random-pruning
      control at the same densities;
    - ``"reinit"``: ``retrain="reinit"``, IMP's masks with fresh initial
      weights (Frankle and Carbin's control);
    - ``"lr_rewind"``: ``retrain="lr_rewind"``, IMP's masks with the
      trained weights kept (Renda et al., 2020);
    - ``"early_stopping"``: the dense network (``max_levels=0``), trained
      with the same recipe for up to ``max_epochs``, keeping the epoch that
      scores best on the IMP fit's own noisy validation rows under the same
      rule (``selection="accuracy"``: highest accuracy; ``"loss"``: lowest
      log-loss; ties go to the earlier epoch): the estimator's own
      ``early_stopping=True``. That is level 0 of an early-stopped IMP fit,
      so when the estimator has ``early_stopping=True`` and ``"imp"`` is in
      ``methods``, its row is read from that fit;
    - ``"small_dense"``: a dense network whose prunable weights number
      about the validation-chosen IMP ticket's of the same seed, trained
      and early-stopped as ``"early_stopping"``. For the default MLP
      (``module=None``) every hidden width is scaled by one factor; for a
      module class whose constructor takes a ``width`` parameter, such as
      :class:`skimp.modules.ConvNet`, that parameter is searched. Widths
      are whole units of at least 1, so a ticket smaller than the smallest
      such net gets that net. Other modules are refused.

    Parameters
    ----------
    estimator : PrunedNetClassifier
        Unfitted; it is cloned, never fitted itself. Its ``selection`` must
        be ``"accuracy"`` or ``"loss"`` when a baseline is asked for.
    X : array-like of shape (n_samples, n_features) or (n_samples, ...)
        Fit data, as for ``estimator.fit``.
    y : array-like of shape (n_samples,)
        Fit labels. ``estimator.label_noise`` adds simulated noise to them.
    X_test : array-like of the same row shape as X
        Held-out rows, used only to score.
    y_test : array-like of shape (n_test,)
        Their clean labels, from the classes of y.
    methods : sequence of str, default=all of :data:`CONTROL_METHODS`
        ``"small_dense"`` needs ``"imp"``, whose ticket it matches.
    seeds : sequence of int, default=(0, 1, 2)
        One fit per method and seed.
    metrics : dict of str to callable, default=None
        Extra columns: ``fn(y_test, proba) -> float`` at every row, with
        ``proba`` of shape (n_test, n_classes) in the order of the sorted
        classes of y.
    n_jobs : int, default=None
        Fits run in parallel through joblib; ``None`` means 1. In process
        workers torch runs ``cores // n_jobs`` threads, as in
        ``GridSearchCV``, so with the estimator's ``n_threads="auto"`` the
        results equal those of ``n_jobs=1`` whenever ``"auto"`` picks one
        thread (small networks) or ``n_threads`` is an int.
    verbose : int, default=0
        joblib's verbosity.

    Returns
    -------
    results : dict of str to ndarray
        Equal-length arrays, ready for ``pandas.DataFrame``, one row per
        (method, seed, level) for the pruning methods and one per (method,
        seed) for the baselines, with the keys :data:`RESULT_KEYS` and those
        of ``metrics``: ``method``, ``seed``, ``level`` (0 for the
        baselines), ``n_params`` (nonzero prunable weights), ``epochs``
        (the epochs of training behind the row's weights, through the kept
        epoch: the kept epoch for ``imp``, ``random`` and the baselines, as
        the survivors are rewound; the kept epoch less ``rewind_epoch`` for
        ``reinit`` after level 0; for ``lr_rewind``, which carries its
        weights over, the epochs of every earlier level too), ``n_epochs``
        (the epochs trained at the row's level: their sum over a fit's rows
        is what the fit trained),
        ``train_accuracy`` (on the noisy training labels),
        ``val_accuracy`` and ``val_loss`` (on the noisy validation rows),
        ``test_accuracy``, ``test_ece`` (15 equal-width bins) and
        ``test_log_loss`` (on the clean test rows), ``temperature`` (the
        temperature the row's probabilities were divided by: 1 unless the
        estimator calibrates, in which case every method's rows are
        calibrated the same way, each level with its own temperature; see
        ``PrunedNetClassifier(calibration=...)``), ``chosen`` (1 on the
        row the method's own rule picks on validation, else 0; always 1 for
        the baselines) and ``fit_time`` (seconds of the whole fit; for a
        row read from the ``"imp"`` fit, of the levels it needed: level 0
        for ``early_stopping``).

    Raises
    ------
    ValueError
        For an unknown method, empty ``methods`` or ``seeds``, ``X_test``
        with other rows than X, ``y_test`` with unseen classes, or a
        baseline that cannot be built for the estimator's module or
        selection rule.

    Warns
    -----
    UserWarning
        At most once per call, when the fits' last training batch of every
        epoch holds at most 1/16 of ``batch_size`` rows, as ``fit`` would
        once per fit.

    See Also
    --------
    skimp.plotting.ControlsDisplay : Plots the result.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skimp import PrunedNetClassifier
    >>> from skimp.model_selection import compare_controls
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = PrunedNetClassifier(hidden_layer_sizes=(32,), max_epochs=4, max_levels=2,
    ...                           label_noise=0.2)
    >>> res = compare_controls(clf, X[:600] / 16, y[:600], X[600:] / 16, y[600:],
    ...                        methods=("imp", "early_stopping"), seeds=(0,))
    >>> res["method"].tolist()
    ['imp', 'imp', 'imp', 'early_stopping']
    >>> res["chosen"].tolist()[-1]
    1
    """
    methods, seeds, metrics = _check_arguments(estimator, methods, seeds, metrics)
    X_test, y_test = _check_test_data(X, y, X_test, y_test)
    derived = [m for m in methods if _derivable(estimator, m, methods)]
    first = [(m, s) for m in methods if m not in ("small_dense", *derived) for s in seeds]
    parallel = Parallel(n_jobs=n_jobs, verbose=verbose)
    fits = dict(zip(first, parallel(
        delayed(_fit_and_score_holding)(estimator, m, s, X, y, X_test, y_test, metrics,
                                        last_epoch=m == "imp" and "imp_last_epoch" in derived)
        for m, s in first)))
    rows = {key: scored for key, ((scored, _), _) in fits.items()}
    for seed in seeds:
        if "imp_last_epoch" in derived:
            rows[("imp_last_epoch", seed)] = fits[("imp", seed)][0][1]
        if "early_stopping" in derived:
            rows[("early_stopping", seed)] = _dense_level(rows[("imp", seed)])
    if "small_dense" in methods:
        targets = {s: _chosen(rows[("imp", s)])["n_params"] for s in seeds}
        later = parallel(
            delayed(_fit_and_score_holding)(estimator, "small_dense", s, X, y, X_test,
                                            y_test, metrics, target=targets[s])
            for s in seeds)
        fits.update({("small_dense", s): fit for s, fit in zip(seeds, later)})
        rows.update({("small_dense", s): r for s, ((r, _), _) in zip(seeds, later)})
    held = [message for _, messages in fits.values() for message in messages]
    if held:
        # Every fit trains on the same rows: once for the call, not once per fit.
        warnings.warn(held[0], UserWarning, stacklevel=2)
    ordered = [rows[(m, s)] for m in methods for s in seeds]
    keys = (*RESULT_KEYS, *metrics)
    return {key: np.concatenate([np.asarray(r[key]) for r in ordered]) for key in keys}


def _check_arguments(estimator, methods, seeds, metrics):
    if not isinstance(estimator, PrunedNetClassifier):
        raise TypeError(
            f"compare_controls needs an unfitted PrunedNetClassifier, got "
            f"{type(estimator).__name__}.")
    methods = [methods] if isinstance(methods, str) else list(methods)
    unknown = [m for m in methods if m not in CONTROL_METHODS]
    if unknown or not methods:
        raise ValueError(
            f"methods must be a non-empty selection of {list(CONTROL_METHODS)}, "
            f"got {methods!r}" + (f"; unknown: {unknown}." if unknown else "."))
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods holds duplicates: {methods!r}.")
    if "small_dense" in methods and "imp" not in methods:
        raise ValueError(
            "small_dense is sized to match the IMP ticket of each seed; add 'imp' "
            "to methods.")
    seeds = [seeds] if isinstance(seeds, Integral) else list(seeds)
    if not seeds:
        raise ValueError("seeds is empty; pass at least one int seed, e.g. seeds=(0,).")
    if any(not isinstance(s, Integral) or isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be ints, got {seeds!r}.")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds holds duplicates: {seeds!r}.")
    metrics = {} if metrics is None else dict(metrics)
    for name, fn in metrics.items():
        if name in RESULT_KEYS or not callable(fn):
            raise ValueError(
                f"metrics must map new column names to callables fn(y_test, proba); "
                f"{name!r} is " + ("a built-in column." if name in RESULT_KEYS
                                   else f"mapped to {type(fn).__name__}."))
    baselines = [m for m in methods if m in _BASELINES]
    if estimator.early_stopping:
        baselines = ["early_stopping=True", *baselines]
    if baselines:
        if estimator.selection not in ("accuracy", "loss"):
            raise ValueError(
                f"{baselines} keep the epoch that the selection rule prefers, which "
                f"must be 'accuracy' or 'loss' to be scored per epoch; the estimator "
                f"has selection={estimator.selection!r}.")
        if "small_dense" in methods:
            _resizing_parameter(estimator)
    return methods, seeds, metrics


def _feature_names(X):
    """X's column names when they are all strings (as sklearn records them)."""
    columns = getattr(X, "columns", None)
    if columns is None or not all(isinstance(c, str) for c in columns):
        return None
    return [str(c) for c in columns]


def _check_test_data(X, y, X_test, y_test):
    """Check the test data; return X_test as the fitted clones should see it.

    A DataFrame X_test is returned as it is when X has the same column names,
    so that prediction checks them as ``predict`` does; its columns in
    another order would be scored silently as an array.
    """
    names, test_names = _feature_names(X), _feature_names(X_test)
    if names is not None and test_names is not None and names != test_names:
        raise ValueError(
            f"X_test's columns {test_names[:5]}{'...' if len(test_names) > 5 else ''} are "
            f"not X's {names[:5]}{'...' if len(names) > 5 else ''}, in X's order; pass "
            f"X_test[X.columns].")
    X_shape = np.shape(X)
    checked = check_array(X_test, allow_nd=True, dtype=(np.float32, np.float64))
    if names is None or test_names is None:
        X_test = checked
    if checked.shape[1:] != tuple(X_shape[1:]):
        raise ValueError(
            f"X_test has rows of shape {checked.shape[1:]}, but X has rows of shape "
            f"{tuple(X_shape[1:])}; score on rows of the same features.")
    y_test = np.asarray(y_test)
    if y_test.shape != (len(X_test),):
        raise ValueError(
            f"y_test must hold one label per row of X_test ({len(checked)}), got "
            f"shape {y_test.shape}.")
    unseen = np.setdiff1d(y_test, np.unique(y))
    if unseen.size:
        raise ValueError(
            f"y_test holds labels that y does not: {unseen[:5].tolist()}.")
    return X_test, y_test


def _resizing_parameter(estimator):
    """``hidden_layer_sizes`` or ``module__width``: what small_dense resizes."""
    if estimator.module is None:
        return "hidden_layer_sizes"

    if isinstance(estimator.module, type):
        try:
            if "width" in inspect.signature(estimator.module).parameters:
                return "module__width"
        except (TypeError, ValueError):
            pass
    raise ValueError(
        f"small_dense cannot resize module={estimator.module!r}: it scales the "
        f"default MLP's hidden_layer_sizes or a module class's width parameter "
        f"(as skimp.modules.ConvNet has). Leave small_dense out of methods, or "
        f"give the module class a width parameter.")


def _derivable(estimator, method, methods):
    """Whether ``method``'s rows can be read from the ``"imp"`` fit of the seed.

    Only where the rows are provably those of a separate fit:

    - ``imp_last_epoch``'s when that fit trains every epoch of every level
      that ``early_stopping=False`` would: no ``n_iter_no_change`` (which
      changes the masks) and, with ``early_stopping``, no ``patience``,
      which stops the ``"imp"`` fit after levels chosen on its *kept*
      scores, where a last-epoch fit would stop after others;
    - ``early_stopping``'s when that fit keeps best epochs, so that its level
      0 is the dense net stopped early.

    With ``calibration_noise="estimate"`` neither is: each fit estimates the
    noise from its own chosen ticket.
    """
    if method not in _DERIVED or "imp" not in methods:
        return False
    if _estimates_noise(estimator):
        return False
    if method == "imp_last_epoch":
        return estimator.n_iter_no_change is None and (
            estimator.patience is None or not estimator.early_stopping)
    return bool(estimator.early_stopping)


def _estimates_noise(estimator):
    return estimator.calibration is not None and _is_estimate(estimator.calibration_noise)


def _fit_and_score_holding(*args, **kwargs):
    """``_fit_and_score``, and the small-last-batch warnings it held back."""
    # Held in the worker too: a joblib process shows its own warnings.
    with hold_small_last_batch_warnings() as held:
        rows = _fit_and_score(*args, **kwargs)
    return rows, held


def _fit_and_score(estimator, method, seed, X, y, X_test, y_test, metrics, target=None,
                   last_epoch=False):
    """Fit one method at one seed.

    Returns its rows of the result and, with ``last_epoch``, the rows of the
    weights each level ended with (``imp_last_epoch``'s), else None.
    """
    clf = clone(estimator).set_params(random_state=seed)
    if method in _BASELINES:
        if method == "small_dense":
            clf.set_params(**_small_dense_params(clf, X, y, target))
        clf.set_params(max_levels=0, patience=None, early_stopping=True)
    else:
        clf.set_params(**CONTROL_METHODS[method])
    clf.fit(X, y)
    path = clf.imp_path_
    rows = _score_levels(
        clf, method, seed, X_test, y_test, metrics, path,
        _epochs_behind(path, clf.retrain, clf.rewind_epoch, path["epoch"]),
        list(clf.staged_predict_proba(X_test)), clf.best_level_, path["temperature"])
    if not last_epoch:
        return rows, None
    # The last epochs' weights, chosen on their own validation scores.
    last_path = dict(path, train_accuracy=path["last_train_accuracy"],
                     val_loss=path["last_val_loss"], val_accuracy=path["last_val_accuracy"])
    last_epochs = np.where(path["level"] > 0, clf.rewind_epoch, 0) + path["n_epochs"]
    last = _score_levels(
        clf, "imp_last_epoch", seed, X_test, y_test, metrics, last_path,
        _epochs_behind(path, clf.retrain, clf.rewind_epoch, last_epochs),
        list(clf.staged_predict_proba(X_test, epoch="last")),
        select_level(last_path, clf.selection), path["last_temperature"])
    return rows, last


def _epochs_behind(path, retrain, rewind_epoch, kept):
    """Epochs of training behind each level's weights, through epoch ``kept``.

    Rewound survivors carry the ``rewind_epoch`` epochs of level 0, so the
    count is the epoch on the schedule; reinitialised ones carry none; with
    ``lr_rewind`` a level starts from all that the level before trained.
    """
    kept = np.asarray(kept)
    levels = np.asarray(path["level"])
    if retrain == "rewind":
        return kept
    since_restart = np.where(levels > 0, kept - rewind_epoch, kept)
    if retrain == "reinit":
        return since_restart
    carried = np.concatenate([[0], np.cumsum(path["n_epochs"])[:-1]])
    return since_restart + carried


def _score_levels(clf, method, seed, X_test, y_test, metrics, path, epochs, probas, chosen,
                  temperatures):
    """The result rows of one fit: one per level, scored on the test rows."""
    n = len(probas)
    rows = {
        "method": np.array([method] * n, dtype=object),
        "seed": np.full(n, seed),
        "level": np.asarray(path["level"]),
        "n_params": np.asarray(path["n_params"]),
        "epochs": np.asarray(epochs),
        "n_epochs": np.asarray(path["n_epochs"]),
        "train_accuracy": np.asarray(path["train_accuracy"], dtype=float),
        "val_accuracy": np.asarray(path["val_accuracy"], dtype=float),
        "val_loss": np.asarray(path["val_loss"], dtype=float),
        "test_accuracy": [accuracy_score(y_test, clf.classes_[p.argmax(1)]) for p in probas],
        "test_ece": [expected_calibration_error(y_test, p, labels=clf.classes_)
                     for p in probas],
        "test_log_loss": [log_loss(y_test, p, labels=clf.classes_) for p in probas],
        "temperature": np.asarray(temperatures, dtype=float),
        "chosen": (np.asarray(path["level"]) == chosen).astype(int),
        "fit_time": np.full(n, float(np.sum(path["fit_time"]))),
        # Not a result column: what a row read from this fit cost.
        "level_fit_time": np.asarray(path["fit_time"], dtype=float),
    }
    for name, fn in metrics.items():
        rows[name] = [float(fn(y_test, p)) for p in probas]
    return rows


def _dense_level(imp_rows):
    """``early_stopping``'s row, read from level 0 of an early-stopped IMP fit."""
    row = {key: np.asarray(value)[:1] for key, value in imp_rows.items()}
    row["method"] = np.array(["early_stopping"], dtype=object)
    row["chosen"] = np.ones(1, dtype=int)
    row["fit_time"] = row["level_fit_time"]
    return row


def _chosen(rows):
    index = int(np.flatnonzero(rows["chosen"])[0])
    return {key: np.asarray(value)[index] for key, value in rows.items()}


def _small_dense_params(clf, X, y, target):
    """The width setting whose prunable weight count is closest to ``target``."""
    param = _resizing_parameter(clf)
    n_classes = len(np.unique(y))
    shape = tuple(np.shape(X)[1:])
    if param == "hidden_layer_sizes":
        sizes = clf.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, Integral) else tuple(sizes)
        n_features = int(np.prod(shape))
        # Every whole width of the widest layer, so one-layer nets match exactly.
        factors = [w / max(sizes) for w in range(1, max(sizes) + 1)]

        def build(factor):
            widths = tuple(max(1, round(h * factor)) for h in sizes)
            return {"hidden_layer_sizes": widths}, MLP(n_features, n_classes, widths)
    else:
        default = inspect.signature(clf.module).parameters["width"].default
        base = clf.get_params().get(
            "module__width", 1.0 if default is inspect.Parameter.empty else default)
        params = {k.removeprefix("module__"): v for k, v in clf.get_params().items()
                  if k.startswith("module__") and k != "module__width"}
        accepted = inspect.signature(clf.module).parameters
        if "n_classes" in accepted:
            params.setdefault("n_classes", n_classes)
        if "input_shape" in accepted and len(shape) > 1:
            params.setdefault("input_shape", shape)
        if isinstance(base, Integral):
            # A whole number of channels, such as ResNet20's width=16: whole
            # widths up to it.
            factors = list(range(1, int(base) + 1))
        else:
            factors = (base * np.geomspace(1e-4, 1.0, 400)).tolist()

        def build(width):
            return {"module__width": width}, clf.module(**params, width=width)

    best = None
    for factor in factors:
        # On the meta device nothing is allocated: only the shapes are needed.
        with torch.device("meta"):
            setting, module = build(factor)
        gap = abs(math.log(max(_prunable_count(module), 1) / max(int(target), 1)))
        if best is None or gap < best[0]:
            best = (gap, setting)
    return best[1]


def _prunable_count(module):
    names = prunable_parameter_names(module, getattr(module, "unpruned_layers", ()))
    params = dict(module.named_parameters())
    return int(sum(params[n].numel() for n in names))
