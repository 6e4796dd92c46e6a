"""The paper's CIFAR-10 recipe: IMP on ResNet-20 of width W with 20% label noise.

Arora et al. (UAI 2023), after He et al. (ICML 2022) and OpenLTH's
``cifar_resnet_20_W``: ResNet-20 whose first stage has W channels, trained
with SGD (momentum 0.9, lr 0.1 divided by 10 at epochs 80 and 120, weight
decay 1e-4, batch 128) for 160 epochs per level, with random crops (4 pixels
of padding) and horizontal flips; 20% of the training labels replaced
uniformly; global magnitude pruning of 20% of the remaining weights per level;
survivors rewound to their values after epoch 10. The paper's tickets land at
about 15k to 57k weights for W from 20 to 150, with test error 0.12 to 0.14
against 0.14 to 0.19 for the dense nets.

In skimp that recipe is one estimator::

    PrunedNetClassifier(
        early_stopping=False, calibration=None,
        module=ResNet20, module__width=W, max_epochs=160, batch_size=128, lr=0.1,
        optimizer__momentum=0.9, optimizer__weight_decay=1e-4,
        callbacks=[LRScheduler(policy=MultiStepLR, milestones=[80, 120], gamma=0.1)],
        rewind_epoch=10, train_transform=RandomCropFlip(padding=4),
        label_noise=0.2, pruning_fraction=0.2, max_levels=LEVELS, device="cuda")

The learning-rate schedule restarts at every level, fast-forwarded to epoch
10, as OpenLTH does. The script sweeps W, prints dense against the chosen
ticket (clean test error, ECE, weights) per width and saves the test error
against remaining weights to ``cifar10_resnet20.png``.

This is GPU work: a level is 160 epochs over 45,000 images. ``--cost``
measures the time of a few epochs on the device (on random images of
CIFAR-10's shape, since the cost does not depend on the pixels) and
extrapolates one level and a whole run; docs/results.md records what it
printed on the GPU we were lent.

Data: the official "python version" batches, in the folder given by
``--data`` or the ``SKIMP_CIFAR10`` environment variable (see
:func:`skimp.datasets.load_cifar10`); nothing is downloaded.

Run::

    python examples/cifar10_resnet20.py --data ~/cifar-10-batches-py --widths 16 64 --device cuda
    python examples/cifar10_resnet20.py --cost --device cuda    # a few minutes
    python examples/cifar10_resnet20.py --smoke                 # seconds, CPU, synthetic
"""

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from skorch.callbacks import LRScheduler  # noqa: E402
from torch.optim.lr_scheduler import MultiStepLR  # noqa: E402

from skimp import PrunedNetClassifier  # noqa: E402
from skimp.datasets import load_cifar10  # noqa: E402
from skimp.metrics import expected_calibration_error  # noqa: E402
from skimp.modules import ResNet20  # noqa: E402
from skimp.transforms import RandomCropFlip  # noqa: E402

RECIPE = {"epochs": 160, "milestones": [80, 120], "rewind_epoch": 10, "levels": 20}
SMOKE = {"epochs": 3, "milestones": [2], "rewind_epoch": 1, "levels": 1}


def make_estimator(width, schedule, *, levels, seed, device):
    return PrunedNetClassifier(
        early_stopping=False, calibration=None,
        module=ResNet20, module__width=width, max_epochs=schedule["epochs"],
        batch_size=128, lr=0.1, optimizer__momentum=0.9, optimizer__weight_decay=1e-4,
        callbacks=[LRScheduler(policy=MultiStepLR, milestones=schedule["milestones"],
                               gamma=0.1)],
        rewind_epoch=schedule["rewind_epoch"], train_transform=RandomCropFlip(padding=4),
        label_noise=0.2, pruning_fraction=0.2, max_levels=levels,
        iterator_train__drop_last=True, random_state=seed, device=device, verbose=1)


def synthetic_cifar(n, seed):
    """Random images and labels of CIFAR-10's shape, for --smoke and --cost."""
    rng = np.random.default_rng(seed)
    return rng.random((n, 3, 32, 32), dtype=np.float32), rng.integers(0, 10, n)


def sweep(args):
    smoke = args.smoke
    schedule = SMOKE if smoke else RECIPE
    levels = args.levels if args.levels is not None else schedule["levels"]
    if smoke:
        X, y = synthetic_cifar(300, 0)
        X_test, y_test = synthetic_cifar(100, 1)
    else:
        X, y = load_cifar10(args.data, subset="train")
        X_test, y_test = load_cifar10(args.data, subset="test")
    rows, paths = [], []
    for width in args.widths:
        for seed in args.seeds:
            clf = make_estimator(width, schedule, levels=levels, seed=seed, device=args.device)
            start = time.perf_counter()
            clf.fit(X, y)
            wall = time.perf_counter() - start
            path = pd.DataFrame(clf.imp_path_)
            staged = list(clf.staged_predict_proba(X_test))
            path["test_error"] = [1 - np.mean(clf.classes_[p.argmax(1)] == y_test)
                                  for p in staged]
            path["test_ece"] = [expected_calibration_error(y_test, p, labels=clf.classes_)
                                for p in staged]
            path["width"], path["seed"] = width, seed
            paths.append(path)
            best = clf.best_level_
            rows.append({
                "width": width, "seed": seed, "dense_weights": path.n_params[0],
                "dense_train_acc": path.train_accuracy[0],
                "dense_test_error": path.test_error[0], "dense_ece": path.test_ece[0],
                "ticket_level": best, "ticket_weights": path.n_params[best],
                "ticket_test_error": path.test_error[best], "ticket_ece": path.test_ece[best],
                "hours": wall / 3600,
            })
    table = pd.DataFrame(rows)
    print("\ndense net vs chosen ticket on the clean test set")
    print(table.to_string(index=False, float_format="%.4f"))
    paths = pd.concat(paths, ignore_index=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    for width, runs in paths.groupby("width"):
        curve = runs.groupby("level").agg(n=("n_params", "mean"), err=("test_error", "mean"))
        ax.plot(curve.n, curve.err, marker="o", markersize=3, label=f"W = {width}")
    ax.set_xscale("log")
    ax.invert_xaxis()
    ax.set_xlabel("remaining prunable weights")
    ax.set_ylabel("clean test error")
    ax.set_title("IMP on ResNet-20 of width W, CIFAR-10, 20% label noise", fontsize="medium")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"\nfigure saved to {args.out}")
    return table


def cost(args):
    """Time a few epochs of the recipe on the device; extrapolate a level and a run."""
    epochs = 2 if args.smoke else 3
    n = 600 if args.smoke else 50_000
    X, y = synthetic_cifar(n, 0)
    rows = []
    for width in args.widths:
        schedule = {"epochs": epochs, "milestones": [80, 120], "rewind_epoch": 1}
        clf = make_estimator(width, schedule, levels=1, seed=0, device=args.device)
        clf.set_params(verbose=0)
        start = time.perf_counter()
        clf.fit(X, y)
        wall = time.perf_counter() - start
        # Level 1 trains epochs - rewind_epoch epochs after warm-up.
        per_epoch = clf.imp_path_["fit_time"][1] / (epochs - 1)
        other = (wall - clf.imp_path_["fit_time"].sum()) / 2
        level = RECIPE["epochs"] * per_epoch + other
        rows.append({"width": width, "dense_weights": clf.imp_path_["n_params"][0],
                     "s_per_epoch": per_epoch, "s_eval_per_level": other,
                     "min_per_level": level / 60,
                     "h_per_run": (RECIPE["levels"] + 1) * level / 3600})
    table = pd.DataFrame(rows)
    print(f"\nmeasured: seconds per epoch over {int(0.9 * n)} training images (level 1), "
          f"device {args.device}; extrapolated: a level of {RECIPE['epochs']} epochs and a "
          f"run of {RECIPE['levels'] + 1} levels")
    print(table.to_string(index=False, float_format="%.3f"))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="synthetic data, seconds, CPU")
    parser.add_argument("--cost", action="store_true", help="time a few epochs, extrapolate")
    parser.add_argument("--widths", type=int, nargs="+", default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--levels", type=int, default=None)
    parser.add_argument("--data", default=None, help="folder of the CIFAR-10 batches")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="cifar10_resnet20.png")
    args = parser.parse_args(argv)
    if args.widths is None:
        args.widths = [4] if args.smoke else [16, 32, 64]
    return cost(args) if args.cost else sweep(args)


if __name__ == "__main__":
    main()
