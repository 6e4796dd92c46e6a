"""Fits whose parameters hold callables, classes and tensors, run as a separate process.

Usage: python tests/fit_for_keys.py CHECKPOINT_DIR OUT.json

Each setting is fitted with ``checkpoint_dir=CHECKPOINT_DIR/<setting>``. OUT.json
gets, per setting, the key folder that the fit wrote and its ``fit_time``
column (a fit that loads its levels keeps the times recorded when they were
trained), and the messages of any warning about ``checkpoint_dir``. Run twice,
the second run must find the first one's levels for every setting.
"""

import functools
import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from skorch.callbacks import Callback, LRScheduler
from torch.optim.lr_scheduler import StepLR

from skimp import PrunedNetClassifier
from skimp.transforms import RandomCropFlip


def scaled(s):
    def transform(X):
        return X * s
    return transform


LOOP = [lambda X, s=s: X * s for s in (0.5, 2.0)]
ONE_LINE = [lambda X: X * 0.5, lambda X: X * 2.0]


def scale(X, s):
    return X * s


class Scale:
    def __init__(self, s):
        self.s = s

    def __call__(self, X):
        return X * self.s


class Scaler:
    def __init__(self, s):
        self.s = s

    def apply(self, X):
        return X * self.s


class SetLR(Callback):
    def on_epoch_begin(self, net, **kwargs):
        for group in net.optimizer_.param_groups:
            group["lr"] = 0.05


@dataclass(frozen=True)
class Jitter:
    scale: float = 1.0

    def __call__(self, X):
        return X * self.scale * 0.5


class TunedSGD(torch.optim.SGD):
    def __init__(self, params, lr, **kwargs):
        super().__init__(params, lr=lr * 0.5, **kwargs)


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(64, 16)
        self.output = torch.nn.Linear(16, 10)

    def forward(self, X):
        return self.output(self.hidden(X).relu())


class Tempered(torch.nn.Module):
    """A network whose logits are divided by a temperature it keeps private."""

    def __init__(self, temperature):
        super().__init__()
        self.hidden = torch.nn.Linear(64, 16)
        self.output = torch.nn.Linear(16, 10)
        self._temperature = temperature

    def forward(self, X):
        return self.output(self.hidden(X).relu()) / self._temperature


def tempered(temperature):
    """A Tempered instance with the same initial weights at every temperature."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return Tempered(temperature)


class Centre(BaseEstimator):
    """An sklearn-style transform: subtracts the mean of the rows it was fitted on."""

    def fit(self, X):
        self.mean_ = np.asarray(X, dtype=np.float32).mean(axis=0)
        return self

    def __call__(self, X):
        return X - torch.as_tensor(self.mean_, device=X.device)


def transition():
    """A 40-class noise model, far too large for repr to show whole."""
    T = torch.full((40, 40), 0.5 / 39, dtype=torch.float64)
    T.fill_diagonal_(0.5)
    return T


SETTINGS = {
    "closure": dict(train_transform=scaled(0.5)),
    "loop lambda": dict(train_transform=LOOP[1]),
    "one-line lambda": dict(train_transform=ONE_LINE[1]),
    "partial": dict(train_transform=functools.partial(scale, s=0.5)),
    "callable object": dict(train_transform=Scale(0.5)),
    "bound method": dict(train_transform=Scaler(0.5).apply),
    "callback class": dict(callbacks=[SetLR(), LRScheduler(policy=StepLR, step_size=2)]),
    "transform class": dict(train_transform=Jitter(2.0)),
    "skimp transform": dict(train_transform=RandomCropFlip(padding=1, image_shape=(1, 8, 8))),
    "optimizer class": dict(optimizer=TunedSGD, optimizer__momentum=0.9),
    "module class": dict(module=Net),
    "module instance": dict(module=tempered(0.5)),
    "fitted transform": dict(train_transform=Centre().fit(np.eye(64))),
    "large tensor": dict(noise_model=transition(), label_noise=0.3),
}


def make_data(setting):
    if setting == "large tensor":
        rng = np.random.RandomState(0)
        return rng.standard_normal((400, 8)), np.arange(400) % 40
    X = np.linspace(0, 1, 600 * 64).reshape(600, 64)
    return X, (np.arange(600) * 7) % 10


if __name__ == "__main__":
    root, out = Path(sys.argv[1]), Path(sys.argv[2])
    report = {}
    for name, params in SETTINGS.items():
        X, y = make_data(name)
        folder = root / name
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = PrunedNetClassifier(hidden_layer_sizes=(16,), max_epochs=3, max_levels=2,
                                      batch_size=64, random_state=0, checkpoint_dir=folder,
                                      **params).fit(X, y)
        report[name] = {
            "keys": sorted(p.name for p in folder.iterdir()),
            "fit_time": clf.imp_path_["fit_time"].tolist(),
            "warnings": [str(w.message) for w in caught if "checkpoint_dir" in str(w.message)
                         and not issubclass(w.category, ConvergenceWarning)],
        }
    out.write_text(json.dumps(report, indent=1))
