"""Teacher-student: the ticket's size tracks task difficulty and it captures p(y|x).

Claim 3 of Arora et al. (UAI 2023): where the true conditional p(y|x) is known,
(a) the best pruned network's parameter count grows with the difficulty of the
task, and (b) its predicted probabilities are much closer to p(y|x) than the
dense network's.

Setup (default): :func:`skimp.datasets.make_teacher_classification`, 20 Gaussian
features, 4 classes, a random ReLU teacher of width ``teacher_hidden`` in
{1, 8, 64} (wider is harder), 20% symmetric label noise mixed into the
labels. 12,000 rows to fit (20% of them, noisy too, for validation), 10,000
held-out rows where only the known conditionals are used. Student: MLP
20-256-4, SGD (lr 0.05, momentum 0.9), 40 epochs per level, 20% of the
remaining weights pruned per level down to about 30 weights (23 levels),
rewinding to initialisation. Two seeds by default (each draws a new teacher,
data set and student); the ticket sizes move by a level or two between seeds,
so look at the mean.

The ticket is chosen by validation log-loss (``selection="loss"``): on labels
drawn from ``p_true``, the expected log-loss of a model q is
``KL(p_true || q) + H(p_true)``, so the validation log-loss is an unbiased
estimate of the very distance we measure, up to a constant.

Two references for the distance. The student is trained on the *observed*
labels, whose conditional is the noise mixture
``p_true = (1 - f) p + f / C``, returned by the generator; that is what a
perfect student should predict. The clean teacher conditional is recovered as
``p = (p_true - f / C) / (1 - f)``. Both KLs (mean over the held-out rows, in
nats) are reported.

Run::

    python examples/plot_teacher_student.py             # ~4 min on 2 CPU cores
    python examples/plot_teacher_student.py --seeds 0 1 2 3 4
    python examples/plot_teacher_student.py --smoke     # seconds
"""

import argparse
import math
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from skimp import PrunedNetClassifier  # noqa: E402
from skimp.datasets import make_teacher_classification  # noqa: E402
from skimp.metrics import conditional_kl, total_variation  # noqa: E402

NOISE, N_CLASSES = 0.2, 4
CONFIGS = {
    # n_fit, n_test, teacher widths, student width, epochs, seeds
    "smoke": (600, 500, (1, 16), 32, 3, [0]),
    "default": (12_000, 10_000, (1, 8, 64), 256, 40, [0, 1]),
    "full": (50_000, 20_000, (1, 4, 16, 64, 256), 1024, 60, [0, 1, 2]),
}


def mean_std(values):
    if len(values) == 1:
        return f"{values.mean():.3g}"
    return f"{values.mean():.3g} ± {values.std():.2g}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--smoke", action="store_true", help="tiny run, for the tests")
    mode.add_argument("--full", action="store_true", help="more data, wider student")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    parser.add_argument("--out", default="teacher_student.png")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "full" if args.full else "default"
    n_fit, n_test, teachers, width, epochs, seeds = CONFIGS[mode]
    seeds = args.seeds or seeds

    rows, paths = [], {}
    for seed in seeds:
        for teacher_hidden in teachers:
            # One call, so fit and held-out rows share the teacher.
            X, y, p_obs = make_teacher_classification(
                n_fit + n_test, n_classes=N_CLASSES, teacher_hidden=teacher_hidden,
                label_noise=NOISE, random_state=seed)
            X_test, p_obs_test = X[n_fit:], p_obs[n_fit:]
            p_clean_test = (p_obs_test - NOISE / N_CLASSES) / (1 - NOISE)
            dense_weights = X.shape[1] * width
            levels = max(0, math.ceil(math.log(30 / dense_weights) / math.log(0.8)))
            # The generator has already put the noise in y: label_noise stays 0.
            clf = PrunedNetClassifier(
                early_stopping=False, calibration=None,
                hidden_layer_sizes=(width,), max_epochs=epochs, lr=0.05,
                optimizer__momentum=0.9, max_levels=levels,
                validation_fraction=0.2, selection="loss", random_state=seed)
            start, cpu_start = time.perf_counter(), time.process_time()
            clf.fit(X[:n_fit], y[:n_fit])
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            staged = list(clf.staged_predict_proba(X_test))
            kl_obs = np.array([conditional_kl(p_obs_test, q) for q in staged])
            best = clf.best_level_
            dense, ticket = staged[0], staged[best]
            rows.append({
                "seed": seed, "teacher_hidden": teacher_hidden,
                "bayes_acc": p_clean_test.max(1).mean(),
                "dense_weights": dense_weights,
                "dense_train_acc": clf.imp_path_["train_accuracy"][0],
                "ticket_weights": clf.n_params_,
                "kl_dense": kl_obs[0], "kl_ticket": kl_obs[best],
                "kl_clean_dense": conditional_kl(p_clean_test, dense),
                "kl_clean_ticket": conditional_kl(p_clean_test, ticket),
                "tv_dense": total_variation(p_obs_test, dense),
                "tv_ticket": total_variation(p_obs_test, ticket),
                # How often each agrees with the Bayes-optimal decision.
                "bayes_agree_dense": np.mean(dense.argmax(1) == p_clean_test.argmax(1)),
                "bayes_agree_ticket": np.mean(ticket.argmax(1) == p_clean_test.argmax(1)),
                "min_kl_weights": clf.imp_path_["n_params"][kl_obs.argmin()],
                "wall_s": wall, "cpu_s": cpu,
            })
            paths[seed, teacher_hidden] = (clf.imp_path_["n_params"], kl_obs, best)
            print(f"seed {seed} teacher_hidden {teacher_hidden:>3}: ticket "
                  f"{clf.n_params_:>4} weights, KL {kl_obs[0]:.3f} (dense) -> "
                  f"{kl_obs[best]:.3f} (ticket) ({wall:.0f} s)", flush=True)

    results = pd.DataFrame(rows)
    print("\nper fit: KL(p_true || q) on held-out rows, p_true = the observed-label "
          "conditional (with noise); kl_clean_*: to the clean teacher p")
    print(results.to_string(index=False, float_format="%.3f"))
    summary = results.groupby("teacher_hidden")[
        ["ticket_weights", "kl_dense", "kl_ticket", "kl_clean_dense", "kl_clean_ticket"]
    ].agg(mean_std)
    print(f"\nmean ± std over seeds {seeds}")
    print(summary.to_string())

    fig, (ax_path, ax_size) = plt.subplots(1, 2, figsize=(12, 4.8))
    for teacher_hidden in teachers:
        n_params, kl, best = paths[seeds[0], teacher_hidden]
        line, = ax_path.plot(n_params, kl, marker=".", label=f"teacher width {teacher_hidden}")
        ax_path.plot(n_params[best], kl[best], marker="*", markersize=14,
                     color=line.get_color(), markeredgecolor="black")
    ax_path.set(xscale="log", yscale="log", xlabel="remaining weights",
                ylabel="KL(p_true || predict_proba), nats",
                title=f"IMP paths, 20% noise, seed {seeds[0]} (* = ticket)")
    ax_path.legend()
    for seed in seeds:
        part = results[results.seed == seed]
        ax_size.plot(part.teacher_hidden, part.ticket_weights, marker="o", alpha=0.7,
                     label=f"seed {seed}")
    ax_size.set(xscale="log", yscale="log", xlabel="teacher hidden width (difficulty)",
                ylabel="ticket weights", title="ticket size against difficulty")
    ax_size.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"\nfigure saved to {args.out}")
    return results


if __name__ == "__main__":
    main()
