"""Calibrated tickets: is the calibrated early-stopped ticket the best answer?

An early-stopped net has learned the *noisy* label distribution, so on clean
labels it is underconfident, and temperature scaling on noisy held-out labels
calibrates it to the noise. ``calibration="temperature"`` fits the
temperature *through* the known noise instead (forward correction). This
script measures it, per setting of ``examples/plot_controls.py`` and seed,
from one ``early_stopping=True`` fit (``checkpoint_dir`` keeps its levels, so
a rerun only scores):

* the three answers of that fit (``last_epoch``, the papers' last-epoch
  ticket; ``dense_early``, the dense net stopped early; ``early_stopped``, the
  early-stopped ticket), raw (``none``) and with the noise-aware temperature
  (``noise_aware``), each with its own temperature;
* the early-stopped ticket under ``CalibratedClassifierCV(FrozenEstimator(...))``
  with ``method`` ``"sigmoid"``, ``"isotonic"`` and ``"temperature"``, fitted on
  the fit's noisy validation rows (``ccv_*_noisy``, what users reach for) and on
  the same rows with their clean labels (``ccv_*_clean``, the reference that
  needs clean labels);
* the noise matrix estimated instead of known, from the early-stopped ticket's
  validation logits (``estimate_symmetric``: the rate fitted jointly with
  ``T``; ``estimate_confident_joint``: cleanlab's confident joint);
* the average of the early-stopped ticket and the dense net stopped early, then
  calibrated through the noise (``ensemble``).

Everything is scored on clean test labels: accuracy, ECE (15 bins) and
log-loss. ``--summary`` reads the CSVs, prints the tables and applies the
rules of ``docs/results.md``, "Calibrated tickets", fixed before the runs.

Run::

    python examples/calibrated_tickets.py --setting demo --seeds 0 1 2
    python examples/calibrated_tickets.py --setting fashion2k --noise 0.4
    python examples/calibrated_tickets.py --setting fashion60k --epochs 120
    python examples/calibrated_tickets.py --summary --markdown
    python examples/calibrated_tickets.py --setting demo --smoke   # seconds
"""

import argparse
import glob
import os
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from plot_controls import SETTINGS, markdown_table, mean_std, setting  # noqa: E402
from scipy.special import softmax  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.frozen import FrozenEstimator  # noqa: E402
from sklearn.metrics import accuracy_score, log_loss  # noqa: E402

from skimp.calibration import estimate_noise_matrix, fit_temperature  # noqa: E402
from skimp.datasets import make_teacher_classification  # noqa: E402
from skimp.imp import select_level  # noqa: E402
from skimp.metrics import expected_calibration_error  # noqa: E402
from skimp.plotting import ReliabilityDisplay  # noqa: E402

PREFIX = "calibrated_tickets_"
ANSWERS = {"last_epoch": "IMP, last epoch", "dense_early": "dense, stopped early",
           "early_stopped": "IMP, early-stopped"}
CCV_METHODS = ("sigmoid", "isotonic", "temperature")
# The rules, fixed before the runs (issue 27, part 3 and part 4).
ACCURACY_MARGIN, ECE_MARGIN, ESTIMATE_MARGIN = 0.010, 0.02, 0.01


def logits_of(clf, level, X, epoch="kept"):
    """Raw logits of one level: the module as trained, no temperature."""
    import torch

    module = clf.level_module(level, epoch=epoch, calibrated=False).cpu()
    with torch.no_grad():
        return module(torch.as_tensor(np.asarray(X), dtype=torch.float32)).double().numpy()


def scores(y_test, proba, classes):
    return {"accuracy": accuracy_score(y_test, classes[proba.argmax(1)]),
            "ece": expected_calibration_error(y_test, proba, labels=classes),
            "log_loss": log_loss(y_test, np.clip(proba, 1e-12, 1), labels=classes)}


def clean_fit_labels(name, seed, y, smoke, noise):
    """The fit rows' labels before any noise: y itself, except for teacher,
    whose generator puts the noise in y (the same call without noise draws
    the same X and the clean labels)."""
    if name != "teacher":
        return y
    n_fit, n_test = (600, 500) if smoke else (12_000, 10_000)
    _, y_clean, _ = make_teacher_classification(n_fit + n_test, n_classes=4, teacher_hidden=8,
                                                label_noise=0.0, random_state=seed)
    return y_clean[:n_fit]


def run_seed(name, seed, noise, epochs, smoke, cache):
    X, y, X_test, y_test, _, est = setting(name, seed, smoke, noise)
    # teacher's generator already put the noise in y: state it, label_noise stays 0.
    stated = noise if name == "teacher" else None
    est.set_params(early_stopping=True, random_state=seed, checkpoint_dir=cache,
                   calibration="temperature", calibration_noise=stated)
    if epochs:
        est.set_params(max_epochs=epochs)
    clf = clone(est).fit(X, y)
    raw = clone(est).set_params(calibration=None).fit(X, y)  # loads the levels
    # The levels' training time, kept in the checkpoints with the levels.
    seconds = float(np.sum(clf.imp_path_["fit_time"]))
    classes, path = clf.classes_, clf.imp_path_
    val = clf.validation_mask_
    X_val = np.asarray(X)[val]
    y_noisy = np.searchsorted(classes, clf.noisy_labels_[val])
    y_clean_val = clean_fit_labels(name, seed, np.asarray(y), smoke, noise)[val]
    M = clf.noise_matrix_
    last_path = dict(path, val_loss=path["last_val_loss"],
                     val_accuracy=path["last_val_accuracy"])
    levels = {"last_epoch": (select_level(last_path, clf.selection), "last"),
              "dense_early": (0, "kept"), "early_stopped": (clf.best_level_, "kept")}
    rows, zs = [], {}

    def add(answer, calibration, proba, temperature, level, epoch, **extra):
        rows.append({"setting": name, "noise": noise, "epochs": est.max_epochs, "seed": seed,
                     "answer": answer, "calibration": calibration, "level": level,
                     "epoch": epoch, "n_params": int(path["n_params"][level]),
                     "temperature": temperature, **scores(y_test, proba, classes),
                     "fit_time": seconds, **extra})

    for answer, (level, epoch) in levels.items():
        z_val, z_test = logits_of(clf, level, X_val, epoch), logits_of(clf, level, X_test, epoch)
        zs[answer] = z_val, z_test
        column = "temperature" if epoch == "kept" else "last_temperature"
        T = float(path[column][level])
        kept_epoch = int(path["epoch"][level]) if epoch == "kept" else "last"
        add(answer, "none", softmax(z_test, axis=1), 1.0, level, kept_epoch)
        add(answer, "noise_aware", softmax(z_test / T, axis=1), T, level, kept_epoch)
    best, z_val, z_test = clf.best_level_, *zs["early_stopped"]
    epoch = int(path["epoch"][best])
    # What a user reaches for: sklearn's calibrators on the raw ticket.
    for labels, y_fit in (("noisy", y_noisy), ("clean", y_clean_val)):
        for method in CCV_METHODS:
            ccv = CalibratedClassifierCV(FrozenEstimator(raw), method=method)
            ccv.fit(X_val, classes[y_fit])
            add("early_stopped", f"ccv_{method}_{labels}", ccv.predict_proba(X_test),
                np.nan, best, epoch)
    for method in ("symmetric", "confident_joint"):
        M_est = estimate_noise_matrix(z_val, y_noisy, method=method)
        T = fit_temperature(z_val, y_noisy, M_est)
        add("early_stopped", f"estimate_{method}", softmax(z_test / T, axis=1), T, best, epoch,
            estimated_rate=float(1 - np.trace(M_est) / len(M_est)))
    # The candidate that needs no new parameter: average, then calibrate.
    p_val = (softmax(zs["dense_early"][0], axis=1) + softmax(z_val, axis=1)) / 2
    p_test = (softmax(zs["dense_early"][1], axis=1) + softmax(z_test, axis=1)) / 2
    T = fit_temperature(np.log(p_val), y_noisy, M)
    add("ensemble", "none", p_test, 1.0, best, epoch)
    add("ensemble", "noise_aware", softmax(np.log(p_test) / T, axis=1), T, best, epoch)
    figure_data = {"y_test": y_test, "classes": classes, "raw": softmax(z_test, axis=1),
                   "noise_aware": clf.predict_proba(X_test),
                   "plain": softmax(z_test / fit_temperature(z_val, y_noisy), axis=1)}
    return pd.DataFrame(rows), figure_data


def reliability_figure(data, out, title):
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.8))
    for ax, (key, label) in zip(axes, [
            ("raw", "early-stopped ticket, raw"),
            ("plain", "+ temperature fitted on the noisy labels"),
            ("noise_aware", "+ noise-aware temperature (calibration='temperature')")]):
        disp = ReliabilityDisplay.from_predictions(data["y_test"], data[key], name=label, ax=ax)
        # Three panels side by side: the ECE goes in each title, and the
        # legend, which would sit between panels, goes.
        ax.get_legend().remove()
        ax.set_title(f"{label}\nECE {disp.ece:.3f} (red: the gap to the diagonal)", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def summary(rows):
    """Mean ± std over seeds per (answer, calibration)."""
    table = []
    for (answer, calibration), runs in rows.groupby(["answer", "calibration"], sort=False):
        table.append({"answer": answer, "calibration": calibration,
                      "accuracy": mean_std(runs.accuracy), "ece": mean_std(runs.ece),
                      "log_loss": mean_std(runs.log_loss),
                      "T": mean_std(runs.temperature) if runs.temperature.notna().all() else "",
                      "seeds": len(runs)})
    return pd.DataFrame(table)


def means(rows):
    return rows.groupby(["answer", "calibration"])[["accuracy", "ece", "log_loss"]].mean()


def headline(all_rows):
    """One row per run: the answers' accuracy, and ECE raw, calibrated through
    the noise, and by the baselines (mean ± std over seeds)."""
    table = []
    for key, rows in all_rows.items():

        def cell(answer, calibration, metric, rows=rows):
            runs = rows[(rows.answer == answer) & (rows.calibration == calibration)]
            return mean_std(runs[metric])

        table.append({
            "run": key,
            **{f"accuracy, {ANSWERS[a]}": cell(a, "none", "accuracy") for a in ANSWERS},
            **{f"ECE raw, {ANSWERS[a]}": cell(a, "none", "ece") for a in ANSWERS},
            "ECE early-stopped + temperature on noisy labels": cell(
                "early_stopped", "ccv_temperature_noisy", "ece"),
            "ECE early-stopped, noise-aware": cell("early_stopped", "noise_aware", "ece"),
            "ECE last epoch, noise-aware (the default)": cell("last_epoch", "noise_aware", "ece"),
            "ECE early-stopped, estimated noise": cell(
                "early_stopped", "estimate_symmetric", "ece"),
            "ECE early-stopped + temperature on clean labels": cell(
                "early_stopped", "ccv_temperature_clean", "ece"),
        })
    return pd.DataFrame(table)


def decide(all_rows):
    """Apply the rules of issue 27, parts 3 and 4, setting by setting."""
    verdicts = []
    for key, rows in all_rows.items():
        m = means(rows)
        best_other = max(m.loc[("last_epoch", "none"), "accuracy"],
                         m.loc[("dense_early", "none"), "accuracy"])
        lowest_raw = min(m.loc[(a, "none"), "ece"] for a in ANSWERS)
        es = m.loc[("early_stopped", "noise_aware")]
        last_raw, last_cal = (m.loc[("last_epoch", c), "ece"] for c in ("none", "noise_aware"))
        es_raw = m.loc[("early_stopped", "none"), "ece"]
        verdicts.append({
            "run": key, "seeds": rows.seed.nunique(),
            "accuracy gap (pts)": round(100 * (es.accuracy - best_other), 2),
            "ECE minus lowest raw": round(es.ece - lowest_raw, 3),
            "part 3a holds": bool(es.accuracy >= best_other - ACCURACY_MARGIN
                                  and es.ece <= lowest_raw + ECE_MARGIN),
            "last-epoch ECE change": round(last_cal - last_raw, 3),
            "estimate (symmetric) ECE change": round(
                m.loc[("early_stopped", "estimate_symmetric"), "ece"] - es_raw, 3),
            "estimate (confident joint) ECE change": round(
                m.loc[("early_stopped", "estimate_confident_joint"), "ece"] - es_raw, 3),
            "average minus ticket, accuracy (pts)": round(
                100 * (m.loc[("ensemble", "noise_aware"), "accuracy"] - es.accuracy), 2),
            "average minus ticket, ECE": round(
                m.loc[("ensemble", "noise_aware"), "ece"] - es.ece, 3),
        })
    return pd.DataFrame(verdicts)


def print_summary(out_dir, markdown):
    show = markdown_table if markdown else (lambda t: t.to_string(index=False))
    all_rows = {}
    for csv in sorted(glob.glob(os.path.join(out_dir, f"{PREFIX}*.csv"))):
        key = re.sub(f"^{PREFIX}", "", os.path.basename(csv)[:-4])
        all_rows[key] = pd.read_csv(csv)
        print(f"\n## {key}\n")
        print(show(summary(all_rows[key])))
    if not all_rows:
        print(f"no {PREFIX}*.csv in {out_dir}; run a setting first")
        return None
    print("\n## At a glance: mean accuracy and ECE over seeds, clean test labels\n")
    print(show(headline(all_rows)))
    verdicts = decide(all_rows)
    print("\n## The rules\n")
    print(show(verdicts))
    rule_a = verdicts["part 3a holds"].all()
    rule_b = (verdicts["last-epoch ECE change"] < 0).all()
    print(f"\npart 3: early_stopping=True with calibration='auto' as the default: "
          f"{'yes' if rule_a else 'no'}; otherwise calibration='auto' alone lowers the "
          f"last-epoch ticket's ECE in every run: {'yes' if rule_b else 'no'}")
    for method in ("symmetric", "confident joint"):
        worst = verdicts[f"estimate ({method}) ECE change"].max()
        print(f"part 4: estimate ({method}) raises ECE by at most {ESTIMATE_MARGIN} in "
              f"every run: {'yes' if worst <= ESTIMATE_MARGIN else 'no'} (worst {worst:+.3f})")
    wins = ((verdicts["average minus ticket, accuracy (pts)"] >= 0)
            & (verdicts["average minus ticket, ECE"] <= 0))
    print(f"the average of the two early-stopped answers, calibrated, is at least as "
          f"accurate and as well calibrated as the calibrated ticket in {int(wins.sum())} of "
          f"{len(wins)} runs: {'ship it' if wins.all() else 'not shipped'}")
    return verdicts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setting", choices=SETTINGS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--noise", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=None, help="epochs per level")
    parser.add_argument("--smoke", action="store_true", help="tiny run, for the tests")
    parser.add_argument("--out-dir", default="docs/_static")
    parser.add_argument("--cache", default=".study_cache",
                        help="checkpoint_dir of the fits (a rerun only scores)")
    parser.add_argument("--figure", action="store_true",
                        help="also save the reliability diagrams of the first seed")
    parser.add_argument("--summary", action="store_true", help="read the CSVs, apply the rules")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    if args.summary:
        return print_summary(args.out_dir, args.markdown)
    if args.setting is None:
        parser.error("--setting is needed unless --summary")
    key = args.setting + (f"_e{args.epochs}" if args.epochs else "") + (
        f"_noise{str(args.noise)[2:]}" if args.noise != 0.2 else "")
    seeds = args.seeds[:1] if args.smoke else args.seeds
    os.makedirs(args.out_dir, exist_ok=True)
    parts = []
    for i, seed in enumerate(seeds):
        rows, data = run_seed(args.setting, seed, args.noise, args.epochs, args.smoke,
                              args.cache)
        parts.append(rows)
        print(rows[["seed", "answer", "calibration", "accuracy", "ece", "log_loss",
                    "temperature"]].round(3).to_string(index=False), flush=True)
        if args.figure and i == 0:
            fig = os.path.join(args.out_dir, f"{PREFIX}{key}_reliability.png")
            reliability_figure(data, fig, f"{args.setting}, {args.noise:.0%} label noise, "
                                          f"seed {seed}, clean test labels")
            print(f"reliability diagrams saved to {fig}")
    rows = pd.concat(parts, ignore_index=True)
    csv = os.path.join(args.out_dir, f"{PREFIX}{key}.csv")
    rows.to_csv(csv, index=False)
    print(f"\n{key}: {len(seeds)} seed(s), mean ± std over seeds, clean test labels")
    print(summary(rows).to_string(index=False))
    print(f"every row saved to {csv}")
    return rows


if __name__ == "__main__":
    main()
