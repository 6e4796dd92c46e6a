"""What a tiny last batch costs: the threshold of the small-last-batch warning.

The validation split decides how many rows train, so the last batch of
every epoch holds whatever rows are left over after ``batch_size``. Its SGD
step is taken at the full learning rate on those few rows. This benchmark
fits the same recipe (digits, MLP 64-256-10, plain SGD at the default lr
0.1, batch 128, 10 epochs per level, 4 levels pruning half the weights
each) on 1,280 + ``last`` training rows, for several sizes of the last
batch, and once with ``iterator_train__drop_last=True``, over a few seeds.
It prints, per setting, the train accuracy of every level (mean and worst
over levels and seeds, and how many levels fall below 0.9) and the mean
validation log-loss: the weights scored are those right after the epoch's
last step, so a noisy last step shows there.

Run ``python benchmarks/bench_last_batch.py [--smoke]`` (about half a
minute of one core; ``--smoke``: seconds, no measurement).
"""

import argparse
import math
import time
import warnings

import common  # noqa: F401  (puts the checkout on sys.path)
import numpy as np
from sklearn.datasets import load_digits

from skimp import PrunedNetClassifier

BATCH = 128
VALIDATION_FRACTION = 0.1
# Per mode: sizes of the last batch, seeds, epochs per level, levels.
SIZES = {"full": ((2, 4, 6, 8, 12, 16, 24, 32), 5, 10, 4),
         "smoke": ((4, 32), 1, 1, 1)}


def n_rows_for(n_train):
    """Rows to pass so that ``n_train`` of them train after the validation split."""
    n = n_train
    while n - math.ceil(VALIDATION_FRACTION * n) < n_train:
        n += 1
    return n


def fit_path(last, seed, epochs, levels, drop_last=False):
    """Train accuracy and validation log-loss of every level of one fit."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    rows = np.random.RandomState(seed).permutation(len(X))[:n_rows_for(10 * BATCH + last)]
    clf = PrunedNetClassifier(early_stopping=False, hidden_layer_sizes=(256,), max_epochs=epochs,
                              max_levels=levels, pruning_fraction=0.5, batch_size=BATCH,
                              validation_fraction=VALIDATION_FRACTION, random_state=seed,
                              n_threads=1, iterator_train__drop_last=drop_last)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the warning this measures
        clf.fit(X[rows], y[rows])
    # Ten full batches, then the short one unless it is dropped.
    assert clf.net_.history[-1, "train_batch_count"] == 10 + (not drop_last)
    return clf.imp_path_["train_accuracy"], clf.imp_path_["val_loss"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds; not a measurement")
    args = parser.parse_args(argv)
    lasts, n_seeds, epochs, levels = SIZES["smoke" if args.smoke else "full"]
    settings = [(lasts[0], True)] + [(last, False) for last in lasts]
    print(f"digits, MLP 64-256-10, SGD lr 0.1, batch {BATCH}, {epochs} epochs x "
          f"{levels + 1} levels, {n_seeds} seeds; 1,280 + last training rows")
    print("| last batch | train acc mean | worst | levels < 0.9 | val log-loss |")
    print("| --- | --- | --- | --- | --- |")
    table, start = {}, time.perf_counter()
    for last, drop_last in settings:
        fits = [fit_path(last, seed, epochs, levels, drop_last) for seed in range(n_seeds)]
        acc = np.array([f[0] for f in fits])
        loss = np.array([f[1] for f in fits])
        name = f"{last} rows, drop_last=True" if drop_last else f"{last} rows"
        table[name] = {"mean": acc.mean(), "worst": acc.min(),
                       "below": int((acc < 0.9).sum()), "loss": loss.mean()}
        print(f"| {name} | {acc.mean():.3f} | {acc.min():.3f} | "
              f"{(acc < 0.9).sum()}/{acc.size} | {loss.mean():.3f} |", flush=True)
    print(f"{time.perf_counter() - start:.0f} s")
    return table


if __name__ == "__main__":
    main()
