"""The skorch callbacks of an IMP level: the one skimp adds, the ones it refuses.

Every level of IMP is a fresh skorch fit of the restarted weights, so the
callbacks are initialized again at every level. :class:`BestEpoch` is the
one skimp adds itself, with ``early_stopping=True``: it keeps the weights of
the level's best epoch on the validation split, and ends the level when
``n_iter_no_change`` epochs in a row bring no improvement.
:func:`check_callbacks` refuses the user callbacks that cannot follow IMP's
level-by-level schedule.
"""

from skorch.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    InputShapeSetter,
    LoadInitState,
    LRScheduler,
)
from torch.optim.lr_scheduler import ReduceLROnPlateau

__all__ = ["BestEpoch", "StopLevel", "check_callbacks"]


class StopLevel(Exception):
    """Raised by :class:`BestEpoch` to end a level that stopped improving.

    It is not skorch's ``KeyboardInterrupt``, which IMP keeps for Ctrl-C.
    """


class BestEpoch(Callback):
    """Keep the weights of the best epoch on the validation split.

    After every epoch it reads the validation scores that
    :class:`skimp.training.MaskedNet` computes itself
    (``net.validation_scores_``: accuracy, higher is better, or log-loss,
    lower is better, the log-loss that ``imp_path_["val_loss"]`` reports, up
    to rounding, whatever the criterion) and copies the module's weights when the score improves
    strictly, so ties go to the earlier epoch and the weights are copied only
    on improvement. It never reads the history, where a user's callback may
    write ``valid_acc`` or ``valid_loss`` under its own rule, and a
    criterion's ``valid_loss`` may be label-smoothed. Nothing is written to
    disk.

    Parameters
    ----------
    monitor : {"accuracy", "loss"}, default="accuracy"
        The estimator's ``selection`` rule.
    n_iter_no_change : int or None, default=None
        End the level (raise :class:`StopLevel`) once this many epochs in a
        row have not improved on the best one. ``None`` trains every epoch.
    first_epoch : int, default=0
        Epochs of the schedule done before this fit began (``rewind_epoch``
        at levels after the first), so that epochs are counted on the
        level's own schedule.
    min_epochs : int, default=0
        The level is never ended at or before this epoch of the schedule:
        ``rewind_epoch``, since level 0 must train past the rewind point.

    Attributes
    ----------
    best_epoch_ : int or None
        Epoch of the best score so far, 1-based on the level's schedule.
    best_score_ : float or None
        That score, as recorded (accuracy or log-loss).
    best_state_ : dict of str to torch.Tensor or None
        A copy of the module's state dict after that epoch.
    last_epoch_ : int
        The last epoch trained, 1-based on the level's schedule.
    """

    def __init__(self, monitor="accuracy", n_iter_no_change=None, first_epoch=0,
                 min_epochs=0):
        self.monitor = monitor
        self.n_iter_no_change = n_iter_no_change
        self.first_epoch = first_epoch
        self.min_epochs = min_epochs

    def initialize(self):
        self.best_epoch_ = None
        self.best_score_ = None
        self.best_state_ = None
        self.last_epoch_ = self.first_epoch
        return self

    def on_epoch_end(self, net, **kwargs):
        epoch = self.first_epoch + len(net.history)
        self.last_epoch_ = epoch
        scores = getattr(net, "validation_scores_", None)
        if scores is None:
            raise RuntimeError(
                "BestEpoch reads the validation scores that skimp.training.MaskedNet "
                "computes in its validation pass; this net has none. Use it inside "
                "PrunedNetClassifier(early_stopping=True), with a validation split.")
        score = scores["accuracy" if self.monitor == "accuracy" else "log_loss"]
        sign = 1 if self.monitor == "accuracy" else -1
        if self.best_score_ is None or sign * score > sign * self.best_score_:
            self.best_epoch_, self.best_score_ = epoch, score
            self.best_state_ = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}
        elif (self.n_iter_no_change is not None and epoch > self.min_epochs
              and epoch - self.best_epoch_ >= self.n_iter_no_change):
            raise StopLevel(f"no better validation {self.monitor} for "
                            f"{self.n_iter_no_change} epochs after epoch {self.best_epoch_}")


def check_callbacks(net, rewind_epoch, early_stopping=False):
    """Refuse the callbacks that cannot follow IMP's level-by-level schedule.

    Every level restarts the callbacks and :class:`skimp.imp.ImpRunner` fast-forwards
    learning-rate schedules to ``rewind_epoch``; this refuses what that
    cannot replay. The net's initialized callbacks (``callbacks_``) are
    read, so settings made with ``callbacks__<name>__<param>``
    (``set_params``, ``GridSearchCV``) are checked too. Every other skorch
    callback runs as in skorch.

    Parameters
    ----------
    net : skimp.training.MaskedNet
        Initialized net.
    rewind_epoch : int
        Where later levels resume the schedule.
    early_stopping : bool, default=False
        The estimator's ``early_stopping``.

    Raises
    ------
    ValueError
        For ``EarlyStopping``, ``LoadInitState``, ``InputShapeSetter``,
        ``LRScheduler(policy=ReduceLROnPlateau)`` with ``rewind_epoch > 0``
        and ``Checkpoint(load_best=True)`` with ``early_stopping``.
    """
    for name, cb in net.callbacks_:
        _check_callback(name, cb, rewind_epoch, early_stopping)


def _check_callback(name, cb, rewind_epoch, early_stopping):
    """:func:`check_callbacks` for the callback ``cb`` named ``name``."""
    if isinstance(cb, Checkpoint) and cb.load_best and early_stopping:
        raise ValueError(
            f"Checkpoint(load_best=True) cannot run with early_stopping=True (callback "
            f"{name!r}): at the end of every level it reloads the checkpoint's weights "
            f"and history over the weights the level ended with, which the next level "
            f"prunes, while early_stopping already keeps each level's best epoch by "
            f"the selection rule. Pass load_best=False to only save checkpoints, or "
            f"early_stopping=False.")

    if isinstance(cb, EarlyStopping):
        raise ValueError(
            f"EarlyStopping cannot run inside IMP (callback {name!r}): it would end "
            f"the whole fit at the first level that stops improving. Use "
            f"early_stopping=True (with n_iter_no_change= to cut each level short) "
            f"to keep each level's best epoch, and patience= to stop pruning early.")
    if isinstance(cb, LoadInitState):
        raise ValueError(
            f"LoadInitState cannot run inside IMP (callback {name!r}): it loads saved "
            f"weights when training begins, at every level, over the rewound "
            f"survivors. Use checkpoint_dir= to resume a fit.")
    if isinstance(cb, InputShapeSetter):
        raise ValueError(
            f"InputShapeSetter cannot run inside IMP (callback {name!r}): it builds "
            f"the module again when training begins, which discards the initial "
            f"weights and the pruning mask. Module classes that take n_classes "
            f"or input_shape get them from X and y; set others with module__*.")
    if isinstance(cb, LRScheduler) and rewind_epoch > 0:
        policy = getattr(cb, "policy_", cb.policy)
        if policy in (ReduceLROnPlateau, "ReduceLROnPlateau"):
            raise ValueError(
                f"LRScheduler(policy=ReduceLROnPlateau) depends on the losses seen "
                f"(callback {name!r}), so it cannot be fast-forwarded to rewind_epoch; use "
                f"a fixed schedule (MultiStepLR, CosineAnnealingLR, ...) or "
                f"rewind_epoch=0.")
