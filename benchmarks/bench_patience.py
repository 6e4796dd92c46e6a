"""Target 2: early stopping of IMP with ``patience``.

A noisy teacher-student task (``make_teacher_classification``, 30% label
noise) whose validation log-loss has a clear minimum part-way along the
pruning path: the dense net fits the noise, very sparse tickets underfit.
The same estimator is fitted with ``patience=None`` (every level up to
``max_levels``) and with ``patience=5``, alternately; both fits are
bit-for-bit identical up to where the early one stops, so the same ticket
must be chosen whenever the full run's best level comes before that point.

Run ``python benchmarks/bench_patience.py [--quick | --smoke]``.
"""

import argparse
import statistics

import common
import numpy as np
import torch

from skimp import PrunedNetClassifier
from skimp.datasets import make_teacher_classification

# Per mode: rows, hidden widths, epochs per level, max_levels, patience, pairs.
SIZES = {
    "full": (4_000, (64,), 40, 30, 5, 2),
    "quick": (2_000, (64,), 20, 20, 5, 1),
    "smoke": (300, (16,), 2, 4, 1, 1),
}


def run(mode="full"):
    n_rows, hidden, epochs, levels, patience, repeats = SIZES[mode]
    X, y, _ = make_teacher_classification(n_rows, n_features=20, n_classes=4,
                                          teacher_hidden=4, random_state=0)
    params = dict(hidden_layer_sizes=hidden, max_epochs=epochs, max_levels=levels,
                  lr=0.05, optimizer__momentum=0.9, label_noise=0.3,
                  validation_fraction=0.25, selection="loss", random_state=0,
                  early_stopping=False)
    fits = {}

    def fit(name, **extra):
        def call():
            fits[name] = PrunedNetClassifier(**params, **extra).fit(X, y)
        return call

    # The warm-up is skipped: each side is a long run and there is no cache to warm.
    t_full, t_early = common.interleaved(fit("full"), fit("early", patience=patience),
                                         repeats=repeats, warmup=0)
    full, early = fits["full"], fits["early"]
    n_early = len(early.imp_path_["level"])
    same_prefix = np.array_equal(full.imp_path_["val_loss"][:n_early],
                                 early.imp_path_["val_loss"])
    with torch.no_grad():
        same_weights = all(torch.equal(a, b) for a, b in zip(
            full.net_.module_.state_dict().values(),
            early.net_.module_.state_dict().values()))
    t_full, t_early = statistics.median(t_full), statistics.median(t_early)
    return {
        "rows": n_rows, "hidden": hidden, "epochs": epochs, "max_levels": levels,
        "patience": patience,
        "full_levels": len(full.imp_path_["level"]), "early_levels": n_early,
        "full_best": full.best_level_, "early_best": early.best_level_,
        "same_ticket": full.best_level_ == early.best_level_ and same_weights,
        "same_prefix": same_prefix,
        "full_s": t_full, "early_s": t_early, "saved": 1 - t_early / t_full,
        "val_loss": full.imp_path_["val_loss"], "mode": mode,
    }


def describe(r):
    path = " ".join(f"{v:.3f}" for v in r["val_loss"])
    return "\n".join([
        f"teacher task, {r['rows']} rows, 30% label noise, MLP {r['hidden']}, "
        f"{r['epochs']} epochs/level, selection='loss'",
        f"validation log-loss by level (full run): {path}",
        f"full run: {r['full_levels']} levels, best level {r['full_best']}, "
        f"{r['full_s']:.1f} s",
        f"patience={r['patience']}: {r['early_levels']} levels, best level "
        f"{r['early_best']}, {r['early_s']:.1f} s",
        f"same ticket (level and weights): {r['same_ticket']}; identical path "
        f"prefix: {r['same_prefix']}; time saved: {100 * r['saved']:.0f}%",
    ] + ([f"(--{r['mode']}: too short for a clear ticket; run without "
          f"--{r['mode']} for the measurement)"] if r["mode"] != "full" else []))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    args = parser.parse_args(argv)
    with common.torch_threads(1):
        result = run(common.mode(args))
    print(describe(result), flush=True)
    return result


if __name__ == "__main__":
    main()
