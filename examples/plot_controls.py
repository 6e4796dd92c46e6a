"""Is the ticket's gain under label noise due to the IMP mask, or to sparsity alone?

Arora et al. (UAI 2023) show that under label noise IMP finds sparse tickets
that are more accurate and better calibrated than the dense network. They do
not ask whether the *mask* IMP finds matters, or whether any network of that
size, trained the same way, would do as well. This example runs the field's
standard controls along the same density schedule (every method removes the
same number of weights per level, so level ``L`` has the same density for
all):

* ``imp``: iterative magnitude pruning, rewinding to the initial weights;
* ``random pruning``: ``pruning_criterion="random"``, fresh random scores at
  each level (the mask carries no information about the data);
* ``reinit``: IMP's masks, but the survivors restart from a fresh random
  initialisation at each level (Frankle and Carbin's control: the mask
  without the winning initial values);
* ``lr_rewind``: IMP's masks, survivors keep their trained values and only
  the learning-rate schedule restarts (Renda et al., 2020; with the constant
  rate used here that is fine-tuning).

It then runs IMP once more under pair-flip noise (class k becomes k + 1), the
asymmetric noise He et al. (ICML 2022) also test, to see whether sparse
double descent holds there.

Setup (default): 2,000 Fashion-MNIST training images with 20% label noise
(10% of them, also noisy, form the validation split), scored on 5,000 clean
official test images; MLP 784-100-100-10, SGD with momentum 0.9 (lr 0.01,
batch 32), 120 epochs per level, 35% of the remaining weights removed per
level for 12 levels; seeds 0, 1, 2. The schedule was chosen so that the dense
net memorises the noisy labels in every seed (train accuracy 1.0; plain SGD
at lr 0.1 for 60 epochs reached only 0.72 to 0.92, with test accuracy
varying by seed from 0.59 to 0.71). Fits run two at a time, one torch thread
each. ``--full`` uses 8,000 images.

Prints, per method, the mean ± std over seeds of clean test accuracy and ECE
at the validation-chosen level, and saves accuracy and ECE against remaining
weights, one curve per method, to ``controls.png``.

Run::

    python examples/plot_controls.py            # ~10 min on 2 CPU cores
    python examples/plot_controls.py --smoke    # seconds
"""

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skimp import PrunedNetClassifier  # noqa: E402
from skimp.datasets import load_fashion_mnist  # noqa: E402
from skimp.metrics import expected_calibration_error  # noqa: E402

METHODS = {
    "imp": {},
    "random pruning": {"pruning_criterion": "random"},
    "reinit": {"retrain": "reinit"},
    "lr_rewind": {"retrain": "lr_rewind"},
    "imp, pair-flip noise": {"noise_model": "pairflip"},
}

CONFIGS = {
    # n_fit, n_test, hidden, epochs, pruning_fraction, levels
    "smoke": (400, 300, (16,), 2, 0.35, 2),
    "default": (2_000, 5_000, (100, 100), 120, 0.35, 12),
    "full": (8_000, 10_000, (100, 100), 120, 0.35, 14),
}


def load(mode, seed):
    """Training rows (subsampled) and clean test rows."""
    n_fit, n_test = CONFIGS[mode][:2]
    try:
        X, y = load_fashion_mnist(subset="train")
        X_test, y_test = load_fashion_mnist(subset="test")
    except FileNotFoundError as exc:
        if mode != "smoke":
            raise
        print(f"{exc}\nsmoke run falls back to sklearn's digits")
        X, y = load_digits(return_X_y=True)
        return train_test_split(X / 16, y, test_size=0.3, stratify=y, random_state=seed)
    X, _, y, _ = train_test_split(X, y, train_size=n_fit, stratify=y, random_state=seed)
    return X, X_test[:n_test], y, y_test[:n_test]


def fit_one(mode, method, seed, levels=None):
    """One IMP run; its path with clean test accuracy and ECE per level."""
    X, X_test, y, y_test = load(mode, seed)
    _, _, hidden, epochs, fraction, default_levels = CONFIGS[mode]
    levels = default_levels if levels is None else levels
    clf = PrunedNetClassifier(
        hidden_layer_sizes=hidden, max_epochs=epochs, batch_size=32, lr=0.01,
        optimizer__momentum=0.9,
        pruning_fraction=fraction, max_levels=levels, label_noise=0.2,
        random_state=seed, **METHODS[method])
    start = time.perf_counter()
    clf.fit(X, y)
    wall = time.perf_counter() - start
    path = pd.DataFrame(clf.imp_path_)
    path["test_accuracy"] = list(clf.staged_score(X_test, y_test))
    path["test_ece"] = [expected_calibration_error(y_test, p, labels=clf.classes_)
                        for p in clf.staged_predict_proba(X_test)]
    path["method"], path["seed"], path["chosen"] = method, seed, path.level == clf.best_level_
    print(f"{method:>22}, seed {seed}: ticket at level {clf.best_level_} "
          f"({path.n_params[clf.best_level_]} weights), {wall:.0f} s", flush=True)
    return path


def summarise(paths):
    """Mean ± std over seeds of the dense net and the validation-chosen ticket."""
    rows = []
    for method, runs in paths.groupby("method", sort=False):
        dense = runs[runs.level == 0]
        chosen = runs[runs.chosen]
        rows.append({
            "method": method,
            "dense test acc": _mean_std(dense.test_accuracy),
            "dense ECE": _mean_std(dense.test_ece),
            "ticket weights": f"{chosen.n_params.mean():.0f}",
            "ticket test acc": _mean_std(chosen.test_accuracy),
            "ticket ECE": _mean_std(chosen.test_ece),
            "dense train acc": _mean_std(dense.train_accuracy),
        })
    return pd.DataFrame(rows)


def _mean_std(values):
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.3f}"


def plot(paths, out):
    fig, (acc_ax, ece_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for method, runs in paths.groupby("method", sort=False):
        curve = runs.groupby("level").agg(n=("n_params", "mean"), acc=("test_accuracy", "mean"),
                                          acc_sd=("test_accuracy", "std"),
                                          ece=("test_ece", "mean"), ece_sd=("test_ece", "std"))
        style = "--" if "pair-flip" in method else "-"
        for ax, key in ((acc_ax, "acc"), (ece_ax, "ece")):
            line, = ax.plot(curve.n, curve[key], style, marker="o", markersize=3, label=method)
            ax.fill_between(curve.n, curve[key] - curve[f"{key}_sd"].fillna(0),
                            curve[key] + curve[f"{key}_sd"].fillna(0),
                            color=line.get_color(), alpha=0.15)
    for ax, label in ((acc_ax, "clean test accuracy"), (ece_ax, "clean test ECE")):
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_xlabel("remaining prunable weights")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    acc_ax.legend(fontsize="small")
    acc_ax.set_title("IMP against its controls, 20% label noise (mean ± std over seeds)",
                     fontsize="medium", loc="left")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="tiny run, for the tests")
    mode.add_argument("--full", action="store_true", help="8,000 images")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-jobs", type=int, default=2, help="fits run at once")
    parser.add_argument("--levels", type=int, default=None,
                        help="pruning levels (default: 12; 16 reaches 89 weights)")
    parser.add_argument("--out", default="controls.png")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "full" if args.full else "default"
    seeds = args.seeds[:1] if args.smoke else args.seeds

    start = time.perf_counter()
    jobs = [(method, seed) for method in METHODS for seed in seeds]
    paths = pd.concat(Parallel(n_jobs=1 if args.smoke else args.n_jobs)(
        delayed(fit_one)(mode, method, seed, args.levels) for method, seed in jobs),
        ignore_index=True)
    summary = summarise(paths)
    print(f"\nclean test set, validation-chosen ticket; {len(seeds)} seed(s), "
          f"{time.perf_counter() - start:.0f} s in all")
    print(summary.to_markdown(index=False) if _has_tabulate() else summary.to_string(index=False))
    curves = paths.pivot_table(index=["level", "n_params"], columns="method", sort=False,
                               values=["test_accuracy", "test_ece"], aggfunc="mean")
    print("\nclean test accuracy and ECE at every level, mean over seeds (matched densities)")
    print(curves.round(3).to_string())
    plot(paths, args.out)
    csv = str(args.out).rsplit(".", 1)[0] + ".csv"
    paths.to_csv(csv, index=False)
    print(f"\nfigure saved to {args.out}, every level of every run to {csv}")
    return summary, paths


def _has_tabulate():
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
