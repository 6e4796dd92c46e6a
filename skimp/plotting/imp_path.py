"""``ImpPathDisplay``: error and calibration of every level of an IMP path."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skimp.metrics import expected_calibration_error
from skimp.plotting._base import check_axes, check_matplotlib_support, set_weights_axis

__all__ = ["ImpPathDisplay"]

_IMP_PATH_KEYS = ("n_params", "train_accuracy", "val_accuracy", "val_ece")


class ImpPathDisplay:
    """Error and calibration along an iterative magnitude pruning path.

    The top panel shows the error (1 - accuracy) of every IMP level against
    its number of remaining prunable weights, on a log scale that grows to
    the right (pruning runs right to left, as in every skimp display), for the
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

    Attributes
    ----------
    ax_ : ndarray of shape (2,) of matplotlib Axes
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
                 name=None):
        self.imp_path = imp_path
        self.best_level = best_level
        self.test_error = test_error
        self.test_ece = test_ece
        self.name = name

    def _validate(self):
        """Check the path and the test values; return the x values and the test curves.

        Returns
        -------
        x : ndarray of shape (n_levels,)
            Remaining weights of each level.
        test : dict of str to ndarray
            ``"test"`` and ``"test_ece"``, those that were given.
        """
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
        return x, test

    def plot(self, *, ax=None, name=None):
        """Plot the error and ECE panels.

        Parameters
        ----------
        ax : array-like of two matplotlib Axes, default=None
            Axes for the error panel and the ECE panel, in that order, in any
            shape (e.g. ``plt.subplots(1, 2)[1]``). If None, a new figure with
            two stacked panels sharing the x-axis is created.
        name : str, default=None
            Name prefixed to the legend labels. If None, the display's
            ``name`` is used, and if that is None there is no prefix.

        Returns
        -------
        display : ImpPathDisplay
            Object that stores computed values and the drawn artists.
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        x, test = self._validate()
        own_figure = ax is None
        if own_figure:
            _, ax = plt.subplots(2, 1, sharex=True, figsize=(6.0, 6.0))
        ax = check_axes(ax, 2, "a pair: the error panel and the ECE panel")
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

        for axes, ylabel in ((err_ax, "error"), (ece_ax, "ECE")):
            axes.axvline(x[best], color="gray", linestyle=":", linewidth=1)
            # The shared x axis of a new figure is labelled once, at the bottom.
            fully_pruned = set_weights_axis(axes, x,
                                            label=not (own_figure and axes is err_ax))
            axes.set_ylabel(ylabel)
            axes.legend()

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
        ax : array-like of two matplotlib Axes, default=None
            Axes for the error and ECE panels, in that order. If None, a new
            figure is created.
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
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
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
