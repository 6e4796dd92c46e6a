import numpy as np
import pytest
import torch
from torch import nn

from skimp.masks import Mask, prunable_parameter_names


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                         nn.Linear(16, 30), nn.ReLU(), nn.Linear(30, 5))


def test_prunable_names_are_linear_and_conv_weights_only():
    net = _net()
    assert prunable_parameter_names(net) == ["0.weight", "3.weight", "5.weight"]
    # Excluding the output layer leaves it dense; biases and BatchNorm never appear.
    assert prunable_parameter_names(net, exclude=["5"]) == ["0.weight", "3.weight"]


def test_prune_removes_exact_fraction_of_alive_weights_globally():
    net = _net()
    names = prunable_parameter_names(net)
    mask = Mask.ones_like(net, names)
    n_total = mask.n_total
    pruned = mask.prune(net, 0.2)
    assert pruned.n_alive == n_total - round(0.2 * n_total)
    # Global: every removed |w| is <= every kept |w|, across all layers.
    params = dict(net.named_parameters())
    kept = torch.cat([params[n].abs()[pruned.tensors[n]] for n in names])
    removed = torch.cat([params[n].abs()[~pruned.tensors[n]] for n in names])
    assert removed.max() <= kept.min()
    # The original mask is left untouched.
    assert mask.n_alive == n_total


def test_density_after_levels_follows_geometric_schedule_and_shrinks():
    net = _net()
    mask = Mask.ones_like(net, prunable_parameter_names(net))
    for level in range(1, 15):
        # Fresh weights each level, as after retraining.
        with torch.no_grad():
            for p in net.parameters():
                p.normal_()
        new = mask.prune(net, 0.2)
        assert new <= mask and not mask <= new
        mask = new
        assert abs(mask.density - 0.8 ** level) <= level / mask.n_total


def test_prune_never_revives_dead_weights_even_if_they_grow():
    net = _net()
    names = prunable_parameter_names(net)
    mask = Mask.ones_like(net, names).prune(net, 0.5)
    with torch.no_grad():  # make the dead weights the largest ones
        for n, p in net.named_parameters():
            if n in names:
                p[~mask.tensors[n]] = 1e6
    assert mask.prune(net, 0.5) <= mask


def test_apply_zeroes_exactly_the_pruned_weights():
    net = _net()
    names = prunable_parameter_names(net)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    mask = Mask.ones_like(net, names).prune(net, 0.3)
    mask.apply_(net)
    for n, p in net.named_parameters():
        if n in names:
            keep = mask.tensors[n]
            assert torch.all(p[~keep] == 0)
            assert torch.equal(p[keep], before[n][keep])
        else:
            assert torch.equal(p, before[n])


def test_bits_and_compress_round_trip_exactly():
    net = _net()
    mask = Mask.ones_like(net, prunable_parameter_names(net)).prune(net, 0.7)
    back = Mask.from_bits(mask.to_bits())
    assert all(torch.equal(back.tensors[n], mask.tensors[n]) for n in mask.tensors)
    bits = mask.to_bits()
    assert sum(b.nbytes for _, b in bits.values()) <= mask.n_total // 8 + len(bits)

    mask.apply_(net)
    state = net.state_dict()
    compact = mask.compress(state)
    assert compact["3.weight"].numel() == int(mask.tensors["3.weight"].sum())
    full = mask.expand(compact)
    assert all(torch.equal(full[k], state[k]) for k in state)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_prune_count_for_several_fractions(fraction):
    net = _net(1)
    mask = Mask.ones_like(net, prunable_parameter_names(net)).prune(net, 0.5)
    new = mask.prune(net, fraction)
    assert mask.n_alive - new.n_alive == int(round(fraction * mask.n_alive))
    assert np.isclose(new.density, new.n_alive / new.n_total)
