"""skimp: lottery-ticket pruning for scikit-learn.

The centre is :class:`PrunedNetClassifier`, a classifier fitted by iterative
magnitude pruning with weight rewinding, which keeps the sparse "ticket" that
does best on validation data.
"""

from skimp.classifier import PrunedNetClassifier
from skimp.noise import apply_label_noise

__all__ = ["PrunedNetClassifier", "apply_label_noise"]
__version__ = "0.1.0"
