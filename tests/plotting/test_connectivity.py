"""ConnectivityDisplay: surviving first-layer connections per pixel."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skimp.plotting import ConnectivityDisplay  # noqa: E402
from tests._helpers import fast_clf  # noqa: E402


def test_connectivity_display_counts_surviving_connections(digits):
    X, y = digits
    clf = fast_clf(hidden_layer_sizes=(16,), max_levels=6, pruning_fraction=0.5).fit(X, y)
    disp = ConnectivityDisplay.from_estimator(clf, level=6, name="digits")
    weight = clf.level_module(6).hidden[0].weight.detach()
    expected = (weight != 0).sum(0).reshape(8, 8).numpy()
    np.testing.assert_array_equal(disp.counts, expected)
    assert disp.counts.sum() == clf.imp_path_["n_params"][6]
    assert disp.image_.get_array().shape == (8, 8)
    assert disp.colorbar_ is not None and "level 6" in disp.ax_.get_title()
    assert disp.image_.get_clim() == (0, 16)  # the most a pixel can keep
    plt.close("all")


def test_connectivity_display_checks_the_image_shape(digits):
    X, y = digits
    clf = fast_clf().fit(X, y)
    with pytest.raises(ValueError, match=r"image_shape=\(4, 4\) holds 16 pixels.*64 inputs"):
        ConnectivityDisplay.from_estimator(clf, image_shape=(4, 4))
    disp = ConnectivityDisplay.from_estimator(clf, image_shape=(4, 4, 4), colorbar=False)
    assert disp.counts.shape == (4, 4) and disp.colorbar_ is None
    plt.close("all")
