"""BestEpoch keeps the best epoch's weights and ends a level that stops improving."""

from types import SimpleNamespace

import pytest
import torch
from skorch.history import History

from skimp.callbacks import BestEpoch, StopLevel


def run_epochs(callback, scores, key="valid_acc"):
    """Feed ``scores`` to ``callback`` as a level's epochs; the weight is the epoch.

    Returns the epochs trained before the callback stopped the level.
    """
    module = torch.nn.Linear(1, 1)
    net = SimpleNamespace(history=History(), module_=module)
    callback.initialize()
    for epoch, score in enumerate(scores, start=1):
        net.history.new_epoch()
        net.history.record(key, score)
        with torch.no_grad():
            module.weight.fill_(epoch)
        try:
            callback.on_epoch_end(net)
        except StopLevel:
            return epoch
    return len(scores)


def kept_weight(callback):
    return int(callback.best_state_["weight"].item())


def test_keeps_the_first_of_tied_best_epochs():
    cb = BestEpoch("accuracy")
    assert run_epochs(cb, [0.5, 0.7, 0.7, 0.6]) == 4
    assert cb.best_epoch_ == 2 and kept_weight(cb) == 2 and cb.best_score_ == 0.7
    assert cb.last_epoch_ == 4


def test_loss_rule_keeps_the_lowest_loss():
    cb = BestEpoch("loss")
    run_epochs(cb, [1.0, 0.4, 0.6, 0.4, 0.5], key="valid_loss")
    assert cb.best_epoch_ == 2 and kept_weight(cb) == 2


def test_copies_the_weights_only_on_improvement():
    cb = BestEpoch("accuracy")
    run_epochs(cb, [0.5, 0.7])
    kept = cb.best_state_
    run_epochs(cb, [0.5, 0.7, 0.6, 0.6])
    assert cb.best_state_ is not kept  # initialize() starts afresh
    kept = cb.best_state_
    # A copy, not the live parameters: later epochs do not change it.
    assert kept_weight(cb) == 2


def test_n_iter_no_change_ends_the_level():
    cb = BestEpoch("accuracy", n_iter_no_change=2)
    assert run_epochs(cb, [0.5, 0.7, 0.6, 0.65, 0.9, 0.9]) == 4
    assert cb.best_epoch_ == 2
    # Improvements reset the count.
    assert run_epochs(cb, [0.5, 0.6, 0.7, 0.8, 0.7, 0.7, 0.7]) == 6


def test_epochs_up_to_the_rewind_point_are_never_cut():
    cb = BestEpoch("accuracy", n_iter_no_change=1, min_epochs=3)
    assert run_epochs(cb, [0.9, 0.5, 0.5, 0.5, 0.5]) == 4
    # Later levels count epochs on the level's own schedule.
    cb = BestEpoch("accuracy", n_iter_no_change=2, first_epoch=3, min_epochs=3)
    assert run_epochs(cb, [0.5, 0.4, 0.4, 0.9]) == 3
    assert cb.best_epoch_ == 4 and cb.last_epoch_ == 6


@pytest.mark.parametrize("scores", [[0.1], [0.3, 0.2, 0.1]])
def test_the_first_epoch_is_always_kept(scores):
    cb = BestEpoch("accuracy")
    run_epochs(cb, scores)
    assert cb.best_epoch_ == 1 and kept_weight(cb) == 1
