"""IMP finds tickets of comparable size from starting widths 256x apart.

Claim 2 of Arora et al. (UAI 2023): for one task, the best pruned networks
have about the same number of weights even when IMP starts from full networks
whose sizes span orders of magnitude.

Setup (default): MNIST-1D (10,000 rows for fitting, 20% symmetric label noise,
20% of them, also noisy, as the validation split; 4,000 clean test rows), MLPs
40-h-10 with h in {8, 32, 128, 512, 2048}: 320 to 81,920 prunable weights.
SGD (lr 0.05, momentum 0.9), 30 epochs per level, 20% of the remaining weights
pruned per level, rewinding to initialisation. Every width is pruned down to
the same floor of about 150 weights, so every path covers the same range.

The ticket is chosen by validation *log-loss* (``selection="loss"``). On a
noisy validation split the accuracy of neighbouring levels differs by less
than its sampling noise over a broad plateau, so the accuracy argmax lands
anywhere on it; the log-loss, which punishes the overconfidence of nets that
memorise the noise, has a sharper minimum. The table shows both rules.
``--full`` adds h=8192 (327,680 weights), more data and 3 seeds.

Prints dense weights vs ticket weights per width and the spread (max/min) of
each, and saves the test-error paths and the dense-vs-ticket sizes to
``width_convergence.png``.

Run::

    python examples/plot_width_convergence.py            # ~4 min on 2 CPU cores
    python examples/plot_width_convergence.py --seeds 0 1 2
    python examples/plot_width_convergence.py --smoke    # seconds
"""

import argparse
import math
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skimp import PrunedNetClassifier  # noqa: E402
from skimp.datasets import load_mnist1d  # noqa: E402
from skimp.imp import select_level  # noqa: E402

CONFIGS = {
    # n_fit, n_test, widths, epochs, weight floor
    "smoke": (600, 400, (8, 64), 2, 200),
    "default": (10_000, 4_000, (8, 32, 128, 512, 2048), 30, 150),
    "full": (30_000, 10_000, (8, 32, 128, 512, 2048, 8192), 30, 150),
}


def levels_to_floor(n_weights, floor, fraction=0.2):
    """Levels that take ``n_weights`` down to about ``floor`` at ``fraction``."""
    return max(0, math.ceil(math.log(floor / n_weights) / math.log(1 - fraction)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="tiny run, for the tests")
    mode.add_argument("--full", action="store_true", help="more data, wider nets")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="default: 0 (1 seed), or 0 1 2 with --full")
    parser.add_argument("--out", default="width_convergence.png")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "full" if args.full else "default"
    seeds = args.seeds or ([0, 1, 2] if args.full else [0])
    n_fit, n_test, widths, epochs, floor = CONFIGS[mode]

    X, y = load_mnist1d(n_fit + n_test)
    rows, paths = [], {}
    for seed in seeds:
        X_fit, X_test, y_fit, y_test = train_test_split(
            X, y, test_size=n_test, stratify=y, random_state=seed)
        for h in widths:
            dense_weights = X.shape[1] * h  # the output layer stays dense
            clf = PrunedNetClassifier(
                early_stopping=False, calibration=None,
                hidden_layer_sizes=(h,), max_epochs=epochs, lr=0.05,
                optimizer__momentum=0.9, max_levels=levels_to_floor(dense_weights, floor),
                label_noise=0.2, validation_fraction=0.2, selection="loss",
                random_state=seed)
            start, cpu_start = time.perf_counter(), time.process_time()
            clf.fit(X_fit, y_fit)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            path = clf.imp_path_
            test_acc = np.array(list(clf.staged_score(X_test, y_test)))
            by_acc = select_level(path, "accuracy")
            rows.append({
                "seed": seed, "width": h, "dense_weights": path["n_params"][0],
                "dense_train_acc": path["train_accuracy"][0], "dense_test_acc": test_acc[0],
                "ticket_weights": clf.n_params_, "ticket_test_acc": test_acc[clf.best_level_],
                "ticket_weights_by_acc": path["n_params"][by_acc],
                "ticket_test_acc_by_acc": test_acc[by_acc],
                "levels": len(test_acc) - 1, "wall_s": wall, "cpu_s": cpu,
            })
            paths[seed, h] = (path["n_params"], test_acc, clf.best_level_)
            print(f"seed {seed} width {h:>4}: {path['n_params'][0]:>6} -> ticket "
                  f"{clf.n_params_:>5} weights, test accuracy {test_acc[0]:.4f} -> "
                  f"{test_acc[clf.best_level_]:.4f} ({wall:.0f} s)", flush=True)

    results = pd.DataFrame(rows)
    print("\ndense weights vs ticket weights (ticket chosen by validation log-loss; "
          "'by_acc': by validation accuracy); test accuracy on clean labels")
    print(results.to_string(index=False, float_format="%.4f"))
    spread = results.groupby("seed").agg(
        dense=("dense_weights", lambda w: w.max() / w.min()),
        ticket=("ticket_weights", lambda w: w.max() / w.min()),
        ticket_by_acc=("ticket_weights_by_acc", lambda w: w.max() / w.min()))
    print("\nspread (largest / smallest weight count) over the widths, per seed")
    print(spread.to_string(float_format="%.1f"))
    if len(seeds) > 1:
        print("\nmean ± std over seeds: " + ", ".join(
            f"{c} spread {spread[c].mean():.2f} ± {spread[c].std():.2f}" for c in spread))

    fig, (ax_path, ax_size) = plt.subplots(1, 2, figsize=(12, 4.8))
    for h in widths:
        n_params, test_acc, best = paths[seeds[0], h]
        line, = ax_path.plot(n_params, 1 - test_acc, marker=".", label=f"h={h}")
        ax_path.plot(n_params[best], 1 - test_acc[best], marker="*", markersize=14,
                     color=line.get_color(), markeredgecolor="black")
    ax_path.set(xscale="log", xlabel="remaining weights", ylabel="clean test error",
                title=f"IMP paths on MNIST-1D, 20% noise, seed {seeds[0]} (* = ticket)")
    ax_path.legend()
    for seed in seeds:
        part = results[results.seed == seed]
        ax_size.plot(part.dense_weights, part.ticket_weights, marker="o", color="tab:red",
                     label="ticket (by val. loss)" if seed == seeds[0] else None)
        ax_size.plot(part.dense_weights, part.ticket_weights_by_acc, marker="x",
                     linestyle=":", color="tab:gray",
                     label="ticket (by val. accuracy)" if seed == seeds[0] else None)
    lims = [results.dense_weights.min(), results.dense_weights.max()]
    ax_size.plot(lims, lims, "k--", linewidth=1, label="no pruning")
    ax_size.set(xscale="log", yscale="log", xlabel="dense weights",
                ylabel="ticket weights", title="ticket size against starting size")
    ax_size.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"\nfigure saved to {args.out}")
    return results


if __name__ == "__main__":
    main()
