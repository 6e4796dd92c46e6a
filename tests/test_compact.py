"""Compact tickets compute the same logits as the masked dense network."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from torch import nn

from skimp.compact import (
    CompactConv2d,
    CompactConvNet,
    CompactLinear,
    CompactMLP,
    compact,
    compact_convnet,
    compact_mlp,
    module_nbytes,
)
from skimp.masks import Mask, prunable_parameter_names
from skimp.modules import MLP, ConvNet, ResNet20
from skimp.pruning import next_mask

from ._helpers import fast_clf

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


@pytest.mark.parametrize("chunk_size", [True, 0, 2.5])
@pytest.mark.parametrize("build", [compact, compact_mlp, compact_convnet])
def test_chunk_size_must_be_a_positive_int(build, chunk_size):
    # Not checked, it failed deep in torch at the first forward pass.
    with pytest.raises(ValueError, match="'chunk_size' parameter"):
        build(MLP(4, 3, (8,)), chunk_size=chunk_size)


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


# -- convolutional networks -------------------------------------------------


def random_conv_ticket(density, seed, *, shape=(3, 12, 12), n_classes=5, pairs=2,
                       width=0.25):
    """A ConvNet with random masks on its conv and hidden weights, non-zero biases."""
    torch.manual_seed(seed)
    net = ConvNet(n_classes, shape, n_conv_pairs=pairs, width=width,
                  hidden_layer_sizes=(64, 32)).eval()
    with torch.no_grad():
        for name, layer in net.named_modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                if name != "output":
                    layer.weight.mul_(torch.rand_like(layer.weight) < density)
                layer.bias.normal_(0, 0.5)
    return net


def bn_ticket(density, seed):
    """A Sequential conv net with BatchNorm (random running statistics), pooling
    of several kinds, dropout, a bias-free conv and a leading Unflatten."""
    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Unflatten(1, (2, 11, 11)),
        nn.Conv2d(2, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(inplace=True),
        nn.Conv2d(12, 12, 3, padding=2, dilation=2, bias=False), nn.BatchNorm2d(12),
        nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True), nn.Dropout(0.3),
        nn.Conv2d(12, 16, (3, 1), padding="same"), nn.ReLU(), nn.AvgPool2d(2, padding=1),
        nn.Conv2d(16, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 20), nn.ReLU(), nn.Linear(20, 4))
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, nn.BatchNorm2d):
                layer.running_mean.normal_(0, 0.5)
                layer.running_var.uniform_(0.5, 2.0)
                layer.weight.normal_(1, 0.5)
                layer.bias.normal_(0, 0.5)
            elif isinstance(layer, (nn.Conv2d, nn.Linear)) and layer is not net[-1]:
                layer.weight.mul_(torch.rand_like(layer.weight) < density)
                if layer.bias is not None:
                    layer.bias.normal_(0, 0.5)
    return net.eval()


def conv_layers(compact):
    return [layer for layer in compact.features if isinstance(layer, CompactConv2d)]


@pytest.mark.parametrize("density", [1.0, 0.3, 0.1, 0.03, 0.01])
@pytest.mark.parametrize("threshold", [0.0, 0.1, float("inf")])
def test_conv_logits_equal_at_every_density_and_layout(density, threshold):
    net = random_conv_ticket(density, seed=int(density * 100))
    compact = compact_convnet(net, conv_sparse_threshold=threshold)
    X = torch.randn(50, 3, 12, 12)
    assert max_error(compact, net, X) <= TOL
    assert max_error(compact, net, X.flatten(1)) <= TOL
    layouts = {layer.sparse for layer in conv_layers(compact)}
    if threshold == 0.0:
        assert layouts <= {False}
    elif threshold == float("inf"):
        assert layouts <= {True}
    if density <= 0.03:
        # Channels with no inputs or no readers are gone.
        assert sum(c.out_channels for c in conv_layers(compact)) < 16 + 16 + 32 + 32


@pytest.mark.parametrize("density", [1.0, 0.4, 0.15, 0.05])
@pytest.mark.parametrize("threshold", [0.0, float("inf")])
def test_batchnorm_is_folded_and_logits_equal(density, threshold):
    net = bn_ticket(density, seed=int(density * 100))
    compact = compact_convnet(net, conv_sparse_threshold=threshold)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in compact.modules())
    X = torch.randn(40, 2 * 11 * 11)
    assert max_error(compact, net, X) <= TOL
    # The stride-2 convolution stays dense whatever the threshold.
    assert not conv_layers(compact)[-1].sparse


def padded_chain(constant_bias):
    """Conv 1 -> 3 channels, pool, conv 3 -> 2 with padding, flatten, linear.

    Channel 0 of conv 1 has no incoming weights and outputs relu(bias)
    everywhere; channel 2 has no readers in conv 2.
    """
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(),
                        nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        net[0].weight[0] = 0
        net[0].bias.copy_(torch.tensor([constant_bias, 0.1, -0.2]))
        net[3].weight.zero_()
        net[3].weight[:, 0] = 1.0            # reads the constant channel
        net[3].weight[:, 1, 1, 1] = torch.tensor([0.5, -0.7])
        net[3].bias.copy_(torch.tensor([0.3, -0.1]))
    return net


def test_constant_channel_folds_with_its_border_correction():
    net = padded_chain(constant_bias=2.0)
    compact = compact_convnet(net, input_shape=(1, 8, 8))
    first, second = conv_layers(compact)
    assert first.out_channels == 1 and second.in_channels == 1
    # Channel 0 is 2 everywhere; conv 2 sums its 3x3 taps of ones over the 4x4
    # pooled image with zero padding: 9 taps inside, 6 on edges, 4 at corners.
    taps = torch.tensor([[4, 6, 6, 4], [6, 9, 9, 6], [6, 9, 9, 6], [4, 6, 6, 4]],
                        dtype=torch.float32)
    assert second.bias.shape == (2, 4, 4)
    assert torch.allclose(second.bias[0], 0.3 + 2.0 * taps)
    assert torch.allclose(second.bias[1], -0.1 + 2.0 * taps)
    X = torch.randn(20, 1, 8, 8)
    assert max_error(compact, net, X) <= 1e-5


def test_zero_constant_channel_leaves_a_plain_bias():
    net = padded_chain(constant_bias=-1.0)  # relu(-1) = 0 everywhere
    compact = compact_convnet(net, input_shape=(1, 8, 8))
    second = conv_layers(compact)[1]
    assert second.in_channels == 1 and second.bias.shape == (2,)
    assert max_error(compact, net, torch.randn(20, 1, 8, 8)) <= 1e-5


def test_channel_unread_by_the_linear_layer_is_removed():
    net = random_conv_ticket(1.0, seed=4, pairs=1)  # conv widths 16, 16
    with torch.no_grad():
        # Channel 5 of the last conv: its 6 x 6 block of Flatten's columns.
        net.hidden[0].weight.view(-1, 16, 36)[:, 5] = 0
    compact = compact_convnet(net)
    assert [c.out_channels for c in conv_layers(compact)] == [16, 15]
    assert compact.head[0].in_features == 15 * 36
    assert max_error(compact, net, torch.randn(30, 3, 12, 12)) <= TOL


def test_dead_layer_gives_constant_logits():
    net = random_conv_ticket(1.0, seed=5)
    with torch.no_grad():
        net.features[5].weight.zero_()  # conv 3: every channel constant
    compact = compact_convnet(net)
    assert len(compact.head) == 0 and len(compact.features) == 0
    X = torch.randn(10, 3, 12, 12)
    assert compact(X).shape == (10, 5)
    assert max_error(compact, net, X) <= TOL


def test_conv_empty_batch_float64_chunks_and_pickle():
    net = random_conv_ticket(0.05, seed=6)
    compact = compact_convnet(net)
    assert compact.image_chunk < 60 < compact.chunk_size
    compact.chunk_size = 16  # the fully connected part in several chunks too
    assert compact(torch.zeros(0, 3, 12, 12)).shape == (0, 5)
    X = torch.randn(60, 3, 12, 12, dtype=torch.float64)
    assert max_error(compact, net, X.float()) <= TOL
    assert torch.equal(compact(X), compact(X.float()))
    clone = pickle.loads(pickle.dumps(compact))
    assert torch.equal(clone(X), compact(X))
    assert compact.nbytes < module_nbytes(net)


def test_conv_input_module_is_left_alone():
    net = bn_ticket(0.2, seed=7)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    compact_convnet(net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_compact_conv_rejects_wrong_input_shape():
    compact = compact_convnet(random_conv_ticket(0.3, seed=8))
    with pytest.raises(ValueError, match=r"\(3, 12, 12\).*\(n_samples, 432\)"):
        compact(torch.zeros(4, 3, 12, 13))


@pytest.mark.parametrize("input_shape", [None, (432,), (3, 12, 12), [3, 12, 12]])
def test_image_shape_from_the_module_or_the_fitted_rows(input_shape):
    net = random_conv_ticket(0.3, seed=9)
    compact = compact_convnet(net, input_shape=input_shape)
    assert compact.input_shape == (3, 12, 12)


@pytest.mark.parametrize("module, input_shape, match", [
    (random_conv_ticket(0.3, seed=9), (431,), "431 columns"),
    (random_conv_ticket(0.3, seed=9), (3, 12, 11), "disagrees"),
    (random_conv_ticket(0.3, seed=9), (12, 12), r"\(channels, height, width\)"),
    (padded_chain(1.0), None, "needs the image shape"),
    (padded_chain(1.0), (2, 8, 8), "2 channels but the first Conv2d takes 1"),
    (padded_chain(1.0), (1, 10, 10), "first Linear layer takes 32"),
])
def test_missing_or_wrong_image_shape_is_explained(module, input_shape, match):
    with pytest.raises(ValueError, match=match):
        compact_convnet(module, input_shape=input_shape)


class ConvNetWithSkip(ConvNet):
    def forward(self, X):
        return super().forward(X) * 2


@pytest.mark.parametrize("module, hint", [
    (ResNet20(3, width=2), "ResNet20 is residual"),
    (ConvNetWithSkip(3, (1, 8, 8), width=0.125), "overrides ConvNet.forward"),
    (nn.Sequential(nn.Conv2d(2, 4, 3, groups=2), nn.Flatten(), nn.Linear(4, 2)), "groups=2"),
    (nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, padding_mode="reflect"), nn.Flatten(),
                   nn.Linear(4, 2)), "padding_mode='reflect'"),
    (nn.Sequential(nn.Conv2d(1, 4, 3), nn.Tanh(), nn.Flatten(), nn.Linear(4, 2)),
     "Tanh where Conv2d, BatchNorm2d, ReLU, pooling or Flatten"),
    (nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2), nn.Tanh(),
                   nn.Linear(2, 2)), "Tanh where ReLU"),
    (nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4, 2), nn.ReLU()),
     "end with a Linear"),
    (nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4, track_running_stats=False),
                   nn.Flatten(), nn.Linear(4, 2)), "without running statistics"),
    (nn.Sequential(nn.Conv2d(1, 4, 2, padding="same"), nn.Flatten(), nn.Linear(4, 2)),
     "even kernel"),
    (nn.Sequential(nn.Linear(4, 4), nn.Conv2d(1, 4, 3)), "Linear where Conv2d"),
])
def test_unsupported_conv_modules_raise_a_clear_type_error(module, hint):
    with pytest.raises(TypeError, match="compact_convnet supports") as info:
        compact(module, input_shape=(1, 3, 3))
    assert hint in str(info.value)
    assert "level_module" in str(info.value)


# -- tickets pruned as IMP prunes them ----------------------------------------


def imp_pruned(net, density, scope):
    """``net`` with magnitude masks of ``scope`` down to ``density``, biases non-zero."""
    names = prunable_parameter_names(net, getattr(net, "unpruned_layers", ()))
    mask = Mask.ones_like(net, names)
    while mask.density > density:
        mask = next_mask(net, mask, 0.5, scope=scope)
    with torch.no_grad():
        for name, param in net.named_parameters():
            if name in mask.tensors:
                param.mul_(mask.tensors[name])
            elif name.endswith("bias"):
                param.normal_(0, 0.5)
    return net.eval()


def mlp_net(seed):
    torch.manual_seed(seed)
    return MLP(40, 5, (64, 32, 16))


def conv_net(seed):
    torch.manual_seed(seed)
    return ConvNet(5, (3, 12, 12), width=0.25, hidden_layer_sizes=(64, 32))


@pytest.mark.parametrize("make, X", [(mlp_net, torch.randn(200, 40)),
                                     (conv_net, torch.randn(40, 3 * 12 * 12)),
                                     (lambda seed: bn_ticket(1.0, seed), torch.randn(40, 242))],
                         ids=["mlp", "convnet", "sequential-bn"])
@pytest.mark.parametrize("scope", ["global", "layerwise"])
@pytest.mark.parametrize("density", [0.5, 0.12, 0.03, 0.008])
def test_logits_equal_for_global_and_layerwise_imp_masks(make, X, scope, density):
    net = imp_pruned(make(int(density * 1000)), density, scope)
    ticket = compact(net)
    assert max_error(ticket, net, X) <= TOL
    if density < 0.1:
        assert ticket.nbytes < module_nbytes(net)


def test_compact_dispatches_on_the_kind_of_network():
    assert isinstance(compact(random_ticket([8, 16, 3], 0.3, seed=2)), CompactMLP)
    assert isinstance(compact(random_conv_ticket(0.3, seed=2)), CompactConvNet)
    with pytest.raises(TypeError, match="compact_mlp supports.*got Custom"):
        compact(Custom())


def test_compact_conv_ticket_of_the_estimator(digits):
    X, y = digits
    clf = fast_clf(module=ConvNet, module__n_classes=10, module__input_shape=(1, 8, 8),
                   module__width=0.125, max_levels=8, max_epochs=1,
                   selection=lambda path: int(path["level"][-1])).fit(X, y)
    assert clf.sparsity_ > 0.8
    ticket = compact(clf.level_module(clf.best_level_), input_shape=X.shape[1:])
    assert isinstance(ticket, CompactConvNet)
    with torch.no_grad():
        logits = ticket(torch.as_tensor(X, dtype=torch.float32))
    assert np.abs(logits.numpy() - clf.decision_function(X)).max() <= TOL


# -- threads: a compact ticket runs at one thread, and leaves torch's alone --

def _thread_counts_seen(module, X):
    seen = []
    layer = next(m for m in module.modules() if isinstance(m, CompactLinear))
    handle = layer.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    try:
        module(X)
    finally:
        handle.remove()
    return set(seen)


def test_the_forward_pass_runs_at_its_own_thread_count():
    from skimp.training import torch_threads

    torch.manual_seed(0)
    module = compact(MLP(20, 3, (32, 16)).eval())
    X = torch.rand(600, 20)
    assert module.n_threads == 1
    with torch_threads(2):
        assert _thread_counts_seen(module, X) == {1}
        assert torch.get_num_threads() == 2  # restored
        module.n_threads = None
        assert _thread_counts_seen(module, X) == {2}


def test_thread_count_survives_concurrent_calls_from_a_thread_pool():
    from concurrent.futures import ThreadPoolExecutor

    from skimp.training import torch_threads

    torch.manual_seed(0)
    module = compact(MLP(20, 3, (32, 16)).eval())
    X = torch.rand(3000, 20)
    expected = module(X)
    with torch_threads(2), ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda _: module(X), range(32)))
        assert torch.get_num_threads() == 2
    assert all(torch.equal(out, expected) for out in outputs)


def test_a_module_pickled_without_n_threads_runs_as_before():
    torch.manual_seed(0)
    module = compact(MLP(20, 3, (32,)).eval())
    del module.n_threads  # as unpickled from before the attribute existed
    X = torch.rand(5, 20)
    assert module(X).shape == (5, 3)
