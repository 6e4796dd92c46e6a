"""Target 1: overhead of one IMP level's training over a minimal torch loop.

Side A is skimp's real code path: the ``MaskedNet`` that
``PrunedNetClassifier`` builds (with ``skimp.training.build_net``), driven by
``ImpRunner.prepare_level`` and
``ImpRunner.train_level`` with a pruning mask active. Side B is the loop a
careful user would write by hand: pre-built tensors indexed by a random
permutation, ``F.cross_entropy``, ``SGD.step`` and an in-place mask multiply
of the same weights after every step, and a validation pass after every
epoch where skimp makes one (when the net has callbacks). Same
``skimp.modules.MLP``, data, batch size, optimizer, learning rate and torch
threads.

The last case is the cost of ``early_stopping=True`` (a validation pass per
epoch and a copy of the weights at every improvement), through the public
API: ``PrunedNetClassifier(..., early_stopping=True)`` against
``early_stopping=False``, MLP 784-300-100-10 on Fashion-MNIST rows with the
default ``validation_fraction=0.1``.

Run ``python benchmarks/bench_training.py [--quick | --smoke] [--device cuda]``.
On CUDA both sides keep the data on the device and every timed level ends
with ``torch.cuda.synchronize()``, so a ratio counts finished work only.
"""

import argparse
import math

import common  # also puts the checkout on sys.path
import numpy as np
import sklearn
import torch
import torch.nn.functional as F
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import StepLR

from skimp import PrunedNetClassifier
from skimp.imp import ImpRunner
from skimp.masks import prunable_parameter_names
from skimp.modules import MLP
from skimp.training import build_net


def mnist_scale_data(n_rows, subset="train"):
    """Fashion-MNIST rows, or random data of the same shape."""
    try:
        from skimp.datasets import load_fashion_mnist
        X, y = load_fashion_mnist(subset=subset)
        source = "Fashion-MNIST" + ("" if subset == "train" else f" ({subset})")
    except (FileNotFoundError, OSError):
        rng = np.random.default_rng(0)
        X = rng.random((n_rows, 784), dtype=np.float32)
        y = rng.integers(0, 10, n_rows)
        source = "random (Fashion-MNIST not found)"
    return X[:n_rows].astype(np.float32), y[:n_rows], source


def small_data(n_rows):
    """sklearn's digits, resampled with jitter to ``n_rows`` rows."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(X), n_rows)
    X = X[idx] / 16 + rng.normal(0, 0.05, (n_rows, X.shape[1]))
    return X.astype(np.float32), y[idx], "digits, resampled with jitter"


CASES = {
    "mnist": dict(hidden=(300, 100), data=mnist_scale_data, rows=54_000),
    "small": dict(hidden=(100,), data=small_data, rows=3_600),
    # The small case with a learning-rate schedule on both sides: skorch's
    # LRScheduler callback against a torch StepLR stepped by hand.
    "small+schedule": dict(hidden=(100,), data=small_data, rows=3_600, schedule=True),
}


class SkimpLevel:
    """One IMP level through skimp's own objects, as ``fit`` builds them."""

    def __init__(self, X, y, hidden, epochs, batch_size, lr, seed=0, device="cpu",
                 schedule=False):
        n_classes = int(y.max()) + 1
        self.device = torch.device(device)
        torch.manual_seed(seed)
        callbacks = [LRScheduler(policy=StepLR, step_size=1, gamma=0.9)] if schedule else None
        net = build_net(MLP, n_classes=n_classes, random_state=seed, max_epochs=epochs,
                        batch_size=batch_size, lr=lr, device=self.device, callbacks=callbacks,
                        module__n_features=X.shape[1], module__n_classes=n_classes,
                        module__hidden_layer_sizes=hidden)
        Xt = torch.as_tensor(X, device=self.device)
        yt = torch.as_tensor(y, dtype=torch.long, device=self.device)
        self.runner = ImpRunner(
            net, prunable_parameter_names(net.module_, MLP.unpruned_layers),
            (Xt, yt, Xt[:10], yt[:10]), max_epochs=epochs, rewind_epoch=0,
            pruning_fraction=0.2, max_levels=100)
        self.runner.prepare_level(0)
        self.level = 0

    def __call__(self):
        # Every call is a fresh level: prune, rewind, reset, train. Inside
        # fit, sklearn skips the parameter validation of nested calls
        # (next_mask's), so it is skipped here too.
        self.level += 1
        with sklearn.config_context(skip_parameter_validation=True):
            self.runner.prepare_level(self.level)
            self.runner.train_level(self.level)
        _synchronize(self.device)


class HandLevel:
    """The minimal torch loop: what one level costs without any framework.

    ``validate`` adds what skimp's loop does after every epoch when the net
    has callbacks: the loss and the accuracy on the validation rows that
    ``SkimpLevel`` passes (its first 10 rows), in eval mode without gradients.
    """

    def __init__(self, X, y, hidden, epochs, batch_size, lr, seed=0, device="cpu",
                 schedule=False, validate=False):
        torch.manual_seed(seed)
        self.schedule = schedule
        self.validate = validate
        self.device = torch.device(device)
        self.model = MLP(X.shape[1], int(y.max()) + 1, hidden).to(self.device)
        self.X = torch.as_tensor(X, device=self.device)
        self.y = torch.as_tensor(y, dtype=torch.long, device=self.device)
        self.epochs, self.batch_size, self.lr = epochs, batch_size, lr
        self.generator = torch.Generator().manual_seed(seed)
        self.init = {k: v.clone() for k, v in self.model.state_dict().items()}
        self.masks = [(layer.weight, (torch.rand_like(layer.weight) > 0.2).float())
                      for layer in self.model.hidden]

    def __call__(self):
        model, X, y = self.model, self.X, self.y
        model.load_state_dict(self.init)
        optimizer = torch.optim.SGD(model.parameters(), lr=self.lr)
        scheduler = StepLR(optimizer, step_size=1, gamma=0.9) if self.schedule else None
        model.train()
        n = len(X)
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=self.generator).to(self.device)
            for start in range(0, n, self.batch_size):
                idx = order[start:start + self.batch_size]
                optimizer.zero_grad()
                F.cross_entropy(model(X[idx]), y[idx]).backward()
                optimizer.step()
                with torch.no_grad():
                    for weight, keep in self.masks:
                        weight.mul_(keep)
            if self.validate:
                model.eval()
                with torch.no_grad():
                    logits = model(X[:10])
                    F.cross_entropy(logits, y[:10]).item()
                    (logits.argmax(1) == y[:10]).sum().item()
                model.train()
            if scheduler is not None:
                scheduler.step()
        _synchronize(self.device)


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(case, *, epochs, repeats, threads=1, batch_size=128, lr=0.1, rows=None,
        subset="train", device="cpu"):
    """Time both sides of ``case`` and return the ratio summary (skimp / hand)."""
    spec = CASES[case]
    rows = rows or spec["rows"]
    X, y, source = (mnist_scale_data(rows, subset) if case == "mnist"
                    else spec["data"](rows))
    schedule = spec.get("schedule", False)
    with common.torch_threads(threads):
        skimp_side = SkimpLevel(X, y, spec["hidden"], epochs, batch_size, lr, device=device,
                                schedule=schedule)
        # skimp validates after every epoch when the net has callbacks (the
        # schedule's LRScheduler here): the loop must too, to be a fair reference.
        hand_side = HandLevel(X, y, spec["hidden"], epochs, batch_size, lr, device=device,
                              schedule=schedule, validate=schedule)
        times = common.interleaved(skimp_side, hand_side, repeats=repeats)
    summary = common.ratio_summary(*times)
    widths = "-".join(map(str, (X.shape[1], *spec["hidden"], int(y.max()) + 1)))
    model = f"MLP {widths}" + (" + LR schedule" if schedule else "")
    summary.update(case=case, model=model, rows=len(X), data=source,
                   epochs=epochs, batch_size=batch_size, threads=threads, device=device)
    return summary


def run_early_stopping(*, epochs, repeats, rows, subset="train", threads=1, max_levels=1,
                       device="cpu"):
    """Time ``early_stopping=True`` against ``False`` through the public API.

    Both fits are the same ``PrunedNetClassifier`` (MLP 784-300-100-10, the
    default ``validation_fraction=0.1``), ``max_levels`` pruning levels of
    ``epochs`` epochs each; only ``early_stopping`` differs, so the ratio is
    the cost of the validation pass after every epoch, of ``valid_acc`` and
    of copying the weights at every improvement.
    """
    X, y, source = mnist_scale_data(rows, subset)
    params = dict(hidden_layer_sizes=(300, 100), max_epochs=epochs, max_levels=max_levels,
                  random_state=0, n_threads=threads, device=device)
    fits = {}

    def fit(early_stopping):
        def call():
            fits[early_stopping] = PrunedNetClassifier(
                **params, early_stopping=early_stopping).fit(X, y)
        return call

    times = common.interleaved(fit(True), fit(False), repeats=repeats)
    summary = common.ratio_summary(*times)
    n_val = max(math.ceil(0.1 * len(X)), len(np.unique(y)))  # as the estimator splits
    summary.update(case="early_stopping", model="MLP 784-300-100-10", rows=len(X),
                   train_rows=len(X) - n_val, data=source, epochs=epochs,
                   levels=max_levels + 1, threads=threads, device=device,
                   kept_epochs=fits[True].imp_path_["epoch"].tolist())
    return summary


# Per mode and case: epochs per level, (A, B) pairs, rows, Fashion-MNIST subset.
# Full mode takes ~40 s per case: the MNIST-scale level is long enough that 9
# pairs settle; the small one needs more pairs against noise.
SIZES = {
    "full": {"mnist": (1, 9, None, "train"), "small": (10, 40, None, "train"),
             "small+schedule": (10, 40, None, "train")},
    "quick": {"mnist": (1, 3, 6_000, "train"), "small": (1, 3, None, "train"),
              "small+schedule": (2, 3, None, "train")},
    "smoke": {"mnist": (1, 1, 500, "test"), "small": (1, 1, 500, "train"),
              "small+schedule": (1, 1, 500, "train")},
}

# The early_stopping case, per mode: epochs per level, pairs, rows, subset,
# max_levels. Full mode: 60,000 rows (54,000 train, 6,000 validation), two
# levels of 2 epochs (the first epoch of a level always improves, so this is
# the copy-heavy end), about 2 minutes.
EARLY_STOPPING_SIZES = {
    "full": (2, 5, 60_000, "train", 1),
    "quick": (2, 2, 10_000, "train", 1),
    "smoke": (1, 1, 500, "test", 0),
}


def describe(s):
    return (f"{s['model']}, {s['rows']} rows ({s['data']}), batch {s['batch_size']}, "
            f"{s['epochs']} epoch(s)/level, {s['threads']} thread(s), {s['device']}: "
            f"skimp {s['a_s']:.3f} s, hand loop {s['b_s']:.3f} s per level; "
            f"ratio median {s['median']:.3f}, min {s['min']:.3f} ({s['pairs']} pairs)")


def describe_early_stopping(s):
    return (f"early_stopping=True / False, {s['model']}, {s['rows']} rows ({s['data']}; "
            f"{s['train_rows']} train), {s['levels']} level(s) of {s['epochs']} epoch(s), "
            f"{s['threads']} thread(s), {s['device']}: {s['a_s']:.3f} s against "
            f"{s['b_s']:.3f} s per fit; ratio median {s['median']:.3f}, min {s['min']:.3f} "
            f"({s['pairs']} pairs)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help='e.g. "cuda"')
    args = parser.parse_args(argv)
    results = []
    for case, (epochs, repeats, rows, subset) in SIZES[common.mode(args)].items():
        s = run(case, epochs=epochs, repeats=repeats, threads=args.threads, rows=rows,
                subset=subset, device=args.device)
        print(describe(s), flush=True)
        results.append(s)
    epochs, repeats, rows, subset, max_levels = EARLY_STOPPING_SIZES[common.mode(args)]
    s = run_early_stopping(epochs=epochs, repeats=repeats, rows=rows, subset=subset,
                           threads=args.threads, max_levels=max_levels, device=args.device)
    print(describe_early_stopping(s), flush=True)
    results.append(s)
    return results


if __name__ == "__main__":
    main()
