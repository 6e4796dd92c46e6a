"""Plots in scikit-learn's Display style: reliability diagrams and IMP paths.

Each display follows the scikit-learn visualization API: the constructor
stores precomputed values, :meth:`plot` checks and draws them and keeps the
matplotlib objects as attributes ending in ``_``, and the class methods
``from_estimator``, ``from_predictions`` or ``from_results`` compute the
values and plot in one call. matplotlib is imported only when plotting, so
``import skimp.plotting`` works without it; install it with
``pip install skimp[plot]``. The legend label is set with ``name=``, as in
scikit-learn's displays.

One display a module:

* :class:`ReliabilityDisplay` (``reliability``): a multiclass top-label
  reliability diagram (accuracy against confidence per bin, with the
  calibration gap, the ECE and a histogram of confidences), drawn from
  :func:`skimp.metrics.reliability_curve`, the bins of the metrics.
* :class:`ImpPathDisplay` (``imp_path``): error and ECE of every IMP level
  against the number of remaining weights, the "sparse double descent"
  picture, with the chosen ticket marked.
* :class:`ConnectivityDisplay` (``connectivity``): the first layer's
  surviving connections per input pixel, the heat map lottery-ticket papers
  show for MNIST.
* :class:`ControlsDisplay` (``controls``): test accuracy and ECE of IMP, its
  controls and the dense baselines against the remaining weights, from
  :func:`skimp.model_selection.compare_controls`.
"""

from skimp.plotting.connectivity import ConnectivityDisplay
from skimp.plotting.controls import ControlsDisplay
from skimp.plotting.imp_path import ImpPathDisplay
from skimp.plotting.reliability import ReliabilityDisplay

__all__ = ["ReliabilityDisplay", "ImpPathDisplay", "ConnectivityDisplay", "ControlsDisplay"]
