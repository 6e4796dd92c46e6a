"""The image networks: shapes, parameter counts, prunable layers, bad input."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from skimp import PrunedNetClassifier
from skimp.masks import prunable_parameter_names
from skimp.modules import MLP, ConvNet, ResNet20


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def n_weights(module, kind=(nn.Conv2d, nn.Linear)):
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, kind))


# -- shapes -----------------------------------------------------------------


@pytest.mark.parametrize("make, shape", [
    (lambda: ConvNet(7, (1, 28, 28)), (1, 28, 28)),
    (lambda: ConvNet(7, (3, 32, 32), n_conv_pairs=3, width=0.25), (3, 32, 32)),
    (lambda: ConvNet(7, (2, 9, 13), n_conv_pairs=1, hidden_layer_sizes=()), (2, 9, 13)),
    (lambda: ResNet20(7, width=4), (3, 32, 32)),
    (lambda: ResNet20(7, (1, 8, 8), width=2), (1, 8, 8)),
])
def test_flat_rows_and_images_give_the_same_logits(make, shape):
    torch.manual_seed(0)
    net = make().eval()
    images = torch.randn(5, *shape)
    with torch.no_grad():
        logits = net(images)
        flat = net(images.flatten(1))
    assert logits.shape == (5, 7)
    assert torch.equal(logits, flat)
    assert logits.std() > 0  # not a constant network


@pytest.mark.parametrize("net", [ConvNet(3, (1, 8, 8), width=0.125),
                                 ResNet20(3, (1, 8, 8), width=2)])
@pytest.mark.parametrize("bad_shape", [(4, 63), (4, 65), (4, 1, 8, 9), (4, 2, 8, 8),
                                       (4, 8, 8), (64,)])
def test_wrong_input_shape_names_the_expected_one(net, bad_shape):
    with pytest.raises(ValueError, match=r"\(1, 8, 8\).*\(n_samples, 64\)") as info:
        net(torch.zeros(bad_shape))
    assert str(bad_shape) in str(info.value)


# -- parameter counts -------------------------------------------------------


def test_resnet20_has_openlth_parameter_count():
    # OpenLTH's models/test/test_cifar_resnet.py pins cifar_resnet_20 at 272,474.
    assert n_params(ResNet20(10)) == 272_474
    # 8 classes fewer: 8 output units of 64 weights and a bias each.
    assert n_params(ResNet20(2)) == 272_474 - 8 * 65


def test_resnet20_structure():
    net = ResNet20(10)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    # 1 + 18 3x3 convolutions (the "20" counts the output layer) + 2 projections.
    assert sum(c.kernel_size == (3, 3) for c in convs) == 19
    assert [c.stride for c in convs if c.kernel_size == (1, 1)] == [(2, 2), (2, 2)]
    assert all(c.bias is None for c in convs)
    assert [b.conv1.out_channels for b in net.blocks] == [16] * 3 + [32] * 3 + [64] * 3
    assert net.fc.in_features == 64


@pytest.mark.parametrize("pairs, weights, conv_weights", [
    (1, 4_300_992, 38_592),     # paper: 4.3M and 38K
    (2, 2_425_024, 259_776),    # paper: 2.4M and 260K
    (3, 2_261_184, 1_144_512),  # paper: 1.7M (does not add up) and 1.1M
])
def test_convnet_weight_counts_on_cifar10(pairs, weights, conv_weights):
    net = ConvNet(10, (3, 32, 32), n_conv_pairs=pairs)
    assert n_weights(net) == weights
    assert n_weights(net, nn.Conv2d) == conv_weights
    assert [m.out_channels for m in net.features if isinstance(m, nn.Conv2d)] == \
        [c for c in (64, 128, 256)[:pairs] for _ in range(2)]
    assert [m.out_features for m in net.modules() if isinstance(m, nn.Linear)] == [256, 256, 10]


def test_convnet_width_scales_channels_and_hidden_layers():
    net = ConvNet(10, (3, 32, 32), n_conv_pairs=2, width=0.25)
    assert [m.out_channels for m in net.features if isinstance(m, nn.Conv2d)] == [16, 16, 32, 32]
    assert [m.out_features for m in net.modules() if isinstance(m, nn.Linear)] == [64, 64, 10]
    assert net.hidden[0].in_features == 32 * 8 * 8
    tiny = ConvNet(2, (1, 4, 4), n_conv_pairs=1, width=0.001, hidden_layer_sizes=(5,))
    assert [m.out_channels for m in tiny.features if isinstance(m, nn.Conv2d)] == [1, 1]


# -- initialisation ---------------------------------------------------------


def test_initialisation_is_kaiming_normal_with_zero_biases():
    torch.manual_seed(0)
    net = ConvNet(10, (3, 32, 32), n_conv_pairs=2)
    conv = net.features[7]  # 128 x 128 x 3 x 3, fan-in 1152
    assert abs(conv.weight.std().item() - (2 / 1152) ** 0.5) < 0.002
    assert all(float(m.bias.detach().abs().max()) == 0 for m in net.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear)))
    resnet = ResNet20(10)
    bns = [m for m in resnet.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(0 <= bn.weight.min() and bn.weight.max() < 1 and not bn.bias.any() for bn in bns)
    assert abs(resnet.blocks[8].conv2.weight.std().item() - (2 / 576) ** 0.5) < 0.003


# -- prunable layers --------------------------------------------------------


def test_convnet_keeps_only_the_output_layer_dense():
    net = ConvNet(10, (1, 28, 28), n_conv_pairs=2)
    assert net.unpruned_layers == ("output",)
    assert prunable_parameter_names(net, net.unpruned_layers) == [
        "features.0.weight", "features.2.weight", "features.5.weight", "features.7.weight",
        "hidden.0.weight", "hidden.2.weight"]


def test_resnet20_prunes_every_conv_and_the_output_layer_as_openlth():
    net = ResNet20(10)
    names = prunable_parameter_names(net, net.unpruned_layers)
    assert len(names) == 1 + 18 + 2 + 1
    assert names[0] == "conv.weight" and names[-1] == "fc.weight"
    assert "blocks.3.shortcut.0.weight" in names
    assert not any("bn" in name or "bias" in name for name in names)


# -- the layer view ---------------------------------------------------------


@pytest.mark.parametrize("make, n_inputs", [
    (lambda: MLP(6, 3, (8, 5)), 6),
    (lambda: MLP(6, 3, ()), 6),
    (lambda: ConvNet(3, (2, 8, 8), n_conv_pairs=2, width=0.125), 128),
    (lambda: ConvNet(3, (1, 6, 6), n_conv_pairs=1, hidden_layer_sizes=()), 36),
])
def test_layer_sequence_computes_the_forward_and_names_the_submodules(make, n_inputs):
    torch.manual_seed(0)
    net = make().eval()
    steps = net.layer_sequence()
    modules = dict(net.named_modules())
    for name, step in steps:
        assert name is None or modules[name] is step
    # Every prunable layer is a named step, in module order.
    named = [f"{name}.weight" for name, step in steps if isinstance(step, (nn.Linear, nn.Conv2d))]
    assert named == prunable_parameter_names(net)
    assert steps[-1] == ("output", net.output)
    X = torch.randn(4, n_inputs)
    with torch.no_grad():
        assert torch.equal(nn.Sequential(*(step for _, step in steps))(X), net(X))


def test_resnet20_says_why_it_has_no_layer_sequence():
    with pytest.raises(TypeError, match="ResNet20 is residual"):
        ResNet20(3, width=2).layer_sequence()


# -- bad arguments ----------------------------------------------------------


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_classes=0), "n_classes"),
    (dict(n_classes=2.5), "n_classes"),
    (dict(n_classes=2, input_shape=(28, 28)), r"input_shape.*\(channels, height, width\)"),
    (dict(n_classes=2, input_shape=(1, 0, 28)), "input_shape"),
    (dict(n_classes=2, input_shape=5), "input_shape"),
    (dict(n_classes=2, n_conv_pairs=0), "n_conv_pairs"),
    (dict(n_classes=2, width=0), "width"),
    (dict(n_classes=2, width="wide"), "width"),
    (dict(n_classes=2, hidden_layer_sizes=(256, 0)), "hidden_layer_sizes"),
    (dict(n_classes=2, hidden_layer_sizes=256), "hidden_layer_sizes"),
    (dict(n_classes=2, input_shape=(1, 8, 8), n_conv_pairs=4), r"8x8 .* 4 times.*fewer"),
])
def test_convnet_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConvNet(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_classes=2, width=0), "width"),
    (dict(n_classes=2, width=1.5), "width"),
    (dict(n_classes=2, input_shape=(32, 32, 3, 1)), "input_shape"),
])
def test_resnet20_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNet20(**kwargs)


@pytest.mark.parametrize("kwargs, name", [
    (dict(n_classes=True), "n_classes"),
    (dict(n_classes=2, input_shape=(1, True, 8)), "input_shape"),
    (dict(n_classes=2, n_conv_pairs=np.True_), "n_conv_pairs"),
    (dict(n_classes=2, width=True), "width"),
    (dict(n_classes=2, hidden_layer_sizes=(8, False)), "hidden_layer_sizes"),
    (dict(n_classes=2, hidden_layer_sizes="88"), "hidden_layer_sizes"),
])
def test_convnet_refuses_booleans_and_strings_naming_the_parameter(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}' parameter of ConvNet"):
        ConvNet(**kwargs)


def test_image_networks_accept_numpy_integers_and_lists():
    net = ConvNet(np.int64(3), [1, 8, 8], n_conv_pairs=np.int32(1), width=0.125,
                  hidden_layer_sizes=np.array([4]))
    assert net.input_shape == (1, 8, 8) and net.output.out_features == 3
    assert ResNet20(2, (1, 8, 8), width=np.int64(2)).input_shape == (1, 8, 8)


# -- with the estimator -----------------------------------------------------


@pytest.fixture(scope="module")
def digits_images():
    X, y = load_digits(return_X_y=True)
    return (X / 16).astype(np.float32), y


def test_convnet_fits_flat_digits_in_the_estimator(digits_images):
    X, y = digits_images
    clf = PrunedNetClassifier(module=ConvNet, module__n_classes=10,
                              module__input_shape=(1, 8, 8), module__width=0.125,
                              max_epochs=1, max_levels=1, random_state=0).fit(X, y)
    assert clf.imp_path_["level"].tolist() == [0, 1]
    assert clf.predict_proba(X[:5]).shape == (5, 10)
    assert clf.score(X, y) > 0.3  # chance is 0.1
    # 20% of the convolution and hidden weights were pruned, none of the output's.
    ticket = clf.level_module(1)
    names = prunable_parameter_names(ticket, ticket.unpruned_layers)
    weights = dict(ticket.named_parameters())
    pruned = sum(int((weights[n] == 0).sum()) for n in names)
    assert pruned == round(0.2 * sum(weights[n].numel() for n in names))
    assert pruned > 0 and not (ticket.output.weight == 0).any()


def test_convnet_in_a_pipeline_after_a_scaler(digits_images):
    X, y = digits_images
    pipe = make_pipeline(StandardScaler(), PrunedNetClassifier(
        module=ConvNet, module__n_classes=10, module__input_shape=(1, 8, 8),
        module__n_conv_pairs=1, module__width=0.125, max_epochs=1, max_levels=0,
        random_state=0))
    assert pipe.fit(X, y).predict(X[:3]).shape == (3,)


def test_resnet20_fits_images_in_the_estimator(digits_images):
    X, y = digits_images
    clf = PrunedNetClassifier(module=ResNet20, module__n_classes=10,
                              module__input_shape=(1, 8, 8), module__width=2, max_epochs=1,
                              max_levels=1, batch_size=64, random_state=0,
                              iterator_train__drop_last=True).fit(X[:600].reshape(-1, 1, 8, 8),
                                                                  y[:600])
    assert clf.predict(X[:4].reshape(-1, 1, 8, 8)).shape == (4,)
    assert float((clf.level_module(1).fc.weight == 0).float().mean()) > 0


def test_mlp_is_unchanged():
    assert MLP.unpruned_layers == ("output",)
    assert n_params(MLP(784, 10, (300, 100))) == 266_610


def test_grid_search_over_convnet_width(digits):
    from sklearn.model_selection import GridSearchCV

    X, y = digits
    images = X.reshape(-1, 1, 8, 8).astype(np.float32)
    search = GridSearchCV(
        PrunedNetClassifier(module=ConvNet, module__n_conv_pairs=1,
                            module__hidden_layer_sizes=(16,), max_epochs=1, max_levels=1,
                            random_state=0),
        {"module__width": [0.0625, 0.125]}, cv=2, error_score="raise").fit(images, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    best = search.best_estimator_
    assert best.net_.module_.input_shape == (1, 8, 8)  # filled from the 4-D X
    first_conv = next(m for m in best.net_.module_.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.out_channels == round(64 * search.best_params_["module__width"])
