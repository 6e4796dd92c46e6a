"""What does the noise-aware calibration cost, next to the fit?

``calibration="temperature"`` adds, after the levels are trained, one
forward pass over the validation rows per level (two where
``early_stopping`` kept an earlier epoch) and one scalar fit per pass. This
script fits the MNIST-scale MLP 784-300-100-10 on 60,000 Fashion-MNIST rows
(10% for validation, 20% symmetric label noise, ``early_stopping=True``) for a
few epochs at two levels, twice in one run: with ``calibration=None`` and with
``calibration="temperature"``, alternating, and reads the calibration's cost
as the difference of the two fits' wall times. It also times the same work
from the public API (each level's validation logits and
:func:`skimp.calibration.fit_temperature`), which does not depend on the
noise of two long fits, and ``calibration_noise="estimate"``'s extra fit.

The ratio that matters is per level: a level of the paper's recipe trains 120
epochs (60 for ``fashion60k``) and calibrates once, so the script prints
the calibration's share of one such level, from the epochs it measured.

Run ``python benchmarks/bench_calibration.py [--quick | --smoke] [--busy]``;
``--busy`` keeps one core busy in another process meanwhile.
"""

import argparse
import time

import bench_training
import common
import numpy as np
import torch

from skimp import PrunedNetClassifier
from skimp.calibration import estimate_noise_matrix, fit_temperature

# Per mode: rows, epochs measured per level, repeats.
SIZES = {"full": (60_000, 2, 2), "quick": (60_000, 1, 1), "smoke": (600, 1, 1)}


def public_calibration_cost(clf, X):
    """Seconds of the calibration's work, done again from the public API."""
    val = clf.validation_mask_
    X_val = torch.as_tensor(X[val], dtype=torch.float32)
    y_val = np.searchsorted(clf.classes_, clf.noisy_labels_[val])
    start = time.perf_counter()
    for level in clf.imp_path_["level"]:
        for epoch in ("kept", "last"):
            with torch.no_grad():
                z = clf.level_module(int(level), epoch=epoch, calibrated=False)(X_val)
            fit_temperature(z.double().numpy(), y_val, clf.noise_matrix_)
    calibrate = time.perf_counter() - start
    with torch.no_grad():
        z = clf.level_module(clf.best_level_, calibrated=False)(X_val).double().numpy()
    start = time.perf_counter()
    estimate_noise_matrix(z, y_val)
    return calibrate, time.perf_counter() - start


def run(mode="full"):
    rows, epochs, repeats = SIZES[mode]
    X, y, source = bench_training.mnist_scale_data(rows)
    params = dict(hidden_layer_sizes=(300, 100), max_epochs=epochs, max_levels=1,
                  batch_size=128, lr=0.1, label_noise=0.2, early_stopping=True,
                  n_threads=1, random_state=0)
    times = {None: [], "temperature": []}
    fitted = None
    for _ in range(repeats):
        for calibration in times:  # alternating, so load hits both sides
            start = time.perf_counter()
            clf = PrunedNetClassifier(calibration=calibration, **params).fit(X, y)
            times[calibration].append(time.perf_counter() - start)
            if calibration:
                fitted = clf
    plain, calibrated = min(times[None]), min(times["temperature"])
    public, estimate = public_calibration_cost(fitted, X)
    n_levels = len(fitted.imp_path_["level"])
    train_per_epoch = float(np.sum(fitted.imp_path_["fit_time"])) / (n_levels * epochs)
    per_level = public / n_levels
    return {
        "data": f"{source}, {len(X):,} rows, MLP 784-300-100-10, 20% noise",
        "epochs per level measured": epochs,
        "levels": n_levels,
        "fit, calibration=None (s)": round(plain, 2),
        "fit, calibration='temperature' (s)": round(calibrated, 2),
        "difference (s)": round(calibrated - plain, 3),
        "calibration from the public API (s)": round(public, 3),
        "calibration per level (s)": round(per_level, 4),
        "training per epoch (s)": round(train_per_epoch, 3),
        "share of a 60-epoch level (%)": round(100 * per_level / (per_level + 60 * train_per_epoch),
                                              3),
        "share of a 120-epoch level (%)": round(
            100 * per_level / (per_level + 120 * train_per_epoch), 3),
        "share of the measured fit (%)": round(100 * public / plain, 2),
        "calibration_noise='estimate', extra (s)": round(estimate, 3),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true")
    group.add_argument("--smoke", action="store_true")
    parser.add_argument("--busy", action="store_true",
                        help="with another process keeping one core busy")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    print("machine:\n" + common.format_info(common.machine_info(1)))
    load = ("busy core",) if args.busy and mode != "smoke" else ()
    with common.background_load(load):
        result = run(mode)
    result["other load"] = "a busy core" if args.busy else "none"
    for key, value in result.items():
        print(f"  {key:<42} {value}")
    return result


if __name__ == "__main__":
    main()
