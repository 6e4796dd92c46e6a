"""skimp: lottery-ticket pruning for scikit-learn.

The centre is :class:`PrunedNetClassifier`, a classifier fitted by iterative
magnitude pruning with weight rewinding, which keeps the sparse "ticket" that
does best on validation data.
"""

from importlib.metadata import PackageNotFoundError, version

from skimp.classifier import PrunedNetClassifier
from skimp.noise import apply_label_noise

__all__ = ["PrunedNetClassifier", "apply_label_noise"]

# pyproject.toml is the one place the version is written; the installed
# metadata carries it here. A source tree imported without being installed
# (e.g. on sys.path by hand) has no metadata, and says so instead of guessing.
try:
    __version__ = version("skimp")
except PackageNotFoundError:  # pragma: no cover - only outside an install
    __version__ = "0+unknown"
