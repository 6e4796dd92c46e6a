import math

import numpy as np
import pytest
from sklearn.utils import check_random_state

from skimp.noise import apply_label_noise, noise_transition_matrix, symmetric_label_noise

# Asymmetric noise with every awkward case: an identity row, a split row, a row
# that always flips, a trailing zero-probability class and a zero diagonal.
T_ASYM = np.array([
    [1.0, 0.0, 0.0, 0.0, 0.0],
    [0.0, 0.5, 0.5, 0.0, 0.0],
    [0.0, 0.0, 0.0, 1.0, 0.0],
    [0.2, 0.3, 0.0, 0.5, 0.0],
    [0.0, 0.0, 0.0, 0.4, 0.6],
])


def _legacy_symmetric_label_noise(y, noise_rate, *, n_classes=None, random_state=None):
    """Verbatim core of symmetric_label_noise before apply_label_noise existed."""
    y = np.asarray(y)
    if n_classes is None:
        n_classes = int(y.max()) + 1 if y.size else 0
    rng = check_random_state(random_state)
    n = y.shape[0]
    n_noisy = math.ceil(noise_rate * n)
    noise_mask = np.zeros(n, dtype=bool)
    noise_mask[rng.choice(n, size=n_noisy, replace=False)] = True
    y_noisy = y.copy()
    y_noisy[noise_mask] = rng.randint(0, n_classes, size=n_noisy)
    return y_noisy, noise_mask


def _empirical_transition(y, y_noisy, n_classes):
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (y, y_noisy), 1)
    return counts / counts.sum(axis=1, keepdims=True), counts.sum(axis=1)


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


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
@pytest.mark.parametrize("n, rate, n_classes", [(1000, 0.2, 10), (997, 0.37, 3),
                                                (50, 0.9, 2), (10, 0.0, 4)])
def test_symmetric_is_bit_for_bit_the_legacy_function(seed, n, rate, n_classes):
    y = check_random_state(seed + 100).randint(0, n_classes, size=n)
    expected = _legacy_symmetric_label_noise(y, rate, n_classes=n_classes, random_state=seed)
    for got in (apply_label_noise(y, rate, n_classes=n_classes, random_state=seed),
                apply_label_noise(y, rate, model="symmetric", n_classes=n_classes,
                                  random_state=seed),
                symmetric_label_noise(y, rate, n_classes=n_classes, random_state=seed)):
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])
        assert got[0].dtype == expected[0].dtype


def test_symmetric_consumes_a_shared_random_state_like_the_legacy_function():
    y = np.arange(300) % 4
    new, old = np.random.RandomState(5), np.random.RandomState(5)
    apply_label_noise(y, 0.3, random_state=new)
    _legacy_symmetric_label_noise(y, 0.3, random_state=old)
    # Whatever the caller draws next is unchanged too.
    assert np.array_equal(new.randint(0, 2**31, size=8), old.randint(0, 2**31, size=8))


def test_symmetric_golden_values():
    # Recorded from the function before the rewrite; numpy's legacy
    # RandomState stream is frozen, so these must never change.
    y = np.arange(20) % 4
    y_noisy, mask = symmetric_label_noise(y, 0.3, random_state=0)
    assert y_noisy.tolist() == [0, 2, 2, 3, 0, 1, 2, 3, 3, 1, 3, 3, 0, 1, 2, 3, 0, 2, 0, 1]
    assert np.flatnonzero(mask).tolist() == [1, 8, 10, 17, 18, 19]


@pytest.mark.parametrize("model, n_classes", [("symmetric", 10), ("pairflip", 10),
                                              (T_ASYM, 5)])
def test_empirical_transition_matches_the_model_on_a_large_draw(model, n_classes):
    n, rate = 200_000, 0.4
    y = check_random_state(1).randint(0, n_classes, size=n)
    y_noisy, _ = apply_label_noise(y, rate, model=model, n_classes=n_classes, random_state=2)
    expected = noise_transition_matrix(model, n_classes, rate)
    empirical, n_per_class = _empirical_transition(y, y_noisy, n_classes)
    # Five binomial standard errors per cell; picking rows without replacement
    # only lowers the variance. Impossible transitions must never happen.
    se = np.sqrt(expected * (1 - expected) / n_per_class[:, None])
    assert np.all(np.abs(empirical - expected) <= 5 * se + 1e-12)
    assert np.all(empirical[expected == 0] == 0)


@pytest.mark.parametrize("model, n_classes", [("symmetric", 10), ("pairflip", 10),
                                              (T_ASYM, 5)])
def test_replacement_labels_follow_the_model_on_the_picked_rows(model, n_classes):
    n, rate = 200_000, 0.4
    y = check_random_state(3).randint(0, n_classes, size=n)
    y_noisy, picked = apply_label_noise(y, rate, model=model, n_classes=n_classes,
                                        random_state=4)
    # Rate 1 of noise_transition_matrix is the replacement distribution itself;
    # build it from the 0.999 matrix to stay inside the allowed range.
    replacement = (noise_transition_matrix(model, n_classes, 0.999)
                   - 0.001 * np.eye(n_classes)) / 0.999
    empirical, n_per_class = _empirical_transition(y[picked], y_noisy[picked], n_classes)
    se = np.sqrt(replacement * (1 - replacement) / n_per_class[:, None])
    assert np.all(np.abs(empirical - replacement) <= 5 * se + 1e-9)
    assert np.array_equal(y_noisy[~picked], y[~picked])


def test_realised_error_rate_of_each_model():
    n, rate, n_classes = 200_000, 0.3, 5
    y = check_random_state(0).randint(0, n_classes, size=n)
    _, picked = apply_label_noise(y, rate, random_state=9)
    assert picked.sum() == math.ceil(rate * n)

    y_sym, _ = apply_label_noise(y, rate, random_state=9)
    assert abs(np.mean(y_sym != y) - rate * (n_classes - 1) / n_classes) < 0.005

    # Pair-flip changes every picked row, so the error rate is exact.
    y_pair, picked_pair = apply_label_noise(y, rate, model="pairflip", random_state=9)
    assert np.array_equal(picked_pair, picked)
    assert np.array_equal(y_pair[picked], (y[picked] + 1) % n_classes)
    assert np.sum(y_pair != y) == math.ceil(rate * n)

    y_mat, picked_mat = apply_label_noise(y, rate, model=T_ASYM, random_state=9)
    assert np.array_equal(picked_mat, picked)
    expected = rate * np.mean(1 - np.diag(T_ASYM)[y[picked]])
    assert abs(np.mean(y_mat != y) - expected) < 0.005


def test_identity_matrix_picks_rows_but_changes_nothing():
    y = np.arange(1000) % 3
    y_noisy, picked = apply_label_noise(y, 0.5, model=np.eye(3), random_state=0)
    assert picked.sum() == 500 and np.array_equal(y_noisy, y)


def test_matrix_sets_the_number_of_classes():
    # y happens to hold only classes 0 and 1; the 3x3 matrix can still send
    # them to class 2.
    y = np.arange(1000) % 2
    T = [[0, 0, 1], [0, 0, 1], [0, 0, 1]]
    y_noisy, picked = apply_label_noise(y, 0.5, model=T, random_state=0)
    assert np.all(y_noisy[picked] == 2)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        apply_label_noise(np.array([0, 3]), 0.5, model=T)


def test_every_model_is_reproducible():
    y = np.arange(5000) % 5
    for model in ("symmetric", "pairflip", T_ASYM):
        a = apply_label_noise(y, 0.3, model=model, random_state=11)
        b = apply_label_noise(y, 0.3, model=model, random_state=11)
        c = apply_label_noise(y, 0.3, model=model, random_state=12)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        assert not np.array_equal(a[1], c[1])


def test_transition_matrix_closed_forms():
    P = noise_transition_matrix("symmetric", 4, 0.2)
    assert np.allclose(np.diag(P), 1 - 0.2 * 3 / 4)
    assert np.allclose(P[~np.eye(4, dtype=bool)], 0.2 / 4)
    P = noise_transition_matrix("pairflip", 4, 0.2)
    assert np.allclose(P, 0.8 * np.eye(4) + 0.2 * np.roll(np.eye(4), 1, axis=1))
    assert P[3, 0] == pytest.approx(0.2)
    P = noise_transition_matrix(T_ASYM, 5, 0.5)
    assert np.allclose(P, 0.5 * np.eye(5) + 0.5 * T_ASYM)
    for P in (noise_transition_matrix(m, 5, 0.3) for m in ("symmetric", "pairflip", T_ASYM)):
        assert np.allclose(P.sum(axis=1), 1) and np.all(P >= 0)


@pytest.mark.parametrize("matrix, match", [
    (np.ones((2, 3)) / 3, "square"),
    (np.ones((2, 2, 2)) / 2, "square"),
    (np.ones(3) / 3, "square"),
    (np.empty((0, 0)), "square"),
    (np.full((3, 3), 1 / 3), "n_classes=4"),
    ([[1.2, -0.2], [0, 1]], r"negative entry T\[0, 1\]"),
    ([[np.nan, 1], [0, 1]], "NaN"),
    ([[np.inf, 0], [0, 1]], "NaN or inf"),
    ([[0.5, 0.4], [0, 1]], "Row 0 .* sums to 0.9"),
    ([[0.5, 0.5], [0.5, 0.5 + 1e-5]], "Row 1"),
    ([[1, 0], [0]], "numeric matrix"),
    ([["a", "b"], ["c", "d"]], "numeric matrix"),
])
def test_bad_transition_matrix(matrix, match):
    y = np.array([0, 1, 1, 0])
    with pytest.raises(ValueError, match=match):
        apply_label_noise(y, 0.5, model=matrix, n_classes=4 if "n_classes" in match else None)


def test_row_sums_within_tolerance_are_accepted():
    T = [[0.3333333, 0.3333333, 0.3333334], [0, 1, 0], [0, 0, 1]]
    y_noisy, _ = apply_label_noise(np.zeros(100, int), 0.5, model=T, random_state=0)
    assert set(np.unique(y_noisy)) <= {0, 1, 2}


def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'symmetric', 'pairflip'"):
        apply_label_noise(np.array([0, 1]), 0.5, model="asymmetric")
    with pytest.raises(ValueError, match="Unknown noise model"):
        noise_transition_matrix("uniform", 3, 0.1)


@pytest.mark.parametrize("rate", [-0.1, 1.0, float("nan"), "0.2", True])
def test_bad_rate_names_rate(rate):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        apply_label_noise(np.array([0, 1]), rate)


@pytest.mark.parametrize("n_classes", [0, -2, 2.5, True])
def test_bad_n_classes(n_classes):
    with pytest.raises(ValueError, match="n_classes must be a positive integer"):
        apply_label_noise(np.array([0, 1]), 0.5, n_classes=n_classes)
    with pytest.raises(ValueError, match="n_classes must be a positive integer"):
        noise_transition_matrix("symmetric", n_classes, 0.5)


def test_matrix_size_must_match_n_classes_in_the_helper_too():
    with pytest.raises(ValueError, match="3x3 transition matrix but n_classes=4"):
        noise_transition_matrix(np.eye(3), 4, 0.1)


def test_labels_still_checked_for_every_model():
    for model in ("pairflip", np.eye(2)):
        with pytest.raises(ValueError, match="integer"):
            apply_label_noise(np.array([0.5, 1.0]), 0.1, model=model)
        with pytest.raises(ValueError, match="integer"):
            apply_label_noise(np.zeros((2, 2), int), 0.1, model=model)


def test_empty_labels():
    for model in ("symmetric", "pairflip", np.eye(2)):
        y_noisy, mask = apply_label_noise(np.array([], int), 0.5, model=model, random_state=0)
        assert y_noisy.shape == (0,) and mask.shape == (0,)
