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
from tests._helpers import auto_threads_now, fast_clf


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
    assert resolve_threads("auto", big, 64) in (
        min(torch.get_num_threads(), len(os.sched_getaffinity(0))), auto_threads_now())
    assert resolve_threads("auto", big, 4) == 1  # the batch, not the net, is small


# -- skorch's callback contract ----------------------------------------------
#
# Every skorch callback runs inside IMP as it runs in skorch: the same hooks,
# at the same places, with the same arguments (or fit refuses it, see
# tests/test_bad_input.py). Each level is one skorch training run.

HOOKS = ["on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
         "on_batch_begin", "on_batch_end", "on_grad_computed"]


def _recording_callback():
    from skorch.callbacks import Callback

    class Recorder(Callback):
        """Records each hook it receives: name, argument names, training flag."""

        def __init__(self):
            self.calls = []

    for hook in HOOKS:
        def method(self, net, _hook=hook, **kwargs):
            self.calls.append((_hook, tuple(sorted(kwargs)), kwargs.get("training")))
        setattr(Recorder, hook, method)
    return Recorder()


def _fit(X, y, callbacks=None, **params):
    return fast_clf(**{"callbacks": callbacks, **params}).fit(X, y)


def test_a_callback_gets_every_hook_skorch_sends(digits):
    """The hooks, their order and their argument names match a plain skorch net
    trained on the same rows for the same epochs, with the same validation rows."""
    from skorch import NeuralNetClassifier
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    X, y = digits
    X = X.astype(np.float32)
    ours = _recording_callback()
    clf = _fit(X, y, [ours], max_epochs=2, max_levels=1)
    val = clf.validation_mask_
    theirs = _recording_callback()
    NeuralNetClassifier(
        MLP, module__n_features=64, module__n_classes=10, module__hidden_layer_sizes=(16,),
        criterion=torch.nn.CrossEntropyLoss, max_epochs=2, batch_size=64, verbose=0,
        iterator_valid__batch_size=4096, callbacks=[theirs],
        train_split=predefined_split(Dataset(X[val], y[val]))).fit(X[~val], y[~val])
    # Level 1 trains like level 0: one skorch fit per level.
    assert ours.calls == theirs.calls * 2
    names = [call[0] for call in theirs.calls]
    assert set(names) == set(HOOKS)
    # The gradient hook sits between on_batch_begin and on_batch_end.
    first = names.index("on_grad_computed")
    assert names[first - 1:first + 2] == ["on_batch_begin", "on_grad_computed", "on_batch_end"]


def test_gradient_norm_clipping_clips(digits):
    from skorch.callbacks import GradientNormClipping

    X, y = digits
    plain = _fit(X, y).predict_proba(X)
    clipped = _fit(X, y, [GradientNormClipping(gradient_clip_value=1e-8)]).predict_proba(X)
    assert not np.array_equal(clipped, plain)
    # A bound no gradient reaches changes nothing: the hooked loop trains
    # exactly as the lean one.
    loose = _fit(X, y, [GradientNormClipping(gradient_clip_value=1e9)]).predict_proba(X)
    np.testing.assert_array_equal(loose, plain)


def test_epoch_and_batch_scoring_score_the_validation_split(digits):
    from skorch.callbacks import BatchScoring, EpochScoring

    X, y = digits
    clf = _fit(X, y, [EpochScoring("accuracy", name="valid_acc"),
                      EpochScoring("accuracy", name="train_acc", on_train=True),
                      BatchScoring("accuracy", name="valid_acc_batches")], max_levels=1)
    last = clf.net_.history[-1]
    # The last epoch's scores are the level's own validation accuracy.
    assert last["valid_acc"] == pytest.approx(clf.imp_path_["val_accuracy"][-1])
    assert last["valid_acc_batches"] == pytest.approx(clf.imp_path_["val_accuracy"][-1])
    assert 0 < last["train_acc"] <= 1
    assert {"valid_acc_best", "train_acc_best", "train_loss_best", "valid_loss_best"} <= set(last)
    # Batch-level history as skorch writes it: 540 training rows in batches of
    # 64, then the 60 validation rows in one batch.
    batches = last["batches"]
    assert [b["train_batch_size"] for b in batches[:-1]] == [64] * 8 + [28]
    assert batches[-1]["valid_batch_size"] == 60 and "valid_acc_batches" in batches[-1]


def test_passthrough_scoring_averages_the_batch_losses(digits):
    from skorch.callbacks import PassthroughScoring

    X, y = digits
    clf = _fit(X, y, [PassthroughScoring(name="train_loss", on_train=True)])
    row = clf.net_.history[-1]
    sizes = [b["train_batch_size"] for b in row["batches"] if "train_batch_size" in b]
    losses = [b["train_loss"] for b in row["batches"] if "train_loss" in b]
    assert row["train_loss"] == pytest.approx(np.average(losses, weights=sizes))


def test_print_log_prints_a_table_per_level_as_skorch_does(digits, capsys):
    from skorch.callbacks import PrintLog

    X, y = digits
    lines = []
    _fit(X, y, [PrintLog(sink=lines.append)], max_epochs=3, max_levels=2)
    # A header (two lines) and one row per epoch, at each of the 3 levels.
    assert len(lines) == 3 * (2 + 3)
    # valid_acc too, as skorch's NeuralNetClassifier records it.
    assert lines[0].split() == ["epoch", "train_loss", "valid_acc", "valid_loss", "dur"]
    # With print as the sink it follows the net's verbose, as in skorch: the
    # estimator's verbose is the net's.
    _fit(X, y, [PrintLog()])
    assert "train_loss" not in capsys.readouterr().out
    _fit(X, y, [PrintLog()], verbose=1)
    out = capsys.readouterr().out
    assert "train_loss" in out and "weights left" in out
    assert "Re-initializing" not in out  # skimp's own restarts are not announced


def test_progress_bar_counts_every_batch(digits, capsys):
    from skorch.callbacks import ProgressBar

    X, y = digits
    bar = ProgressBar()
    _fit(X, y, [bar])
    # 9 training batches and 1 validation batch, all counted.
    assert bar.pbar_.total == bar.pbar_.n == 10


def test_checkpoints_save_and_load_each_level(digits, tmp_path):
    from skorch.callbacks import Checkpoint, TrainEndCheckpoint

    X, y = digits
    end = TrainEndCheckpoint(dirname=str(tmp_path / "end"))
    clf = _fit(X, y, [Checkpoint(dirname=str(tmp_path / "best")), end], max_levels=2)
    assert (tmp_path / "best" / "params.pt").is_file()
    # The end-of-training checkpoint holds the last level's trained weights.
    saved = torch.load(tmp_path / "end" / "train_end_params.pt")
    for name, value in clf.level_module(2).state_dict().items():
        assert torch.equal(saved[name], value), name


def test_lr_schedules_follow_skorch(digits):
    """WarmRestartLR (and any policy) sets the rates that skorch's net sets."""
    from skorch import NeuralNetClassifier
    from skorch.callbacks import LRScheduler, WarmRestartLR

    X, y = digits
    X = X.astype(np.float32)

    def schedule():
        return LRScheduler(policy=WarmRestartLR, min_lr=0.01, max_lr=0.1, base_period=2)

    clf = _fit(X, y, [schedule()], max_epochs=6, max_levels=0)
    net = NeuralNetClassifier(
        MLP, module__n_features=64, module__n_classes=10, module__hidden_layer_sizes=(16,),
        criterion=torch.nn.CrossEntropyLoss, max_epochs=6, lr=0.1, batch_size=64, verbose=0,
        train_split=None, callbacks=[schedule()]).fit(X, y)
    assert clf.net_.history[:, "event_lr"] == pytest.approx(net.history[:, "event_lr"])
    assert len(set(clf.net_.history[:, "event_lr"])) > 2


def test_an_epoch_schedule_skips_the_batch_hooks_and_trains_the_same(digits):
    """skorch's LRScheduler acts per batch only with step_every="batch"; an
    epoch schedule leaves the loop lean, with the weights and rates that the
    hooked loop (forced by a callback with a batch hook) gives."""
    from skorch.callbacks import Callback, LRScheduler
    from torch.optim.lr_scheduler import StepLR

    class BatchHook(Callback):
        def on_batch_end(self, net, **kwargs):
            pass

    X, y = digits

    def schedule(**kwargs):
        return LRScheduler(policy=StepLR, step_size=1, gamma=0.5, **kwargs)

    lean = _fit(X, y, [schedule()], max_epochs=3, max_levels=1)
    hooked = _fit(X, y, [schedule(), BatchHook()], max_epochs=3, max_levels=1)
    assert lean.net_.history[-1, "batches"] == []
    hooked_batches = hooked.net_.history[-1, "batches"]
    assert [b["train_batch_size"] for b in hooked_batches[:-1]] == [64] * 8 + [28]
    np.testing.assert_array_equal(lean.predict_proba(X), hooked.predict_proba(X))
    rates = lean.net_.history[:, "event_lr"]
    assert rates == hooked.net_.history[:, "event_lr"] == [0.1, 0.05, 0.025]
    # Stepping per batch, the hook runs: a rate per training batch.
    per_batch = _fit(X, y, [schedule(step_every="batch")], max_epochs=1, max_levels=0)
    rates = [b["event_lr"] for b in per_batch.net_.history[-1, "batches"] if "event_lr" in b]
    assert rates == pytest.approx([0.1 * 0.5 ** i for i in range(9)])


def test_freezer_freezes(digits):
    from skorch.callbacks import Freezer

    X, y = digits
    torch.manual_seed(0)
    module = MLP(64, 10, (16,))
    clf = _fit(X, y, [Freezer("hidden.0.*")], module=module, max_levels=0)
    trained = clf.level_module(0)
    assert torch.equal(trained.hidden[0].weight, module.hidden[0].weight)
    assert not torch.equal(trained.output.weight, module.output.weight)


# -- n_threads="auto" sizes the work by multiply-adds ----------------------------

class FewWeightsManyProducts(torch.nn.Module):
    """About 10,000 weights, but 10.3 M multiply-adds per 32x32 image: each
    3x3 kernel is applied at all 1,024 positions."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
        self.output = torch.nn.Linear(32, 2)

    def forward(self, X):
        return self.output(self.features(X))


def test_multiply_add_counter_counts_every_position():
    from skimp.training import MultiplyAddCounter

    net = FewWeightsManyProducts()
    with MultiplyAddCounter(net) as counter, torch.no_grad():
        net(torch.zeros(2, 3, 32, 32))
    per_row = 1024 * 32 * 27 + 1024 * 32 * 288 + 32 * 2
    assert counter.total == 2 * per_row
    # Linear layers count their weights once per row (and per extra position).
    mlp = MLP(64, 10, (16,))
    with MultiplyAddCounter(mlp) as counter, torch.no_grad():
        mlp(torch.zeros(3, 64))
    assert counter.total == 3 * (64 * 16 + 16 * 10)
    up = torch.nn.ConvTranspose1d(4, 2, kernel_size=3)
    with MultiplyAddCounter(up) as counter, torch.no_grad():
        up(torch.zeros(1, 4, 10))
    assert counter.total == 4 * 10 * 2 * 3
    # The hooks are gone after the block.
    with torch.no_grad():
        mlp(torch.zeros(3, 64))
    assert counter.total == 4 * 10 * 2 * 3 and not mlp.hidden[0]._forward_hooks


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores")
def test_auto_threads_size_the_work_by_multiply_adds():
    from skimp.training import AUTO_THREADS_MIN_WORK

    rng = np.random.RandomState(0)
    images = rng.rand(40, 3, 32, 32).astype(np.float32)
    y = np.arange(40) % 2
    conv = FewWeightsManyProducts()
    n_params = sum(p.numel() for p in conv.parameters())
    assert n_params * 128 < AUTO_THREADS_MIN_WORK < 10_000_000 * 128
    with torch_threads(2):
        # 1.3 G multiply-adds per batch of 128, from 10,210 parameters.
        fitted = fast_clf(module=FewWeightsManyProducts, max_epochs=1, max_levels=0,
                          batch_size=128).fit(images, y)
        small = fast_clf(max_epochs=1, max_levels=0).fit(images.reshape(40, -1)[:, :64], y)
        idle_now = auto_threads_now()
    assert fitted.n_threads_ in (2, idle_now)  # 2 on an idle machine
    assert small.n_threads_ == 1


def test_auto_threads_decide_mlps_as_before():
    """For Linear layers the multiply-adds per row are the weights, below the
    parameter count, so every MLP gets what weights x batch gave it."""
    from skimp.training import resolve_threads

    expected = (min(torch.get_num_threads(), len(os.sched_getaffinity(0))), auto_threads_now())
    for sizes, batch in [((64, 100, 10), 128), ((784, 300, 100, 10), 128),
                         ((40, 1024, 10), 128), ((1000, 1000), 4)]:
        mlp = MLP(sizes[0], sizes[-1], sizes[1:-1])
        with torch.no_grad():
            macs = sum(layer.weight.numel() for layer in mlp.modules()
                       if isinstance(layer, torch.nn.Linear))
        assert (resolve_threads("auto", mlp, batch, multiply_adds=macs)
                == resolve_threads("auto", mlp, batch))
    assert resolve_threads("auto", MLP(784, 10, (300, 100)), 128) in expected
    assert resolve_threads("auto", MLP(64, 10, (100,)), 128) == 1


def test_auto_threads_leave_the_busy_cores_alone():
    """With every core but one busy, a large fit takes one thread: threads
    that wait for a descheduled sibling made fits up to 50x slower."""
    import subprocess
    import sys
    import time

    from skimp.training import idle_cores, resolve_threads

    cores = len(os.sched_getaffinity(0))
    if cores < 2 or torch.get_num_threads() < 2:
        pytest.skip("needs 2 cores and 2 torch threads")
    big = torch.nn.Linear(1000, 1000)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(cores - 1)]
    try:
        time.sleep(0.5)
        assert idle_cores() < 1.6
        assert resolve_threads("auto", big, 64) == 1
        assert resolve_threads(2, big, 64) == 2  # an int is used as it is
    finally:
        for p in busy:
            p.kill()
            p.wait()


def test_idle_cores_counts_cpus():
    from skimp.training import idle_cores

    idle = idle_cores(interval=0.1)
    assert 0 <= idle <= os.cpu_count() + 0.01
