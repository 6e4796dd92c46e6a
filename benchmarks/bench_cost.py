"""How long will my experiment take? The cost of one level, and of a paper run.

The lottery-ticket MNIST run is an MLP 784-300-100-10 on 60,000 rows, 120
epochs per level, for 17 pruning levels after the dense one. This script fits
that network with ``PrunedNetClassifier`` for a few epochs at two levels
(dense, then pruned: the masked network costs the same to train), reads level
1's training time from ``imp_path_["fit_time"]`` (level 0 also pays torch's
one-off start-up costs) and the rest of the
fit (evaluating each level on the training and validation rows) from the wall
clock, and extrapolates: one level = 120 epochs + one evaluation; the run =
18 levels. The extrapolation is printed as such; only the epochs it ran were
measured.

Run ``python benchmarks/bench_cost.py [--quick | --smoke] [--n-threads N]``.
"""

import argparse
import time

import bench_training
import common
import numpy as np

from skimp import PrunedNetClassifier

# Per mode: rows, epochs measured per level.
SIZES = {"full": (60_000, 3), "quick": (60_000, 1), "smoke": (500, 1)}
PAPER = {"epochs": 120, "levels": 17}


def run(mode="full", n_threads="auto"):
    rows, epochs = SIZES[mode]
    X, y, source = bench_training.mnist_scale_data(rows)
    if len(X) < rows:  # Fashion-MNIST's training split holds 60,000 rows
        X = np.concatenate([X, X])[:rows]
        y = np.concatenate([y, y])[:rows]
    clf = PrunedNetClassifier(hidden_layer_sizes=(300, 100), max_epochs=epochs, max_levels=1,
                              batch_size=128, lr=0.1, validation_fraction=1 / 12,
                              n_threads=n_threads, random_state=0, early_stopping=False)
    start = time.perf_counter()
    clf.fit(X, y)
    wall = time.perf_counter() - start
    train_s = clf.imp_path_["fit_time"]
    # Level 1's time: level 0 also pays torch's one-off start-up costs.
    per_epoch = float(train_s[1]) / epochs
    # Everything that is not training: building the net, evaluating levels.
    other_per_level = (wall - float(np.sum(train_s))) / len(train_s)
    level_s = PAPER["epochs"] * per_epoch + other_per_level
    return {"rows": len(X), "data": source, "epochs": epochs, "threads": clf.n_threads_,
            "per_epoch": per_epoch, "other": other_per_level, "level": level_s,
            "run": (PAPER["levels"] + 1) * level_s, "wall": wall}


def describe(r):
    return (f"MLP 784-300-100-10 on {r['rows']} rows ({r['data']}), batch 128, "
            f"{r['threads']} torch thread(s):\n"
            f"  measured: {r['per_epoch']:.2f} s per epoch (level 1, "
            f"{r['epochs']} epoch(s)), {r['other']:.2f} s per level besides training "
            f"({r['wall']:.0f} s in all)\n"
            f"  extrapolated: one level of {PAPER['epochs']} epochs {r['level'] / 60:.1f} min; "
            f"the run of {PAPER['levels'] + 1} levels {r['run'] / 3600:.1f} h")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--n-threads", default="auto",
                        type=lambda v: v if v == "auto" else int(v))
    args = parser.parse_args(argv)
    print(common.format_info(common.machine_info(args.n_threads)))
    r = run(common.mode(args), args.n_threads)
    print(describe(r), flush=True)
    return r


if __name__ == "__main__":
    main()
