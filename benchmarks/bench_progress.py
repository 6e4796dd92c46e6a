"""How far off is ``verbose``'s time-left estimate? The main demo's fit, timed.

Fits the main demo's estimator (MNIST-1D, MLP 40-1024-10, 50 epochs, 24
levels; ``examples/demo_mnist1d.py``) with ``verbose=1``, stamps every line it
prints with the wall time, and compares, after each level, the time left it
printed with the time the fit then really took to finish. For comparison it
also gives the estimate the earlier releases printed: the mean ``fit_time``
of the levels so far times the levels still to run (it left out each level's
evaluation and the levels' other overheads).

Run ``python benchmarks/bench_progress.py [--smoke]``.
"""

import argparse
import contextlib
import io
import re
import time

import common  # noqa: F401  (puts the checkout on sys.path)
import numpy as np
from sklearn.model_selection import train_test_split

from skimp import PrunedNetClassifier
from skimp.datasets import load_mnist1d


class StampedLines(io.TextIOBase):
    """A stream that keeps each completed line with the time it was printed."""

    def __init__(self):
        self.lines, self._partial = [], ""

    def write(self, text):
        self._partial += text
        *done, self._partial = re.split(r"[\n\r]", self._partial)
        self.lines += [(time.perf_counter(), line) for line in done if line.strip()]
        return len(text)


def seconds(text):
    """``"1m35s"`` or ``"<=2h01m"`` -> seconds."""
    total = 0
    for value, unit in re.findall(r"(\d+)([hms])", text):
        total += int(value) * {"h": 3600, "m": 60, "s": 1}[unit]
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds, for the tests")
    args = parser.parse_args(argv)
    n, hidden, epochs, levels = (1_000, (64,), 3, 3) if args.smoke else (10_000, (1024,), 50, 24)
    X, y = load_mnist1d(n)
    X_fit, _, y_fit, _ = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    clf = PrunedNetClassifier(
        hidden_layer_sizes=hidden, max_epochs=epochs, max_levels=levels, lr=0.05,
        optimizer__momentum=0.9, batch_size=128, label_noise=0.2, validation_fraction=0.2,
        random_state=0, verbose=1, early_stopping=False)

    stream = StampedLines()
    start = time.perf_counter()
    with contextlib.redirect_stdout(stream):
        clf.fit(X_fit, y_fit)
    end = time.perf_counter()

    level_lines = [(t, line.split()) for t, line in stream.lines
                   if re.match(r"\s*\d+\s+\d", line)]
    fit_times = clf.imp_path_["fit_time"]
    print(f"main demo fit: {end - start:.1f} s wall, {len(level_lines)} levels, "
          f"{len(stream.lines) - len(level_lines)} other lines (header, in-level, summary)")
    print(f"{'after level':>11} {'true left (s)':>14} {'printed':>9} {'error':>7} "
          f"{'old formula':>12} {'error':>7}")
    errors, old_errors = [], []
    for i, (stamp, cells) in enumerate(level_lines[:-1]):
        true_left = end - stamp
        printed = seconds(cells[-1])
        old = float(np.mean(fit_times[:i + 1])) * (levels - i)
        errors.append((printed - true_left) / true_left)
        old_errors.append((old - true_left) / true_left)
        print(f"{i:>11} {true_left:>14.1f} {printed:>9} {errors[-1]:>+7.0%} {old:>12.1f} "
              f"{old_errors[-1]:>+7.0%}")
    first = stream.lines[0][0] - start
    print(f"\nfirst line printed {first:.1f} s after the fit started; level 0's row "
          f"{level_lines[0][0] - start:.1f} s after (the first line, before this release)")
    print(f"estimate after level 0: {errors[0]:+.0%} (old formula {old_errors[0]:+.0%}); "
          f"mean |error| over levels: {np.mean(np.abs(errors)):.0%} "
          f"(old formula {np.mean(np.abs(old_errors)):.0%})")


if __name__ == "__main__":
    main()
