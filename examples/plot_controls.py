"""Is it the mask, the sparsity, or just stopping early? IMP against its controls.

Arora et al. (UAI 2023) show that under label noise IMP finds sparse tickets
that are more accurate and better calibrated than the dense network. They do
not ask whether the *mask* IMP finds matters, or whether a cheaper remedy
would do as well. This example asks both, with
:func:`skimp.model_selection.compare_controls`, in the settings of the other
examples, where the tickets win:

* ``imp``: iterative magnitude pruning, rewinding to the initial weights;
* ``random``: ``pruning_criterion="random"``, random masks at the same
  densities (the mask carries no information about the data);
* ``reinit``: IMP's masks, fresh initial weights at every level (Frankle and
  Carbin's control: the mask without its winning initial values);
* ``lr_rewind``: IMP's masks, trained weights kept, only the learning-rate
  schedule restarts (Renda et al., 2020; with a constant rate, fine-tuning);
* ``early_stopping``: the dense network, stopped at the epoch that scores
  best on the same noisy validation rows under the same rule;
* ``small_dense``: a dense network with about as many weights as the IMP
  ticket of the same seed, early-stopped the same way.

Every method of one seed shares the data, label noise, validation split and
(except ``small_dense``) the initial weights, so the script prints the
paired per-seed differences, IMP minus each other method, with a verdict
per metric: "IMP better" or "IMP worse" when every seed agrees in sign and
the mean difference exceeds its standard deviation over seeds, and "no
difference" (within the spread) otherwise. It is a descriptive rule, not a
significance test: with 3 seeds, even a unanimous sign happens by chance one
time in four.

Settings (``--setting``), each the data and recipe of an existing example,
3 seeds, 20% label noise, scored on clean held-out labels:

* ``fashion2k``: 2,000 Fashion-MNIST images, MLP 784-100-100-10, SGD with
  momentum 0.9 (lr 0.01, batch 32), 120 epochs, 35% pruned per level for 12
  levels.
* ``demo``: the main demo's MNIST-1D (8,000 rows, 20% of them for
  validation), MLP 40-1024-10, 50 epochs, 24 levels.
* ``sdd``: the sparse double descent example's 8,000 Fashion-MNIST images,
  MLP 784-100-100-10, plain SGD (lr 0.1, batch 32), 120 epochs, 35% per
  level for 14 levels.
* ``teacher``: teacher-student at teacher width 8 (12,000 rows, 20% for
  validation), student 20-256-4, 40 epochs, 24 levels, ticket by validation
  log-loss; adds the KL divergence to the known p(y|x) of the observed
  labels (``kl``) and of the clean ones (``kl_clean``).
* ``cnn``: the Conv-2 example's network and recipe (width 0.125, SGD with
  momentum, 50 epochs, 40% per level for 11 levels, ticket by validation
  log-loss) on 2,400 images of which 25% (600 rows) form the validation
  split, three times the example's, because 200 noisy rows were too few to
  choose the level on another machine.

Wall time of a setting's 18 fits, two at a time, on our 2-core machine
shared with other jobs: 909 s (teacher) to 2,038 s (cnn); see
``docs/results.md``.

Prints, per method, the validation-chosen row's mean ± std over seeds, then
the paired differences and verdicts. Saves one panel per metric against the
remaining weights (:class:`skimp.plotting.ControlsDisplay`) to ``--out``
and every row of every fit to ``--csv``.

Run::

    python examples/plot_controls.py --setting demo            # one setting
    python examples/plot_controls.py --setting cnn --smoke      # seconds
    bash scripts/run_controls_study.sh                          # all five, for the docs
"""

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from joblib import Parallel, delayed  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skimp import PrunedNetClassifier  # noqa: E402
from skimp.datasets import load_fashion_mnist, load_mnist1d, make_teacher_classification  # noqa: E402
from skimp.metrics import conditional_kl  # noqa: E402
from skimp.model_selection import CONTROL_METHODS, compare_controls  # noqa: E402
from skimp.modules import ConvNet  # noqa: E402
from skimp.plotting import ControlsDisplay  # noqa: E402

NOISE = 0.2
# Epochs per level of the full-scale setting: enough for the dense net to
# memorise the noisy labels (see docs/results.md).
FASHION60K_EPOCHS = 60
SETTINGS = ("fashion2k", "demo", "sdd", "teacher", "cnn", "fashion60k")
# The methods run in one job: small_dense is sized on the same seed's IMP ticket,
# and imp_last_epoch (and, with --early-stopping, early_stopping) are read from
# the same seed's IMP fit.
JOBS = (("imp", "imp_last_epoch", "small_dense"), ("random",), ("reinit",), ("lr_rewind",),
        ("early_stopping",))


def _fashion(n_fit, n_test, seed, smoke, images=False):
    """A stratified subsample of Fashion-MNIST's training images, clean test images."""
    try:
        X, y = load_fashion_mnist(subset="train")
        X_test, y_test = load_fashion_mnist(subset="test")
    except FileNotFoundError as exc:
        if not smoke:
            raise
        # The smoke run only checks that the script works end to end.
        print(f"{exc}\nsmoke run falls back to sklearn's digits")
        X, y = load_digits(return_X_y=True)
        X = (X / 16).astype(np.float32)
        X, X_test, y, y_test = train_test_split(X, y, test_size=0.3, stratify=y,
                                                random_state=seed)
        side = 8
    else:
        if n_fit < len(X):
            X, _, y, _ = train_test_split(X, y, train_size=n_fit, stratify=y,
                                          random_state=seed)
        X_test, y_test = X_test[:n_test], y_test[:n_test]
        side = 28
    if images:
        X, X_test = X.reshape(-1, 1, side, side), X_test.reshape(-1, 1, side, side)
    return X, y, X_test, y_test, {}


def _mnist1d(n_samples, seed):
    """The main demo's split: 80% of the rows to fit, 20% clean test rows."""
    X, y = load_mnist1d(n_samples)
    X_fit, X_test, y_fit, y_test = train_test_split(X, y, test_size=0.2, stratify=y,
                                                    random_state=seed)
    return X_fit, y_fit, X_test, y_test, {}


def _teacher(n_fit, n_test, seed, noise):
    """Teacher width 8; clean test labels and the KLs to the known conditionals."""
    n_classes = 4
    X, y, p_obs = make_teacher_classification(n_fit + n_test, n_classes=n_classes,
                                              teacher_hidden=8, label_noise=noise,
                                              random_state=seed)
    # The same call without noise draws the same X and the clean labels.
    X_clean, y_clean, _ = make_teacher_classification(
        n_fit + n_test, n_classes=n_classes, teacher_hidden=8, label_noise=0.0,
        random_state=seed)
    assert np.array_equal(X, X_clean)
    p_test = p_obs[n_fit:]
    p_clean = (p_test - noise / n_classes) / (1 - noise)
    metrics = {"kl": _KL(p_test), "kl_clean": _KL(p_clean)}
    return X[:n_fit], y[:n_fit], X[n_fit:], y_clean[n_fit:], metrics


class _KL:
    """KL divergence from a known conditional to the predicted probabilities."""

    def __init__(self, p_true):
        self.p_true = p_true

    def __call__(self, y_test, proba):
        return conditional_kl(self.p_true, proba)


def setting(name, seed, smoke=False, noise=NOISE):
    """Data and estimator of one setting: (X, y, X_test, y_test, metrics, estimator)."""
    if name == "fashion2k":
        data = _fashion(400 if smoke else 2_000, 300 if smoke else 5_000, seed, smoke)
        est = PrunedNetClassifier(
            early_stopping=False, calibration=None,
            hidden_layer_sizes=(16,) if smoke else (100, 100), max_epochs=2 if smoke else 120,
            batch_size=32, lr=0.01, optimizer__momentum=0.9, pruning_fraction=0.35,
            max_levels=2 if smoke else 12, label_noise=noise)
    elif name == "demo":
        data = _mnist1d(1_000 if smoke else 10_000, seed)
        est = PrunedNetClassifier(
            early_stopping=False, calibration=None,
            hidden_layer_sizes=(64,) if smoke else (1024,), max_epochs=2 if smoke else 50,
            lr=0.05, optimizer__momentum=0.9, batch_size=128, pruning_fraction=0.2,
            max_levels=2 if smoke else 24, label_noise=noise, validation_fraction=0.2)
    elif name == "sdd":
        data = _fashion(500 if smoke else 8_000, 500 if smoke else 10_000, seed, smoke)
        est = PrunedNetClassifier(
            early_stopping=False, calibration=None,
            hidden_layer_sizes=(32,) if smoke else (100, 100), max_epochs=3 if smoke else 120,
            batch_size=32, lr=0.1, pruning_fraction=0.35, max_levels=2 if smoke else 14,
            label_noise=noise)
    elif name == "teacher":
        data = _teacher(600 if smoke else 12_000, 500 if smoke else 10_000, seed, noise)
        # The generator has already put the noise in y: label_noise stays 0.
        est = PrunedNetClassifier(
            early_stopping=False, calibration=None,
            hidden_layer_sizes=(32,) if smoke else (256,), max_epochs=3 if smoke else 40,
            lr=0.05, optimizer__momentum=0.9, max_levels=2 if smoke else 24,
            validation_fraction=0.2, selection="loss")
    elif name == "cnn":
        data = _fashion(300 if smoke else 2_400, 300 if smoke else 10_000, seed, smoke,
                        images=True)
        est = PrunedNetClassifier(
            early_stopping=False, calibration=None,
            module=ConvNet, module__n_conv_pairs=1, module__width=0.125,
            module__hidden_layer_sizes=(64,) if smoke else (256, 256),
            max_epochs=2 if smoke else 50, batch_size=32, lr=0.01, optimizer__momentum=0.9,
            pruning_fraction=0.4, max_levels=2 if smoke else 11, label_noise=noise,
            validation_fraction=0.25, selection="loss")
    elif name == "fashion60k":
        # Full scale: every training image (10% of them for validation), the
        # 10,000 test images, and PAPER.md's MNIST recipe.
        data = _fashion(600 if smoke else 60_000, 300 if smoke else 10_000, seed, smoke)
        est = PrunedNetClassifier(
            early_stopping=False, calibration=None,
            hidden_layer_sizes=(32,) if smoke else (300, 100),
            max_epochs=2 if smoke else FASHION60K_EPOCHS, batch_size=128, lr=0.1,
            pruning_fraction=0.2, max_levels=2 if smoke else 15, label_noise=noise,
            validation_fraction=0.1)
    else:
        raise ValueError(f"unknown setting {name!r}; choose from {SETTINGS}")
    # One torch thread per fit: fits run side by side, one per core.
    return (*data, est.set_params(n_threads=1))


def run_job(name, methods, seed, smoke, overrides=None, noise=NOISE):
    """Some methods at one seed, on that seed's data (as the examples draw it)."""
    X, y, X_test, y_test, metrics, est = setting(name, seed, smoke, noise)
    est.set_params(**(overrides or {}))
    start = time.perf_counter()
    res = compare_controls(est, X, y, X_test, y_test, methods=methods, seeds=(seed,),
                           metrics=metrics)
    print(f"{'+'.join(methods):>22}, seed {seed}: {time.perf_counter() - start:.0f} s",
          flush=True)
    return pd.DataFrame(res)


def with_dense(results):
    """The chosen rows, and IMP's level 0 at its last epoch as a "dense" row: the net
    every method improves on."""
    chosen = results[results.chosen == 1]
    last = "imp_last_epoch" if (results.method == "imp_last_epoch").any() else "imp"
    dense = results[(results.method == last) & (results.level == 0)].assign(method="dense")
    return pd.concat([dense, chosen], ignore_index=True)


def summarise(results, metric_names):
    """Mean ± std over seeds of every method's validation-chosen row."""
    chosen = with_dense(results)
    rows = []
    for method, runs in chosen.groupby("method", sort=False):
        spread = runs.n_params.std(ddof=1) if len(runs) > 1 else 0.0
        row = {"method": method, "weights": f"{runs.n_params.mean():,.0f} ± {spread:,.0f}"}
        for metric in metric_names:
            row[metric] = mean_std(runs[metric])
        row["epochs"] = f"{runs.epochs.mean():.0f}"
        rows.append(row)
    return pd.DataFrame(rows)


def paired(results, metric_names):
    """IMP minus each method, per seed, at the chosen rows; mean ± std and verdict."""
    chosen = with_dense(results).set_index(["method", "seed"])
    if "imp" not in chosen.index.get_level_values(0):
        return pd.DataFrame()
    imp = chosen.loc["imp"]
    rows = []
    for method in chosen.index.get_level_values(0).unique():
        if method == "imp":
            continue
        other = chosen.loc[method]
        seeds = imp.index.intersection(other.index)
        row = {"IMP minus": method, "seeds": len(seeds)}
        for metric in metric_names:
            diff = imp.loc[seeds, metric] - other.loc[seeds, metric]
            higher_is_better = metric.endswith("accuracy")
            row[metric] = f"{mean_std(diff, signed=True)} ({verdict_of(diff, higher_is_better)})"
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(table):
    """A pandas table as a Markdown pipe table, without extra dependencies."""
    lines = ["| " + " | ".join(map(str, table.columns)) + " |",
             "| " + " | ".join("---" for _ in table.columns) + " |"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def verdict_of(diff, higher_is_better):
    """A descriptive rule, not a test: with 3 seeds even a unanimous sign has p = 0.25."""
    diff = np.asarray(diff, dtype=float)
    if len(diff) < 2:
        return "one seed"
    unanimous = np.all(diff > 0) or np.all(diff < 0)
    if not unanimous or abs(diff.mean()) <= diff.std(ddof=1):
        return "no difference"
    return "IMP better" if (diff.mean() > 0) == higher_is_better else "IMP worse"


def mean_std(values, signed=False):
    values = np.asarray(values, dtype=float)
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    fmt = "+.3f" if signed else ".3f"
    return f"{values.mean():{fmt}} ± {spread:.3f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=SETTINGS, default="fashion2k")
    parser.add_argument("--smoke", action="store_true", help="tiny run, for the tests")
    parser.add_argument("--methods", nargs="+", choices=list(CONTROL_METHODS),
                        default=[m for m in CONTROL_METHODS if m != "imp_last_epoch"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--n-jobs", type=int, default=2, help="fits run at once")
    parser.add_argument("--levels", type=int, default=None,
                        help="pruning levels (default: the setting's)")
    parser.add_argument("--noise-model", choices=["symmetric", "pairflip"], default=None,
                        help="label noise model (default: symmetric)")
    parser.add_argument("--noise", type=float, default=NOISE, help="label noise rate")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs per level (default: the setting's)")
    parser.add_argument("--early-stopping", action="store_true",
                        help="early_stopping=True: every method keeps its levels' best epochs")
    parser.add_argument("--n-iter-no-change", type=int, default=None,
                        help="with --early-stopping, end a level after this many "
                             "epochs without improvement")
    parser.add_argument("--out", default=None, help="figure (default: controls_SETTING.png)")
    parser.add_argument("--csv", default=None, help="every row (default: beside --out)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the jobs already in --csv and fit only the others")
    parser.add_argument("--from-csv", action="store_true",
                        help="fit nothing: summarise and plot the rows in --csv")
    parser.add_argument("--markdown", action="store_true",
                        help="print the tables as Markdown (for docs/results.md)")
    args = parser.parse_args(argv)
    out = args.out or f"controls_{args.setting}.png"
    csv = args.csv or out.rsplit(".", 1)[0] + ".csv"
    seeds = args.seeds[:1] if args.smoke else args.seeds
    methods = list(dict.fromkeys(args.methods))
    if "small_dense" in methods and "imp" not in methods:
        parser.error("small_dense is sized on the IMP ticket; add imp to --methods")
    groups = JOBS
    if args.early_stopping or args.n_iter_no_change is not None:
        # early_stopping is then level 0 of the IMP fit: read, not fitted.
        groups = [(*JOBS[0], "early_stopping"), *JOBS[1:-1]]
    jobs = [(group, seed) for seed in seeds for group in
            ([m for m in g if m in methods] for g in groups) if group]

    if args.from_csv and not os.path.exists(csv):
        parser.error(f"--from-csv reads {csv}, which does not exist; run without it first")
    overrides = {}
    if args.levels is not None:
        overrides["max_levels"] = args.levels
    if args.epochs is not None:
        overrides["max_epochs"] = args.epochs
    if args.noise_model is not None:
        overrides["noise_model"] = args.noise_model
    if args.early_stopping:
        overrides["early_stopping"] = True
    if args.n_iter_no_change is not None:
        overrides.update(early_stopping=True, n_iter_no_change=args.n_iter_no_change)
    done = []
    if args.resume and os.path.exists(csv):
        # Keep the finished jobs of an interrupted run; fit only the others.
        done = [pd.read_csv(csv)]
        finished = set(zip(done[0].method, done[0].seed))
        jobs = [(g, s) for g, s in jobs if not all((m, s) in finished for m in g)]
        # A job runs whole again (small_dense needs its IMP fit): drop its old rows.
        rerun = set((m, s) for g, s in jobs for m in g)
        keep = [(m, s) not in rerun and m in methods and s in seeds
                for m, s in zip(done[0].method, done[0].seed)]
        done[0] = done[0][keep]
        print(f"resuming from {csv}: {len(jobs)} job(s) left")
    if not args.from_csv:
        fits = Parallel(n_jobs=1 if args.smoke else args.n_jobs, return_as="generator")(
            delayed(run_job)(args.setting, group, seed, args.smoke, overrides, args.noise)
            for group, seed in jobs)
        for part in fits:
            done.append(part)
            # Written after every job, so an interrupted run loses only the
            # jobs in flight (rerun with --resume).
            pd.concat(done, ignore_index=True).to_csv(csv, index=False)
    else:
        done = [pd.read_csv(csv)]
    results = pd.concat(done, ignore_index=True)
    order = {m: i for i, m in enumerate(methods)}
    results = results.sort_values(["method", "seed", "level"], key=lambda c: c.map(
        order) if c.name == "method" else c, kind="stable").reset_index(drop=True)
    metric_names = ["test_accuracy", "test_ece", "test_log_loss"]
    metric_names += [c for c in ("kl", "kl_clean") if c in results]

    fits = results.drop_duplicates(["method", "seed"])
    print(f"\nsetting {args.setting}: {len(seeds)} seed(s), {args.noise:.0%} label noise, "
          f"clean test labels, validation-chosen rows; {len(fits)} fits, "
          f"{fits.fit_time.sum():.0f} s of fitting (wall time of each fit, summed)")
    show = markdown_table if args.markdown else (lambda table: table.to_string(index=False))
    print(show(summarise(results, metric_names)))
    print("\npaired per-seed differences at the chosen rows (mean ± std), with the verdict")
    print(show(paired(results, metric_names)))
    results.to_csv(csv, index=False)
    panels = ["test_accuracy", "test_ece"] + (["kl"] if "kl" in results else [])
    disp = ControlsDisplay.from_results(results, metrics=panels, name=args.setting)
    disp.figure_.tight_layout()
    disp.figure_.savefig(out, dpi=90, bbox_inches="tight")  # with the legend outside
    print(f"\nfigure saved to {out}, every row of every fit to {csv}")
    return results


if __name__ == "__main__":
    main()
