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


def auto_threads_now():
    """What ``n_threads="auto"`` gives a large fit now: torch's threads, at most
    the cores this process may use and the cores idle at the moment (all of
    them on an idle machine, as in CI)."""
    import os

    import torch

    from skimp.training import idle_cores

    cores = min(torch.get_num_threads(), len(os.sched_getaffinity(0)))
    idle = idle_cores()
    return cores if cores == 1 or idle is None else max(1, min(cores, int(idle + 0.5)))
