"""A ticket exported with torch.export runs in a process that cannot import skimp.

These tests follow the recipe of the user guide's "Shipping a ticket" section:
``torch.export.export`` with a dynamic batch dimension, ``torch.export.save``
with the class labels in ``extra_files``, and ``torch.export.load`` in a fresh
Python process where skimp cannot be imported and which never imports skorch
or scikit-learn either.
"""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.export import Dim

from skimp.compact import compact_convnet, compact_mlp
from skimp.modules import MLP, ConvNet

from ._helpers import fast_clf

TOL = 1e-5
EXAMPLE_ROWS = 8

# Runs in the child, with its cwd holding data.pt and the .pt2 files. Before
# importing anything else it makes skimp unimportable (whether installed
# editable or not) and checks that the block works; then it loads every
# program and compares its logits with the parent's. skorch and scikit-learn
# are not blocked (torch._dynamo probes find_spec("sklearn") on import), only
# checked to stay unimported: torch alone runs the programs.
CHILD = r"""
import importlib.abc
import json
import sys

attempts = []


class BlockSkimp(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "skimp":
            attempts.append(name)
            raise ImportError(f"{name} is blocked in this process")
        return None


sys.meta_path.insert(0, BlockSkimp())
try:
    import skimp  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("the import block does not work: skimp was imported")
attempts.clear()

import torch

TOL = float(sys.argv[1])
data = torch.load("data.pt", weights_only=True)
report = {"errors": {}, "labels": {}}
for name, expected in data["expected"].items():
    extra = {"classes.json": ""}
    program = torch.export.load(f"{name}.pt2", extra_files=extra).module()
    classes = json.loads(extra["classes.json"])
    for key, X in data["inputs"].items():
        with torch.no_grad():
            logits = program(X)
        assert logits.shape == expected[key].shape, (name, key, logits.shape)
        error = float((logits.double() - expected[key]).abs().max())
        assert error <= TOL, (name, key, error)
        report["errors"][f"{name}/{key}"] = error
        report["labels"][f"{name}/{key}"] = [classes[i] for i in logits.argmax(1).tolist()]

assert "skimp" not in sys.modules
imported = [m for m in sys.modules if m.partition(".")[0] in ("skimp", "skorch", "sklearn")]
assert not imported, imported
assert not attempts, attempts
print(json.dumps(report))
"""


def export(module, example, *, dynamic=True):
    """Export ``module`` as the user guide does, with a dynamic batch size."""
    shapes = ({0: Dim("batch")},) if dynamic else None
    return torch.export.export(module, (example,), dynamic_shapes=shapes)


def round_trip(program):
    """Save and load an exported program through bytes, as a .pt2 file would."""
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    buffer.seek(0)
    return torch.export.load(buffer).module()


@pytest.fixture(scope="module")
def fitted(digits):
    X, y = digits
    clf = fast_clf().fit(X, y)  # hidden_layer_sizes=(16,), max_epochs=3, max_levels=2
    return clf, X.astype(np.float32), y


def test_exported_tickets_run_without_skimp(fitted, tmp_path):
    clf, X, _ = fitted
    last = int(clf.imp_path_["level"][-1])
    assert last > 0
    sparsest = clf.level_module(last)
    tickets = {
        # The masked network: dense layers, pruned weights stored as zeros.
        "masked": clf.level_module(clf.best_level_),
        # The compact ticket as compact_module() lays it out.
        "compact": clf.compact_module(),
        # The sparsest level with every layer as CSR (embedding_bag), the
        # output layer included...
        "compact_csr": compact_mlp(sparsest, sparse_threshold=float("inf")),
        # ...and with its pruned hidden layer as CSR, its dense output layer dense.
        "compact_mixed": compact_mlp(sparsest, sparse_threshold=1.0),
    }
    assert {layer.sparse for layer in tickets["compact_csr"].layers} == {True}
    assert [layer.sparse for layer in tickets["compact_mixed"].layers] == [True, False]

    # 300 rows is more than CompactMLP's default chunk_size of 256, and one
    # row fewer than the example's 8: the programs must take any batch size.
    inputs = {"many": torch.from_numpy(X[:300]), "one": torch.from_numpy(X[300:301])}
    best_logits = {k: torch.from_numpy(clf.decision_function(v.numpy()))
                   for k, v in inputs.items()}
    with torch.no_grad():
        sparsest_logits = {k: sparsest(v).double() for k, v in inputs.items()}
    expected = {"masked": best_logits, "compact": best_logits,
                "compact_csr": sparsest_logits, "compact_mixed": sparsest_logits}
    expected_labels = {name: {k: clf.classes_[v.argmax(1).numpy()].tolist()
                              for k, v in logits.items()}
                       for name, logits in expected.items()}
    assert expected_labels["masked"]["many"] == clf.predict(X[:300]).tolist()

    example = torch.from_numpy(X[:EXAMPLE_ROWS])
    classes = json.dumps(clf.classes_.tolist())
    for name, module in tickets.items():
        program = export(module, example)
        torch.export.save(program, tmp_path / f"{name}.pt2",
                          extra_files={"classes.json": classes})
    torch.save({"inputs": inputs, "expected": expected}, tmp_path / "data.pt")

    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # -I: no script directory or cwd on sys.path, no PYTHON* variables; the
    # repository is not on the path, but skimp's editable install would be,
    # which is what the child's import block is for.
    result = subprocess.run([sys.executable, "-I", "-c", CHILD, str(TOL)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(report["errors"]) == {f"{n}/{k}" for n in tickets for k in inputs}
    assert max(report["errors"].values()) <= TOL
    for name in tickets:
        for key in inputs:
            assert report["labels"][f"{name}/{key}"] == expected_labels[name][key], (name, key)


def test_without_dynamic_shapes_the_batch_size_is_fixed(fitted):
    clf, X, _ = fitted
    example = torch.from_numpy(X[:EXAMPLE_ROWS])
    for module in (clf.level_module(clf.best_level_), clf.compact_module()):
        fixed = round_trip(export(module, example, dynamic=False))
        with torch.no_grad():
            assert fixed(example).shape == (EXAMPLE_ROWS, len(clf.classes_))
            # torch 2.13 raises AssertionError("Guard failed: X.size()[0] == 8").
            with pytest.raises((AssertionError, RuntimeError)):
                fixed(torch.from_numpy(X[:EXAMPLE_ROWS + 1]))


def test_loaded_program_checks_dtype_and_width(fitted):
    clf, X, _ = fitted
    program = round_trip(export(clf.compact_module(), torch.from_numpy(X[:EXAMPLE_ROWS])))
    with torch.no_grad():
        with pytest.raises((AssertionError, RuntimeError)):
            program(torch.from_numpy(X[:5]).double())  # the estimator casts; a program does not
        with pytest.raises((AssertionError, RuntimeError)):
            program(torch.from_numpy(X[:5, :-1]))


def test_one_row_example_cannot_make_the_batch_dynamic(fitted):
    # torch.export treats sizes 0 and 1 as special and fixes them: export from
    # at least 2 example rows.
    clf, X, _ = fitted
    with pytest.raises(Exception, match="batch"):
        export(clf.compact_module(), torch.from_numpy(X[:1]))


def sparse_mlp(sizes, density, seed):
    torch.manual_seed(seed)
    net = MLP(sizes[0], sizes[-1], sizes[1:-1]).eval()
    with torch.no_grad():
        for layer in net.hidden:
            layer.weight.mul_(torch.rand_like(layer.weight) < density)
            layer.bias.normal_(0, 0.5)
    return net


@pytest.mark.parametrize("threshold", [0.0, float("inf")])
def test_exported_compact_ignores_chunking(threshold):
    # CompactMLP splits more than chunk_size rows into chunks in eager mode;
    # the exported program takes all rows at once, with the same logits.
    net = sparse_mlp([20, 32, 16, 4], 0.2, seed=0)
    compact = compact_mlp(net, sparse_threshold=threshold, chunk_size=16)
    program = round_trip(export(compact, torch.randn(EXAMPLE_ROWS, 20)))
    X = torch.randn(100, 20)
    with torch.no_grad():
        assert float((program(X) - net(X)).abs().max()) <= TOL
        assert float((program(X) - compact(X)).abs().max()) <= TOL


def test_exported_compact_with_flatten_and_with_no_hidden_unit_left():
    seq = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3)).eval()
    program = round_trip(export(compact_mlp(seq, sparse_threshold=float("inf")),
                                torch.randn(EXAMPLE_ROWS, 3, 4)))
    X = torch.randn(30, 3, 4)
    with torch.no_grad():
        assert float((program(X) - seq(X)).abs().max()) <= TOL

    dead = sparse_mlp([20, 8, 4], 1.0, seed=1)
    with torch.no_grad():
        dead.hidden[0].weight.zero_()
        dead.hidden[0].bias.fill_(-1.0)  # every hidden unit outputs relu(-1) = 0
    compact = compact_mlp(dead)
    assert len(compact.layers) == 0
    program = round_trip(export(compact, torch.randn(EXAMPLE_ROWS, 20)))
    X = torch.randn(30, 20)
    with torch.no_grad():
        assert float((program(X) - dead(X)).abs().max()) <= TOL


@pytest.mark.parametrize("conv_threshold", [0.0, float("inf")])
def test_exported_compact_convnet_takes_any_batch_and_flat_rows(conv_threshold):
    # Dense conv2d layers, or sparse ones (CSR per kernel tap) with a bias map
    # where a constant channel was folded through zero padding.
    torch.manual_seed(0)
    net = ConvNet(4, (2, 10, 10), n_conv_pairs=2, width=0.125).eval()
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)) and layer is not net.output:
                layer.weight.mul_(torch.rand_like(layer.weight) < 0.3)
                layer.bias.normal_(0, 0.5)
        net.features[0].weight[0] = 0  # channel 0 outputs relu(bias) everywhere
        net.features[0].bias[0] = 1.0
    compact = compact_convnet(net, conv_sparse_threshold=conv_threshold)
    assert compact.features[2].bias.ndim == 3  # the border-corrected bias map
    program = round_trip(export(compact, torch.randn(EXAMPLE_ROWS, 2, 10, 10)))
    X = torch.randn(300, 2, 10, 10)
    with torch.no_grad():
        assert float((program(X) - net(X)).abs().max()) <= TOL
        assert program(X[:3]).shape == (3, 4)
    flat = round_trip(export(compact, torch.randn(EXAMPLE_ROWS, 200)))
    with torch.no_grad():
        assert float((flat(X.flatten(1)) - net(X)).abs().max()) <= TOL
