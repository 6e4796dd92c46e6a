"""Helpers of the display tests that look at the drawn figure."""

import numpy as np


def widest_unlabelled_stretch(axes):
    """The widest part of the x axis, in axes fractions, with no tick label.

    Measured between the axis ends and the labelled major ticks in view;
    draw the figure first, so that the labels exist.
    """
    lo, hi = sorted(axes.get_xlim())
    labelled = [tick.get_loc() for tick in axes.xaxis.get_major_ticks()
                if tick.label1.get_visible() and tick.label1.get_text()
                and lo <= tick.get_loc() <= hi]
    at = axes.transAxes.inverted().transform(axes.transData.transform(
        np.column_stack([labelled, np.ones(len(labelled))])))[:, 0]
    return float(np.diff(np.sort([0.0, *at, 1.0])).max())
