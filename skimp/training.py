"""A lean skorch net for the IMP hot path.

IMP retrains the network at every level, so any per-batch cost is paid
thousands of times. :class:`MaskedNet` is a plain skorch
``NeuralNetClassifier`` that keeps skorch's module, optimizer, criterion,
callbacks and prefixed parameters, and changes only skorch's own extension
points:

- ``get_dataset`` turns X and y into tensors on the device once per call to
  ``fit_loop``, not once per batch;
- :class:`TensorBatches`, the iterator, slices those tensors with a random
  permutation instead of collating items from ``Dataset.__getitem__``;
- ``train_step`` does one plain optimizer step, then multiplies the pruning
  mask in place, so pruned weights stay exactly zero whatever the optimizer's
  momentum or weight decay did; it calls ``module_`` and ``criterion_``
  directly instead of ``train_step_single``, ``infer`` and ``get_loss``, which
  would reset every module's train mode and re-check the batch's type per
  batch (override ``train_step`` to change how the loss is computed);
- ``run_single_epoch`` sets the train mode once and reduces the batch
  losses once per epoch, which avoids tensor arithmetic and a device sync
  per batch; a validation epoch also records ``valid_acc``, as skorch's
  ``NeuralNetClassifier`` does, which :class:`skimp.callbacks.BestEpoch`
  reads.

Callbacks keep skorch's contract: every hook is called where skorch calls
it, with the same arguments. The per-batch hooks (``on_batch_begin``,
``on_batch_end``, with skorch's per-batch history) and ``on_grad_computed``
are only sent when a callback overrides them (a per-batch learning-rate
schedule, ``GradientNormClipping``, ...), so a fit without such callbacks
pays nothing for them. The epoch-level ``train_loss`` and ``valid_loss`` and
their ``*_best`` flags are recorded as skorch's default
``PassthroughScoring`` callbacks record them.

``benchmarks/bench_training.py`` measures what is left against a minimal
hand-written torch loop.

:func:`build_net` is the one place that turns the estimator's settings into
an initialized :class:`MaskedNet`, and :func:`torch_threads` the one place
that sets torch's CPU threads for a while; the estimator, the benchmarks and
the tests all use them.
"""

import copy
import inspect
import itertools
import math

import torch
import torch.nn.functional as F
from skorch import NeuralNetClassifier
from skorch.callbacks import (
    Callback,
    Checkpoint,
    EpochTimer,
    LRScheduler,
    PassthroughScoring,
    TrainEndCheckpoint,
)
from skorch.dataset import Dataset
from skorch.utils import TeeGenerator

from skimp._threads import (  # AUTO_THREADS_MIN_WORK: skimp.training's, as before
    AUTO_THREADS_MIN_WORK,  # noqa: F401
    MultiplyAddCounter,
    idle_cores,
    resolve_threads,
    torch_threads,
)
from skimp.modules import MLP

# The thread settings live in skimp._threads and are part of this module's face.
__all__ = ["MaskedNet", "MultiplyAddCounter", "TensorBatches", "TensorDataset", "build_net",
           "check_net_params", "check_output_width", "check_training_settings",
           "idle_cores", "resolve_threads", "torch_threads"]

#: Rows per forward pass when a net is evaluated or predicts: large enough
#: that per-call overhead vanishes, small enough that a wide network's
#: activations stay a few hundred MB.
INFERENCE_BATCH_SIZE = 4096

#: Prefixed net parameters that :func:`build_net` sets itself, and what to
#: use instead; passing one raises (see :func:`check_net_params`).
OWN_NET_PARAMS = {
    "iterator_train__generator": "random_state, which seeds the batch order",
}

#: The same, for the default :class:`skimp.modules.MLP` only.
OWN_MLP_PARAMS = {
    "module__hidden_layer_sizes": "hidden_layer_sizes",
    "module__n_features": "nothing: the default MLP takes its input width from X",
    "module__n_classes": "nothing: the default MLP takes its output width from y",
}

#: skorch callbacks that read the per-batch history (``history[-1, "batches"]``)
#: without a batch hook of their own: ``PassthroughScoring`` averages the
#: batch losses, and the checkpoints format file names with the last batch.
#: With one of them, or any callback that overrides ``on_batch_begin`` or
#: ``on_batch_end``, :class:`MaskedNet` writes that history as skorch does.
BATCH_HISTORY_READERS = (PassthroughScoring, Checkpoint, TrainEndCheckpoint)


class TensorDataset(Dataset):
    """A skorch ``Dataset`` of tensors already on the device.

    It is a skorch dataset, so skorch's callbacks (``EpochScoring``, ...)
    read its ``X`` and ``y`` as they read any skorch dataset, and it exposes
    ``tensors`` as ``torch.utils.data.TensorDataset`` does, which is what
    :class:`TensorBatches` slices.

    Parameters
    ----------
    X : torch.Tensor
    y : torch.Tensor or None, default=None
    """

    def __init__(self, X, y=None):
        super().__init__(X, y)

    @property
    def tensors(self):
        return (self.X,) if self.y is None else (self.X, self.y)


class TensorBatches:
    """Minibatches sliced from tensors already on the device.

    Parameters
    ----------
    dataset : TensorDataset or torch.utils.data.TensorDataset
        Holds ``X`` and, for training, ``y``.
    batch_size : int
        Rows per batch; the last batch may be smaller.
    shuffle : bool, default=False
        Draw a fresh permutation each epoch.
    generator : torch.Generator, default=None
        Source of the permutations, so runs are reproducible without touching
        torch's global RNG.
    drop_last : bool, default=False
        Skip the last batch when it is smaller than ``batch_size``. Set it
        with ``iterator_train__drop_last=True`` for modules that cannot train
        on a one-row batch, such as those with BatchNorm.
    """

    def __init__(self, dataset, batch_size, shuffle=False, generator=None, drop_last=False):
        self.tensors = dataset.tensors
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = drop_last

    def __len__(self):
        n = len(self.tensors[0])
        if self.drop_last:
            return n // self.batch_size
        return (n + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        X = self.tensors[0]
        y = self.tensors[1] if len(self.tensors) > 1 else None
        stop_at = len(self) * self.batch_size
        if not self.shuffle:
            for start in range(0, min(stop_at, len(X)), self.batch_size):
                stop = start + self.batch_size
                yield X[start:stop], (None if y is None else y[start:stop])
            return
        order = torch.randperm(len(X), generator=self.generator).to(X.device)
        size = self.batch_size
        for start in range(0, min(stop_at, len(X)), size):
            idx = order[start:start + size]
            # The same rows as X[idx], bit for bit, at about half the cost:
            # advanced indexing takes torch's general index kernel, which
            # showed as a few percent of a level (docs/performance.md).
            yield X.index_select(0, idx), (None if y is None else y.index_select(0, idx))


class MaskedNet(NeuralNetClassifier):
    """skorch classifier whose prunable weights are held at zero by a mask.

    Set the mask with :meth:`set_mask`; ``None`` trains the dense network.

    Parameters
    ----------
    *args, **kwargs
        skorch's ``NeuralNetClassifier`` arguments. The defaults differ in
        ``iterator_train`` and ``iterator_valid`` (:class:`TensorBatches`),
        ``iterator_train__shuffle`` (True), ``iterator_valid__batch_size``
        (:data:`INFERENCE_BATCH_SIZE`) and ``train_split`` (None).
    batch_transform : callable, default=None
        Applied to each training batch of X before the forward pass (data
        augmentation); never when evaluating or predicting.
    """

    #: Set (e.g. by a SIGINT handler) to stop training after the current batch.
    stop_requested = False

    # Whether ``train_step`` sends ``on_grad_computed``. ``run_single_epoch``
    # sets it from the callbacks at every epoch; True for a direct call.
    _notify_grads_ = True

    def __init__(self, *args, batch_transform=None, **kwargs):
        kwargs.setdefault("iterator_train", TensorBatches)
        kwargs.setdefault("iterator_valid", TensorBatches)
        kwargs.setdefault("iterator_train__shuffle", True)
        kwargs.setdefault("iterator_valid__batch_size", INFERENCE_BATCH_SIZE)
        kwargs.setdefault("train_split", None)
        super().__init__(*args, **kwargs)
        self.batch_transform = batch_transform

    @property
    def _default_callbacks(self):
        # skorch's default PassthroughScoring callbacks average the per-batch
        # losses of the history, which the lean loop writes only for batch
        # callbacks; run_single_epoch records the same train_loss, valid_loss
        # and *_best entries itself. skorch's default PrintLog is left out:
        # skimp prints its own progress table (pass PrintLog to get skorch's).
        return [("epoch_timer", EpochTimer())]

    def set_mask(self, mask):
        """Use ``mask`` (a :class:`skimp.masks.Mask` or None) from now on."""
        self.mask_ = mask
        if mask is None:
            self._masked_params = ([], [])
            return
        params = dict(self.module_.named_parameters())
        names = list(mask.tensors)
        self._masked_params = (
            [params[n] for n in names],
            [mask.tensors[n].to(params[n].device, params[n].dtype) for n in names],
        )
        self.apply_mask()

    def apply_mask(self):
        """Zero the pruned weights in place (a single fused multiply)."""
        params, keeps = getattr(self, "_masked_params", ([], []))
        if params:
            # A with-block, not the @torch.no_grad() decorator, which builds
            # a fresh context object at every call: this runs every batch.
            with torch.no_grad():
                torch._foreach_mul_(params, keeps)

    def get_dataset(self, X, y=None):
        if isinstance(X, torch.utils.data.Dataset):
            return X  # as skorch does: a dataset is used as it is
        X = torch.as_tensor(X, device=self.device)
        return TensorDataset(X, None if y is None else torch.as_tensor(y, device=self.device))

    def train_step(self, batch, **fit_params):
        # Straight to module_ and criterion_: skorch's train_step_single would
        # put every module in train mode again and infer/get_loss would
        # re-check the batch's type, on every batch, though the batches are
        # tensors on the device already (about 5% of a small MLP's step, see
        # benchmarks/bench_training.py). No closure: the optimizers IMP uses
        # (SGD, Adam, ...) step once.
        Xi, yi = batch
        if self.batch_transform is not None:
            Xi = self.batch_transform(Xi)
        self.optimizer_.zero_grad(set_to_none=True)
        y_pred = self.module_(Xi, **fit_params)
        loss = self.criterion_(y_pred, yi)
        loss.backward()
        if self._notify_grads_:
            # Between backward and step, with skorch's arguments, so that
            # GradientNormClipping clips the gradients the step uses.
            self.notify("on_grad_computed",
                        named_parameters=TeeGenerator(self.get_all_learnable_params()),
                        batch=batch, training=True)
        self.optimizer_.step()
        self.apply_mask()
        return {"loss": loss, "y_pred": y_pred}

    def _hooked_callbacks(self):
        """Whether callbacks need the per-batch hooks, and the gradient hook.

        A callback needs the batch hooks, and skorch's per-batch history,
        when it overrides ``on_batch_begin`` or ``on_batch_end``, or is one
        of skorch's callbacks that read that history in other hooks
        (:data:`BATCH_HISTORY_READERS`). skorch's own ``LRScheduler`` needs
        them only with ``step_every="batch"``: otherwise its
        ``on_batch_end`` returns at once.
        """
        batches = grads = False
        for _, cb in self.callbacks_:
            kind = type(cb)
            batches = batches or _uses_batch_hooks(cb)
            grads = grads or kind.on_grad_computed is not Callback.on_grad_computed
        return batches, grads

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        if iterator is None:
            return
        if not training:
            self.validation_scores_ = None  # never a stale epoch's
        self._set_training(training)
        # The hooks cost a call per callback per batch: only made when a
        # callback uses them.
        notify_batches, self._notify_grads_ = self._hooked_callbacks()
        losses, sizes, hits, log_losses = [], [], [], []
        for batch in iterator:
            if notify_batches:
                # As skorch's loop: the hook, the train mode set again (a
                # callback may have called predict, which sets eval mode),
                # the step, the per-batch history, the hook with the step's
                # outputs (loss, y_pred).
                self.notify("on_batch_begin", batch=batch, training=training)
                self._set_training(training)
                step = step_fn(batch, **fit_params)
                self.history.record_batch(prefix + "_loss", step["loss"].item())
                self.history.record_batch(prefix + "_batch_size", len(batch[0]))
                self.notify("on_batch_end", batch=batch, training=training, **step)
            else:
                step = step_fn(batch, **fit_params)
            # Keep the loss tensors; summing them per batch would cost
            # tensor ops (and, on CUDA, nothing is synced until the end).
            losses.append(step["loss"].detach())
            sizes.append(len(batch[0]))
            if not training and batch[1] is not None:
                hits.append((step["y_pred"].argmax(1) == batch[1]).sum())
                # skimp's own log-loss, that of imp_path_["val_loss"]: the
                # criterion's may be label-smoothed or the user's own.
                log_losses.append(F.cross_entropy(step["y_pred"].detach(), batch[1]))
            if self.stop_requested:
                raise KeyboardInterrupt("training stopped after the current batch")
        # One host sync per epoch; a diverged loss surfaces here.
        weights = torch.tensor(sizes, dtype=torch.float64)
        epoch_loss = float(torch.stack(losses).double().cpu() @ weights) / float(weights.sum())
        if not math.isfinite(epoch_loss):
            raise FloatingPointError(f"the {prefix} loss became {epoch_loss}.")
        self._record_loss(prefix + "_loss", epoch_loss)
        if hits:  # skorch's NeuralNetClassifier records valid_acc too
            accuracy = float(torch.stack(hits).sum()) / float(weights.sum())
            self.history.record(prefix + "_acc", accuracy)
            log_loss = float(torch.stack(log_losses).double().cpu() @ weights) / float(
                weights.sum())
            # Kept out of the history, which user callbacks write to as well.
            self.validation_scores_ = {"accuracy": accuracy, "log_loss": log_loss}
        self.history.record(prefix + "_batch_count", len(iterator))

    def _record_loss(self, key, value):
        """Record an epoch's loss and its ``*_best`` flag, as skorch's
        default ``PassthroughScoring`` does: lower than every earlier epoch
        of this history (so the first epoch is always the best so far)."""
        earlier = itertools.islice(self.history, len(self.history) - 1)
        best = all(value < row[key] for row in earlier if key in row)
        self.history.record(key, value)
        self.history.record(key + "_best", best)

    def __getstate__(self):
        state = super().__getstate__()
        # Parameter references are rebuilt from the mask on unpickling.
        state.pop("_masked_params", None)
        if state.get("mask_") is not None:
            # Masks travel on the CPU, so a CUDA fit unpickles without CUDA.
            state["mask_"] = state["mask_"].to("cpu")
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if getattr(self, "mask_", None) is not None:
            self.set_mask(self.mask_.to(self.device))


def _uses_batch_hooks(cb):
    """Whether ``cb`` does anything in ``on_batch_begin``/``on_batch_end``
    or reads the per-batch history (see ``MaskedNet._hooked_callbacks``)."""
    if isinstance(cb, BATCH_HISTORY_READERS):
        return True
    kind = type(cb)
    begin = kind.on_batch_begin is not Callback.on_batch_begin
    end = kind.on_batch_end is not Callback.on_batch_end
    if kind.on_batch_end is LRScheduler.on_batch_end and cb.step_every != "batch":
        # Otherwise an epoch schedule, the most common callback, would cost
        # every batch two notify rounds, the train mode set again and a
        # loss .item(), for nothing (docs/performance.md).
        end = False
    return begin or end


def build_net(module=None, *, n_classes, random_state, max_epochs, batch_size, lr,
              optimizer=torch.optim.SGD, device="cpu", verbose=0, hidden_layer_sizes=(256,),
              input_shape=None, train_transform=None, **net_params):
    """An initialized :class:`MaskedNet` with skimp's training settings.

    This is where the estimator's network is chosen and built: the default
    MLP, a module class with the parameters it takes filled in, or a copy
    of a module instance.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network, returning logits. ``None`` builds
        :class:`skimp.modules.MLP` with ``hidden_layer_sizes``, as wide as
        the rows of ``input_shape`` and as ``n_classes``. skorch
        instantiates a class with the ``module__*`` entries of
        ``net_params``; one whose constructor takes ``n_classes`` gets
        ``n_classes``, and one that takes ``input_shape`` gets
        ``input_shape`` when it has more than one dimension (images),
        unless ``net_params`` sets them. An instance is deep-copied, so the
        caller's is never trained; its current weights are the initial
        weights.
    n_classes : int
        Classes are the integers ``0 .. n_classes - 1``.
    random_state : int
        Seeds the batch order, through a generator of the net's own, so that
        training never draws from torch's global RNG for it.
    max_epochs, batch_size, lr, optimizer, device
        As in skorch's ``NeuralNet``.
    verbose : int, default=0
        The net's ``verbose``, which skorch's callbacks read: ``PrintLog``
        and ``Checkpoint`` print to stdout only when it is > 0.
    hidden_layer_sizes : tuple of int, default=(256,)
        Hidden widths of the default MLP; unused with a ``module``.
    input_shape : tuple of int, default=None
        Shape of one row of X. Needed for the default MLP.
    train_transform : callable, default=None
        The net's ``batch_transform``: applied to every training batch.
    **net_params
        Other skorch parameters, such as ``optimizer__momentum`` or
        ``iterator_train__drop_last``.

    Returns
    -------
    net : MaskedNet
        Initialized: ``net.module_`` and ``net.optimizer_`` exist.
    """
    check_net_params(net_params, default_module=module is None)
    if module is None:
        if input_shape is None:
            raise ValueError("build_net needs input_shape to build the default MLP.")
        module = MLP
        net_params.update(module__n_features=math.prod(input_shape), module__n_classes=n_classes,
                          module__hidden_layer_sizes=tuple(hidden_layer_sizes))
    elif isinstance(module, torch.nn.Module):
        module = copy.deepcopy(module)
    elif input_shape is not None:
        net_params.update(_filled_module_params(module, net_params, n_classes, input_shape))
    return MaskedNet(
        module=module, criterion=torch.nn.CrossEntropyLoss, optimizer=optimizer,
        lr=lr, max_epochs=max_epochs, batch_size=batch_size, device=device,
        verbose=verbose, classes=list(range(n_classes)), batch_transform=train_transform,
        iterator_train__generator=torch.Generator().manual_seed(int(random_state)),
        **net_params).initialize()


def check_training_settings(optimizer, device, callbacks):
    """Refuse settings the training loop cannot run with, before any data is read.

    Parameters
    ----------
    optimizer : torch optimizer class
        Must step without a closure: the loop calls ``step()`` once per
        batch and never re-evaluates the loss.
    device : str or torch.device
        Must be available on this machine.
    callbacks : list or None
        skorch callback instances or ``(name, callback)`` pairs; a class or
        another object is refused before skorch builds them.

    Raises
    ------
    ValueError
        Naming the setting and what to use instead.
    """
    closure = inspect.signature(optimizer.step).parameters.get("closure")
    if closure is not None and closure.default is inspect.Parameter.empty:
        raise ValueError(
            f"optimizer={optimizer.__name__} needs a closure at every step "
            f"(it re-evaluates the loss), which IMP's training loop does not "
            f"give; use an optimizer that steps once, such as torch.optim.SGD "
            f"or torch.optim.Adam.")
    for callback in callbacks or []:
        _check_callback_type(callback)
    kind = torch.device(device).type
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available "
            f"on this machine (torch {torch.__version__}); use device='cpu'.")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device={device!r} was requested but MPS is not available; "
            f"use device='cpu'.")


def _check_callback_type(callback):
    """Refuse what is not a skorch callback instance, before skorch builds them."""
    cb = callback[1] if isinstance(callback, tuple) and len(callback) == 2 else callback
    if isinstance(cb, type):
        raise ValueError(
            f"callbacks holds the class {cb.__name__}; pass an instance, e.g. "
            f"{cb.__name__}(...), as skorch does.")
    if not isinstance(cb, Callback):
        raise ValueError(
            f"callbacks must hold skorch callbacks (or (name, callback) pairs), got "
            f"{type(cb).__name__}.")


def check_net_params(net_params, *, default_module):
    """Refuse the prefixed parameters that :func:`build_net` sets itself.

    Parameters
    ----------
    net_params : iterable of str
        Names of the prefixed net parameters.
    default_module : bool
        Whether the net is the default MLP, whose ``module__*`` width
        parameters are skimp's too.

    Raises
    ------
    ValueError
        Naming the parameter and what to use instead.
    """
    own = dict(OWN_NET_PARAMS, **(OWN_MLP_PARAMS if default_module else {}))
    for name in net_params:
        if name in own:
            raise ValueError(
                f"{name} is set by skimp itself"
                f"{' for the default MLP' if name in OWN_MLP_PARAMS else ''}; "
                f"use {own[name]}.")


def _filled_module_params(module_class, net_params, n_classes, input_shape):
    """``n_classes`` and ``input_shape`` for a module class that takes them.

    A class whose constructor has an ``n_classes`` parameter gets the number
    of classes in y, and one with an ``input_shape`` parameter gets the row
    shape of X when X has more than 2 dimensions (images), unless the user
    set them with ``module__*``.
    """
    try:
        accepted = inspect.signature(module_class).parameters
    except (TypeError, ValueError):  # no signature to read: fill nothing
        return {}
    filled = {}
    if "n_classes" in accepted and "module__n_classes" not in net_params:
        filled["module__n_classes"] = n_classes
    if ("input_shape" in accepted and "module__input_shape" not in net_params
            and len(input_shape) > 1):
        filled["module__input_shape"] = tuple(int(d) for d in input_shape)
    return filled


def check_output_width(module, rows, n_classes):
    """Run two rows through the network; its logits must be one per class.

    The dry run also gives lazy layers (``torch.nn.LazyLinear``, ...) their
    shapes before any weight is pruned or saved, and counts the network's
    multiply-adds per row, which ``n_threads="auto"`` sizes the work by.
    Eval mode and no_grad keep it from touching BatchNorm statistics or any
    random state.

    Parameters
    ----------
    module : torch.nn.Module
    rows : torch.Tensor
        The first rows of X, on the module's device.
    n_classes : int

    Returns
    -------
    multiply_adds : int
        Multiply-adds of the Linear and convolution layers for one row.

    Raises
    ------
    ValueError
        If the module fails on the rows, or does not return one logit per
        class.
    """
    module.eval()
    try:
        with torch.no_grad(), MultiplyAddCounter(module) as counter:
            logits = module(rows)
    except Exception as exc:
        raise ValueError(
            f"{type(module).__name__} failed on the first 2 rows of X (shape "
            f"{tuple(rows.shape)}): {type(exc).__name__}: {exc}") from exc
    finally:
        module.train()
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"{type(module).__name__} must return a 2-D tensor of logits of shape "
            f"(n_samples, n_classes); on 2 rows it returned {shape}.")
    if logits.shape[1] != n_classes:
        raise ValueError(
            f"{type(module).__name__} returns {logits.shape[1]} logits per row but y "
            f"holds {n_classes} classes; make its output layer {n_classes} wide "
            f"(the default MLP does this itself).")
    return counter.total // len(rows)
