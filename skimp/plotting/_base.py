"""What every display shares: the matplotlib check, axes checks, the weights axis."""

import numpy as np

# Every display puts the remaining weights on x the same way: a log scale
# growing to the right, so that pruning runs right to left and the sparse
# tickets sit on the left, as in the landing figure.
WEIGHTS_LABEL = "remaining prunable weights (← pruning)"


def check_matplotlib_support(caller_name):
    """Raise an informative ImportError when matplotlib is missing.

    Parameters
    ----------
    caller_name : str
        The method that needs matplotlib, named in the message.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"{caller_name} requires matplotlib. You can install matplotlib with "
            "`pip install matplotlib` or `pip install skimp[plot]`."
        ) from e


def legend_label(name, ece):
    """``"name (ECE = 0.123)"``, or only the ECE when ``name`` is None."""
    if name is None:
        return f"ECE = {ece:.3f}"
    return f"{name} (ECE = {ece:.3f})"


def check_axes(ax, n_axes, role):
    """Flatten any array-like of Axes and check that it holds ``n_axes`` of them.

    Parameters
    ----------
    ax : matplotlib Axes or array-like of Axes
        What the user passed, e.g. ``plt.subplots(2, 2)[1]``; any shape.
    n_axes : int
        How many axes the display draws on.
    role : str
        What the axes are for, named in the message, e.g. "one per metric".

    Returns
    -------
    axes : ndarray of shape (n_axes,) of matplotlib Axes
    """
    from matplotlib.axes import Axes

    # An Axes is no sequence, so a single one becomes an array of one.
    axes = np.ravel(np.asarray(ax, dtype=object))
    example = f"plt.subplots(1, {n_axes})[1]" if n_axes > 1 else "[plt.gca()]"
    if len(axes) != n_axes:
        raise ValueError(
            f"ax must hold {n_axes} matplotlib Axes, {role}, got {len(axes)}; "
            f"pass e.g. {example}, or ax=None for a new figure.")
    wrong = [type(a).__name__ for a in axes if not isinstance(a, Axes)]
    if wrong:
        raise TypeError(f"ax must hold matplotlib Axes, {role}, got {wrong}.")
    return axes


def weight_count_label(count, _pos=None):
    """A tick label of a weight count: ``0``, ``500``, ``2k``, ``1.5M``."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if count >= scale:
            return f"{count / scale:g}{suffix}"
    return f"{count:g}"


def set_weights_axis(axes, x, *, label=True):
    """Put the remaining weights on the x axis of ``axes``, the same way in every display.

    A log scale, growing to the right, with a labelled tick at 1, 2 and 5
    times each power of ten when the counts span at most three decades (at
    each power of ten otherwise), so that the sparse end is labelled too.
    A log scale has no place for 0, so when a count is 0 the axis becomes
    symmetric log, linear between 0 and 1 and logarithmic above, which
    places every other count exactly where the log scale would.

    Parameters
    ----------
    axes : matplotlib Axes
    x : array-like of float
        Every weight count plotted on ``axes``, all >= 0.
    label : bool, default=True
        Whether to write the axis label.

    Returns
    -------
    fully_pruned : bool
        Whether a count is 0, so that the axis is symmetric log.
    """
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, SymmetricalLogLocator

    x = np.asarray(x, dtype=float)
    positive = x[x > 0]
    decades = np.log10(positive.max() / positive.min()) if positive.size else 0.0
    subs = (1.0, 2.0, 5.0) if decades <= 3 else (1.0,)
    fully_pruned = bool(np.any(x == 0))
    if fully_pruned:
        # Weight counts are whole numbers, so the linear part [0, 1] holds
        # only the fully pruned levels.
        axes.set_xscale("symlog", linthresh=1)
        axes.xaxis.set_major_locator(SymmetricalLogLocator(base=10, linthresh=1, subs=subs))
        # Counts are never negative; the default margin would open a
        # mirrored negative axis left of 0, so only the right one stays.
        axes.autoscale_view()
        axes.set_xlim(-0.2, axes.get_xlim()[1])
    else:
        axes.set_xscale("log")
        axes.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    axes.xaxis.set_major_formatter(FuncFormatter(weight_count_label))
    axes.xaxis.set_minor_formatter(NullFormatter())
    if label:
        axes.set_xlabel(WEIGHTS_LABEL)
    return fully_pruned
