"""Data sets for lottery-ticket experiments.

Four sources, none of which ever touches the network:

* :func:`make_teacher_classification` -- skimp's controlled setup: a random
  teacher network gives a known conditional ``p(y|x)``, labels are sampled from
  it and symmetric noise is mixed in.
* :func:`load_fashion_mnist` and :func:`load_mnist` -- read the IDX files of
  (Fashion-)MNIST from a local folder, parsed by :func:`read_idx`.
* :func:`load_cifar10` -- read the "python version" batches of CIFAR-10 from a
  local folder.
* :func:`load_mnist1d` -- the MNIST-1D benchmark, generated on the spot by the
  optional ``mnist1d`` package.
"""

import gzip
import math
import os
import pickle
import random
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from scipy.special import softmax
from sklearn.utils import check_random_state

from skimp._validation import Interval, NotBoolInterval, StrOptions, validate_params
from skimp.noise import apply_label_noise, sample_labels

__all__ = [
    "make_teacher_classification",
    "read_idx",
    "load_fashion_mnist",
    "load_mnist",
    "load_cifar10",
    "load_mnist1d",
]

# Mean and standard deviation of ReLU(z) for z ~ N(0, 1); used to standardise
# the teacher's hidden units so the logit scale is set by ``gain`` alone.
_RELU_MEAN = 1.0 / np.sqrt(2.0 * np.pi)
_RELU_STD = np.sqrt(0.5 - 1.0 / (2.0 * np.pi))

# Standard deviation of every teacher logit before the temperature. Chosen so
# that, with the defaults, a well-fit model is far above chance while the Bayes
# accuracy stays well below 1 (see the docstring for measured values).
_TEACHER_GAIN = 3.0

# Shared parameter constraints. Booleans are refused where an int is meant.
_AT_LEAST_1 = NotBoolInterval(Integral, 1, None, closed="left")
_SUBSET = {"subset": [StrOptions({"train", "test", "all"})]}


def _teacher_probabilities(X, W1, W2, temperature):
    """Clean conditional ``p(y|x)`` of the teacher, one row per sample."""
    hidden = (np.maximum(X @ W1, 0.0) - _RELU_MEAN) / _RELU_STD
    logits = _TEACHER_GAIN * (hidden @ W2)
    return softmax(logits / temperature, axis=1)


@validate_params(
    {"n_samples": [_AT_LEAST_1],
     "n_features": [_AT_LEAST_1],
     "n_classes": [NotBoolInterval(Integral, 2, None, closed="left")],
     "teacher_hidden": [_AT_LEAST_1],
     "temperature": [Interval(Real, 0, None, closed="neither")],
     "label_noise": [Interval(Real, 0, 1, closed="left")],
     "random_state": ["random_state"]},
    prefer_skip_nested_validation=True)
def make_teacher_classification(n_samples, n_features=20, n_classes=4,
                                teacher_hidden=8, temperature=1.0,
                                label_noise=0.0, random_state=None):
    """Draw a classification task whose true ``p(y|x)`` is known exactly.

    This is skimp's controlled setup, in the spirit of Arora et al.,
    "Quantifying lottery tickets under label noise" (UAI 2023), whose own
    generator is not public.

    * Inputs are standard Gaussian, ``X ~ N(0, I)``.
    * A random one-hidden-layer ReLU teacher gives the logits::

          h = (relu(x @ W1) - m) / s
          logits = gain * h @ W2

      ``W1`` and ``W2`` have Gaussian entries with unit-norm columns, ``m``
      and ``s`` are the mean and standard deviation of ``relu(z)`` for
      ``z ~ N(0, 1)``, and ``gain = 3``, so each logit has a standard
      deviation of about 3 whatever the widths.
    * The clean conditional is ``p(y|x) = softmax(logits / temperature)``
      and one label per row is sampled from it.
    * Symmetric noise is mixed in with
      :func:`skimp.noise.apply_label_noise` at rate ``label_noise``.

    The teacher's width ``teacher_hidden`` sets the difficulty: a wider
    teacher sums more ReLU ridges, so its decision boundary bends in more
    directions and a student needs more parameters to follow it. A ReLU
    network with at least ``teacher_hidden`` hidden units (and biases) can
    represent the teacher exactly. ``temperature`` sets the label entropy
    instead: a higher temperature lowers the Bayes accuracy.

    Parameters
    ----------
    n_samples : int
        Number of rows, at least 1.
    n_features : int, default=20
        Input dimension.
    n_classes : int, default=4
        Number of classes ``C``, at least 2.
    teacher_hidden : int, default=8
        Hidden width of the teacher, at least 1. Larger is harder.
    temperature : float, default=1.0
        Softmax temperature, > 0. Larger makes the labels noisier at the
        source, smaller makes them closer to deterministic.
    label_noise : float in [0, 1), default=0.0
        Symmetric noise rate ``f``: ``ceil(f * n_samples)`` rows get a label
        drawn uniformly from all classes.
    random_state : int, RandomState instance or None, default=None
        Seeds the teacher, the inputs, the labels and the noise, all from one
        stream. A fixed seed gives identical arrays; the teacher depends only
        on the seed and the widths, not on ``n_samples``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float64
        Inputs.
    y : ndarray of shape (n_samples,), dtype int64
        Observed labels, noise included.
    p_true : ndarray of shape (n_samples, n_classes)
        The conditional distribution of the observed labels,
        ``(1 - f) * p(y|x) + f / C``. The noise picks exactly
        ``ceil(f * n)`` rows at random, so this mixture is exact averaged over
        which rows are picked (up to the rounding of ``f * n``). Every row sums
        to 1 and every entry is at least ``f / C``. With ``f = 0`` it is the
        clean ``p(y|x)``.

    Notes
    -----
    Expected accuracy on clean labels with the defaults otherwise
    (``n_features=20``, ``n_classes=4``, no noise), for 10,000 training rows,
    averaged over three seeds. The Bayes accuracy is ``p.max(axis=1).mean()``;
    chance is about 0.25 to 0.3.

    ==============  =====  =====  =====  =====  =====
    teacher_hidden  1      4      8      32     128
    ==============  =====  =====  =====  =====  =====
    Bayes           0.56   0.71   0.74   0.78   0.78
    MLP, 64 ReLU    0.56   0.69   0.72   0.74   0.73
    logistic        0.56   0.62   0.65   0.66   0.67
    ==============  =====  =====  =====  =====  =====

    A one-unit teacher orders the classes along a single direction, so a
    linear model is already Bayes-optimal; the gap to Bayes grows with the
    width.

    Examples
    --------
    >>> from skimp.datasets import make_teacher_classification
    >>> X, y, p_true = make_teacher_classification(
    ...     1000, teacher_hidden=4, label_noise=0.2, random_state=0)
    >>> X.shape, y.shape, p_true.shape
    ((1000, 20), (1000,), (1000, 4))
    >>> bool((p_true >= 0.2 / 4).all())
    True
    >>> bayes_accuracy = p_true.max(axis=1).mean()
    """
    rng = check_random_state(random_state)
    # The teacher is drawn before X so that, for a fixed seed, the same teacher
    # labels every sample size.
    W1 = rng.standard_normal((n_features, teacher_hidden))
    W2 = rng.standard_normal((teacher_hidden, n_classes))
    # Unit-norm columns: every hidden pre-activation is exactly N(0, 1) and
    # every logit has variance about gain**2, whatever the widths. The width
    # then changes the shape of the decision boundary, not its sharpness.
    W1 /= np.linalg.norm(W1, axis=0)
    W2 /= np.linalg.norm(W2, axis=0)

    X = rng.standard_normal((n_samples, n_features))
    p = _teacher_probabilities(X, W1, W2, temperature)
    y_clean = sample_labels(p, rng)
    y, _ = apply_label_noise(
        y_clean, label_noise, n_classes=n_classes, random_state=rng
    )
    # Each row is redrawn with probability about f, uniformly over C classes.
    p_true = (1.0 - label_noise) * p + label_noise / n_classes
    return X, y.astype(np.int64, copy=False), p_true


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------

# Type code -> big-endian numpy dtype, from the IDX specification.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# Where Debian's ``dataset-fashion-mnist`` package installs the files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

_IDX_STEMS = {
    "train": ("train-images", "train-labels"),
    "test": ("t10k-images", "t10k-labels"),
}


def read_idx(filename):
    """Read one IDX file, gzipped or not, into a numpy array.

    IDX is the format of the MNIST and Fashion-MNIST files: two zero bytes,
    a type code, the number of dimensions, then each dimension as a big-endian
    32-bit integer, then the data in big-endian order. Gzip is detected from
    the file's content, not its name.

    Parameters
    ----------
    filename : str or path-like
        The file to read.

    Returns
    -------
    ndarray
        The data with the file's shape, in native byte order. The dtype follows
        the type code: uint8, int8, int16, int32, float32 or float64.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the header is malformed or the payload does not match the sizes it
        declares; the message names the file.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skimp.datasets import read_idx
    >>> header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") * 2
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     name = os.path.join(tmp, "tiny-idx2-ubyte")
    ...     with open(name, "wb") as f:
    ...         _ = f.write(header + bytes([0, 1, 2, 255]))
    ...     read_idx(name)
    array([[  0,   1],
           [  2, 255]], dtype=uint8)
    """
    filename = Path(filename)
    with open(filename, "rb") as f:
        raw = f.read()
    # gzip members start with 1f 8b; an IDX file always starts with 00 00.
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{filename}: corrupt gzip stream ({exc}).") from exc
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(f"{filename}: not an IDX file (bad magic number).")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise ValueError(f"{filename}: unknown IDX type code 0x{code:02X}.")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(f"{filename}: truncated IDX header.")
    shape = tuple(
        int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)
    )
    dtype = _IDX_DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize
    payload = len(raw) - header_len
    if payload != expected:
        raise ValueError(
            f"{filename}: IDX header declares shape {shape} ({expected} bytes) "
            f"but the file holds {payload} bytes of data; it is truncated or "
            "corrupt."
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_len).reshape(shape)
    # Copy into native byte order: frombuffer gives a read-only view.
    return data.astype(dtype.newbyteorder("="))


def _check_labels(labels, where, dataset):
    """``labels`` as int64 classes 0..9, or a ValueError naming ``where``.

    Whole-number floats pass; anything else that is not an integer (1.7,
    NaN, strings) is refused rather than truncated or cast.
    """
    fix = (f"{dataset} labels are the integers 0 to 9; the file is corrupt or "
           f"not a {dataset} file")
    if labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            raise ValueError(f"{where} holds labels that are not integers, such as "
                             f"{labels[~whole][0].item()!r}. {fix}.")
    elif labels.dtype.kind not in "iu":
        example = labels.flat[0].item() if labels.size else None
        raise ValueError(f"{where} holds labels of type {labels.dtype}, such as "
                         f"{example!r}, not integers. {fix}.")
    outside = (labels < 0) | (labels > 9)
    if outside.any():
        values = np.unique(labels[outside])
        shown = ", ".join(str(v) for v in values[:5].tolist()) + (", ..." if len(values) > 5
                                                                    else "")
        raise ValueError(f"{where} holds labels outside 0..9 ({shown}; {outside.sum()} of "
                         f"{labels.size}). {fix}.")
    return labels.astype(np.int64)


def _find_idx(folder, stem, kind, dataset, hint):
    """Path of ``stem`` in ``folder`` under any of the usual spellings."""
    # "train-images-idx3-ubyte" (Fashion-MNIST, most MNIST mirrors) and
    # "train-images.idx3-ubyte" (some MNIST distributions), each maybe gzipped.
    names = [f"{stem}{sep}{kind}-ubyte{ext}"
             for sep in ("-", ".") for ext in ("", ".gz")]
    for name in names:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{dataset} file {names[0]!r} (or {names[1]!r}) not found in "
        f"{str(folder)!r}. {hint}"
    )


def _load_idx_pair(folder, subset, dataset, hint):
    """Images and labels of one IDX data set, flattened and scaled."""
    folder = Path(folder)
    parts = ("train", "test") if subset == "all" else (subset,)
    Xs, ys = [], []
    for part in parts:
        image_stem, label_stem = _IDX_STEMS[part]
        images = read_idx(_find_idx(folder, image_stem, "idx3", dataset, hint))
        label_file = _find_idx(folder, label_stem, "idx1", dataset, hint)
        labels = read_idx(label_file)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{dataset} files in {str(folder)!r} disagree: images of shape "
                f"{images.shape}, labels of shape {labels.shape}."
            )
        Xs.append(images.reshape(len(images), -1))
        ys.append(_check_labels(labels, str(label_file), dataset))
    X = np.concatenate(Xs).astype(np.float32)
    # Pixels are 0..255 bytes; other type codes are taken as already scaled.
    if Xs[0].dtype == np.uint8:
        X /= 255.0
    return X, np.concatenate(ys).astype(np.int64)


@validate_params({"path": [str, os.PathLike, None], **_SUBSET}, prefer_skip_nested_validation=True)
def load_fashion_mnist(path=None, *, subset="train"):
    """Load Fashion-MNIST from local IDX files; nothing is downloaded.

    Parameters
    ----------
    path : str or path-like, default=None
        Folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each
        possibly gzipped (``.gz``) and possibly spelt with ``.idx`` instead of
        ``-idx``. Defaults to ``/usr/share/datasets/fashion-mnist``, where
        Debian's ``dataset-fashion-mnist`` package puts them.
    subset : {"train", "test", "all"}, default="train"
        The 60,000 training images, the 10,000 test images, or both, training
        first.

    Returns
    -------
    X : ndarray of shape (n_samples, 784), dtype float32
        Pixels, flattened row by row and scaled to [0, 1].
    y : ndarray of shape (n_samples,), dtype int64
        Classes 0 to 9.

    Raises
    ------
    FileNotFoundError
        If a file is missing; the message says which and how to get them.
    ValueError
        If a file is corrupt, the images and labels disagree in number, or
        a label is not an integer in 0..9; the message names the file.

    Examples
    --------
    >>> from skimp.datasets import load_fashion_mnist
    >>> X, y = load_fashion_mnist(subset="test")  # doctest: +SKIP
    >>> X.shape, X.dtype, y.shape  # doctest: +SKIP
    ((10000, 784), dtype('float32'), (10000,))
    """
    folder = FASHION_MNIST_DIR if path is None else path
    hint = (
        "Install them with `apt-get install dataset-fashion-mnist` (Debian, "
        f"into {str(FASHION_MNIST_DIR)!r}) or pass path= to a folder holding "
        "the IDX files."
    )
    return _load_idx_pair(folder, subset, "Fashion-MNIST", hint)


@validate_params({"path": [str, os.PathLike], **_SUBSET}, prefer_skip_nested_validation=True)
def load_mnist(path, *, subset="train"):
    """Load classic MNIST from local IDX files; nothing is downloaded.

    The same reader as :func:`load_fashion_mnist`, with the same file names
    and layout, but there is no default folder.

    Parameters
    ----------
    path : str or path-like
        Folder holding the four MNIST IDX files, e.g.
        ``train-images-idx3-ubyte`` or ``train-images.idx3-ubyte``, each
        possibly gzipped.
    subset : {"train", "test", "all"}, default="train"
        The training images, the test images, or both, training first.

    Returns
    -------
    X : ndarray of shape (n_samples, 784), dtype float32
        Pixels, flattened and scaled to [0, 1].
    y : ndarray of shape (n_samples,), dtype int64
        Digits 0 to 9.

    Raises
    ------
    FileNotFoundError
        If a file is missing.
    ValueError
        If a file is corrupt, the images and labels disagree in number, or
        a label is not an integer in 0..9; the message names the file.

    Examples
    --------
    >>> from skimp.datasets import load_mnist
    >>> X, y = load_mnist("/data/mnist", subset="all")  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (70000, 784)
    """
    hint = "Pass path= to a folder holding the MNIST IDX files."
    return _load_idx_pair(path, subset, "MNIST", hint)


# --------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------

# The environment variable that load_cifar10 reads when no path is given.
CIFAR10_ENV = "SKIMP_CIFAR10"
# The folder that the official cifar-10-python.tar.gz extracts to.
_CIFAR10_FOLDER = "cifar-10-batches-py"
_CIFAR10_BATCHES = {
    "train": [f"data_batch_{i}" for i in range(1, 6)],
    "test": ["test_batch"],
}
_CIFAR10_HINT = (
    "Download the CIFAR-10 python version (cifar-10-python.tar.gz, from "
    "https://www.cs.toronto.edu/~kriz/cifar.html), extract it, and pass path= "
    f"to the {_CIFAR10_FOLDER} folder or to the folder holding it, or set the "
    f"environment variable {CIFAR10_ENV} to one of them. skimp never downloads."
)


def _cifar10_folder(path):
    """The folder holding the batches: ``path``, or the env var, or below them."""
    if path is None:
        path = os.environ.get(CIFAR10_ENV)
        if not path:
            raise FileNotFoundError(
                f"No CIFAR-10 folder given: path=None and {CIFAR10_ENV} is not "
                f"set. {_CIFAR10_HINT}")
    folder = Path(path)
    # Accept the folder the archive was extracted into, too.
    if (folder / _CIFAR10_FOLDER).is_dir():
        folder = folder / _CIFAR10_FOLDER
    return folder


def _read_cifar10_batch(file):
    """Images of shape (n, 3072) as uint8 and labels of shape (n,) of one batch."""
    raw = Path(file).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raise ValueError(
            f"{str(file)!r} is gzip-compressed, but CIFAR-10 batches are plain "
            f"pickles: extract cifar-10-python.tar.gz (tar xzf) and pass the "
            f"extracted files, not compressed ones.")
    try:
        # The batches are Python 2 pickles of byte-string keys.
        batch = pickle.loads(raw, encoding="bytes")
    except MemoryError:
        raise
    except Exception as exc:  # any unpickling failure: name the file, not pickle's internals
        raise ValueError(
            f"{str(file)!r} cannot be read as a CIFAR-10 batch: it is truncated or "
            f"not a pickle ({type(exc).__name__}: {exc}). Extract it again from "
            f"cifar-10-python.tar.gz.") from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(
            f"{str(file)!r} is not a CIFAR-10 batch: expected a pickled dict with "
            f"keys b'data' and b'labels', got {keys}. Use the python version of "
            f"CIFAR-10 (cifar-10-python.tar.gz).")
    try:
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"])
    except ValueError as exc:  # ragged lists
        raise ValueError(f"{str(file)!r} is not a CIFAR-10 batch: its b'data' or "
                         f"b'labels' is not an array ({exc}).") from exc
    if (data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072
            or labels.shape != (len(data),)):
        raise ValueError(
            f"{str(file)!r} is not a CIFAR-10 batch: b'data' must be uint8 of shape "
            f"(n, 3072) and b'labels' n long; got {data.dtype} data of shape "
            f"{data.shape} and labels of shape {labels.shape}.")
    return data, _check_labels(labels, repr(str(file)), "CIFAR-10")


@validate_params({"path": [str, os.PathLike, None], **_SUBSET}, prefer_skip_nested_validation=True)
def load_cifar10(path=None, *, subset="train"):
    """Load CIFAR-10 from the local "python version" batches; nothing is downloaded.

    Reads ``data_batch_1`` to ``data_batch_5`` and ``test_batch`` as
    extracted from the official ``cifar-10-python.tar.gz`` (Krizhevsky,
    2009). Each batch is a pickled dict whose ``b"data"`` holds uint8 rows of
    3072 pixels (the red, green and blue planes of a 32x32 image, row by row)
    and whose ``b"labels"`` holds the classes.

    The batches are pickles, and unpickling can run arbitrary code: only load
    files you trust, such as the official archive.

    Parameters
    ----------
    path : str or path-like, default=None
        The ``cifar-10-batches-py`` folder, or the folder holding it. ``None``
        reads the environment variable ``SKIMP_CIFAR10``.
    subset : {"train", "test", "all"}, default="train"
        The 50,000 training images (batches 1 to 5, in order), the 10,000
        test images, or both, training first.

    Returns
    -------
    X : ndarray of shape (n_samples, 3, 32, 32), dtype float32
        Images, channels first, scaled to [0, 1]. The training set takes
        600 MB. :class:`skimp.modules.ConvNet` and
        :class:`skimp.modules.ResNet20` take it as it is; ``X.reshape(len(X),
        -1)`` gives the flat rows a scaler needs.
    y : ndarray of shape (n_samples,), dtype int64
        Classes 0 (airplane) to 9 (truck).

    Raises
    ------
    FileNotFoundError
        If the folder or a batch is missing; the message says where to put
        the files and which environment variable to set.
    ValueError
        If a file is not a CIFAR-10 batch (truncated, compressed, another
        pickle, labels that are not integers in 0..9), or ``subset`` is
        unknown; the message names the file.

    Examples
    --------
    >>> from skimp.datasets import load_cifar10
    >>> X, y = load_cifar10("/data/cifar-10-batches-py", subset="test")  # doctest: +SKIP
    >>> X.shape, X.dtype, y.shape  # doctest: +SKIP
    ((10000, 3, 32, 32), dtype('float32'), (10000,))
    """
    folder = _cifar10_folder(path)
    names = [*_CIFAR10_BATCHES["train"], *_CIFAR10_BATCHES["test"]] if subset == "all" \
        else _CIFAR10_BATCHES[subset]
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 batches {missing} not found in {str(folder)!r}. {_CIFAR10_HINT}")
    batches = [_read_cifar10_batch(folder / name) for name in names]
    images = np.concatenate([data for data, _ in batches])
    X = images.reshape(len(images), 3, 32, 32).astype(np.float32)
    X /= 255.0
    y = np.concatenate([labels for _, labels in batches]).astype(np.int64)
    return X, y


# --------------------------------------------------------------------------
# MNIST-1D
# --------------------------------------------------------------------------


# mnist1d seeds numpy's legacy global generator, which takes an int in
# [0, 2**32): random_state is that seed, not a RandomState.
@validate_params(
    {"n_samples": [_AT_LEAST_1],
     "random_state": [NotBoolInterval(Integral, 0, 2**32 - 1, closed="both")]},
    prefer_skip_nested_validation=True)
def load_mnist1d(n_samples=10000, *, random_state=42):
    """Generate the MNIST-1D benchmark locally with the ``mnist1d`` package.

    MNIST-1D (Greydanus and Kobak) is a small 1-D signal classification task,
    10 classes and 40 features, hard enough to separate model sizes. The
    data are generated, never downloaded. The generator seeds numpy's and
    Python's global random number generators; their states are saved and put
    back, so calling this has no effect on the caller's randomness.

    Parameters
    ----------
    n_samples : int, default=10000
        Number of rows, at least 1. The generator makes the same number of
        each class and shuffles them; when ``n_samples`` is not a multiple of
        10, the first ``n_samples`` of a slightly larger draw are kept.
    random_state : int, default=42
        Seed of the generator; 42 is the package's own default.

    Returns
    -------
    X : ndarray of shape (n_samples, 40), dtype float32
        Signals, standardised by the generator.
    y : ndarray of shape (n_samples,), dtype int64
        Classes 0 to 9.

    Raises
    ------
    ImportError
        If ``mnist1d`` is not installed.

    Examples
    --------
    >>> from skimp.datasets import load_mnist1d
    >>> X, y = load_mnist1d(1000, random_state=0)
    >>> X.shape, X.dtype, y.dtype
    ((1000, 40), dtype('float32'), dtype('int64'))
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise ImportError(
            "load_mnist1d needs the optional mnist1d package: "
            "`pip install mnist1d` or `pip install skimp[mnist1d]`."
        ) from exc

    args = get_dataset_args(as_dict=False)
    # The generator makes num_samples // 10 rows per class.
    args.num_samples = -(-int(n_samples) // 10) * 10
    args.seed = int(random_state)

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)

    X = np.concatenate([data["x"], data["x_test"]])[:n_samples]
    y = np.concatenate([data["y"], data["y_test"]])[:n_samples]
    return X.astype(np.float32), y.astype(np.int64)
