"""Early-stopped tickets: which of one fit's three answers should you take?

With ``early_stopping=True`` one IMP fit per seed gives three answers, each
chosen on the same noisy validation rows:

* ``imp_last_epoch``: the last-epoch ticket, IMP as the papers run it;
* ``early_stopping``: the dense net stopped early (the fit's level 0);
* ``imp``: the early-stopped ticket, the best (level, epoch) the fit saw.

This script reads what ``scripts/run_early_stopping_study.sh`` wrote
(``docs/_static/early_stopped_tickets_SETTING*.csv``, from
``examples/plot_controls.py --early-stopping``; it fits nothing) and prints,
per setting:

* the three answers per seed: weights, kept epoch, test accuracy, ECE and
  log-loss on clean labels;
* their mean ± std over seeds, and the paired differences (early-stopped
  ticket minus each other answer) with ``plot_controls``' verdict rule;
* the epochs trained and the wall time of the fit, and with
  ``n_iter_no_change`` (the ``_n5`` files) what cutting levels short saves.

Then it applies the rule that decided ``early_stopping``'s default before
calibration: in every setting, the early-stopped ticket's mean accuracy is at
most 1.5 points below the better of the other two, and its mean ECE at most
0.05 above the last-epoch ticket's. The same three answers calibrated
through the noise, and the rule that made ``early_stopping=True`` the
default with ``calibration="auto"``, are in ``examples/calibrated_tickets.py``
(``SKIMP_CALIBRATION=1 bash scripts/run_early_stopping_study.sh``).

``--masks SETTING`` fits one seed of a setting twice, with and without
``n_iter_no_change=5``, and prints how much the masks of each level share.

Run::

    python examples/early_stopped_tickets.py              # every setting found
    python examples/early_stopped_tickets.py --markdown   # tables for docs/results.md
    python examples/early_stopped_tickets.py --masks fashion2k   # fits, a few minutes
"""

import argparse
import glob
import os
import re

import numpy as np
import pandas as pd
from plot_controls import SETTINGS, markdown_table, mean_std, setting, verdict_of
from sklearn.base import clone

RULES = {"imp_last_epoch": "IMP, last epoch", "early_stopping": "dense, stopped early",
         "imp": "IMP, early-stopped"}
# The field's controls, also run with early-stopped levels where the study has them.
CONTROLS = {"random": "random masks", "reinit": "IMP's masks, reinitialised",
            "lr_rewind": "IMP's masks, weights kept"}
METRICS = ["test_accuracy", "test_ece", "test_log_loss"]
ACCURACY_MARGIN, ECE_MARGIN = 0.015, 0.05
# What scripts/run_early_stopping_study.sh names its outputs (this script's
# page in the gallery shows them).
PREFIX = "early_stopped_tickets_"


def load(path):
    """The validation-chosen rows of the three answers, and each fit's cost."""
    rows = pd.read_csv(path)
    fits = rows[rows.method == "imp"].groupby("seed").agg(
        epochs_trained=("n_epochs", "sum"), fit_time=("fit_time", "first"))
    chosen = rows[(rows.chosen == 1) & rows.method.isin(RULES)]
    return chosen, fits


def per_seed(chosen):
    order = {method: i for i, method in enumerate(RULES)}
    table = chosen.assign(rule=chosen.method.map(RULES), order=chosen.method.map(order))
    table = table.sort_values(["seed", "order"])
    table = table[["seed", "rule", "level", "n_params", "epochs", *METRICS]]
    return table.round({m: 3 for m in METRICS})


def summary(chosen):
    rows = []
    for method, label in RULES.items():
        runs = chosen[chosen.method == method]
        rows.append({"answer": label, "weights": f"{runs.n_params.mean():,.0f}",
                     "epoch": f"{runs.epochs.mean():.0f}",
                     **{m: mean_std(runs[m]) for m in METRICS}})
    return pd.DataFrame(rows)


def paired(chosen):
    by = chosen.set_index(["method", "seed"])
    ticket = by.loc["imp"]
    rows = []
    for method in ("imp_last_epoch", "early_stopping"):
        other = by.loc[method]
        row = {"early-stopped ticket minus": RULES[method]}
        for metric in METRICS:
            diff = ticket[metric] - other.loc[ticket.index, metric]
            verdict = verdict_of(diff, metric.endswith("accuracy")).replace("IMP", "ticket")
            row[metric] = f"{mean_std(diff, signed=True)} ({verdict})"
        rows.append(row)
    return pd.DataFrame(rows)


def controls(path):
    """The early-stopped controls' chosen rows against the early-stopped ticket, or None."""
    rows = pd.read_csv(path)
    chosen = rows[rows.chosen == 1].set_index(["method", "seed"])
    present = [m for m in CONTROLS if m in chosen.index.get_level_values(0)]
    if not present:
        return None
    ticket = chosen.loc["imp"]
    table = []
    for method in present:
        runs = chosen.loc[method]
        seeds = ticket.index.intersection(runs.index)
        row = {"control (early-stopped levels)": f"{method}: {CONTROLS[method]}",
               "weights": f"{runs.n_params.mean():,.0f}"}
        for metric in ("test_accuracy", "test_ece"):
            diff = ticket.loc[seeds, metric] - runs.loc[seeds, metric]
            verdict = verdict_of(diff, metric.endswith("accuracy")).replace("IMP", "ticket")
            row[metric] = mean_std(runs[metric])
            row[f"ticket minus it, {metric}"] = f"{mean_std(diff, signed=True)} ({verdict})"
        table.append(row)
    return pd.DataFrame(table)


def decide(chosen):
    """The default rule's two margins for one setting, and whether they hold."""
    mean = chosen.groupby("method")[["test_accuracy", "test_ece"]].mean()
    best_other = max(mean.loc["imp_last_epoch", "test_accuracy"],
                     mean.loc["early_stopping", "test_accuracy"])
    accuracy_gap = mean.loc["imp", "test_accuracy"] - best_other
    ece_gap = mean.loc["imp", "test_ece"] - mean.loc["imp_last_epoch", "test_ece"]
    return accuracy_gap, ece_gap, accuracy_gap >= -ACCURACY_MARGIN and ece_gap <= ECE_MARGIN


def surviving(clf, level):
    """The surviving prunable weights of ``level``, as one boolean vector."""
    module = clf.level_module(level)
    names = clf.layer_summary(level)["layer"]
    state = module.state_dict()
    return np.concatenate([(state[name] != 0).flatten().numpy() for name in names])


def compare_masks(name, seed=0, n_iter_no_change=5, smoke=False):
    """Fit ``name`` with and without ``n_iter_no_change``; the masks' overlap per level."""
    X, y, X_test, y_test, _, est = setting(name, seed, smoke)
    full = clone(est).set_params(random_state=seed, early_stopping=True).fit(X, y)
    cut = clone(est).set_params(random_state=seed, early_stopping=True,
                                n_iter_no_change=n_iter_no_change).fit(X, y)
    rows = []
    for level in full.imp_path_["level"]:
        a, b = surviving(full, int(level)), surviving(cut, int(level))
        rows.append({"level": int(level), "weights": int(a.sum()),
                     "shared": f"{(a & b).sum() / a.sum():.3f}",
                     "epochs (full, cut)": f"{full.imp_path_['n_epochs'][level]}, "
                                           f"{cut.imp_path_['n_epochs'][level]}"})
    table = pd.DataFrame(rows)
    scores = {label: (clf.best_level_, clf.score(X_test, y_test))
              for label, clf in (("full", full), (f"n_iter_no_change={n_iter_no_change}", cut))}
    return table, scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=os.path.join(os.path.dirname(__file__), "..", "docs",
                                                      "_static"))
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--masks", choices=SETTINGS, default=None,
                        help="fit this setting with and without n_iter_no_change=5 and "
                             "compare the masks, level by level")
    parser.add_argument("--smoke", action="store_true", help="with --masks: seconds")
    args = parser.parse_args(argv)
    show = markdown_table if args.markdown else (lambda t: t.to_string(index=False))
    if args.masks:
        table, scores = compare_masks(args.masks, smoke=args.smoke)
        print(f"{args.masks}, seed 0: the surviving weights of each level with "
              f"n_iter_no_change=5 that the full-length run also keeps")
        print(show(table))
        for label, (level, accuracy) in scores.items():
            print(f"{label}: chosen level {level}, test accuracy {accuracy:.3f}")
        return table
    # PREFIX + SETTING[_nK][_noiseR].csv: _nK files are the runs cut by
    # n_iter_no_change=K; _noiseR ones are at another noise rate (R tenths).
    names = [os.path.basename(p) for p in glob.glob(os.path.join(args.dir, PREFIX + "*.csv"))]
    paths = sorted(os.path.join(args.dir, n) for n in names
                   if re.fullmatch(re.escape(PREFIX) + r"[a-z0-9]+(_e\d+)?(_noise\d+)?\.csv", n))
    decisions, overview = [], []
    for path in paths:
        setting = os.path.basename(path).removeprefix(PREFIX).removesuffix(".csv")
        # Another noise rate: reported, but the default is decided at the
        # settings' own 20% noise (a longer schedule, _eK, counts).
        other_noise = "_noise" in setting
        chosen, fits = load(path)
        seeds = sorted(int(s) for s in chosen.seed.unique())
        print(f"\n## {setting}: seeds {seeds}\n")
        print(show(per_seed(chosen)))
        print()
        print(show(summary(chosen)))
        print()
        print(show(paired(chosen)))
        control_table = controls(path)
        if control_table is not None:
            print()
            print(show(control_table))
        cut = path.replace(".csv", "_n5.csv")
        cost = [f"one fit trains {fits.epochs_trained.mean():,.0f} epochs in "
                f"{fits.fit_time.mean():,.0f} s (mean over seeds)"]
        means = chosen.groupby("method")[["test_accuracy", "test_ece"]].agg(["mean", "std"])
        row = {"setting": setting, "seeds": len(seeds)}
        for method, label in RULES.items():
            acc, ece = means.loc[method, "test_accuracy"], means.loc[method, "test_ece"]
            spread = "" if np.isnan(acc["std"]) else f" ± {acc['std']:.3f}"
            row[label] = f"{acc['mean']:.3f}{spread} ({ece['mean']:.3f})"
        row["n_iter_no_change=5"] = "not run"
        if os.path.exists(cut):
            cut_chosen, cut_fits = load(cut)
            common = fits.index.intersection(cut_fits.index)
            epochs = cut_fits.epochs_trained[common] / fits.epochs_trained[common]
            wall = cut_fits.fit_time[common] / fits.fit_time[common]
            ticket = cut_chosen[cut_chosen.method == "imp"].set_index("seed")
            row["n_iter_no_change=5"] = (
                f"{ticket.loc[common, 'test_accuracy'].mean():.3f} "
                f"({ticket.loc[common, 'test_ece'].mean():.3f}), "
                f"{epochs.mean():.0%} of the epochs")
            cost.append(
                f"n_iter_no_change=5 trains {mean_std(epochs)} of those epochs in "
                f"{mean_std(wall)} of the wall time; its ticket: "
                + ", ".join(f"{m} {mean_std(ticket.loc[common, m])}" for m in METRICS)
                + f", {ticket.loc[common, 'n_params'].mean():,.0f} weights")
        print("\n" + "; ".join(cost) + ".")
        accuracy_gap, ece_gap, holds = decide(chosen)
        if not other_noise:  # the default is decided at the settings' own 20% noise
            decisions.append((setting, holds))
        row["rule"] = (f"{100 * accuracy_gap:+.1f} pts, ECE {ece_gap:+.3f}: "
                       f"{'holds' if holds else 'fails'}")
        overview.append(row)
        print(f"default rule{' (not part of the decision)' if other_noise else ''}: accuracy "
              f"{100 * accuracy_gap:+.1f} points against the better of the other two "
              f"(>= -1.5), ECE {ece_gap:+.3f} against the last-epoch ticket (<= +0.05): "
              f"{'holds' if holds else 'fails'}")
    if overview:
        print("\n## Overview: test accuracy mean ± std over seeds (mean ECE), chosen on "
              "validation\n")
        print(show(pd.DataFrame(overview)))
    if decisions:
        failed = [name for name, holds in decisions if not holds]
        verdict = "False" if failed else "True"
        print(f"\nearly_stopping default by the rule, over {len(decisions)} runs at 20% noise: "
              f"{verdict} ({len(decisions) - len(failed)} of {len(decisions)} pass"
              + (f"; fails: {', '.join(failed)})" if failed else ")"))


if __name__ == "__main__":
    main()
