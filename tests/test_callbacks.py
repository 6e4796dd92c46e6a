"""BestEpoch keeps the best epoch's weights and ends a level that stops improving."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from skorch.history import History

from skimp.callbacks import BestEpoch, StopLevel


def run_epochs(callback, scores, key="accuracy"):
    """Feed ``scores`` to ``callback`` as a level's epochs; the weight is the epoch.

    Returns the epochs trained before the callback stopped the level.
    """
    module = torch.nn.Linear(1, 1)
    net = SimpleNamespace(history=History(), module_=module)
    callback.initialize()
    for epoch, score in enumerate(scores, start=1):
        net.history.new_epoch()
        net.validation_scores_ = {key: score}
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
    run_epochs(cb, [1.0, 0.4, 0.6, 0.4, 0.5], key="log_loss")
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


# -- user callbacks never decide the kept epoch (issue 26, items 2 to 4) ------

def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return (X[:500] / 16).astype("float32"), y[:500]


def _early(**params):
    from tests._helpers import fast_clf

    defaults = dict(hidden_layer_sizes=(32,), max_epochs=12, max_levels=1, label_noise=0.4,
                    early_stopping=True)
    return fast_clf(**{**defaults, **params})


@pytest.mark.parametrize("selection, scoring", [
    ("accuracy", {"scoring": "accuracy", "name": "valid_acc", "on_train": True,
                  "lower_is_better": False}),
    ("loss", {"scoring": "neg_log_loss", "name": "valid_loss", "lower_is_better": False}),
])
def test_a_user_callback_named_like_the_validation_scores_does_not_choose_the_epoch(
        selection, scoring):
    from skorch.callbacks import EpochScoring

    X, y = _digits()
    plain = _early(selection=selection).fit(X, y)
    clash = _early(selection=selection, callbacks=[EpochScoring(**scoring)]).fit(X, y)
    for key in ("epoch", "val_accuracy", "val_loss", "level"):
        assert clash.imp_path_[key].tolist() == plain.imp_path_[key].tolist(), key


class ValidationLogLoss:
    """Each epoch's validation log-loss, computed independently of skimp."""

    @staticmethod
    def callback():
        from skorch.callbacks import EpochScoring

        return EpochScoring("neg_log_loss", name="nll_check", lower_is_better=False)


def test_the_loss_rule_keeps_the_epoch_of_the_lowest_reported_log_loss_under_label_smoothing():
    # Seeds 0 and 2: the label-smoothed loss is lowest at another epoch.
    X, y = _digits()
    for seed in (0, 2):
        clf = _early(selection="loss", criterion__label_smoothing=0.5, max_levels=0,
                     max_epochs=25, lr=0.3, hidden_layer_sizes=(64,), random_state=seed,
                     callbacks=[ValidationLogLoss.callback()]).fit(X, y)
        nll = [-score for score in clf.net_.history[:, "nll_check"]]
        assert clf.imp_path_["epoch"][0] == 1 + int(np.argmin(np.round(nll, 6)))
        # The reported loss is the same log-loss, of the kept epoch.
        assert clf.imp_path_["val_loss"][0] == pytest.approx(min(nll), abs=1e-5)


def test_checkpoint_load_best_with_early_stopping_is_refused(tmp_path):
    from skorch.callbacks import Checkpoint

    X, y = _digits()
    with pytest.raises(ValueError, match=r"Checkpoint\(load_best=True\) cannot run with "
                                         r"early_stopping=True \(callback 'Checkpoint'\)"):
        _early(callbacks=[Checkpoint(load_best=True, dirname=str(tmp_path))]).fit(X, y)


def test_epochs_are_counted_by_skimp_not_by_a_reloaded_history(tmp_path):
    from skorch.callbacks import Checkpoint

    X, y = _digits()
    # load_best reloads the checkpoint's history, shorter than the epochs trained.
    clf = _early(early_stopping=False, max_epochs=20, lr=0.5, callbacks=[
        Checkpoint(monitor="valid_loss_best", load_best=True, dirname=str(tmp_path))]).fit(X, y)
    assert clf.imp_path_["n_epochs"].tolist() == [20, 20]
    # The kept weights are those load_best reloaded, of an earlier epoch.
    assert all(clf.imp_path_["epoch"] <= 20) and any(clf.imp_path_["epoch"] < 20)
