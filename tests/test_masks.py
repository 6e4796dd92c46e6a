import numpy as np
import torch
from torch import nn

from skimp.masks import Mask, prunable_parameter_names
from skimp.pruning import next_mask


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(),
                         nn.Linear(16, 30), nn.ReLU(), nn.Linear(30, 5))


def test_prunable_names_are_linear_and_conv_weights_only():
    net = _net()
    assert prunable_parameter_names(net) == ["0.weight", "3.weight", "5.weight"]
    # Excluding the output layer leaves it dense; biases and BatchNorm never appear.
    assert prunable_parameter_names(net, exclude=["5"]) == ["0.weight", "3.weight"]


def test_summary_counts_survivors_and_dead_units_per_layer():
    mask = Mask({"a.weight": torch.tensor([[True, False, False], [False, False, False]]),
                 "b.weight": torch.ones(4, 2, 3, 3, dtype=torch.bool)})
    table = mask.summary()
    assert list(table) == ["layer", "shape", "n_weights", "n_alive", "density",
                           "dead_inputs", "dead_outputs"]
    assert table["layer"].tolist() == ["a.weight", "b.weight"]
    assert table["shape"].dtype == object and table["shape"][1] == (4, 2, 3, 3)
    assert table["n_alive"].tolist() == [1, 72] and table["n_weights"].tolist() == [6, 72]
    assert table["dead_inputs"].tolist() == [2, 0]
    assert table["dead_outputs"].tolist() == [1, 0]
    assert np.allclose(table["density"], [1 / 6, 1.0])


def test_bits_and_compress_round_trip_exactly():
    net = _net()
    mask = next_mask(net, Mask.ones_like(net, prunable_parameter_names(net)), 0.7)
    back = Mask.from_bits(mask.to_bits())
    assert all(torch.equal(back.tensors[n], mask.tensors[n]) for n in mask.tensors)
    bits = mask.to_bits()
    assert sum(b.nbytes for _, b in bits.values()) <= mask.n_total // 8 + len(bits)

    with torch.no_grad():
        for n, p in net.named_parameters():
            if n in mask.tensors:
                p.mul_(mask.tensors[n])
    state = net.state_dict()
    compact = mask.compress(state)
    assert compact["3.weight"].numel() == int(mask.tensors["3.weight"].sum())
    full = mask.expand(compact)
    assert all(torch.equal(full[k], state[k]) for k in state)
