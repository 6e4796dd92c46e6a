"""Sparse double descent on Fashion-MNIST with 20% label noise.

Claim 1 of Arora et al. (UAI 2023), after He et al. (ICML 2022): as IMP prunes
a network trained on noisy labels, the clean test error first stays at the
level of the dense net (which memorises the noise), *rises* near the point
where the net can no longer interpolate, then falls to a minimum, the "sweet
spot", before capacity runs out. The ticket chosen on a (noisy) validation
split sits in that sweet spot and beats the dense net on clean test labels.

Setup (default): 8,000 Fashion-MNIST training images with 20% symmetric label
noise (10% of them, also noisy, form the validation split that picks the
ticket), scored on the 10,000 clean official test images. An MLP
784-100-100-10 trained with plain SGD (lr 0.1, batch 32) for 120 epochs per
level, long enough for the dense net to memorise the noisy labels, which the
effect needs (with 30 to 60 epochs it stops at 85 to 93% train accuracy). IMP
removes 35% of the remaining weights per level for 14 levels, down to 213
weights (the paper uses 20%; 35% reaches the sweet spot, under 1,000 weights
with this little data, in half the levels), and rewinds to the initial
weights. ``--full`` uses all 60,000 training images, the paper's
LeNet-300-100 and 20% per level (hours on CPU).

Prints the IMP path, the dense-vs-ticket comparison (with the dense net's
accuracy on its own noisy training labels) and saves the train, validation and
test curves against remaining weights to ``sparse_double_descent.png``.

Run::

    python examples/plot_sparse_double_descent.py           # ~5 min on 2 CPU cores
    python examples/plot_sparse_double_descent.py --seeds 0 1 2
    python examples/plot_sparse_double_descent.py --smoke   # seconds
"""

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skimp import PrunedNetClassifier  # noqa: E402
from skimp.datasets import load_fashion_mnist  # noqa: E402
from skimp.plotting import ImpPathDisplay  # noqa: E402

CONFIGS = {
    # n_fit, hidden, epochs, pruning_fraction, levels
    "smoke": (500, (32,), 3, 0.3, 2),
    "default": (8_000, (100, 100), 120, 0.35, 14),
    "full": (60_000, (300, 100), 120, 0.2, 24),
}


def load(mode, seed):
    """Training rows (subsampled) and the clean official test set."""
    n_fit = CONFIGS[mode][0]
    try:
        X, y = load_fashion_mnist(subset="train")
        X_test, y_test = load_fashion_mnist(subset="test")
    except FileNotFoundError as exc:
        if mode != "smoke":
            raise
        # The smoke run only checks that the script works end to end.
        print(f"{exc}\nsmoke run falls back to sklearn's digits")
        X, y = load_digits(return_X_y=True)
        X, X_test, y, y_test = train_test_split(X / 16, y, test_size=0.3, stratify=y,
                                                random_state=seed)
        return X, y, X_test, y_test
    if n_fit < len(X):
        X, _, y, _ = train_test_split(X, y, train_size=n_fit, stratify=y, random_state=seed)
    if mode == "smoke":
        X_test, y_test = X_test[:500], y_test[:500]
    return X, y, X_test, y_test


def fit_one(mode, seed, verbose):
    X, y, X_test, y_test = load(mode, seed)
    _, hidden, epochs, fraction, levels = CONFIGS[mode]
    # Plain SGD at lr 0.1, batch 32, as the reference MNIST setup; 120 epochs
    # take the dense net to (near) zero error on the noisy labels.
    clf = PrunedNetClassifier(
        early_stopping=False, calibration=None,
        hidden_layer_sizes=hidden, max_epochs=epochs, batch_size=32, lr=0.1,
        pruning_fraction=fraction, max_levels=levels, label_noise=0.2,
        random_state=seed, verbose=verbose)
    start, cpu_start = time.perf_counter(), time.process_time()
    clf.fit(X, y)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    path = pd.DataFrame(clf.imp_path_)
    path["test_accuracy"] = list(clf.staged_score(X_test, y_test))
    return clf, path, X_test, y_test, wall, cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="tiny run, for the tests")
    mode.add_argument("--full", action="store_true", help="paper scale (hours on CPU)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", default="sparse_double_descent.png")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "full" if args.full else "default"

    rows = []
    for seed in args.seeds:
        clf, path, X_test, y_test, wall, cpu = fit_one(mode, seed, verbose=int(not args.smoke))
        if seed == args.seeds[0]:
            first = (clf, path, X_test, y_test)
        print(f"\nseed {seed}: IMP path (train/val accuracy on noisy labels, test on clean)")
        print(path[["level", "n_params", "train_accuracy", "val_accuracy", "val_ece",
                    "test_accuracy"]].to_string(index=False, float_format="%.4f"))
        best = clf.best_level_
        dip = path.test_accuracy[:best + 1].idxmin()
        rows.append({
            "seed": seed, "dense_weights": path.n_params[0],
            "dense_train_acc": path.train_accuracy[0], "dense_test_acc": path.test_accuracy[0],
            "ticket_level": best, "ticket_weights": path.n_params[best],
            "ticket_sparsity": clf.sparsity_, "ticket_train_acc": path.train_accuracy[best],
            "ticket_test_acc": path.test_accuracy[best],
            "gain": path.test_accuracy[best] - path.test_accuracy[0],
            # The critical dip: the worst test accuracy before the sweet spot.
            "dip_weights": path.n_params[dip], "dip_test_acc": path.test_accuracy[dip],
            "wall_s": wall, "cpu_s": cpu,
        })

    results = pd.DataFrame(rows)
    print("\ndense net vs chosen ticket (train accuracy on the noisy labels, "
          "test accuracy on the clean test set)")
    print(results.to_string(index=False, float_format="%.4f"))
    if len(results) > 1:
        cols = ["dense_train_acc", "dense_test_acc", "ticket_weights", "ticket_test_acc", "gain"]
        print("\nmean ± std over seeds: " + ", ".join(
            f"{c} {results[c].mean():.4f} ± {results[c].std():.4f}" for c in cols))

    clf, path, X_test, y_test = first
    disp = ImpPathDisplay.from_estimator(clf, X_test, y_test)
    disp.ax_[0].axhline(1 - path.test_accuracy[0], color="tab:green", linestyle="--",
                        linewidth=1, label="dense net, test")
    # Head room for the legend above the curves.
    disp.ax_[0].set_ylim(0, 1.45 * disp.ax_[0].get_ylim()[1])
    disp.ax_[0].legend(loc="upper right", ncol=2, fontsize="small")
    disp.ax_[0].set_title(f"IMP on Fashion-MNIST ({len(clf.noise_mask_)} rows, 20% "
                          f"label noise), seed {args.seeds[0]}")
    disp.figure_.tight_layout()
    disp.figure_.savefig(args.out, dpi=90)
    plt.close(disp.figure_)
    print(f"\nfigure saved to {args.out}")
    return results


if __name__ == "__main__":
    main()
