"""Target 4: a grid search on 2 processes against 1.

``GridSearchCV`` over 4 candidates (2 noise rates x 2 learning rates, 2-fold
CV, so 8 fits of equal cost, ``refit=False``) with ``n_jobs=1`` and ``n_jobs=2`` (joblib's
loky processes), alternately. Each ``PrunedNetClassifier`` trains with
``n_threads=1``, its default, so two workers use the two cores without
fighting over them. The warm-up pair also starts loky's worker processes,
which joblib then reuses, as it does across a user's own grid searches.

Run ``python benchmarks/bench_parallel.py [--quick | --smoke]``.
"""

import argparse
import os
import statistics

import common
import joblib
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from skimp import PrunedNetClassifier


def worker_threads():
    import torch
    return os.getpid(), torch.get_num_threads()


# Cores that other processes may take during a pair for it to count as quiet.
QUIET = 0.25

# Per mode: epochs per level, max_levels, (n_jobs=1, n_jobs=2) pairs, warm-up pairs.
SIZES = {"full": (40, 8, 5, 1), "quick": (10, 3, 1, 1), "smoke": (1, 1, 1, 0)}


def run(mode="full", *, n_jobs=2, repeats=None):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    epochs, levels, default_repeats, warmup = SIZES[mode]
    repeats = repeats or default_repeats
    estimator = PrunedNetClassifier(hidden_layer_sizes=(128,), max_epochs=epochs,
                                    max_levels=levels, random_state=0, early_stopping=False)
    # Equal-cost candidates: with unequal ones the slowest fit would run
    # alone at the end, and the ratio would measure the grid, not the workers.
    grid = {"label_noise": [0.0, 0.2], "lr": [0.05, 0.1]}
    results, shares = {}, {1: [], n_jobs: []}

    def search(jobs):
        def call():
            gs = GridSearchCV(estimator, grid, cv=2, n_jobs=jobs, refit=False)
            with common.CpuShare() as share:
                results[jobs] = gs.fit(X, y).cv_results_
            shares[jobs].append(share)
        return call

    t_serial, t_parallel = common.interleaved(search(1), search(n_jobs),
                                              repeats=repeats, warmup=warmup)
    summary = common.ratio_summary(t_serial, t_parallel)
    threads = sorted(set(joblib.Parallel(n_jobs=n_jobs)(
        joblib.delayed(worker_threads)() for _ in range(2 * n_jobs))))
    summary.update(
        epochs=epochs, levels=levels, n_jobs=n_jobs,
        same_scores=np.array_equal(results[1]["mean_test_score"],
                                   results[n_jobs]["mean_test_score"]),
        worker_default_threads=sorted({t for _, t in threads}),
        load_average=os.getloadavg(),
    )
    serial, parallel = shares[1][-repeats:], shares[n_jobs][-repeats:]  # no warm-up
    if serial and serial[0].ours_cores is not None:
        for key, timed in (("serial", serial), ("parallel", parallel)):
            summary[f"{key}_cores"] = statistics.median(s.ours_cores for s in timed)
            summary[f"{key}_others"] = statistics.median(s.others_cores for s in timed)
        # On a shared machine other jobs can take the cores the second worker
        # needs (the kernel may share the CPU per session, not per process).
        # Pairs during which they took under QUIET cores on both sides show
        # what the workers do on a free machine; all pairs are reported too.
        quiet = [i for i, (a, b) in enumerate(zip(serial, parallel))
                 if max(a.others_cores, b.others_cores) < QUIET]
        if quiet:
            summary["quiet"] = common.ratio_summary([t_serial[i] for i in quiet],
                                                    [t_parallel[i] for i in quiet])
    return summary


def describe(s):
    return "\n".join([
        f"GridSearchCV, 4 equal-cost candidates x 2 folds on digits, {s['epochs']} epochs x "
        f"{s['levels'] + 1} levels per fit, n_threads=1 per fit",
        f"n_jobs=1 {s['a_s']:.1f} s, n_jobs={s['n_jobs']} {s['b_s']:.1f} s; speedup "
        f"median {s['median']:.2f}x, min {s['min']:.2f}x ({s['pairs']} pairs); same "
        f"cv scores: {s['same_scores']}",
        *([f"cores used by the search: n_jobs=1 {s['serial_cores']:.2f}, n_jobs="
           f"{s['n_jobs']} {s['parallel_cores']:.2f}; by other processes meanwhile: "
           f"{s['serial_others']:.2f} and {s['parallel_others']:.2f} (of "
           f"{os.cpu_count()})"] if "serial_cores" in s else []),
        *([f"pairs during which other processes took < {QUIET} cores: "
           + (f"{s['quiet']['pairs']}, speedup median {s['quiet']['median']:.2f}x, "
              f"min {s['quiet']['min']:.2f}x" if "quiet" in s else "none")]
          if "serial_cores" in s else []),
        f"torch threads a loky worker starts with: {s['worker_default_threads']}; "
        f"load average after: {', '.join(f'{v:.2f}' for v in s['load_average'])}",
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--repeats", type=int, help="(n_jobs=1, n_jobs=2) pairs to time")
    args = parser.parse_args(argv)
    result = run(common.mode(args), repeats=args.repeats)
    print(describe(result), flush=True)
    return result


if __name__ == "__main__":
    main()
