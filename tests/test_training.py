"""The lean skorch net: its batch iterator, its factory and its pickling."""

import os
import pickle

import numpy as np
import pytest
import torch

from skimp.masks import Mask
from skimp.modules import MLP
from skimp.pruning import next_mask
from skimp.training import MaskedNet, TensorBatches, build_net, torch_threads
from tests._helpers import fast_clf


def batches(n=10, batch_size=4, **kwargs):
    X = torch.arange(n, dtype=torch.float32)[:, None]
    y = torch.arange(n)
    return TensorBatches(torch.utils.data.TensorDataset(X, y), batch_size, **kwargs)


def test_unshuffled_batches_are_the_rows_in_order():
    it = batches()
    got = list(it)
    assert len(it) == len(got) == 3
    assert [b[1].tolist() for b in got] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(torch.equal(Xb[:, 0].long(), yb) for Xb, yb in got)


def test_batches_without_y_yield_none_for_it():
    X = torch.arange(5, dtype=torch.float32)[:, None]
    it = TensorBatches(torch.utils.data.TensorDataset(X), 2)
    got = list(it)
    assert [b[0][:, 0].tolist() for b in got] == [[0, 1], [2, 3], [4]]
    assert all(b[1] is None for b in got)
    shuffled = TensorBatches(torch.utils.data.TensorDataset(X), 2, shuffle=True,
                             generator=torch.Generator().manual_seed(0))
    assert sorted(torch.cat([b[0] for b in shuffled])[:, 0].tolist()) == [0, 1, 2, 3, 4]


def test_shuffled_batches_are_a_seeded_permutation():
    first = [b[1] for b in batches(shuffle=True, generator=torch.Generator().manual_seed(3))]
    again = [b[1] for b in batches(shuffle=True, generator=torch.Generator().manual_seed(3))]
    assert sorted(torch.cat(first).tolist()) == list(range(10))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert torch.cat(first).tolist() != list(range(10))


@pytest.mark.parametrize("shuffle", [False, True])
def test_drop_last_skips_the_short_batch(shuffle):
    it = batches(shuffle=shuffle, drop_last=True, generator=torch.Generator().manual_seed(0))
    got = [b[1] for b in it]
    assert len(it) == len(got) == 2
    assert all(len(b) == 4 for b in got)
    assert len(set(torch.cat(got).tolist())) == 8
    # An exact multiple loses nothing.
    assert len(list(batches(n=8, drop_last=True))) == 2


def test_build_net_seeds_the_batch_order_with_its_own_generator():
    nets = [build_net(MLP, n_classes=3, random_state=seed, max_epochs=1, batch_size=4,
                      lr=0.1, module__n_features=2, module__n_classes=3) for seed in (0, 0, 1)]

    def first_batch(net):
        X = torch.arange(20, dtype=torch.float32).reshape(10, 2)
        it = net.get_iterator(net.get_dataset(X, torch.arange(10) % 3), training=True)
        return next(iter(it))[1]

    state = torch.get_rng_state()
    first = [first_batch(net) for net in nets]
    assert torch.equal(first[0], first[1])
    assert not torch.equal(first[0], first[2])
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    target = 1 if before != 1 else 2
    with torch_threads(target):
        assert torch.get_num_threads() == target
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_masked_net_pickles_with_its_mask(digits):
    X, y = digits
    torch.manual_seed(0)
    net = build_net(MLP, n_classes=10, random_state=0, max_epochs=1, batch_size=64, lr=0.1,
                    module__n_features=64, module__n_classes=10)
    mask = next_mask(net.module_, Mask.ones_like(net.module_, ["hidden.0.weight"]), 0.5)
    net.set_mask(mask)
    clone = pickle.loads(pickle.dumps(net))
    assert isinstance(clone, MaskedNet)
    assert torch.equal(clone.mask_.tensors["hidden.0.weight"], mask.tensors["hidden.0.weight"])
    # The clone's mask is live: training keeps its pruned weights at zero.
    clone.partial_fit(X.astype(np.float32), y)
    weight = clone.module_.hidden[0].weight
    assert torch.count_nonzero(weight[~mask.tensors["hidden.0.weight"]]) == 0
    assert torch.count_nonzero(weight) == mask.n_alive


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fit_pickles_its_mask_on_the_cpu(digits):
    X, y = digits
    clf = fast_clf(device="cuda").fit(X, y)
    state = clf.net_.__getstate__()
    assert all(t.device.type == "cpu" for t in state["mask_"].tensors.values())
    # Pickling leaves the live net's mask where it trains.
    assert all(t.device.type == "cuda" for t in clf.net_.mask_.tensors.values())
    clone = pickle.loads(pickle.dumps(clf))
    assert all(t.device.type == "cuda" for t in clone.net_.mask_.tensors.values())
    assert np.allclose(clone.predict_proba(X), clf.predict_proba(X), atol=1e-6)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the fallback without CUDA")
def test_net_saved_for_cuda_loads_on_cpu_only_machine(digits):
    """The CPU-only half of a CUDA round trip, runnable without a GPU.

    A fit on CUDA pickles its net with ``device="cuda"``; unpickled where torch
    sees no CUDA, skorch maps the weights to the CPU and the mask must follow.
    """
    from skorch.exceptions import DeviceWarning

    X, y = digits
    clf = fast_clf(optimizer__momentum=0.9).fit(X, y)
    expected = clf.predict_proba(X)
    clf.net_.device = "cuda"  # what a CUDA fit records
    with pytest.warns(DeviceWarning) as caught:
        clone = pickle.loads(pickle.dumps(clf))
    assert all("not available" in str(w.message) or "no CUDA devices" in str(w.message)
               for w in caught)
    assert str(clone.net_.device) == "cpu"
    assert all(t.device.type == "cpu" for t in clone.net_.mask_.tensors.values())
    np.testing.assert_array_equal(clone.predict_proba(X), expected)


def test_resolve_threads():
    from skimp.training import AUTO_THREADS_MIN_WORK, resolve_threads

    small = torch.nn.Linear(10, 10)
    assert resolve_threads(3, small, 128) == 3
    assert resolve_threads(None, small, 128) is None
    assert resolve_threads("auto", small, 128) == 1
    big = torch.nn.Linear(1000, 1000)
    assert 1_001_000 * 64 > AUTO_THREADS_MIN_WORK
    expected = min(torch.get_num_threads(), len(os.sched_getaffinity(0)))
    assert resolve_threads("auto", big, 64) == expected
    assert resolve_threads("auto", big, 4) == 1  # the batch, not the net, is small
