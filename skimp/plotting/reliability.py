"""``ReliabilityDisplay``: the top-label reliability diagram of a classifier."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skimp.metrics import expected_calibration_error, reliability_curve
from skimp.plotting._base import check_matplotlib_support, legend_label

__all__ = ["ReliabilityDisplay"]


class ReliabilityDisplay:
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
                 name=None, n_bins=None, strategy="uniform"):
        self.prob_true = prob_true
        self.prob_pred = prob_pred
        self.bin_counts = bin_counts
        self.bin_edges = bin_edges
        self.ece = ece
        self.name = name
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
        check_matplotlib_support(f"{type(self).__name__}.plot")
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
                      alpha=0.8, label=legend_label(name, self.ece))
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
        # Bars rise from the bottom and the high-confidence bins are tall, so
        # the upper left is the one corner that is usually free. An
        # underconfident model fills it too (accurate low-confidence bins):
        # then the legend goes outside, right of the diagram.
        tops = np.maximum(acc, conf)[left < 0.5]
        if tops.size and tops.max() > 0.6:
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                      borderaxespad=0.0)
        else:
            ax.legend(handles=handles, loc="upper left")

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
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
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
        check_matplotlib_support(f"{cls.__name__}.from_predictions")
        prob_true, prob_pred, counts, edges = reliability_curve(
            y_true, y_prob, n_bins=n_bins, strategy=strategy, labels=labels)
        # The metric recomputes the same curve; asking it, rather than
        # repeating its arithmetic here, keeps the legend equal to the metric.
        ece = expected_calibration_error(y_true, y_prob, n_bins=n_bins, strategy=strategy,
                                         labels=labels)
        disp = cls(prob_true, prob_pred, counts, edges, ece, name=name, n_bins=n_bins,
                   strategy=strategy)
        return disp.plot(ax=ax, ref_line=ref_line, hist=hist,
                         bar_kwargs=bar_kwargs)
