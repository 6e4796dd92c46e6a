"""Helpers that test modules import; pytest fixtures stay in conftest.py."""

from skimp import PrunedNetClassifier


def fast_clf(**params):
    """A PrunedNetClassifier small enough for unit tests."""
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=3, max_levels=2,
                    batch_size=64, random_state=0)
    return PrunedNetClassifier(**{**defaults, **params})
