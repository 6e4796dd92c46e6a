"""Tests for skimp.datasets: the teacher generator, the IDX readers, MNIST-1D."""

import gzip
import pickle
import random
import sys

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skimp.datasets import (
    CIFAR10_ENV,
    FASHION_MNIST_DIR,
    load_cifar10,
    load_fashion_mnist,
    load_mnist,
    load_mnist1d,
    make_teacher_classification,
    read_idx,
)

# --------------------------------------------------------------------------
# make_teacher_classification
# --------------------------------------------------------------------------


@pytest.mark.parametrize("f", [0.0, 0.2, 0.6])
def test_p_true_is_a_distribution_with_noise_floor(f):
    X, y, p_true = make_teacher_classification(
        2000, n_classes=5, label_noise=f, random_state=0
    )
    assert X.shape == (2000, 20) and X.dtype == np.float64
    assert y.shape == (2000,) and y.dtype == np.int64
    assert p_true.shape == (2000, 5)
    np.testing.assert_allclose(p_true.sum(axis=1), 1.0)
    assert (p_true >= f / 5 - 1e-12).all()
    assert set(np.unique(y)) <= set(range(5))


def test_realised_noise_rate_on_large_sample():
    n, f, C = 200_000, 0.2, 4
    # The noise is drawn after the labels, from the same stream: without it,
    # the same seed gives the clean labels.
    _, y, _ = make_teacher_classification(n, 20, C, 8, 1.0, f, 0)
    _, y_clean, _ = make_teacher_classification(n, 20, C, 8, 1.0, 0.0, 0)
    # A redrawn label keeps its class with probability 1/C.
    assert abs((y != y_clean).mean() - f * (C - 1) / C) < 0.005


def test_label_frequencies_match_p_true():
    X, y, p_true = make_teacher_classification(
        200_000, label_noise=0.2, random_state=1
    )
    onehot = np.eye(p_true.shape[1])[y]
    np.testing.assert_allclose(onehot.mean(axis=0), p_true.mean(axis=0),
                               atol=0.005)
    # Also conditionally: bin the rows by their most likely class.
    top = p_true.argmax(axis=1)
    for c in range(p_true.shape[1]):
        rows = top == c
        np.testing.assert_allclose(onehot[rows].mean(axis=0),
                                   p_true[rows].mean(axis=0), atol=0.01)


def test_noisy_labels_are_better_explained_by_p_true_than_clean_p():
    f = 0.3
    _, y, p_true = make_teacher_classification(
        50_000, label_noise=f, random_state=2
    )
    C = p_true.shape[1]
    p_clean = (p_true - f / C) / (1 - f)
    rows = np.arange(len(y))
    ll_true = np.log(p_true[rows, y]).mean()
    ll_clean = np.log(np.clip(p_clean[rows, y], 1e-300, None)).mean()
    assert ll_true > ll_clean


def test_temperature_lowers_bayes_accuracy():
    bayes = [
        make_teacher_classification(5000, temperature=t, random_state=3)[2]
        .max(axis=1).mean()
        for t in (0.5, 1.0, 3.0)
    ]
    assert bayes[0] > bayes[1] > bayes[2] > 0.25


def _linear_gap(teacher_hidden, seed):
    """Bayes accuracy minus a linear model's expected test accuracy."""
    X, y, p = make_teacher_classification(
        14_000, teacher_hidden=teacher_hidden, random_state=seed
    )
    model = LogisticRegression(max_iter=500).fit(X[:4000], y[:4000])
    pred = model.predict(X[4000:])
    p_test = p[4000:]
    return p_test.max(axis=1).mean() - p_test[np.arange(len(pred)), pred].mean()


def test_wider_teacher_is_harder_for_a_linear_model():
    # A one-unit teacher is almost linear, a wide one is not. Over 20 seeds
    # the gaps measured 0.000-0.004 (width 1) and 0.089-0.138 (width 32).
    assert _linear_gap(1, seed=0) < 0.02
    assert _linear_gap(32, seed=0) > 0.05


def test_well_above_chance_but_not_deterministic():
    _, _, p = make_teacher_classification(20_000, random_state=4)
    bayes = p.max(axis=1).mean()
    assert 0.5 < bayes < 0.95


def test_reproducible_and_teacher_independent_of_n():
    a = make_teacher_classification(300, label_noise=0.1, random_state=7)
    b = make_teacher_classification(300, label_noise=0.1, random_state=7)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    c = make_teacher_classification(300, label_noise=0.1, random_state=8)
    assert not np.array_equal(a[0], c[0])
    # The teacher is drawn before the inputs, so a larger draw extends a
    # smaller one with the same teacher.
    X_big, _, p_big = make_teacher_classification(500, random_state=7)
    X_small, _, p_small = make_teacher_classification(300, random_state=7)
    np.testing.assert_array_equal(X_big[:300], X_small)
    np.testing.assert_allclose(p_big[:300], p_small)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"n_features": 0}, "n_features"),
        ({"n_classes": 1}, "n_classes"),
        ({"teacher_hidden": 0}, "teacher_hidden"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"label_noise": 1.0}, "label_noise"),
        ({"label_noise": -0.1}, "label_noise"),
    ],
)
def test_bad_parameters_raise(kwargs, name):
    params = {"n_samples": 10, **kwargs}
    with pytest.raises(ValueError, match=name):
        make_teacher_classification(**params)


# --------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------

_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
          np.float32: 0x0D, np.float64: 0x0E}


def _idx_bytes(array):
    array = np.asarray(array)
    header = bytes([0, 0, _CODES[array.dtype.type], array.ndim])
    header += b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write_idx(path, array, gz=False):
    data = _idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)


@pytest.mark.parametrize("dtype", list(_CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    rng = np.random.RandomState(0)
    array = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    name = tmp_path / ("a.idx3" + (".gz" if gz else ""))
    _write_idx(name, array, gz)
    out = read_idx(name)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_read_idx_rejects_truncated_and_corrupt_files(tmp_path):
    data = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    cases = {
        "truncated": data[:-1],
        "too-long": data + b"\x00",
        "short-header": data[:6],
        "bad-magic": b"\x01" + data[1:],
        "bad-code": data[:2] + b"\x07" + data[3:],
        "bad-gzip": gzip.compress(data)[:-8],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=name):
            read_idx(tmp_path / name)
    # Truncation hidden inside a well-formed gzip stream too.
    (tmp_path / "gz-truncated").write_bytes(gzip.compress(data[:-3]))
    with pytest.raises(ValueError, match="gz-truncated"):
        read_idx(tmp_path / "gz-truncated")


def _fake_set(folder, n_train=6, n_test=4, sep="-", gz=False):
    rng = np.random.RandomState(0)
    folder.mkdir(exist_ok=True)
    arrays = {}
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = rng.randint(0, 10, size=n).astype(np.uint8)
        suffix = ".gz" if gz else ""
        _write_idx(folder / f"{stem}-images{sep}idx3-ubyte{suffix}", images, gz)
        _write_idx(folder / f"{stem}-labels{sep}idx1-ubyte{suffix}", labels, gz)
        arrays[stem] = (images, labels)
    return arrays


@pytest.mark.parametrize("sep", ["-", "."])
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("loader", [load_fashion_mnist, load_mnist])
def test_loaders_read_a_folder(tmp_path, sep, gz, loader):
    arrays = _fake_set(tmp_path / "d", sep=sep, gz=gz)
    X, y = loader(tmp_path / "d")
    assert X.shape == (6, 784) and X.dtype == np.float32
    assert y.shape == (6,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_allclose(X * 255, arrays["train"][0].reshape(6, -1))
    np.testing.assert_array_equal(y, arrays["train"][1])

    X_test, y_test = loader(tmp_path / "d", subset="test")
    assert X_test.shape == (4, 784)
    np.testing.assert_array_equal(y_test, arrays["t10k"][1])

    X_all, y_all = loader(str(tmp_path / "d"), subset="all")
    np.testing.assert_array_equal(X_all, np.concatenate([X, X_test]))
    np.testing.assert_array_equal(y_all, np.concatenate([y, y_test]))


@pytest.mark.parametrize("loader", [load_fashion_mnist, load_mnist])
@pytest.mark.parametrize("part, subset", [("train", "train"), ("t10k", "test")])
def test_labels_outside_0_to_9_name_the_file(tmp_path, loader, part, subset):
    arrays = _fake_set(tmp_path / "d")
    labels = arrays[part][1].copy()
    labels[1], labels[-1] = 200, 255
    _write_idx(tmp_path / "d" / f"{part}-labels-idx1-ubyte", labels)
    with pytest.raises(ValueError, match=rf"{part}-labels-idx1-ubyte holds labels outside "
                                         rf"0\.\.9 \(200, 255; 2 of"):
        loader(tmp_path / "d", subset=subset)


def test_idx_labels_that_are_not_integers_name_the_file(tmp_path):
    _fake_set(tmp_path / "d")
    _write_idx(tmp_path / "d" / "train-labels-idx1-ubyte",
               np.array([0, 1, 2.5, 3, 4, 5], dtype=np.float32))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte holds labels that are "
                                         r"not integers, such as 2\.5\."):
        load_fashion_mnist(tmp_path / "d")
    # Whole numbers stored as floats are the classes they spell.
    _write_idx(tmp_path / "d" / "train-labels-idx1-ubyte", np.arange(6, dtype=np.float64))
    np.testing.assert_array_equal(load_fashion_mnist(tmp_path / "d")[1], np.arange(6))


def test_loader_rejects_bad_subset(tmp_path):
    _fake_set(tmp_path / "d")
    with pytest.raises(ValueError, match="subset"):
        load_fashion_mnist(tmp_path / "d", subset="validation")


def test_loader_rejects_mismatched_files(tmp_path):
    _fake_set(tmp_path / "d")
    _write_idx(tmp_path / "d" / "train-labels-idx1-ubyte",
               np.zeros(5, dtype=np.uint8))
    with pytest.raises(ValueError, match="disagree"):
        load_mnist(tmp_path / "d")


def test_missing_folder_says_how_to_get_the_files(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(tmp_path / "nowhere")
    message = str(info.value)
    assert "dataset-fashion-mnist" in message and "path=" in message
    assert "train-images-idx3-ubyte" in message


def test_missing_labels_file_is_named(tmp_path):
    _fake_set(tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels"):
        load_mnist(tmp_path / "d", subset="test")


def test_real_fashion_mnist_from_debian_package():
    if not FASHION_MNIST_DIR.is_dir():
        pytest.skip(f"{FASHION_MNIST_DIR} absent "
                    "(apt-get install dataset-fashion-mnist)")
    X, y = load_fashion_mnist()
    assert X.shape == (60000, 784) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    np.testing.assert_array_equal(np.unique(y), np.arange(10))
    X_test, y_test = load_fashion_mnist(subset="test")
    assert X_test.shape == (10000, 784) and y_test.shape == (10000,)
    np.testing.assert_array_equal(np.bincount(y_test), np.full(10, 1000))


# --------------------------------------------------------------------------
# CIFAR-10
# --------------------------------------------------------------------------

_CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _fake_cifar10(folder, rows=(3, 2, 4, 1, 2, 3)):
    """The official python-version layout: one pickled dict per batch, with
    byte-string keys, uint8 rows of 3072 pixels (R, G, B planes) and labels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    batches = {}
    for i, (name, n) in enumerate(zip(_CIFAR_BATCHES, rows)):
        data = rng.randint(0, 256, size=(n, 3072)).astype(np.uint8)
        data[0, :2] = (0, 255)
        labels = [(i + j) % 10 for j in range(n)]  # distinct per batch, to check order
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [b"x.png"] * n}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = (data, np.array(labels))
    return batches


def test_cifar10_train_batches_in_order_scaled_and_shaped(tmp_path):
    batches = _fake_cifar10(tmp_path / "cifar-10-batches-py")
    X, y = load_cifar10(tmp_path / "cifar-10-batches-py")
    assert X.shape == (12, 3, 32, 32) and X.dtype == np.float32
    assert y.shape == (12,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    data = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    labels = np.concatenate([batches[f"data_batch_{i}"][1] for i in range(1, 6)])
    np.testing.assert_array_equal(y, labels)
    np.testing.assert_allclose(X * 255, data.reshape(12, 3, 32, 32), atol=1e-4)
    # Channels first: pixel (row 0, column 1) of the green plane is byte 1024 + 1.
    assert X[1, 1, 0, 1] == np.float32(data[1, 1025] / 255)


def test_cifar10_test_and_all_subsets(tmp_path):
    batches = _fake_cifar10(tmp_path / "cifar-10-batches-py")
    X_test, y_test = load_cifar10(tmp_path / "cifar-10-batches-py", subset="test")
    assert X_test.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(y_test, batches["test_batch"][1])
    X_all, y_all = load_cifar10(str(tmp_path / "cifar-10-batches-py"), subset="all")
    X, y = load_cifar10(tmp_path / "cifar-10-batches-py")
    np.testing.assert_array_equal(X_all, np.concatenate([X, X_test]))
    np.testing.assert_array_equal(y_all, np.concatenate([y, y_test]))


def test_cifar10_parent_folder_and_environment_variable(tmp_path, monkeypatch):
    _fake_cifar10(tmp_path / "cifar-10-batches-py")
    expected = load_cifar10(tmp_path / "cifar-10-batches-py", subset="test")
    # The folder the archive was extracted into.
    X, y = load_cifar10(tmp_path, subset="test")
    np.testing.assert_array_equal(X, expected[0])
    np.testing.assert_array_equal(y, expected[1])
    for folder in (tmp_path, tmp_path / "cifar-10-batches-py"):
        monkeypatch.setenv(CIFAR10_ENV, str(folder))
        X, y = load_cifar10(subset="test")
        np.testing.assert_array_equal(y, expected[1])
    # An explicit path wins over the variable.
    monkeypatch.setenv(CIFAR10_ENV, str(tmp_path / "nowhere"))
    assert load_cifar10(tmp_path, subset="test")[0].shape == (3, 3, 32, 32)


def test_cifar10_without_files_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv(CIFAR10_ENV, raising=False)
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10()
    message = str(info.value)
    assert "SKIMP_CIFAR10" in message and "path=" in message
    assert "cifar-10-batches-py" in message and "never downloads" in message
    with pytest.raises(FileNotFoundError, match="data_batch_1.*SKIMP_CIFAR10"):
        load_cifar10(tmp_path / "empty")


def test_cifar10_missing_batch_is_named(tmp_path):
    _fake_cifar10(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match=r"\['data_batch_4'\]"):
        load_cifar10(tmp_path)
    assert load_cifar10(tmp_path, subset="test")[0].shape == (3, 3, 32, 32)


@pytest.mark.parametrize("content, match", [
    ({b"data": np.zeros((2, 3072), np.uint8)}, "keys b'data' and b'labels'"),
    ([1, 2, 3], "got list"),
    ({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, r"\(n, 3072\)"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "uint8"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "labels of shape"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "outside 0..9"),
])
def test_cifar10_rejects_files_that_are_not_batches(tmp_path, content, match):
    _fake_cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(content))
    with pytest.raises(ValueError, match=match) as info:
        load_cifar10(tmp_path, subset="test")
    assert "test_batch" in str(info.value)


def _batch_bytes(labels=(0, 1)):
    data = np.zeros((len(labels), 3072), np.uint8)
    return pickle.dumps({b"data": data, b"labels": list(labels)}, protocol=2)


@pytest.mark.parametrize("content, match", [
    (_batch_bytes()[:-40], "cannot be read as a CIFAR-10 batch: it is truncated"),
    (_batch_bytes()[:200], "cannot be read as a CIFAR-10 batch: it is truncated"),
    (b"", "cannot be read as a CIFAR-10 batch: it is truncated"),
    (gzip.compress(_batch_bytes()), "is gzip-compressed.*extract"),
], ids=["cut at the end", "cut in the data", "empty", "gzipped"])
def test_cifar10_truncated_or_compressed_batch_names_the_file(tmp_path, content, match):
    _fake_cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        load_cifar10(tmp_path, subset="test")
    assert "test_batch" in str(info.value)


@pytest.mark.parametrize("labels, match", [
    ([b"cat", b"dog"], r"labels of type \|S3, such as b'cat', not integers"),
    (["cat", "dog"], r"labels of type <U3, such as 'cat', not integers"),
    ([1.7, 2.0], r"labels that are not integers, such as 1\.7\."),
    ([float("nan"), 2.0], r"labels that are not integers, such as nan\."),
    ([-1, 3], r"labels outside 0\.\.9 \(-1; 1 of 2\)"),
    ([True, False], r"labels of type bool, such as True"),
], ids=["bytes", "strings", "1.7", "nan", "negative", "bools"])
def test_cifar10_labels_must_be_integers_0_to_9(tmp_path, labels, match):
    _fake_cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(_batch_bytes(labels))
    with pytest.raises(ValueError, match=match) as info:
        load_cifar10(tmp_path, subset="test")
    assert "test_batch" in str(info.value)


def test_cifar10_whole_float_labels_are_their_classes(tmp_path):
    _fake_cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(_batch_bytes([3.0, 9.0]))
    y = load_cifar10(tmp_path, subset="test")[1]
    assert y.dtype == np.int64 and y.tolist() == [3, 9]


def test_cifar10_rejects_bad_subset(tmp_path):
    _fake_cifar10(tmp_path)
    with pytest.raises(ValueError, match="subset"):
        load_cifar10(tmp_path, subset="validation")


# --------------------------------------------------------------------------
# MNIST-1D
# --------------------------------------------------------------------------


def test_mnist1d_shapes_determinism_and_no_global_side_effects():
    pytest.importorskip("mnist1d")
    np.random.seed(123)
    random.seed(123)
    np_before, py_before = np.random.get_state(), random.getstate()

    X, y = load_mnist1d(505, random_state=0)

    np_after = np.random.get_state()
    assert np_after[0] == np_before[0]
    np.testing.assert_array_equal(np_after[1], np_before[1])
    assert np_after[2:] == np_before[2:]
    assert random.getstate() == py_before

    assert X.shape == (505, 40) and X.dtype == np.float32
    assert y.shape == (505,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.unique(y), np.arange(10))

    X2, y2 = load_mnist1d(505, random_state=0)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = load_mnist1d(505, random_state=1)
    assert not np.array_equal(X, X3)


def test_mnist1d_rejects_bad_arguments():
    pytest.importorskip("mnist1d")
    with pytest.raises(ValueError, match="n_samples"):
        load_mnist1d(0)
    with pytest.raises(ValueError, match="random_state"):
        load_mnist1d(10, random_state=None)


def test_mnist1d_missing_package_says_how_to_install(monkeypatch):
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match=r"pip install skimp\[mnist1d\]"):
        load_mnist1d(10)
