"""IMP semantics, checked on the actual weights."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skimp.imp import ImpRunner, select_level
from skimp.masks import prunable_parameter_names
from skimp.modules import MLP
from skimp.training import MaskedNet


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16, dtype=torch.float32)
    y = torch.tensor(y)
    return X[:800], y[:800], X[800:1000], y[800:1000]


def make_runner(data, *, seed=0, max_epochs=3, rewind_epoch=0, max_levels=3,
                patience=None, lr=0.1, **optimizer_params):
    torch.manual_seed(seed)
    net = MaskedNet(
        module=MLP, module__n_features=64, module__n_classes=10,
        module__hidden_layer_sizes=(32, 16), criterion=torch.nn.CrossEntropyLoss,
        lr=lr, max_epochs=max_epochs, batch_size=64, classes=list(range(10)),
        iterator_train__generator=torch.Generator().manual_seed(seed),
        **{f"optimizer__{k}": v for k, v in optimizer_params.items()},
    ).initialize()
    names = prunable_parameter_names(net.module_, MLP.unpruned_layers)
    return ImpRunner(net, names, data, max_epochs=max_epochs, rewind_epoch=rewind_epoch,
                     pruning_fraction=0.2, max_levels=max_levels, patience=patience)


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_output_layer_and_biases_are_not_prunable(data):
    runner = make_runner(data)
    assert set(runner.mask.tensors) == {"hidden.0.weight", "hidden.1.weight"}


def test_rewind_restores_survivors_bit_exactly_and_resets_optimizer(data):
    runner = make_runner(data, momentum=0.9)
    theta0 = snapshot(runner.net.module_)
    runner.prepare_level(0)
    runner.train_level(0)
    assert len(runner.net.optimizer_.state) > 0  # momentum buffers exist
    trained = snapshot(runner.net.module_)
    assert not torch.equal(trained["hidden.0.weight"], theta0["hidden.0.weight"])

    runner.prepare_level(1)
    after = snapshot(runner.net.module_)
    for name, value in after.items():
        keep = runner.mask.tensors.get(name)
        if keep is None:  # biases and the output layer rewind whole
            assert torch.equal(value, theta0[name])
        else:
            assert torch.equal(value[keep], theta0[name][keep])
            assert torch.all(value[~keep] == 0)
    assert len(runner.net.optimizer_.state) == 0


def test_pruned_weights_stay_zero_through_every_step_with_momentum_and_decay(data):
    runner = make_runner(data, momentum=0.9, weight_decay=0.05, max_levels=2)
    runner.prepare_level(0)
    runner.train_level(0)
    runner.prepare_level(1)
    net, mask = runner.net, runner.mask
    params = dict(net.module_.named_parameters())
    steps = []
    original_step = net.train_step

    def checked_step(batch, **kw):
        out = original_step(batch, **kw)
        steps.append(all(bool(torch.all(params[n][~k] == 0)) for n, k in mask.tensors.items()))
        return out

    net.train_step = checked_step
    runner.train_level(1)
    assert len(steps) == 3 * 13 and all(steps)
    # Momentum buffers of pruned weights are nonzero, so it is the mask
    # re-applied after each step that keeps them at zero.
    buf = net.optimizer_.state[params["hidden.0.weight"]]["momentum_buffer"]
    assert buf[~mask.tensors["hidden.0.weight"]].abs().sum() > 0


def test_late_rewinding_restores_weights_after_epoch_k(data):
    runner = make_runner(data, seed=1, max_epochs=4, rewind_epoch=2)
    runner.prepare_level(0)
    runner.train_level(0)

    # The same seed trained for exactly 2 epochs gives the rewind point.
    reference = make_runner(data, seed=1, max_epochs=4)
    reference.prepare_level(0)
    reference.net.fit_loop(data[0], data[1], epochs=2)
    theta2 = snapshot(reference.net.module_)
    assert all(torch.equal(runner.rewind_state[k], theta2[k]) for k in theta2)

    runner.prepare_level(1)
    for name, value in snapshot(runner.net.module_).items():
        keep = runner.mask.tensors.get(name, torch.ones_like(value, dtype=torch.bool))
        assert torch.equal(value[keep], theta2[name][keep])


def test_run_path_density_schedule_and_monotone_masks(data):
    runner = make_runner(data, max_levels=4)
    best = runner.run()
    path = {k: np.asarray(v) for k, v in runner.path.items()}
    assert path["level"].tolist() == [0, 1, 2, 3, 4]
    n_total = runner.states[0].mask.n_total
    assert np.allclose(path["density"], 0.8 ** path["level"], atol=4 / n_total)
    assert np.all(np.diff(path["n_params"]) < 0)
    masks = [s.mask for s in runner.states]
    assert all(later <= earlier for earlier, later in zip(masks, masks[1:]))
    assert best == select_level(runner.path, "accuracy")
    # The stored weights of each level respect its mask.
    for state in runner.states:
        weights = state.state_dict()
        for name, keep in state.mask.tensors.items():
            assert torch.all(weights[name][~keep] == 0)


def test_select_level_rules():
    path = {"level": np.arange(4), "val_accuracy": np.array([0.5, 0.7, 0.7, 0.6]),
            "val_loss": np.array([1.0, 0.8, 0.9, 0.8])}
    assert select_level(path, "accuracy") == 2  # tie goes to the sparser level
    assert select_level(path, "loss") == 3
    assert select_level(path, lambda p: 1) == 1
    with pytest.raises(ValueError, match="selection callable returned 9"):
        select_level(path, lambda p: 9)


def test_patience_stops_early(data):
    runner = make_runner(data, max_levels=10, patience=1)
    runner.selection = lambda path: 0  # level 0 stays best forever
    runner.run()
    assert runner.path["level"] == [0, 1]


def test_divergence_names_level_epoch_and_learning_rate(data):
    runner = make_runner(data, lr=1e12)
    with pytest.raises(ValueError, match=r"level 0, epoch 1:.*lr=1e\+12"):
        runner.run()
