"""Helpers that test modules import; pytest fixtures stay in conftest.py."""

from skimp import PrunedNetClassifier


def fast_clf(**params):
    """A PrunedNetClassifier small enough for unit tests.

    It keeps each level's last epoch (``early_stopping=False``, the papers'
    protocol), which most tests check IMP's mechanics on; the tests of
    early-stopped fits pass ``early_stopping=True``.
    """
    defaults = dict(hidden_layer_sizes=(16,), max_epochs=3, max_levels=2,
                    batch_size=64, random_state=0, early_stopping=False)
    return PrunedNetClassifier(**{**defaults, **params})
