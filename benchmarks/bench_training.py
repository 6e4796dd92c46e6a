"""Target 1: overhead of one IMP level's training over a minimal torch loop.

Side A is skimp's real code path: the ``MaskedNet`` that
``PrunedNetClassifier`` builds (with ``skimp.training.build_net``), driven by
``ImpRunner.prepare_level`` and
``ImpRunner.train_level`` with a pruning mask active. Side B is the loop a
careful user would write by hand: pre-built tensors indexed by a random
permutation, ``F.cross_entropy``, ``SGD.step`` and an in-place mask multiply
after every step. Same ``skimp.modules.MLP``, data, batch size, optimizer,
learning rate and torch threads.

Run ``python benchmarks/bench_training.py [--quick | --smoke] [--device cuda]``.
On CUDA both sides keep the data on the device and every timed level ends
with ``torch.cuda.synchronize()``, so a ratio counts finished work only.
"""

import argparse

import common  # also puts the checkout on sys.path
import numpy as np
import torch
import torch.nn.functional as F
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import StepLR

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
        # Every call is a fresh level: prune, rewind, reset, train.
        self.level += 1
        self.runner.prepare_level(self.level)
        self.runner.train_level(self.level)
        _synchronize(self.device)


class HandLevel:
    """The minimal torch loop: what one level costs without any framework."""

    def __init__(self, X, y, hidden, epochs, batch_size, lr, seed=0, device="cpu",
                 schedule=False):
        torch.manual_seed(seed)
        self.schedule = schedule
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
        hand_side = HandLevel(X, y, spec["hidden"], epochs, batch_size, lr, device=device,
                              schedule=schedule)
        times = common.interleaved(skimp_side, hand_side, repeats=repeats)
    summary = common.ratio_summary(*times)
    widths = "-".join(map(str, (X.shape[1], *spec["hidden"], int(y.max()) + 1)))
    model = f"MLP {widths}" + (" + LR schedule" if schedule else "")
    summary.update(case=case, model=model, rows=len(X), data=source,
                   epochs=epochs, batch_size=batch_size, threads=threads, device=device)
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


def describe(s):
    return (f"{s['model']}, {s['rows']} rows ({s['data']}), batch {s['batch_size']}, "
            f"{s['epochs']} epoch(s)/level, {s['threads']} thread(s), {s['device']}: "
            f"skimp {s['a_s']:.3f} s, hand loop {s['b_s']:.3f} s per level; "
            f"ratio median {s['median']:.3f}, min {s['min']:.3f} ({s['pairs']} pairs)")


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
    return results


if __name__ == "__main__":
    main()
