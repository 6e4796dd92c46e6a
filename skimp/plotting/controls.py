"""``ControlsDisplay``: IMP against its controls and baselines, per weight count."""

import numpy as np

from skimp.plotting._base import check_axes, check_matplotlib_support, set_weights_axis

__all__ = ["ControlsDisplay"]

_LABELS = {"test_accuracy": "clean test accuracy", "test_ece": "clean test ECE",
           "test_log_loss": "clean test log-loss", "kl": "KL to the true p(y|x)"}


class ControlsDisplay:
    """Test metrics of IMP, its controls and the dense baselines against weights.

    One panel per metric, with the remaining weights on a log scale that
    grows to the right (pruning runs right to left, as in every skimp
    display). Each pruning method (rows with several levels per seed) is a
    curve of the mean over seeds at each level against the mean remaining
    weights, with one standard deviation shaded; its validation-chosen
    tickets are marked with a star at their mean. Each baseline (one row per
    seed, such as ``early_stopping`` and ``small_dense``) is a marker at its
    mean, with a vertical error bar of one standard deviation of the metric
    over seeds. A baseline whose weight count differs between seeds
    (``small_dense`` is sized on each seed's IMP ticket) also gets a
    horizontal bar, one standard deviation of its weight count, which its
    legend entry names. The legend sits right of the last panel, clear of
    the curves and bands.

    It is recommended to build it with :meth:`from_results`. All parameters
    are stored as attributes.

    Parameters
    ----------
    results : dict of str to array-like
        What :func:`skimp.model_selection.compare_controls` returns, or any
        mapping with the columns ``method``, ``seed``, ``level``,
        ``n_params``, ``chosen`` and the plotted metrics.
    metrics : sequence of str, default=("test_accuracy", "test_ece")
        Columns to plot, one panel each.
    name : str, default=None
        Name of the setting, shown in the first panel's title.

    Attributes
    ----------
    ax_ : ndarray of shape (n_metrics,) of matplotlib Axes
        One per metric, flattened from the axes passed to :meth:`plot`.
    figure_ : matplotlib Figure
    lines_ : dict of str to list of Line2D
        The curve of each pruning method, one line per panel.
    markers_ : dict of str to list of ErrorbarContainer
        The marker of each baseline, one per panel.
    chosen_markers_ : dict of str to list of Line2D
        The mean chosen ticket of each pruning method, one per panel.

    See Also
    --------
    skimp.model_selection.compare_controls : Computes the results.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skimp.plotting import ControlsDisplay
    >>> results = {"method": ["imp"] * 4 + ["small_dense"] * 2,
    ...            "seed": [0, 0, 1, 1, 0, 1], "level": [0, 1, 0, 1, 0, 0],
    ...            "n_params": [100, 80, 100, 80, 81, 79], "chosen": [0, 1, 0, 1, 1, 1],
    ...            "test_accuracy": [0.7, 0.8, 0.72, 0.78, 0.75, 0.74],
    ...            "test_ece": [0.2, 0.1, 0.21, 0.12, 0.15, 0.14]}
    >>> disp = ControlsDisplay.from_results(results, name="toy")
    >>> sorted(disp.lines_), sorted(disp.markers_)
    (['imp'], ['small_dense'])
    >>> disp.lines_["imp"][0].get_xdata().tolist()
    [100.0, 80.0]
    """

    def __init__(self, results, *, metrics=("test_accuracy", "test_ece"), name=None):
        self.results = results
        self.metrics = metrics
        self.name = name

    def _validate(self):
        """Check the results; return them as arrays with the method order."""
        metrics = [self.metrics] if isinstance(self.metrics, str) else list(self.metrics)
        if not metrics:
            raise ValueError("metrics is empty; name at least one column to plot.")
        required = ["method", "seed", "level", "n_params", "chosen", *metrics]
        missing = [key for key in required if key not in self.results]
        if missing:
            raise ValueError(
                f"results lacks the columns {missing}; pass what "
                f"skimp.model_selection.compare_controls returns.")
        columns = {key: np.asarray(self.results[key]) for key in required}
        lengths = {key: len(value) for key, value in columns.items()}
        if len(set(lengths.values())) != 1 or not next(iter(lengths.values())):
            raise ValueError(
                f"results' columns must be non-empty and of equal length, got {lengths}.")
        for key in ("n_params", *metrics):
            if not np.issubdtype(columns[key].dtype, np.number):
                raise ValueError(f"results[{key!r}] must be numeric.")
        order = list(dict.fromkeys(columns["method"].tolist()))
        return columns, metrics, order

    def plot(self, *, ax=None, name=None):
        """Draw one panel per metric.

        Parameters
        ----------
        ax : array-like of matplotlib Axes, default=None
            One per metric, in any shape (e.g. ``plt.subplots(2, 2)[1]`` for
            four metrics); it is flattened in row-major order. If None, a
            new figure with the panels side by side is created.
        name : str, default=None
            Title prefix; if None, the display's ``name``.

        Returns
        -------
        display : ControlsDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        columns, metrics, order = self._validate()
        if ax is None:
            # The width beyond the panels holds the legend, right of the last one.
            _, ax = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics) + 1.8, 4.2),
                                 squeeze=False)
            ax = ax[0]
        ax = check_axes(ax, len(metrics), "one per metric")
        name = self.name if name is None else name
        self.lines_, self.markers_, self.chosen_markers_ = {}, {}, {}
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, method in enumerate(order):
            rows = columns["method"] == method
            color = colors[i % len(colors)]
            pruned = len(np.unique(columns["level"][rows])) > 1
            for panel, metric in zip(ax, metrics):
                if pruned:
                    self._draw_curve(panel, columns, rows, metric, method, color)
                else:
                    self._draw_baseline(panel, columns, rows, metric, method, color)
        for panel, metric in zip(ax, metrics):
            set_weights_axis(panel, columns["n_params"])
            panel.set_ylabel(_LABELS.get(metric, metric))
            panel.grid(alpha=0.3)
        # Outside the last panel: inside, it hid the bands of some curves.
        ax[-1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0),
                      borderaxespad=0.0)
        title = "mean ± std over seeds; ★ validation-chosen ticket"
        ax[0].set_title(title if name is None else f"{name}: {title}", fontsize="medium",
                        loc="left")
        self.ax_ = ax
        self.figure_ = ax[0].figure
        return self

    def _draw_curve(self, panel, columns, rows, metric, method, color):
        levels = np.unique(columns["level"][rows])
        x, mean, spread = [], [], []
        for level in levels:
            at = rows & (columns["level"] == level)
            x.append(columns["n_params"][at].mean())
            mean.append(columns[metric][at].mean())
            spread.append(_std(columns[metric][at]))
        x, mean, spread = map(np.asarray, (x, mean, spread))
        line = panel.plot(x, mean, marker="o", markersize=3, color=color, label=method)[0]
        panel.fill_between(x, mean - spread, mean + spread, color=color, alpha=0.15)
        chosen = rows & (columns["chosen"] == 1)
        star = panel.plot([columns["n_params"][chosen].mean()],
                          [columns[metric][chosen].mean()], linestyle="none", marker="*",
                          markersize=13, color=color, markeredgecolor="black")[0]
        self.lines_.setdefault(method, []).append(line)
        self.chosen_markers_.setdefault(method, []).append(star)

    def _draw_baseline(self, panel, columns, rows, metric, method, color):
        x, values = columns["n_params"][rows].astype(float), columns[metric][rows]
        x_spread = _std(x)
        label = f"{method} (↔: weights ± std over seeds)" if x_spread else method
        marker = panel.errorbar([x.mean()], [values.mean()], xerr=[x_spread],
                                yerr=[_std(values)], fmt="D", markersize=7, color=color,
                                markeredgecolor="black", capsize=3, label=label)
        self.markers_.setdefault(method, []).append(marker)

    @classmethod
    def from_results(cls, results, *, metrics=("test_accuracy", "test_ece"), name=None,
                     ax=None):
        """Plot what :func:`skimp.model_selection.compare_controls` returns.

        Parameters
        ----------
        results : dict of str to array-like
            Its result (or a ``pandas.DataFrame`` read back from its CSV).
        metrics : sequence of str, default=("test_accuracy", "test_ece")
            Columns to plot, one panel each.
        name : str, default=None
            Name of the setting, shown in the title.
        ax : array-like of matplotlib Axes, default=None
            One per metric, in any shape; if None, a new figure is created.

        Returns
        -------
        display : ControlsDisplay
        """
        return cls(results, metrics=metrics, name=name).plot(ax=ax)


def _std(values):
    values = np.asarray(values, dtype=float)
    return float(values.std(ddof=1)) if len(values) > 1 else 0.0
