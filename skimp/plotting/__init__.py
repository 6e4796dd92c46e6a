"""Plots in scikit-learn's Display style: reliability diagrams and IMP paths.

Each display follows the scikit-learn visualization API: the constructor
stores precomputed values, :meth:`plot` draws them and keeps the matplotlib
objects as attributes ending in ``_``, and the class methods
``from_estimator`` and ``from_predictions`` compute the values and plot in one
call. matplotlib is imported only when plotting, so ``import skimp.plotting``
works without it; install it with ``pip install skimp[plot]``.

* :class:`ReliabilityDisplay`: a multiclass top-label reliability diagram
  (accuracy against confidence per bin, with the calibration gap, the ECE and
  a histogram of confidences), drawn from
  :func:`skimp.metrics.reliability_curve`, the bins of the metrics.
* :class:`ImpPathDisplay`: error and ECE of every IMP level against the
  number of remaining weights, the "sparse double descent" picture, with the
  chosen ticket marked.
* :class:`ConnectivityDisplay`: the first layer's surviving connections per
  input pixel, the heat map lottery-ticket papers show for MNIST.
* :class:`ControlsDisplay`: test accuracy and ECE of IMP, its controls and
  the dense baselines against the remaining weights, from
  :func:`skimp.model_selection.compare_controls`.

As in scikit-learn's displays, the legend label is set with ``name=``; the
older ``estimator_name=`` still works with a FutureWarning.
"""

import warnings

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skimp.metrics import _gaps, expected_calibration_error, reliability_curve

__all__ = ["ReliabilityDisplay", "ImpPathDisplay", "ConnectivityDisplay", "ControlsDisplay"]

_IMP_PATH_KEYS = ("n_params", "train_accuracy", "val_accuracy", "val_ece")


def _check_matplotlib_support(caller_name):
    """Raise an informative ImportError when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"{caller_name} requires matplotlib. You can install matplotlib with "
            "`pip install matplotlib` or `pip install skimp[plot]`."
        ) from e


def _deprecated_estimator_name(estimator_name, name):
    """``name``, or ``estimator_name`` with a FutureWarning, as scikit-learn's
    displays renamed the same keyword."""
    if estimator_name == "deprecated":
        return name
    if name is not None:
        raise ValueError(
            "Pass only name=; estimator_name= is its deprecated old spelling.")
    warnings.warn(
        "estimator_name is deprecated and will be removed in a future release; "
        "use name instead.", FutureWarning, stacklevel=3)
    return estimator_name


class _NameMixin:
    """The deprecated read-only ``estimator_name`` attribute."""

    @property
    def estimator_name(self):
        warnings.warn(
            "estimator_name is deprecated and will be removed in a future "
            "release; use name instead.", FutureWarning, stacklevel=2)
        return self.name


def _legend_label(name, ece):
    if name is None:
        return f"ECE = {ece:.3f}"
    return f"{name} (ECE = {ece:.3f})"


class ReliabilityDisplay(_NameMixin):
    """Top-label reliability diagram of a multiclass classifier.

    scikit-learn's :class:`~sklearn.calibration.CalibrationDisplay` plots the
    positive class of a binary problem. This display plots the *top label*
    of any number of classes: predictions are binned by their confidence (the
    largest predicted probability), and each bin shows its accuracy as a bar
    and the gap to its mean confidence as a hatched bar. A perfectly
    calibrated model has bars on the diagonal. The values are those of
    :func:`skimp.metrics.reliability_curve`, the bins of
    :func:`skimp.metrics.expected_calibration_error`, whose value appears in
    the legend, and a histogram below the diagram shows the fraction of
    predictions in each bin.

    It is recommended to build it with :meth:`from_estimator` or
    :meth:`from_predictions`. All parameters are stored as attributes.

    Parameters
    ----------
    prob_true : ndarray of shape (n_bins,)
        Accuracy in each bin, NaN for empty bins.
    prob_pred : ndarray of shape (n_bins,)
        Mean confidence in each bin, NaN for empty bins.
    bin_counts : ndarray of shape (n_bins,)
        Number of predictions in each bin, 0 for empty bins.
    bin_edges : ndarray of shape (n_bins + 1,)
        Bin edges; bin ``b`` is ``(bin_edges[b], bin_edges[b + 1]]`` (the
        first bin also holds its lower edge).
    ece : float
        Top-label expected calibration error at this binning.
    name : str, default=None
        Name of the estimator, shown in the legend. If None, only the ECE is
        shown.
    n_bins : int, default=None
        Number of bins; None takes ``len(bin_edges) - 1``.
    strategy : {"uniform", "quantile"}, default="uniform"
        Binning strategy the values were computed with.
    estimator_name : str, default="deprecated"
        Deprecated old spelling of ``name``: it still works, warns with a
        FutureWarning, and will be removed in a future release. Reading the
        ``estimator_name`` attribute warns the same way and gives ``name``.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the reliability diagram.
    hist_ax_ : matplotlib Axes or None
        Axes below ``ax_`` with the fraction of predictions per bin, or None
        when plotted with ``hist=False``.
    figure_ : matplotlib Figure
        Figure containing the axes.
    bars_ : matplotlib BarContainer
        Accuracy bars, one per non-empty bin.
    gap_bars_ : matplotlib BarContainer
        Bars from accuracy to mean confidence, one per non-empty bin.
    line_ : matplotlib Line2D or None
        Diagonal of perfect calibration, or None with ``ref_line=False``.
    hist_bars_ : matplotlib BarContainer or None
        Histogram bars, one per non-empty bin, or None with ``hist=False``.

    See Also
    --------
    skimp.metrics.expected_calibration_error : The ECE shown in the legend.
    sklearn.calibration.CalibrationDisplay : Binary reliability curve.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skimp.plotting import ReliabilityDisplay
    >>> y_true = np.array([0, 1, 2, 2, 1])
    >>> y_prob = np.array([[0.70, 0.20, 0.10], [0.55, 0.35, 0.10],
    ...                    [0.20, 0.30, 0.50], [0.10, 0.05, 0.85],
    ...                    [0.34, 0.33, 0.33]])
    >>> disp = ReliabilityDisplay.from_predictions(y_true, y_prob, n_bins=5,
    ...                                            name="toy")
    >>> disp.prob_true
    array([nan, 0. , 0.5, 1. , 1. ])
    >>> disp.bin_counts
    array([0, 1, 2, 1, 1])
    >>> round(disp.ece, 3)
    0.168
    >>> len(disp.bars_)
    4
    >>> disp.bars_.get_label()
    'toy (ECE = 0.168)'
    """

    def __init__(self, prob_true, prob_pred, bin_counts, bin_edges, ece, *,
                 name=None, n_bins=None, strategy="uniform",
                 estimator_name="deprecated"):
        self.prob_true = prob_true
        self.prob_pred = prob_pred
        self.bin_counts = bin_counts
        self.bin_edges = bin_edges
        self.ece = ece
        self.name = _deprecated_estimator_name(estimator_name, name)
        self.n_bins = n_bins
        self.strategy = strategy

    def plot(self, *, ax=None, name=None, ref_line=True, hist=True,
             bar_kwargs=None):
        """Plot the reliability diagram.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw the diagram on. If None, a new figure and axes are
            created. With ``hist=True`` the histogram axes are carved out of
            the bottom of ``ax``.
        name : str, default=None
            Name for the legend. If None, the display's ``name`` is used, and
            if that is None only the ECE is shown.
        ref_line : bool, default=True
            Draw the diagonal of perfect calibration.
        hist : bool, default=True
            Draw the histogram of confidences below the diagram.
        bar_kwargs : dict, default=None
            Keyword arguments for :meth:`matplotlib.axes.Axes.bar` drawing the
            accuracy bars, overriding the defaults.

        Returns
        -------
        display : ReliabilityDisplay
            Object that stores computed values and the drawn artists.
        """
        _check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5.0, 6.0) if hist else None)
        if name is None:
            name = self.name

        edges = np.asarray(self.bin_edges, dtype=float)
        counts = np.asarray(self.bin_counts)
        full = counts > 0
        left = edges[:-1][full]
        width = np.diff(edges)[full]
        acc = np.asarray(self.prob_true, dtype=float)[full]
        conf = np.asarray(self.prob_pred, dtype=float)[full]

        kwargs = dict(align="edge", edgecolor="black", color="tab:blue",
                      alpha=0.8, label=_legend_label(name, self.ece))
        kwargs.update(bar_kwargs or {})
        self.bars_ = ax.bar(left, acc, width, **kwargs)
        self.gap_bars_ = ax.bar(
            left, conf - acc, width, bottom=acc, align="edge", color="tab:red",
            edgecolor="tab:red", alpha=0.3, hatch="//", label="Gap")
        self.line_ = None
        if ref_line:
            existing = [line for line in ax.get_lines()
                        if line.get_label() == "Perfectly calibrated"]
            self.line_ = existing[0] if existing else ax.plot(
                [0, 1], [0, 1], "k--", label="Perfectly calibrated")[0]
        ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="Accuracy")
        # Bars first, the reference line last, whatever the drawing order.
        handles = ax.get_legend_handles_labels()[0]
        handles.sort(key=lambda h: h.get_label() == "Perfectly calibrated")
        # Over- and under-confident diagrams leave opposite corners free.
        ax.legend(handles=handles, loc="best")

        self.hist_ax_ = self.hist_bars_ = None
        if hist:
            from mpl_toolkits.axes_grid1 import make_axes_locatable

            hist_ax = make_axes_locatable(ax).append_axes(
                "bottom", size="30%", pad=0.1, sharex=ax)
            total = counts.sum()
            self.hist_bars_ = hist_ax.bar(
                left, counts[full] / total if total else counts[full], width,
                align="edge", color="tab:gray", edgecolor="black")
            hist_ax.set(xlim=(0, 1), xlabel="Confidence",
                        ylabel="Fraction")
            ax.tick_params(labelbottom=False)
            self.hist_ax_ = hist_ax
        else:
            ax.set_xlabel("Confidence")

        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, X, y, *, n_bins=15, strategy="uniform",
                       name=None, ax=None, ref_line=True, hist=True,
                       bar_kwargs=None):
        """Plot the reliability diagram of a fitted classifier on data.

        Parameters
        ----------
        estimator : estimator instance
            Fitted classifier, or pipeline ending in one, with
            ``predict_proba`` and ``classes_``.
        X : array-like of shape (n_samples, n_features)
            Input values.
        y : array-like of shape (n_samples,)
            True labels, matched to the columns of ``predict_proba`` through
            ``estimator.classes_``.
        n_bins : int, default=15
            Number of bins.
        strategy : {"uniform", "quantile"}, default="uniform"
            Equal-width bins over [0, 1], or equal-mass bins with edges at the
            quantiles of the confidences.
        name : str, default=None
            Name for the legend. If None, the estimator's class name is used.
        ax : matplotlib Axes, default=None
            Axes to plot on. If None, a new figure and axes are created.
        ref_line, hist, bar_kwargs
            As in :meth:`plot`.

        Returns
        -------
        display : ReliabilityDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from sklearn.datasets import load_digits
        >>> from skimp import PrunedNetClassifier
        >>> from skimp.plotting import ReliabilityDisplay
        >>> X, y = load_digits(return_X_y=True)
        >>> X, y = X[:400] / 16, y[:400]
        >>> clf = PrunedNetClassifier(hidden_layer_sizes=(16,), max_epochs=3,
        ...                           max_levels=1, random_state=0).fit(X, y)
        >>> disp = ReliabilityDisplay.from_estimator(clf, X, y, n_bins=10)
        >>> disp.bars_.get_label().startswith("PrunedNetClassifier (ECE = ")
        True
        """
        _check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator)
        if not hasattr(estimator, "predict_proba"):
            raise TypeError(
                f"{type(estimator).__name__} has no predict_proba; a reliability "
                "diagram needs predicted probabilities.")
        name = type(estimator).__name__ if name is None else name
        return cls.from_predictions(
            y, estimator.predict_proba(X), n_bins=n_bins, strategy=strategy,
            labels=estimator.classes_, name=name, ax=ax, ref_line=ref_line,
            hist=hist, bar_kwargs=bar_kwargs)

    @classmethod
    def from_predictions(cls, y_true, y_prob, *, n_bins=15, strategy="uniform",
                         labels=None, name=None, ax=None, ref_line=True,
                         hist=True, bar_kwargs=None):
        """Plot the reliability diagram of true labels and probabilities.

        Parameters
        ----------
        y_true : array-like of shape (n_samples,)
            True labels, matched to the columns of ``y_prob`` as described in
            :mod:`skimp.metrics`.
        y_prob : array-like of shape (n_samples, n_classes) or (n_samples,)
            Predicted probabilities, or the positive-class probability of a
            binary problem (the confidence is then ``max(p, 1 - p)``).
        n_bins : int, default=15
            Number of bins.
        strategy : {"uniform", "quantile"}, default="uniform"
            Equal-width bins over [0, 1], or equal-mass bins with edges at the
            quantiles of the confidences.
        labels : array-like of shape (n_classes,), default=None
            Every class, in column order once sorted, as ``classes_``. Needed
            when ``y_true`` does not hold every class.
        name : str, default=None
            Name for the legend.
        ax : matplotlib Axes, default=None
            Axes to plot on. If None, a new figure and axes are created.
        ref_line, hist, bar_kwargs
            As in :meth:`plot`.

        Returns
        -------
        display : ReliabilityDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from skimp.plotting import ReliabilityDisplay
        >>> disp = ReliabilityDisplay.from_predictions(
        ...     ["a", "b", "b", "a"], [0.1, 0.9, 0.6, 0.7], n_bins=5)
        >>> disp.bin_counts
        array([0, 0, 1, 1, 2])
        >>> disp.bars_.get_label()
        'ECE = 0.325'
        """
        _check_matplotlib_support(f"{cls.__name__}.from_predictions")
        prob_true, prob_pred, counts, edges = reliability_curve(
            y_true, y_prob, n_bins=n_bins, strategy=strategy, labels=labels)
        # expected_calibration_error computes exactly this from the same curve.
        weights, gaps = _gaps(prob_true, prob_pred, counts)
        disp = cls(prob_true, prob_pred, counts, edges, float(weights @ gaps),
                   name=name, n_bins=n_bins, strategy=strategy)
        return disp.plot(ax=ax, ref_line=ref_line, hist=hist,
                         bar_kwargs=bar_kwargs)


class ImpPathDisplay(_NameMixin):
    """Error and calibration along an iterative magnitude pruning path.

    The top panel shows the error (1 - accuracy) of every IMP level against
    its number of remaining prunable weights, on a log scale, for the
    training and validation splits of the fit data and, when given, a test
    set; a marker shows the chosen ticket. Under label noise this is the
    "sparse double descent" curve: dense networks memorise the noise, and the
    test error falls before rising again as pruning removes capacity. The
    bottom panel shows the top-label ECE of each level on the validation
    split and, when given, the test set.

    A log scale has no place for 0, so when a level is fully pruned (0
    remaining weights) both panels switch to a symmetric log scale, linear
    between 0 and 1 and logarithmic above, which places the other levels
    exactly where the log scale would. The fully pruned levels then lie at
    x = 0, marked by a "0 weights" note on the error panel.

    It is recommended to build it with :meth:`from_estimator`. All
    parameters are stored as attributes.

    Parameters
    ----------
    imp_path : dict of str to array-like
        The ``imp_path_`` of a fitted
        :class:`~skimp.PrunedNetClassifier`; the keys ``n_params``,
        ``train_accuracy``, ``val_accuracy`` and ``val_ece`` are used.
    best_level : int
        The chosen level, an index into the path.
    test_error : array-like of shape (n_levels,), default=None
        Test error of each level.
    test_ece : array-like of shape (n_levels,), default=None
        Test ECE of each level.
    name : str, default=None
        Name of the estimator, prefixed to the legend labels.
    estimator_name : str, default="deprecated"
        Deprecated old spelling of ``name``: it still works, warns with a
        FutureWarning, and will be removed in a future release. Reading the
        ``estimator_name`` attribute warns the same way and gives ``name``.

    Attributes
    ----------
    ax_ : ndarray or tuple of two matplotlib Axes
        The error axes and the ECE axes, as created or as passed to
        :meth:`plot`.
    figure_ : matplotlib Figure
        Figure containing the axes.
    lines_ : dict of str to matplotlib Line2D
        Curves ``"train"``, ``"val"`` and ``"val_ece"``, plus ``"test"`` and
        ``"test_ece"`` when test values are given.
    best_marker_ : matplotlib Line2D
        Marker at the chosen ticket on the validation error curve.
    zero_note_ : matplotlib Text or None
        The "0 weights" note at x = 0 on the error panel when a level is
        fully pruned, else None.

    See Also
    --------
    skimp.PrunedNetClassifier : Fits the path plotted here.
    ReliabilityDisplay : Reliability diagram of one ticket.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from skimp import PrunedNetClassifier
    >>> from skimp.plotting import ImpPathDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> X, y = X / 16, y
    >>> clf = PrunedNetClassifier(hidden_layer_sizes=(16,), max_epochs=3,
    ...                           max_levels=2, random_state=0)
    >>> clf = clf.fit(X[:400], y[:400])
    >>> disp = ImpPathDisplay.from_estimator(clf, X[400:600], y[400:600])
    >>> sorted(disp.lines_)
    ['test', 'test_ece', 'train', 'val', 'val_ece']
    >>> disp.lines_["val"].get_xdata().tolist()
    [1024, 819, 655]
    >>> disp.ax_[0].get_xscale()
    'log'
    """

    def __init__(self, imp_path, *, best_level, test_error=None, test_ece=None,
                 name=None, estimator_name="deprecated"):
        self.imp_path = imp_path
        self.best_level = best_level
        self.test_error = test_error
        self.test_ece = test_ece
        self.name = _deprecated_estimator_name(estimator_name, name)

    def plot(self, *, ax=None, name=None):
        """Plot the error and ECE panels.

        Parameters
        ----------
        ax : pair of matplotlib Axes, default=None
            Axes for the error panel and the ECE panel. If None, a new figure
            with two stacked panels sharing the x-axis is created.
        name : str, default=None
            Name prefixed to the legend labels. If None, the display's
            ``name`` is used, and if that is None there is no prefix.

        Returns
        -------
        display : ImpPathDisplay
            Object that stores computed values and the drawn artists.
        """
        _check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        missing = [k for k in _IMP_PATH_KEYS if k not in self.imp_path]
        if missing:
            raise ValueError(f"imp_path lacks the keys {missing}.")
        x = np.asarray(self.imp_path["n_params"])
        if x.ndim != 1 or not np.issubdtype(x.dtype, np.number) or (
                x.size and not (np.isfinite(x).all() and x.min() >= 0)):
            raise ValueError(
                "imp_path['n_params'] must be a 1-D array of remaining-weight "
                f"counts >= 0, got {x!r}.")
        n_levels = len(x)
        if not 0 <= self.best_level < n_levels:
            raise ValueError(
                f"best_level={self.best_level!r} is not a level of the path "
                f"(0 to {n_levels - 1}).")
        test = {}
        for key, param, values in (("test", "test_error", self.test_error),
                                   ("test_ece", "test_ece", self.test_ece)):
            if values is not None:
                values = np.asarray(values, dtype=float)
                if values.shape != (n_levels,):
                    raise ValueError(
                        f"{param} must have shape ({n_levels},), one value per "
                        f"level, got {values.shape}.")
                test[key] = values

        own_figure = ax is None
        if own_figure:
            _, ax = plt.subplots(2, 1, sharex=True, figsize=(6.0, 6.0))
        elif len(ax) != 2:
            raise ValueError(f"ax must be a pair of axes, got {len(ax)}.")
        err_ax, ece_ax = ax[0], ax[1]
        if name is None:
            name = self.name
        prefix = "" if name is None else f"{name}: "

        def draw(axes, key, y, label, **style):
            self.lines_[key] = axes.plot(x, y, label=prefix + label, **style)[0]

        self.lines_ = {}
        path = self.imp_path
        draw(err_ax, "train", 1 - np.asarray(path["train_accuracy"]), "train",
             marker=".", color="tab:blue")
        val_error = 1 - np.asarray(path["val_accuracy"])
        draw(err_ax, "val", val_error, "validation", marker=".",
             color="tab:orange")
        if "test" in test:
            draw(err_ax, "test", test["test"], "test", marker=".",
                 color="tab:green")
        best = int(self.best_level)
        self.best_marker_ = err_ax.plot(
            [x[best]], [val_error[best]], linestyle="none", marker="*",
            markersize=14, color="tab:red", markeredgecolor="black",
            label=f"{prefix}chosen ticket (level {best})")[0]
        draw(ece_ax, "val_ece", np.asarray(path["val_ece"]), "validation",
             marker=".", color="tab:orange")
        if "test_ece" in test:
            draw(ece_ax, "test_ece", test["test_ece"], "test", marker=".",
                 color="tab:green")

        fully_pruned = bool(np.any(x == 0))
        for axes, ylabel in ((err_ax, "error"), (ece_ax, "ECE")):
            axes.axvline(x[best], color="gray", linestyle=":", linewidth=1)
            if fully_pruned:
                # Weight counts are whole numbers, so the linear part [0, 1]
                # holds only the fully pruned levels and every other level
                # sits where a plain log scale would put it.
                axes.set_xscale("symlog", linthresh=1)
                # Counts are never negative; the default margin would open a
                # mirrored negative axis left of 0, so only the right one stays.
                axes.autoscale_view()
                axes.set_xlim(-0.2, axes.get_xlim()[1])
            else:
                axes.set_xscale("log")
            axes.set_ylabel(ylabel)
            axes.legend()
            if not (own_figure and axes is err_ax):
                axes.set_xlabel("remaining weights")

        self.zero_note_ = None
        if fully_pruned:
            # Said in words too: the symlog axis is easy to misread as log.
            self.zero_note_ = err_ax.annotate(
                "0 weights\n(fully pruned)", xy=(0, 0),
                xycoords=("data", "axes fraction"), xytext=(3, 3),
                textcoords="offset points", ha="left", va="bottom",
                fontsize="small", color="dimgray")

        self.ax_ = ax
        self.figure_ = err_ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, X_test=None, y_test=None, *, ax=None,
                       name=None):
        """Plot the IMP path of a fitted estimator, optionally with test data.

        Parameters
        ----------
        estimator : PrunedNetClassifier
            Fitted estimator with ``imp_path_`` and ``best_level_``.
        X_test : array-like of shape (n_samples, n_features), default=None
            Held-out data. When given with ``y_test``, the test error and test
            ECE (15 equal-width bins, as ``val_ece``) of every level are
            computed with ``estimator.staged_predict_proba``.
        y_test : array-like of shape (n_samples,), default=None
            Labels of ``X_test``, taken from ``estimator.classes_``.
        ax : pair of matplotlib Axes, default=None
            Axes for the error and ECE panels. If None, a new figure is
            created.
        name : str, default=None
            Name prefixed to the legend labels. If None, no prefix.

        Returns
        -------
        display : ImpPathDisplay

        Examples
        --------
        >>> import matplotlib
        >>> matplotlib.use("Agg")
        >>> from sklearn.datasets import load_digits
        >>> from skimp import PrunedNetClassifier
        >>> from skimp.plotting import ImpPathDisplay
        >>> X, y = load_digits(return_X_y=True)
        >>> clf = PrunedNetClassifier(hidden_layer_sizes=(16,), max_epochs=3,
        ...                           max_levels=2, random_state=0)
        >>> clf = clf.fit(X[:400] / 16, y[:400])
        >>> disp = ImpPathDisplay.from_estimator(clf)
        >>> sorted(disp.lines_)
        ['train', 'val', 'val_ece']
        """
        _check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator, ["imp_path_", "best_level_"])
        if (X_test is None) != (y_test is None):
            raise ValueError("Pass both X_test and y_test, or neither.")
        test_error = test_ece = None
        if X_test is not None:
            classes = estimator.classes_
            y_test = np.asarray(y_test)
            test_error, test_ece = [], []
            for proba in estimator.staged_predict_proba(X_test):
                test_error.append(
                    1.0 - float(np.mean(classes[proba.argmax(axis=1)] == y_test)))
                test_ece.append(expected_calibration_error(
                    y_test, proba, labels=classes))
            test_error, test_ece = np.array(test_error), np.array(test_ece)
        disp = cls(estimator.imp_path_, best_level=estimator.best_level_,
                   test_error=test_error, test_ece=test_ece, name=name)
        return disp.plot(ax=ax)


class ConnectivityDisplay:
    """Surviving first-layer connections per input pixel, as a heat map.

    The picture lottery-ticket papers show for MNIST: IMP keeps the
    connections of the pixels that carry the digit and prunes the border.
    Each pixel's value is the number of weights of the first prunable layer
    that still read it.

    Parameters
    ----------
    counts : ndarray of shape (height, width)
        Surviving connections per pixel (summed over channels).
    level : int, default=None
        The IMP level shown, for the title.
    n_outputs : int, default=None
        Units of the first layer: the most connections a pixel can keep.
    name : str, default=None
        Name shown in the title.

    Attributes
    ----------
    image_ : matplotlib.image.AxesImage
    colorbar_ : matplotlib.colorbar.Colorbar or None
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skimp.plotting import ConnectivityDisplay
    >>> disp = ConnectivityDisplay(np.arange(16).reshape(4, 4), level=3, n_outputs=16)
    >>> int(disp.counts.max())
    15
    """

    def __init__(self, counts, *, level=None, n_outputs=None, name=None):
        self.counts = np.asarray(counts)
        self.level = level
        self.n_outputs = n_outputs
        self.name = name

    def plot(self, *, ax=None, cmap="viridis", colorbar=True):
        """Draw the heat map.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        cmap : str or Colormap, default="viridis"
        colorbar : bool, default=True

        Returns
        -------
        display : ConnectivityDisplay
        """
        _check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        vmax = self.n_outputs if self.n_outputs is not None else None
        self.image_ = ax.imshow(self.counts, cmap=cmap, vmin=0, vmax=vmax,
                                interpolation="nearest")
        self.colorbar_ = None
        if colorbar:
            self.colorbar_ = ax.figure.colorbar(self.image_, ax=ax)
            self.colorbar_.set_label("surviving connections")
        ax.set_xticks([])
        ax.set_yticks([])
        title = "first-layer connections per pixel"
        if self.level is not None:
            title += f", level {self.level}"
        if self.name:
            title = f"{self.name}: {title}"
        ax.set_title(title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, level=None, image_shape=None, ax=None,
                       name=None, cmap="viridis", colorbar=True):
        """Count the first layer's surviving connections per pixel and plot.

        Parameters
        ----------
        estimator : PrunedNetClassifier
            Fitted, with a Linear first prunable layer reading flat pixels.
        level : int, default=None
            IMP level; ``None`` is the chosen ticket.
        image_shape : tuple of int, default=None
            ``(height, width)`` or ``(channels, height, width)`` of the
            flattened input. ``None`` works for square one-channel images.
        ax, name, cmap, colorbar
            See :meth:`plot`.

        Returns
        -------
        display : ConnectivityDisplay
        """
        _check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator, ["imp_path_", "best_level_"])
        level = estimator.best_level_ if level is None else level
        table = estimator.layer_summary(level)
        module = estimator.level_module(level)
        first = table["layer"][0]
        weight = dict(module.named_parameters())[first].detach().cpu()
        if weight.ndim != 2:
            raise TypeError(
                f"{cls.__name__} needs a Linear first layer reading flat pixels; the "
                f"first prunable weight {first!r} has shape {tuple(weight.shape)}.")
        n_inputs = weight.shape[1]
        if image_shape is None:
            side = int(round(np.sqrt(n_inputs)))
            if side * side != n_inputs:
                raise ValueError(
                    f"The first layer reads {n_inputs} inputs, not a square image; "
                    f"pass image_shape=(height, width) or (channels, height, width).")
            image_shape = (side, side)
        if int(np.prod(image_shape)) != n_inputs:
            raise ValueError(
                f"image_shape={tuple(image_shape)} holds {int(np.prod(image_shape))} "
                f"pixels but the first layer reads {n_inputs} inputs.")
        counts = (weight != 0).sum(0).numpy().reshape(image_shape)
        if counts.ndim == 3:
            counts = counts.sum(0)
        disp = cls(counts, level=level, n_outputs=weight.shape[0] * (
            1 if len(image_shape) == 2 else image_shape[0]), name=name)
        return disp.plot(ax=ax, cmap=cmap, colorbar=colorbar)


from skimp.plotting.controls import ControlsDisplay  # noqa: E402
