"""Iterative magnitude pruning (IMP) with weight rewinding.

One level of IMP is three steps, each a method of :class:`ImpRunner` so that
tests (and curious users) can run and inspect them one at a time:

1. :meth:`ImpRunner.prepare_level` prunes the weights trained at the previous
   level, rewinds the survivors to the rewind point and resets the optimizer;
2. :meth:`ImpRunner.train_level` trains to the end of the schedule, with the
   mask re-applied after every optimizer step (with ``n_iter_no_change``,
   until the validation score stops improving);
3. :meth:`ImpRunner.evaluate_level` records the level's row of the IMP path
   and keeps its weights: those of the last epoch or, with
   ``early_stopping``, of the best epoch on the validation split. The next
   level prunes the weights the level ended with, either way.

:meth:`ImpRunner.run` chains them level after level, in one direction, and
returns an :class:`ImpResult`. A level found in the checkpoint store is
loaded instead of trained; the levels run, and so the result, are the same
either way.

Level 0 is the dense network. After level ``L`` the density is
``(1 - pruning_fraction) ** L`` up to rounding.
"""

import contextlib
import copy
import signal
import threading
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from skorch.callbacks import LRScheduler
from skorch.helper import predefined_split

from skimp.callbacks import (
    BestEpoch,
    StopLevel,
    check_callbacks,  # noqa: F401  (importable here, as before)
)
from skimp.checkpoints import LevelState, rng_states, set_rng_states
from skimp.masks import Mask, prunable_parameter_names
from skimp.metrics import expected_calibration_error
from skimp.progress import Progress
from skimp.pruning import next_mask

__all__ = ["ImpRunner", "ImpResult", "LevelState", "prunable_weights", "select_level",
           "PATH_KEYS"]

# Purposes of the per-level random streams.
_PRUNE, _REINIT = 0, 1

PATH_KEYS = ("level", "density", "n_params", "epoch", "n_epochs", "train_loss",
             "train_accuracy", "val_loss", "val_accuracy", "val_ece", "last_train_accuracy",
             "last_val_loss", "last_val_accuracy", "fit_time")


@dataclass
class ImpResult:
    """What :meth:`ImpRunner.run` returns.

    Attributes
    ----------
    path : dict of str to ndarray
        One entry per level run, keys :data:`PATH_KEYS`.
    states : list of LevelState
        The finished levels, level 0 first.
    best_level : int
        The level chosen by the selection rule; the runner's net holds it.
    interrupted : bool
        True when Ctrl-C stopped the run before its last level.
    """

    path: dict
    states: list
    best_level: int
    interrupted: bool


def select_level(path, rule):
    """Pick the ticket from an IMP path.

    Parameters
    ----------
    path : dict of str to array
        The IMP path so far (see ``PrunedNetClassifier.imp_path_``).
    rule : {"accuracy", "loss"} or callable
        ``"accuracy"`` takes the highest validation accuracy and ``"loss"``
        the lowest validation log-loss; both break ties towards the sparser
        level. A callable gets ``path`` as a dict of numpy arrays and
        returns a level.

    Returns
    -------
    level : int
    """
    path = {key: np.asarray(value) for key, value in path.items()}
    levels = path["level"]
    if callable(rule):
        level = rule(path)
        if not isinstance(level, (int, np.integer)) or level not in levels:
            raise ValueError(
                f"The selection callable returned {level!r}, which is not one of "
                f"the levels run so far ({levels.tolist()}); it must return an "
                f"int from imp_path_['level'].")
        return int(level)
    score = path["val_accuracy"] if rule == "accuracy" else -path["val_loss"]
    # Reverse so that argmax's first hit is the sparsest of the tied levels.
    return int(levels[::-1][np.argmax(score[::-1])])


class ImpRunner:
    """Runs IMP on an initialized :class:`skimp.training.MaskedNet`.

    Parameters
    ----------
    net : skimp.training.MaskedNet
        Initialized net; its current weights are the initial weights.
    prunable : list of str
        Names of the prunable weights.
    data : tuple
        ``(X_train, y_train, X_val, y_val)`` as tensors on the net's device.
    max_epochs, rewind_epoch, pruning_fraction, max_levels, patience, selection
        See :class:`skimp.PrunedNetClassifier`.
    early_stopping : bool, default=False
        Keep each level's best epoch on the validation split, scored by
        ``selection`` ("accuracy" or "loss"), with
        :class:`skimp.callbacks.BestEpoch`.
    n_iter_no_change : int, default=None
        With ``early_stopping``, end a level after this many epochs without
        a better validation score.
    criterion, scope
        ``pruning_criterion`` and ``pruning_scope`` of the estimator; see
        :func:`skimp.pruning.next_mask`.
    retrain : {"rewind", "reinit", "lr_rewind"}, default="rewind"
        What the survivors restart from at each level after the first.
    seed : int, default=0
        Seeds the random pruning scores and the reinitialisations, one
        stream per level, so a resumed run draws what a fresh one draws.
    verbose : int, default=0
        Print progress when > 0 (see :class:`skimp.progress.Progress`).
    store : skimp.checkpoints.CheckpointStore, default=None
        Where finished levels are saved, and resumed from.
    """

    def __init__(self, net, prunable, data, *, max_epochs, rewind_epoch,
                 pruning_fraction, max_levels, patience=None,
                 selection="accuracy", early_stopping=False, n_iter_no_change=None,
                 criterion="magnitude", scope="global", retrain="rewind", seed=0,
                 verbose=0, store=None):
        self.net = net
        self.data = data
        self.max_epochs = max_epochs
        self.rewind_epoch = rewind_epoch
        self.pruning_fraction = pruning_fraction
        self.criterion = criterion
        self.scope = scope
        self.retrain = retrain
        self.seed = seed
        self.max_levels = max_levels
        self.patience = patience
        self.selection = selection
        self.verbose = verbose
        self.store = store
        self.interrupted = False
        # Epochs the current level trained, counted by train_level itself.
        self.epochs_trained = 0
        self.best_epoch = None
        if early_stopping:
            self.best_epoch = BestEpoch(selection, n_iter_no_change, min_epochs=rewind_epoch)
        self.mask = Mask.ones_like(net.module_, prunable).to(net.device)
        self.rewind_state = None
        self.path = {key: [] for key in PATH_KEYS}
        self.states = []
        self.progress = None
        if verbose > 0:
            self.progress = Progress(
                max_epochs, rewind_epoch, max_levels, verbose=verbose,
                upper_bound=patience is not None or n_iter_no_change is not None)
        # User callbacks and BestEpoch see the validation split as skorch's
        # dataset_valid (valid_loss and valid_acc in the history,
        # EpochScoring on it, Checkpoint monitors), as they would in skorch;
        # when nothing reads it the lean loop skips the validation pass.
        self._valid_split = None
        if net.callbacks or early_stopping:
            self._valid_split = predefined_split(net.get_dataset(data[2], data[3]))

    def prepare_level(self, level):
        """Prune, restart the survivors and reset the optimizer before ``level``.

        The survivors restart from the rewind point (``retrain="rewind"``),
        from a fresh draw of the module's initialiser (``"reinit"``), or
        keep their trained values (``"lr_rewind"``). The mask is applied in
        every case, so pruned weights are exactly 0.
        """
        module = self.net.module_
        if level == 0:
            if self.rewind_epoch == 0:
                self.rewind_state = _clone_state(module)
        else:
            self.mask = next_mask(module, self.mask, self.pruning_fraction,
                                  criterion=self.criterion, scope=self.scope,
                                  random_state=self._level_seed(level, _PRUNE))
            if self.retrain == "rewind":
                module.load_state_dict(self.rewind_state)
            elif self.retrain == "reinit":
                module.load_state_dict(self._fresh_state(level))
        self.net.set_mask(self.mask)
        # Each level is a fresh skorch fit of the restarted weights: a new
        # history, a new optimizer (no momentum or Adam moments survive a
        # rewind) and callbacks initialized again, as skorch's fit does, so
        # that EpochScoring's best score or Checkpoint(load_best=True) are
        # per level and never carry another level's weights over.
        self.net.initialize_history()
        self.net.initialize_callbacks()
        if self.best_epoch is not None:
            self.best_epoch.first_epoch = self.rewind_epoch if level else 0
            self.net.callbacks_.append(("skimp_best_epoch", self.best_epoch.initialize()))
        if self.progress is not None:
            self.progress.start_level(level)
            self.net.callbacks_.append(("skimp_progress", self.progress))
        verbose, self.net.verbose = self.net.verbose, 0
        try:  # skorch would print "Re-initializing optimizer" at every level
            self.net.initialize_optimizer()
        finally:
            self.net.verbose = verbose

    def train_level(self, level):
        """Train ``level`` to the end of the schedule.

        Level 0 trains all ``max_epochs``; later levels resume the schedule
        at ``rewind_epoch``. Learning-rate schedulers restart at every level
        and are fast-forwarded to where training resumes, so epoch ``e`` of
        every level gets the learning rate of epoch ``e`` of level 0. With
        ``n_iter_no_change`` a level ends sooner, never before the rewind
        point; its schedule simply stops there.
        """
        X, y = self.data[0], self.data[1]
        skipped = self.rewind_epoch if level > 0 else 0
        self._start_schedule(skipped)
        try:
            if level == 0 and self.rewind_epoch > 0:
                self._fit_epochs(X, y, self.rewind_epoch, level)
                self.rewind_state = _clone_state(self.net.module_)
                self._fit_epochs(X, y, self.max_epochs - self.rewind_epoch, level)
            else:
                self._fit_epochs(X, y, self.max_epochs - skipped, level)
        except StopLevel:
            pass
        # Counted before on_train_end, where a callback may rewrite the
        # history (skorch's Checkpoint(load_best=True) loads a shorter one).
        self.epochs_trained = len(self.net.history)
        self.net.notify("on_train_end", X=X, y=y)

    def _start_schedule(self, skipped_epochs):
        """Start the callbacks' level; step LR schedules over skipped epochs."""
        X, y = self.data[0], self.data[1]
        self.net.notify("on_train_begin", X=X, y=y)
        schedulers = [cb for _, cb in self.net.callbacks_ if isinstance(cb, LRScheduler)]
        if not skipped_epochs or not schedulers:
            return
        batches = len(self.net.get_iterator(self.net.get_dataset(X, y), training=True))
        with warnings.catch_warnings():
            # Stepping before any optimizer step is the point here.
            warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
            for cb in schedulers:
                steps = skipped_epochs * (batches if cb.step_every == "batch" else 1)
                for _ in range(steps):
                    cb.lr_scheduler_.step()

    def _level_seed(self, level, purpose):
        """An int seed of its own for each level and purpose."""
        return int(np.random.RandomState([self.seed, level, purpose]).randint(2**31 - 1))

    def _fresh_state(self, level):
        """A new draw of the module's initial weights, seeded per level.

        A module class is built again, with the same ``module__*``
        parameters, so its own initialiser runs; an instance carries no
        initialiser of its own, so its layers' ``reset_parameters`` run.
        """
        net = self.net
        device = torch.device(net.device)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self._level_seed(level, _REINIT))
            if isinstance(net.module, type):
                fresh = net.initialized_instance(net.module, net.get_params_for("module"))
                if any(isinstance(p, torch.nn.parameter.UninitializedParameter)
                       for p in fresh.parameters()):
                    fresh = fresh.to(device).eval()
                    with torch.no_grad():
                        fresh(self.data[0][:2])  # gives lazy layers their shapes
            else:
                fresh = copy.deepcopy(net.module_)
                for sub in fresh.modules():
                    if hasattr(sub, "reset_parameters"):
                        sub.reset_parameters()
        return {k: v.detach().to(device) for k, v in fresh.state_dict().items()}

    def _fit_epochs(self, X, y, epochs, level):
        # Set only while training, so the fitted net does not carry the
        # validation tensors around.
        self.net.train_split = self._valid_split
        try:
            self.net.fit_loop(X, y, epochs=epochs)
        except FloatingPointError as exc:
            # skorch opens the history row when the epoch begins, so the last
            # row is the failing epoch; count it on the level's schedule.
            epoch = len(self.net.history) + (self.rewind_epoch if level else 0)
            lr = "optimizer__lr" if hasattr(self.net, "optimizer__lr") else "lr"  # skorch's rule
            raise ValueError(
                f"Training diverged at IMP level {level}, epoch {epoch}: {exc} "
                f"The learning rate ({lr}={getattr(self.net, lr):g}) is the likely cause; "
                f"lower it.") from None
        except ValueError as exc:
            if "Expected more than 1 value per channel" not in str(exc):
                raise
            raise ValueError(
                f"{exc}. A batch of one row reached a BatchNorm layer in training: "
                f"the last batch of an epoch holds the rows left over after "
                f"batch_size={self.net.batch_size}. Pass "
                f"iterator_train__drop_last=True to skip it, or change "
                f"batch_size.") from exc
        finally:
            self.net.train_split = None

    def evaluate_level(self, level, fit_time):
        """Append ``level``'s row to the path and keep its weights.

        With ``early_stopping`` the kept weights, and the row, are those of
        the level's best epoch; the weights the level ended with are kept
        too when they differ, and left in the net, since the next level
        prunes them.
        """
        X_tr, y_tr, X_val, y_val = self.data
        n_epochs = self.epochs_trained
        # The history's length is the epoch of the weights the level holds:
        # the last one, unless Checkpoint(load_best=True) reloaded an earlier
        # epoch's weights and history (refused with early_stopping).
        epoch = (self.rewind_epoch if level else 0) + len(self.net.history)
        final = last = None
        if self.best_epoch is not None and self.best_epoch.best_epoch_ != epoch:
            # Score the weights the level ended with, then keep the best epoch's.
            last = (_loss_accuracy(self.net, X_tr, y_tr)[1],
                    *_loss_accuracy(self.net, X_val, y_val)[:2])
            final = _clone_state(self.net.module_)
            self.net.module_.load_state_dict(self.best_epoch.best_state_)
            epoch = self.best_epoch.best_epoch_
        train_loss, train_acc, _ = _loss_accuracy(self.net, X_tr, y_tr)
        val_loss, val_acc, val_proba = _loss_accuracy(self.net, X_val, y_val)
        row = {
            "level": level,
            "density": self.mask.density,
            "n_params": self.mask.n_alive,
            "epoch": epoch,
            "n_epochs": n_epochs,
            "train_loss": train_loss,
            "train_accuracy": train_acc,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "val_ece": expected_calibration_error(
                y_val.cpu().numpy(), val_proba, labels=np.arange(val_proba.shape[1])),
            "fit_time": fit_time,
        }
        row["last_train_accuracy"], row["last_val_loss"], row["last_val_accuracy"] = (
            last or (train_acc, val_loss, val_acc))
        for key in PATH_KEYS:
            self.path[key].append(row[key])
        self.states.append(LevelState(
            level, self.mask.to_bits(), self.mask.compress(self.net.module_.state_dict()),
            None if final is None else self.mask.compress(final)))
        if final is not None:
            self.net.module_.load_state_dict(final)
        if self.progress is not None:
            self.progress.level_done(row)

    def run(self):
        """Run the levels in order, until ``max_levels`` or ``patience``.

        With a ``store``, each level found there (and every level before it)
        is loaded instead of trained, and each newly trained level is saved.
        The levels run do not depend on the store: ``max_levels`` and
        ``patience`` end a resumed run where they end a fresh one. Ctrl-C
        stops after the current batch; the levels finished so far are kept
        and ``interrupted`` is set (with none finished, KeyboardInterrupt
        propagates).

        Returns
        -------
        result : ImpResult
            The chosen level is loaded into the net.
        """
        resuming = self.store is not None
        with _stop_on_sigint(self.net):
            for level in range(self.max_levels + 1):
                if self._patience_exhausted():
                    break
                if resuming:
                    resuming = self._resume_level(level)
                    if resuming:
                        continue
                    if self.states and self.verbose > 0:
                        print(f"resumed from {self.store.path} after level {level - 1}",
                              flush=True)
                start = time.perf_counter()
                try:
                    self.prepare_level(level)
                    self.train_level(level)
                except KeyboardInterrupt:
                    if not self.states:
                        raise
                    self.interrupted = True
                    break
                self.evaluate_level(level, time.perf_counter() - start)
                if self.store is not None:
                    self.store.save_level(
                        self.states[-1], self._row(level), self.rewind_state,
                        rng_states(self.net.iterator_train__generator, self.net.device))
        best_level = select_level(self.path, self.selection)
        self.load_level(best_level)
        if self.progress is not None:
            self.progress.summary(self.path, best_level, self.best_epoch is not None,
                                  last_level=self.max_levels)
        return ImpResult(path={key: np.asarray(v) for key, v in self.path.items()},
                         states=list(self.states), best_level=best_level,
                         interrupted=self.interrupted)

    def _patience_exhausted(self):
        if self.patience is None or not self.states:
            return False
        return self.path["level"][-1] - select_level(self.path, self.selection) >= self.patience

    def _row(self, level):
        return {key: self.path[key][level] for key in PATH_KEYS}

    def _resume_level(self, level):
        """Load ``level`` from the store; False when it is absent or unusable."""
        device = torch.device(self.net.device)
        loaded = self.store.load_level(level, self.net.module_, self.mask.tensors, device)
        if loaded is None:
            return False
        state, row, rewind, rng = loaded
        self.states.append(state)
        for key in PATH_KEYS:
            self.path[key].append(row[key])
        self.rewind_state = {k: v.to(device) for k, v in rewind.items()}
        self.load_level(level, epoch="last")  # the next level prunes these
        set_rng_states(rng, self.net.iterator_train__generator, device)
        return True

    @torch.no_grad()
    def level_logits(self, level, X, epoch="kept"):
        """Logits of ``level``'s weights (``epoch="last"``: those it ended with) on X.

        Loads the level into the net, which keeps it.

        Returns
        -------
        logits : ndarray of float64 of shape (n_samples, n_classes)
        """
        self.load_level(level, epoch=epoch)
        return self.net.forward(X, device=self.net.device).double().cpu().numpy()

    def load_level(self, level, epoch="kept"):
        """Put ``level``'s trained weights (``epoch="last"``: those it ended
        with) and mask back into the net."""
        state = self.states[level]
        self.mask = state.mask.to(self.net.device)
        self.net.module_.load_state_dict(state.state_dict(epoch))
        self.net.set_mask(self.mask)


def prunable_weights(module):
    """Names of the weights IMP prunes in ``module``.

    Those of :func:`skimp.masks.prunable_parameter_names`, less the layers
    named in the module's ``unpruned_layers`` attribute.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    names : list of str

    Raises
    ------
    ValueError
        If no weight is left to prune.
    """
    unpruned = getattr(module, "unpruned_layers", ())
    prunable = prunable_parameter_names(module, unpruned)
    if not prunable:
        raise ValueError(
            f"{type(module).__name__} has no weights to prune: IMP prunes "
            f"the weights of Linear and Conv layers, and every such layer is "
            f"missing or named in unpruned_layers "
            f"({unpruned!r}). Add a Linear or Conv layer, or "
            f"keep fewer layers dense.")
    return prunable


@contextlib.contextmanager
def _stop_on_sigint(net):
    """Turn Ctrl-C into a stop after the current batch."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return

    def request_stop(signum, frame):
        net.stop_requested = True

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        net.stop_requested = False


def _clone_state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@torch.no_grad()
def _loss_accuracy(net, X, y):
    """Mean log-loss, accuracy and probabilities of ``net`` on (X, y)."""
    logits = net.forward(X, device=net.device).float()
    loss = F.cross_entropy(logits, y).item()
    accuracy = (logits.argmax(1) == y).float().mean().item()
    proba = torch.softmax(logits.double(), dim=1).cpu().numpy()
    return loss, accuracy, proba
