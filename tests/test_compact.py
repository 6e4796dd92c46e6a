"""Compact tickets compute the same logits as the masked dense network."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

from skimp.compact import CompactMLP, compact_mlp, module_nbytes
from skimp.modules import MLP

from .conftest import fast_clf

TOL = 1e-4


def random_ticket(sizes, density, seed, bias_scale=0.5):
    """An MLP with random masks on its hidden weights and non-zero biases."""
    torch.manual_seed(seed)
    net = MLP(sizes[0], sizes[-1], sizes[1:-1]).eval()
    with torch.no_grad():
        for layer in net.hidden:
            layer.weight.mul_(torch.rand_like(layer.weight) < density)
            # Positive and negative biases, so folded constants matter.
            layer.bias.normal_(0, bias_scale)
        net.output.bias.normal_(0, bias_scale)
    return net


def max_error(compact, net, X):
    with torch.no_grad():
        return float((compact(X) - net(X)).abs().max())


@pytest.mark.parametrize("density", [1.0, 0.5, 0.2, 0.05, 0.02, 0.005])
@pytest.mark.parametrize("threshold", [0.0, 0.25, float("inf")])
def test_logits_equal_at_every_density_and_layout(density, threshold):
    net = random_ticket([40, 64, 32, 16, 5], density, seed=int(density * 1000))
    compact = compact_mlp(net, sparse_threshold=threshold)
    X = torch.randn(300, 40)
    assert max_error(compact, net, X) <= TOL
    layouts = {layer.sparse for layer in compact.layers}
    if threshold == 0.0:
        assert layouts <= {False}
    elif threshold == float("inf"):
        assert layouts <= {True}


def test_sparse_tickets_lose_units():
    net = random_ticket([40, 64, 32, 16, 5], 0.02, seed=1)
    compact = compact_mlp(net)
    widths = [layer.out_features for layer in compact.layers[:-1]]
    assert sum(widths) < 64 + 32 + 16
    assert compact.layers[-1].out_features == 5
    assert compact.nbytes < module_nbytes(net)


def chain_net():
    """Hand-built 3-4-3-2 net exercising every removal rule.

    Layer 1: unit 0 is ordinary; unit 1 has no inputs and bias 2 (a constant
    2 after ReLU); unit 2 has no inputs and bias -1 (constant 0); unit 3 has
    inputs but no outgoing weights. Layer 2: unit 0 reads unit 0; unit 1
    reads only the constant unit 1, so it becomes constant in turn once that
    is folded; unit 2 reads unit 3 only, so it has no inputs left after unit
    3 goes.
    """
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU(),
                        nn.Linear(3, 2)).eval()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0, 0.5],
                                          [0.0, 0.0, 0.0],
                                          [0.0, 0.0, 0.0],
                                          [0.3, 0.7, -1.0]]))
        net[0].bias.copy_(torch.tensor([0.1, 2.0, -1.0, 0.2]))
        net[2].weight.copy_(torch.tensor([[1.5, 0.0, 4.0, 0.0],
                                          [0.0, 3.0, 5.0, 0.0],
                                          [0.0, 0.0, 0.0, 0.0]]))
        net[2].bias.copy_(torch.tensor([-0.2, 0.5, 0.7]))
        net[4].weight.copy_(torch.tensor([[1.0, -1.0, 2.0], [0.5, 2.0, -3.0]]))
        net[4].bias.copy_(torch.tensor([0.3, -0.4]))
    return net


def test_dead_units_propagate_and_constants_fold_into_biases():
    net = chain_net()
    compact = compact_mlp(net, sparse_threshold=0.0)
    # Only layer 1 unit 0 and layer 2 unit 0 carry information.
    assert [layer.out_features for layer in compact.layers] == [1, 1, 2]
    # Layer 2 unit 1 outputs relu(0.5 + 3 * 2) = 6.5 and layer 2 unit 2
    # outputs relu(0.7) = 0.7, whatever the input; both fold into the output.
    expected_bias = torch.tensor([0.3 - 6.5 + 2 * 0.7, -0.4 + 2 * 6.5 - 3 * 0.7])
    assert torch.allclose(compact.layers[-1].bias.ravel(), expected_bias, atol=1e-6)
    X = torch.randn(50, 3)
    assert max_error(compact, net, X) <= 1e-6


def test_no_unit_left_gives_constant_logits():
    net = random_ticket([10, 8, 6, 3], 1.0, seed=0)
    with torch.no_grad():
        net.hidden[1].weight.zero_()
    compact = compact_mlp(net)
    assert len(compact.layers) == 0
    X = torch.randn(20, 10)
    assert max_error(compact, net, X) <= TOL
    assert compact(X).shape == (20, 3)


def test_sequential_with_flatten_dropout_and_no_bias():
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(12, 16, bias=False),
                        nn.ReLU(inplace=True), nn.Sequential(nn.Identity(), nn.Linear(16, 4)))
    net.eval()
    with torch.no_grad():
        net[2].weight.mul_(torch.rand_like(net[2].weight) < 0.3)
    compact = compact_mlp(net)
    X = torch.randn(30, 3, 4)
    assert max_error(compact, net, X) <= TOL


def test_empty_batch_and_float64_input():
    net = random_ticket([8, 16, 3], 0.3, seed=2)
    compact = compact_mlp(net)
    assert compact(torch.zeros(0, 8)).shape == (0, 3)
    X = torch.randn(7, 8, dtype=torch.float64)
    assert max_error(compact, net, X.float()) <= TOL
    assert torch.equal(compact(X), compact(X.float()))


def test_rejects_wrong_input_width():
    compact = compact_mlp(random_ticket([8, 16, 3], 0.3, seed=2))
    with pytest.raises(ValueError, match=r"\(n_rows, 8\)"):
        compact(torch.zeros(4, 9))


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, X):
        return self.fc(X)


class MLPWithSkip(MLP):
    def forward(self, X):
        return super().forward(X) + X[:, :3]


@pytest.mark.parametrize("module, hint", [
    (Custom(), "got Custom"),
    (MLPWithSkip(3, 3, (4,)), "overrides MLP.forward"),
    (nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)), "Tanh where ReLU"),
    (nn.Sequential(nn.Linear(4, 4), nn.ReLU()), "end with a Linear"),
    (nn.Sequential(nn.Conv1d(1, 2, 3)), "Conv1d where Linear"),
    (nn.Sequential(nn.Flatten(0), nn.Linear(4, 2)), "Flatten"),
])
def test_unsupported_modules_raise_a_clear_type_error(module, hint):
    with pytest.raises(TypeError, match="compact_mlp supports") as info:
        compact_mlp(module)
    assert hint in str(info.value)
    assert "level_module" in str(info.value)  # the way out


def test_input_module_is_left_alone():
    net = random_ticket([10, 20, 3], 0.1, seed=3)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    compact_mlp(net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


# -- through the estimator -------------------------------------------------


def assert_compact_matches(clf, X):
    compact = clf.compact_module()
    assert isinstance(compact, CompactMLP) and not compact.training
    assert all(t.device.type == "cpu" for t in compact.buffers())
    Xt = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        reference = clf.level_module(clf.best_level_).cpu()(Xt)
        logits = compact(Xt)
    assert float((logits - reference).abs().max()) <= TOL
    decision = clf.decision_function(X)
    if len(clf.classes_) == 2:
        assert np.abs((logits[:, 1] - logits[:, 0]).numpy() - decision).max() <= 2 * TOL
    else:
        assert np.abs(logits.numpy() - decision).max() <= TOL
    return compact


def test_compact_module_multiclass_two_hidden_layers(digits):
    X, y = digits
    clf = fast_clf(hidden_layer_sizes=(32, 16), max_levels=6, max_epochs=2,
                   selection=lambda path: int(path["level"][-1])).fit(X, y)
    assert clf.sparsity_ > 0.7
    assert_compact_matches(clf, X)


def test_compact_module_binary(binary):
    X, y = binary
    clf = fast_clf(max_levels=4).fit(X, y)
    assert_compact_matches(clf, X)


def test_compact_module_of_a_sequential_module(digits):
    X, y = digits
    module = nn.Sequential(nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 10))
    clf = fast_clf(module=module).fit(X, y)
    assert_compact_matches(clf, X)


def test_compact_module_pickles(digits):
    X, y = digits
    clf = fast_clf(max_levels=3).fit(X, y)
    compact = clf.compact_module()
    clone = pickle.loads(pickle.dumps(compact))
    Xt = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        assert torch.equal(clone(Xt), compact(Xt))
    # ... and so does the estimator after compact_module was called.
    assert np.array_equal(pickle.loads(pickle.dumps(clf)).predict(X), clf.predict(X))


def test_compact_module_needs_a_fitted_estimator():
    with pytest.raises(NotFittedError):
        fast_clf().compact_module()


def test_compact_module_rejects_custom_modules_clearly(digits):
    X, y = digits
    module = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
    clf = fast_clf(module=module, max_levels=1).fit(X, y)
    with pytest.raises(TypeError, match="Tanh where ReLU"):
        clf.compact_module()
