"""ControlsDisplay: curves per pruning method, markers per baseline."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skimp.plotting import ControlsDisplay  # noqa: E402
from tests.plotting._helpers import widest_unlabelled_stretch  # noqa: E402


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
    with pytest.raises(ValueError, match="2 matplotlib Axes, one per metric"):
        ControlsDisplay.from_results(fake_results(), ax=[ax])
    plt.close("all")


@pytest.mark.parametrize("shape", [(2, 1), (1, 2)])
def test_a_2d_array_of_axes_is_flattened(shape):
    _, axes = plt.subplots(*shape, squeeze=False)
    disp = ControlsDisplay.from_results(fake_results(), ax=axes)
    assert list(disp.ax_) == list(axes.ravel())
    assert disp.lines_["imp"][1].axes is axes.ravel()[1]


def test_four_metrics_on_a_2_by_2_grid():
    res = fake_results()
    res["test_log_loss"], res["kl"] = res["test_ece"] * 3, res["test_ece"] / 2
    metrics = ("test_accuracy", "test_ece", "test_log_loss", "kl")
    _, axes = plt.subplots(2, 2)
    disp = ControlsDisplay.from_results(res, metrics=metrics, ax=axes)
    assert [a.get_ylabel() for a in axes.ravel()] == [
        "clean test accuracy", "clean test ECE", "clean test log-loss",
        "KL to the true p(y|x)"]
    assert disp.ax_.shape == (4,)


def test_the_wrong_number_of_axes_names_both_counts():
    _, axes = plt.subplots(2, 2)
    with pytest.raises(ValueError, match=r"2 matplotlib Axes, one per metric, got 4"):
        ControlsDisplay.from_results(fake_results(), ax=axes)
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"got 1; pass e.g. plt.subplots\(1, 2\)"):
        ControlsDisplay.from_results(fake_results(), ax=ax)


def path_like_results():
    """IMP over three decades of weights (100,000 down to about 200), two baselines."""
    res = fake_results()
    res["n_params"] = np.where(
        np.isin(res["method"], ["imp", "random"]),
        (100_000 * 0.13 ** res["level"]).astype(int), res["n_params"])
    return res


def test_weights_grow_to_the_right_with_a_label_at_the_sparse_end():
    disp = ControlsDisplay.from_results(path_like_results())
    disp.figure_.canvas.draw()
    for panel in disp.ax_:
        lo, hi = panel.get_xlim()
        assert lo < hi  # dense on the right, as in ImpPathDisplay
        # No fifth of the axis goes without a label: the sparse end neither.
        assert widest_unlabelled_stretch(panel) <= 1 / 5


def test_the_legend_covers_no_panel():
    disp = ControlsDisplay.from_results(path_like_results())
    disp.figure_.canvas.draw()
    legends = [panel.get_legend() for panel in disp.ax_ if panel.get_legend()]
    assert len(legends) == 1
    box = legends[0].get_window_extent()
    for panel in disp.ax_:
        assert not box.overlaps(panel.get_window_extent())


def test_a_horizontal_bar_is_named_in_the_legend():
    # The baselines' weights differ per seed (120, 121, 122): a horizontal bar.
    disp = ControlsDisplay.from_results(fake_results())
    labels = disp.ax_[-1].get_legend_handles_labels()[1]
    assert "small_dense (↔: weights ± std over seeds)" in labels
    res = fake_results()
    res["n_params"] = np.where(res["level"] == 0, 1000, res["n_params"])
    disp = ControlsDisplay.from_results(res)
    labels = disp.ax_[-1].get_legend_handles_labels()[1]
    assert "small_dense" in labels and "early_stopping" in labels
