"""A GridSearchCV sweep: under label noise, tickets are better calibrated.

Claim 4 of Arora et al. (UAI 2023): the best pruned networks are less
overconfident (lower ECE) than the full networks. Here scikit-learn's
``GridSearchCV`` is the sweep engine over ``label_noise`` x
``hidden_layer_sizes``, with multi-metric scoring (accuracy, and ECE through
:data:`skimp.metrics.ece_scorer`, 15 equal-width bins); every number comes from
``cv_results_``.

How the dense net gets its own column: ``max_levels`` is a third grid axis,
``[0, L]``. ``max_levels=0`` *is* the dense net (IMP stopped before the first
pruning), and with the same ``random_state`` it is bit for bit the dense level
0 of the ``max_levels=L`` fit, trained on the same fold. So the comparison is
paired, needs no custom estimator or scorer, and costs one extra level per IMP
fit. (A callable scorer reading ``staged_predict_proba`` would avoid that level
too, but hides the dense net from ``cv_results_``'s parameters.) A third
scorer, ``weights``, is a plain callable returning ``n_params_``, so the
ticket sizes land in ``cv_results_`` as well, and a fourth, ``memorised``,
records the dense level's accuracy on its own noisy training labels, which
tells whether the dense net was large enough to memorise the noise.

``label_noise`` is applied by the estimator inside ``fit``, to the training
fold only (and its validation split); the CV test fold keeps its clean labels,
so every score is on clean labels, as in the paper.

Setup (default): MNIST-1D, 6,000 rows, 3-fold stratified CV (4,000 rows per
fit), label noise in {0, 0.1, 0.2, 0.4}, MLP 40-h-10 with h in {32, 128, 512},
SGD (lr 0.05, momentum 0.9), 30 epochs per level, L = 16 levels of 20%
pruning, ticket chosen by (noisy) validation accuracy, ``n_jobs=2``.

Run::

    python examples/plot_noise_width_grid.py           # ~2 min on 2 idle CPU cores
    python examples/plot_noise_width_grid.py --smoke   # seconds
"""

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold  # noqa: E402

from skimp import PrunedNetClassifier  # noqa: E402
from skimp.datasets import load_mnist1d  # noqa: E402
from skimp.metrics import ece_scorer  # noqa: E402

NOISES = [0.0, 0.1, 0.2, 0.4]
CONFIGS = {
    # n_samples, widths, epochs, levels, folds
    "smoke": (600, [(16,), (64,)], 2, 2, 2),
    "default": (6_000, [(32,), (128,), (512,)], 30, 16, 3),
    "full": (20_000, [(32,), (128,), (512,), (2048,)], 30, 24, 5),
}


def n_weights(estimator, X, y):
    """A 'scorer' that records the ticket's size in cv_results_."""
    return estimator.n_params_


def dense_train_accuracy(estimator, X, y):
    """A 'scorer' that records how well level 0 fit its *noisy* training labels."""
    return estimator.imp_path_["train_accuracy"][0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="tiny run, for the tests")
    mode.add_argument("--full", action="store_true", help="more data, widths and folds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--out", default="noise_width_grid.png")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "full" if args.full else "default"
    n_samples, widths, epochs, levels, folds = CONFIGS[mode]

    X, y = load_mnist1d(n_samples)
    grid = GridSearchCV(
        PrunedNetClassifier(early_stopping=False, calibration=None,
                            max_epochs=epochs, lr=0.05, optimizer__momentum=0.9,
                            validation_fraction=0.2, random_state=args.seed),
        {"label_noise": NOISES, "hidden_layer_sizes": widths, "max_levels": [0, levels]},
        scoring={"accuracy": "accuracy", "ece": ece_scorer, "weights": n_weights,
                 "memorised": dense_train_accuracy},
        cv=StratifiedKFold(folds, shuffle=True, random_state=args.seed),
        refit=False, n_jobs=args.n_jobs)
    start = time.perf_counter()
    grid.fit(X, y)
    wall = time.perf_counter() - start

    cv = pd.DataFrame(grid.cv_results_)
    cv["model"] = cv.param_max_levels.map(lambda m: "dense" if m == 0 else "ticket")
    cv["width"] = cv.param_hidden_layer_sizes.map(lambda h: h[0])
    # ece_scorer is a loss, so sklearn stores it negated.
    cv["ece"], cv["ece_std"] = -cv.mean_test_ece, cv.std_test_ece
    cv["acc"], cv["acc_std"] = cv.mean_test_accuracy, cv.std_test_accuracy
    cv["weights"] = cv.mean_test_weights
    cv["train_acc"] = cv.mean_test_memorised
    table = cv.pivot_table(index=["param_label_noise", "width"], columns="model",
                           values=["acc", "acc_std", "ece", "ece_std", "weights", "train_acc"])
    table.columns = [f"{model}_{value}" for value, model in table.columns]
    table = table[["dense_weights", "ticket_weights", "dense_train_acc",
                   "dense_acc", "dense_acc_std",
                   "ticket_acc", "ticket_acc_std", "dense_ece", "dense_ece_std",
                   "ticket_ece", "ticket_ece_std"]].reset_index()
    table = table.rename(columns={"param_label_noise": "label_noise"})
    table = table.astype({"dense_weights": int, "ticket_weights": int})
    table["ece_ratio"] = table.ticket_ece / table.dense_ece
    print(f"GridSearchCV on MNIST-1D ({n_samples} rows, {folds}-fold CV, clean test "
          f"folds): mean and std over folds, from cv_results_")
    print(table.to_string(index=False, float_format="%.4f"))
    print(f"\n{len(cv)} candidates x {folds} folds in {wall:.0f} s (n_jobs={args.n_jobs})")

    fig, (ax_acc, ax_ece) = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = dict(zip(sorted(cv.width.unique()), plt.cm.viridis([0.0, 0.4, 0.75, 0.9])))
    for (width, model), part in cv.groupby(["width", "model"]):
        # One colour per width; dashed squares for the dense net, solid dots for the ticket.
        style = dict(marker="o" if model == "ticket" else "s", color=colors[width],
                     linestyle="-" if model == "ticket" else "--", label=f"{model}, h={width}")
        ax_acc.errorbar(part.param_label_noise, part.acc, part.acc_std, capsize=3, **style)
        ax_ece.errorbar(part.param_label_noise, part.ece, part.ece_std, capsize=3, **style)
    ax_acc.set(xlabel="label noise (training folds)", ylabel="clean CV accuracy")
    ax_ece.set(xlabel="label noise (training folds)", ylabel="clean CV ECE (15 bins)")
    ax_ece.legend(fontsize="small", ncol=2)
    fig.suptitle("GridSearchCV over label_noise x hidden_layer_sizes x max_levels "
                 "(0 = dense)")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"figure saved to {args.out}")
    return table


if __name__ == "__main__":
    main()
