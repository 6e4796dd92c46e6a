"""Row handling of ``PrunedNetClassifier``: the validation split and row layouts.

Helpers of the estimator that look at the data rather than the network:
the stratified split that holds every class on both sides, the reshaping
between flat rows and images, and the error messages that name the fix.
"""

import contextlib
import math
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

__all__ = ["check_fit_params", "explain_string_features", "hold_small_last_batch_warnings",
           "row_shape_message", "to_fitted_layout", "validation_split",
           "warn_small_last_batch"]

_SMALL_LAST_BATCH = "The last training batch of every epoch holds"


def check_fit_params(fit_params):
    """Refuse the keyword arguments of ``fit``, but ``sample_weight=None``.

    Parameters
    ----------
    fit_params : dict
        The keyword arguments ``fit`` got besides X and y.

    Raises
    ------
    TypeError
        Naming the arguments, with the fix for sample weights.
    """
    if fit_params.get("sample_weight") is not None:
        raise TypeError(
            "PrunedNetClassifier.fit does not support sample_weight: IMP trains every "
            "level on the rows as given. Repeat rows in proportion to integer weights "
            "(np.repeat(X, weights, axis=0)), or resample the rows with probabilities "
            "proportional to the weights (sklearn.utils.resample), then fit on those.")
    unexpected = sorted(set(fit_params) - {"sample_weight"})
    if unexpected:
        raise TypeError(
            f"PrunedNetClassifier.fit got unexpected keyword arguments {unexpected}; it "
            f"takes X, y and sample_weight=None. Estimator parameters go to the "
            f"constructor or set_params.")


@contextlib.contextmanager
def explain_string_features():
    """Add the fix to numpy's error for string features."""
    try:
        yield
    except ValueError as exc:
        if "could not convert string" not in str(exc):
            raise
        raise ValueError(
            f"{exc}. PrunedNetClassifier needs numeric features; encode string "
            f"columns first, e.g. with sklearn.preprocessing.OneHotEncoder in a "
            f"Pipeline.") from exc


def row_shape_message(row, fitted):
    flat = f" or flat rows of {math.prod(fitted)} columns" if len(fitted) > 1 else ""
    return (f"X has rows of shape {tuple(row)}, but PrunedNetClassifier was fitted on "
            f"rows of shape {fitted}; pass X of shape "
            f"(n_samples, {', '.join(map(str, fitted))}){flat}.")


def to_fitted_layout(X, fitted):
    """X with rows of the fitted shape when only the layout differs.

    Flat rows for a network fitted on images are reshaped to the images,
    and images for one fitted on flat rows are flattened, both in C order:
    the order in which ``images.reshape(n, -1)`` flattens and skimp's modules
    read flat rows. Two image shapes of one size are ambiguous (channels
    first or last?), so any other row shape raises, naming the fitted one.
    Objects without ``shape`` and ``reshape`` (lists, DataFrames) are left to
    ``validate_data``.
    """
    if sp.issparse(X) or not hasattr(X, "reshape") or len(getattr(X, "shape", ())) < 2:
        return X
    row = tuple(X.shape[1:])
    if row == fitted:
        return X
    if math.prod(row) == math.prod(fitted) and 1 in (len(row), len(fitted)):
        return X.reshape(X.shape[0], *fitted)
    if len(row) > 1 or len(fitted) > 1:
        raise ValueError(row_shape_message(row, fitted))
    return X  # flat rows of another width: validate_data names both widths


def validation_split(y_idx, classes, fraction, seed):
    """Stratified train/validation row indices holding every class on each side.

    sklearn's stratified split rounds small classes down to no validation
    row when a large class dominates; such classes then get one row moved
    over from the training side, so that validation scores see every class.
    """
    n = len(y_idx)
    counts = np.bincount(y_idx, minlength=len(classes))
    if counts.min() < 2:
        rare = classes[counts < 2].tolist()
        raise ValueError(
            f"Classes {rare} have fewer than 2 rows; the stratified "
            f"validation split needs at least one row of every class on each "
            f"side. Collect more rows of these classes or remove them.")
    n_val = max(math.ceil(fraction * n), len(counts))
    if n - n_val < len(counts):
        raise ValueError(
            f"With {n} rows and {len(counts)} classes, validation_fraction="
            f"{fraction} leaves fewer training rows than classes; lower "
            f"validation_fraction or pass more rows.")
    train_idx, val_idx = train_test_split(np.arange(n), test_size=n_val, stratify=y_idx,
                                          random_state=seed)
    missing = np.setdiff1d(np.arange(len(classes)), y_idx[val_idx])
    if missing.size:
        rng = np.random.RandomState(seed)
        moved = [rng.choice(train_idx[y_idx[train_idx] == c]) for c in missing]
        train_idx = np.setdiff1d(train_idx, moved)
        val_idx = np.concatenate([val_idx, moved])
    return train_idx, val_idx


def warn_small_last_batch(n_train, batch_size, *, drop_last=False):
    """Warn, once per fit, when each epoch ends on a batch of at most 1/16 of the others.

    The validation split decides the training rows, so the user never
    chose the size of the last batch. Its SGD step is taken at the full
    learning rate on few rows, with gradient noise about
    ``sqrt(batch_size / rows)`` times a full batch's: at 1/16 of
    ``batch_size``, four times. Side by side with OpenLTH on 10,000
    Fashion-MNIST rows (784-300-10, SGD at lr 0.1, batch 128), a 6-row
    last batch collapsed 7 of 40 levels below 0.7 train accuracy, and
    none did with a 16-row one or with drop_last (issue 15). On digits
    (``benchmarks/bench_last_batch.py``, lr 0.1, batch 128) a last batch
    of 2 to 8 rows lowers the mean train accuracy of the levels below
    ``drop_last``'s, and one of 12 rows or more does not measurably, so
    larger last batches pass without a word.

    Parameters
    ----------
    n_train : int
        Training rows left after the validation split.
    batch_size : int
        The training batch size.
    drop_last : bool, default=False
        Whether the short last batch is skipped; then nothing is said.
    """
    if drop_last:
        return
    last = n_train % batch_size
    if n_train > batch_size and 0 < 16 * last <= batch_size:
        warnings.warn(
            f"{_SMALL_LAST_BATCH} {last} rows, against "
            f"batch_size={batch_size}: {n_train} training rows are left after the "
            f"validation split. An SGD step on so few rows is much noisier than the "
            f"others and can destabilise training; pass "
            f"iterator_train__drop_last=True to skip that batch, or change "
            f"batch_size or validation_fraction.", UserWarning, stacklevel=5)


@contextlib.contextmanager
def hold_small_last_batch_warnings():
    """Hold back the small-last-batch warnings raised inside; show every other one.

    For callers that fit many estimators on the same rows, such as
    ``compare_controls``, which say it once for all of them.

    Yields
    ------
    held : list of str
        The messages held back, filled when the block ends. They are held
        even where a filter would ignore them: the caller's own warning
        goes through the filters.
    """
    held = []
    caught = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.filterwarnings("always", message=_SMALL_LAST_BATCH,
                                    category=UserWarning)
            yield held
    finally:
        for w in caught:
            if issubclass(w.category, UserWarning) and str(w.message).startswith(
                    _SMALL_LAST_BATCH):
                held.append(str(w.message))
            else:
                # Outside the block, so that the caller's filters and hooks see it.
                warnings.showwarning(w.message, w.category, w.filename, w.lineno,
                                     w.file, w.line)
