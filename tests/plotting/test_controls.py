"""ControlsDisplay: curves per pruning method, markers per baseline."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skimp.plotting import ControlsDisplay  # noqa: E402


def fake_results():
    rows = {k: [] for k in ("method", "seed", "level", "n_params", "chosen",
                            "test_accuracy", "test_ece")}
    for seed in (0, 1, 2):
        for method, levels in (("imp", 4), ("random", 4), ("early_stopping", 1),
                               ("small_dense", 1)):
            for level in range(levels):
                rows["method"].append(method)
                rows["seed"].append(seed)
                rows["level"].append(level)
                n = 1000 * 0.5 ** level if levels > 1 else 120 + seed
                rows["n_params"].append(int(n))
                rows["chosen"].append(int(level == 2 or levels == 1))
                rows["test_accuracy"].append(0.7 + 0.01 * level + 0.01 * seed)
                rows["test_ece"].append(0.2 - 0.02 * level)
    return {k: np.asarray(v) for k, v in rows.items()}


def test_curves_for_pruning_methods_and_markers_for_baselines():
    res = fake_results()
    disp = ControlsDisplay.from_results(res, name="toy")
    assert sorted(disp.lines_) == ["imp", "random"]
    assert sorted(disp.markers_) == ["early_stopping", "small_dense"]
    line = disp.lines_["imp"][0]
    assert line.get_xdata().tolist() == [1000, 500, 250, 125]
    # Mean over seeds 0, 1, 2 at each level.
    assert np.allclose(line.get_ydata(), [0.71, 0.72, 0.73, 0.74])
    star = disp.chosen_markers_["imp"][1]
    assert star.get_xdata().tolist() == [250] and np.isclose(star.get_ydata()[0], 0.16)
    marker = disp.markers_["small_dense"][0]
    x, y = marker.lines[0].get_data()
    assert x[0] == pytest.approx(121) and y[0] == pytest.approx(0.71)
    assert len(disp.ax_) == 2 and disp.ax_[0].get_xscale() == "log"
    assert disp.ax_[0].get_title(loc="left").startswith("toy:")
    assert disp.ax_[1].get_ylabel() == "clean test ECE"
    plt.close("all")


def test_one_metric_on_given_axes():
    _, ax = plt.subplots()
    disp = ControlsDisplay.from_results(fake_results(), metrics="test_ece", ax=[ax])
    assert disp.ax_[0] is ax and len(disp.lines_["imp"]) == 1
    plt.close("all")


@pytest.mark.parametrize("change, match", [
    (lambda r: r.pop("chosen"), r"lacks the columns \['chosen'\]"),
    (lambda r: r.update(n_params=r["n_params"][:-1]), "equal length"),
    (lambda r: r.update(test_ece=np.array(["a"] * len(r["seed"]))), "numeric"),
])
def test_bad_results(change, match):
    res = fake_results()
    change(res)
    with pytest.raises(ValueError, match=match):
        ControlsDisplay.from_results(res)


def test_axes_must_match_the_metrics():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="2 axes, one per metric"):
        ControlsDisplay.from_results(fake_results(), ax=[ax])
    plt.close("all")
