import math

import numpy as np
import pytest

from skimp.noise import symmetric_label_noise


def test_exact_number_of_rows_redrawn_and_reproducible():
    y = np.arange(1000) % 7
    y1, m1 = symmetric_label_noise(y, 0.23, random_state=3)
    y2, m2 = symmetric_label_noise(y, 0.23, random_state=3)
    assert m1.sum() == math.ceil(0.23 * 1000)
    assert np.array_equal(y1, y2) and np.array_equal(m1, m2)
    # Rows not picked are never changed, and the input is not modified.
    assert np.array_equal(y1[~m1], y[~m1])
    assert np.array_equal(y, np.arange(1000) % 7)


def test_realised_error_rate_is_f_times_c_minus_1_over_c():
    y = np.arange(200_000) % 10
    y_noisy, mask = symmetric_label_noise(y, 0.2, random_state=0)
    assert abs(np.mean(y_noisy != y) - 0.2 * 9 / 10) < 0.005
    # The redrawn labels are uniform over all classes.
    counts = np.bincount(y_noisy[mask], minlength=10) / mask.sum()
    assert np.abs(counts - 0.1).max() < 0.01


def test_zero_noise_is_identity():
    y = np.array([0, 1, 2, 1])
    y_noisy, mask = symmetric_label_noise(y, 0.0, random_state=0)
    assert np.array_equal(y_noisy, y) and not mask.any()


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_bad_rate(rate):
    with pytest.raises(ValueError, match="noise_rate"):
        symmetric_label_noise(np.array([0, 1]), rate)


def test_bad_labels():
    with pytest.raises(ValueError, match="integer"):
        symmetric_label_noise(np.array([0.5, 1.0]), 0.1)
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        symmetric_label_noise(np.array([0, 2]), 0.1, n_classes=2)
