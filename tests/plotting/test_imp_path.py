"""ImpPathDisplay, checked through the artists it draws."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skimp.metrics import expected_calibration_error  # noqa: E402
from skimp.plotting import ImpPathDisplay  # noqa: E402
from tests.plotting._helpers import widest_unlabelled_stretch  # noqa: E402

# -- ImpPathDisplay -------------------------------------------------------


def test_imp_path_lines_without_test(fitted):
    clf, _, _ = fitted
    path = clf.imp_path_
    disp = ImpPathDisplay.from_estimator(clf)
    assert set(disp.lines_) == {"train", "val", "val_ece"}
    assert disp.test_error is None and disp.test_ece is None
    for key, acc in (("train", "train_accuracy"), ("val", "val_accuracy")):
        np.testing.assert_array_equal(disp.lines_[key].get_xdata(), path["n_params"])
        np.testing.assert_allclose(disp.lines_[key].get_ydata(), 1 - path[acc])
    np.testing.assert_array_equal(disp.lines_["val_ece"].get_xdata(),
                                  path["n_params"])
    np.testing.assert_allclose(disp.lines_["val_ece"].get_ydata(), path["val_ece"])

    err_ax, ece_ax = disp.ax_
    assert disp.zero_note_ is None  # every level keeps weights
    assert disp.lines_["train"].axes is err_ax
    assert disp.lines_["val_ece"].axes is ece_ax
    assert disp.figure_ is err_ax.figure
    for ax in disp.ax_:
        assert ax.get_xscale() == "log"
        # Not inverted: sparser tickets lie to the left.
        lo, hi = ax.get_xlim()
        assert lo < hi
    assert err_ax.get_ylabel() == "error"
    assert ece_ax.get_ylabel() == "ECE"
    assert ece_ax.get_xlabel().startswith("remaining prunable weights")

    best = clf.best_level_
    assert disp.best_marker_.axes is err_ax
    np.testing.assert_allclose(disp.best_marker_.get_xdata(), [path["n_params"][best]])
    np.testing.assert_allclose(disp.best_marker_.get_ydata(),
                               [1 - path["val_accuracy"][best]])


def test_imp_path_test_lines(fitted):
    clf, X, y = fitted
    disp = ImpPathDisplay.from_estimator(clf, X, y, name="net")
    assert set(disp.lines_) == {"train", "val", "test", "val_ece", "test_ece"}
    probas = list(clf.staged_predict_proba(X))
    assert len(probas) == len(clf.imp_path_["level"])
    error = [1 - np.mean(clf.classes_[p.argmax(1)] == y) for p in probas]
    ece = [expected_calibration_error(y, p) for p in probas]
    np.testing.assert_allclose(disp.lines_["test"].get_ydata(), error)
    np.testing.assert_allclose(disp.lines_["test_ece"].get_ydata(), ece)
    np.testing.assert_array_equal(disp.lines_["test"].get_xdata(),
                                  clf.imp_path_["n_params"])
    # The chosen level's stage is the fitted ticket.
    best = clf.best_level_
    np.testing.assert_allclose(probas[best], clf.predict_proba(X), atol=1e-6)
    assert disp.lines_["test"].get_label() == "net: test"


def test_imp_path_user_axes_and_constructor(fitted):
    clf, _, _ = fitted
    fig, axes = plt.subplots(1, 2)
    n = len(clf.imp_path_["level"])
    test_error = np.linspace(0.5, 0.2, n)
    disp = ImpPathDisplay(clf.imp_path_, best_level=clf.best_level_,
                          test_error=test_error, name="mine")
    disp.plot(ax=(axes[0], axes[1]))
    assert disp.ax_[0] is axes[0] and disp.ax_[1] is axes[1]
    assert disp.figure_ is fig
    assert "test" in disp.lines_ and "test_ece" not in disp.lines_
    np.testing.assert_allclose(disp.lines_["test"].get_ydata(), test_error)
    assert disp.lines_["val"].get_label() == "mine: validation"
    assert axes[0].get_xlabel().startswith("remaining prunable weights")


def _path(n_params):
    n = len(n_params)
    return {"n_params": np.array(n_params),
            "train_accuracy": np.linspace(1.0, 0.2, n),
            "val_accuracy": np.linspace(0.8, 0.1, n),
            "val_ece": np.linspace(0.05, 0.3, n)}


def test_imp_path_shows_fully_pruned_levels():
    # Level 3 keeps 0 weights. On a log axis it vanished without a word.
    disp = ImpPathDisplay(_path([1000, 100, 10, 0]), best_level=3).plot()
    err_ax, ece_ax = disp.ax_
    disp.figure_.canvas.draw()
    for ax, key in ((err_ax, "val"), (ece_ax, "val_ece")):
        line = disp.lines_[key]
        np.testing.assert_array_equal(line.get_xdata(), [1000, 100, 10, 0])
        # Every level, the fully pruned one included, lands inside the axes.
        xy = ax.transData.transform(np.column_stack(
            [line.get_xdata(), line.get_ydata()]))
        assert np.isfinite(xy).all()
        assert all(ax.bbox.contains(px, py) for px, py in xy)
        assert ax.get_xscale() == "symlog"
        # Above 1 the axis is logarithmic: each decade is equally wide.
        decades = np.diff(xy[:3, 0])
        assert decades[0] == pytest.approx(decades[1])
    # The chosen ticket is the fully pruned level, and is marked there.
    np.testing.assert_array_equal(disp.best_marker_.get_xdata(), [0])
    note = disp.zero_note_
    assert note is not None and note.axes is err_ax and note.get_visible()
    assert "0 weights" in note.get_text()
    assert note.xy[0] == 0


def test_imp_path_invalid():
    path = {"n_params": np.array([100, 80]), "train_accuracy": np.array([1.0, 0.9]),
            "val_accuracy": np.array([0.7, 0.8]), "val_ece": np.array([0.2, 0.1])}
    with pytest.raises(ValueError, match="best_level"):
        ImpPathDisplay(path, best_level=2).plot()
    with pytest.raises(ValueError, match="test_error"):
        ImpPathDisplay(path, best_level=1, test_error=[0.1]).plot()
    with pytest.raises(ValueError, match="lacks the keys"):
        ImpPathDisplay({"n_params": [1]}, best_level=0).plot()
    with pytest.raises(ValueError, match=r"counts >= 0"):
        ImpPathDisplay(_path([100, -1]), best_level=0).plot()
    with pytest.raises(ValueError, match=r"counts >= 0"):
        ImpPathDisplay(_path([100, np.nan]), best_level=0).plot()
    with pytest.raises(ValueError, match="pair"):
        _, axes = plt.subplots(1, 3)
        ImpPathDisplay(path, best_level=1).plot(ax=axes)


def test_imp_path_name(fitted):
    clf, _, _ = fitted
    disp = ImpPathDisplay(clf.imp_path_, best_level=clf.best_level_,
                          name="net").plot()
    assert disp.name == "net"
    assert disp.lines_["train"].get_label() == "net: train"


def test_imp_path_needs_both_test_arrays(fitted):
    clf, X, _ = fitted
    with pytest.raises(ValueError, match="both"):
        ImpPathDisplay.from_estimator(clf, X)


def test_imp_path_one_axes_is_refused_with_the_fix(fitted):
    clf, _, _ = fitted
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match=r"2 matplotlib Axes, a pair: the error panel and "
                                         r"the ECE panel, got 1; pass e.g. plt.subplots"):
        ImpPathDisplay.from_estimator(clf, ax=ax)


def test_imp_path_takes_a_2d_array_of_axes(fitted):
    clf, _, _ = fitted
    _, axes = plt.subplots(2, 1, squeeze=False)
    disp = ImpPathDisplay.from_estimator(clf, ax=axes)
    assert disp.lines_["val"].axes is axes[0, 0]
    assert disp.lines_["val_ece"].axes is axes[1, 0]


def test_imp_path_labels_the_sparse_end():
    # Three decades, as in the landing figure: 100,000 down to about 200 weights.
    disp = ImpPathDisplay(_path((1e5 * 0.13 ** np.arange(4)).astype(int)),
                          best_level=1).plot()
    disp.figure_.canvas.draw()
    ece_ax = disp.ax_[1]
    # No fifth of the axis goes without a label: the sparse end neither.
    assert widest_unlabelled_stretch(ece_ax) <= 1 / 5
