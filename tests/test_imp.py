"""IMP semantics, checked on the actual weights."""

import os
import signal

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from skorch.callbacks import Callback, LRScheduler

from skimp.imp import ImpResult, ImpRunner, select_level
from skimp.masks import prunable_parameter_names
from skimp.modules import MLP
from skimp.training import build_net
from tests._helpers import fast_clf


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16, dtype=torch.float32)
    y = torch.tensor(y)
    return X[:800], y[:800], X[800:1000], y[800:1000]


def make_runner(data, *, seed=0, max_epochs=3, rewind_epoch=0, max_levels=3,
                patience=None, lr=0.1, retrain="rewind", **optimizer_params):
    torch.manual_seed(seed)
    net = build_net(
        MLP, n_classes=10, random_state=seed, max_epochs=max_epochs, batch_size=64, lr=lr,
        module__n_features=64, module__n_classes=10, module__hidden_layer_sizes=(32, 16),
        **{f"optimizer__{k}": v for k, v in optimizer_params.items()})
    names = prunable_parameter_names(net.module_, MLP.unpruned_layers)
    return ImpRunner(net, names, data, max_epochs=max_epochs, rewind_epoch=rewind_epoch,
                     pruning_fraction=0.2, max_levels=max_levels, patience=patience,
                     retrain=retrain, seed=seed)


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
    result = runner.run()
    assert isinstance(result, ImpResult) and not result.interrupted
    path = result.path
    assert all(isinstance(v, np.ndarray) for v in path.values())
    assert path["level"].tolist() == [0, 1, 2, 3, 4]
    n_total = result.states[0].mask.n_total
    assert np.allclose(path["density"], 0.8 ** path["level"], atol=4 / n_total)
    assert np.all(np.diff(path["n_params"]) < 0)
    masks = [s.mask for s in result.states]
    assert all(later <= earlier for earlier, later in zip(masks, masks[1:]))
    assert result.best_level == select_level(path, "accuracy")
    # The chosen level is the one left in the net, weights and mask.
    chosen = result.states[result.best_level].state_dict()
    for name, value in runner.net.module_.state_dict().items():
        assert torch.equal(value.cpu(), chosen[name])
    assert runner.net.mask_.n_alive == path["n_params"][result.best_level]
    # The stored weights of each level respect its mask.
    for state in result.states:
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


def test_selection_callable_gets_numpy_arrays():
    # The path is kept as lists while it grows; the rule must still get arrays,
    # or arithmetic on it crashes (list - float) or concatenates (list + list).
    path = {"level": [0, 1, 2], "val_accuracy": [0.5, 0.7, 0.69],
            "val_loss": [1.0, 0.9, 0.8], "density": [1.0, 0.8, 0.64]}
    seen = {}

    def penalised(p):
        seen.update(p)
        assert len(p["val_accuracy"] + p["val_loss"]) == 3  # elementwise, not concatenated
        return int(p["level"][np.argmax(p["val_accuracy"] - 0.1 * p["density"])])

    assert select_level(path, penalised) == 2
    assert all(isinstance(v, np.ndarray) for v in seen.values())


def test_patience_stops_early(data):
    runner = make_runner(data, max_levels=10, patience=1)
    runner.selection = lambda path: 0  # level 0 stays best forever
    assert runner.run().path["level"].tolist() == [0, 1]


def test_divergence_names_level_epoch_and_learning_rate(data):
    runner = make_runner(data, lr=1e12)
    with pytest.raises(ValueError, match=r"level 0, epoch 1:.*lr=1e\+12"):
        runner.run()


class InterruptAfter(torch.nn.Module):
    """MLP that sends itself SIGINT on its n-th training forward pass."""

    def __init__(self, n_calls=40):
        super().__init__()
        self.hidden = torch.nn.Linear(64, 16)
        self.output = torch.nn.Linear(16, 10)
        self.calls, self.n_calls = 0, n_calls

    def forward(self, X):
        if self.training:
            self.calls += 1
            if self.calls == self.n_calls:
                os.kill(os.getpid(), signal.SIGINT)
        return self.output(self.hidden(X).relu())


def test_ctrl_c_keeps_best_finished_level(digits):
    X, y = digits
    # 540 training rows / 64 per batch = 9 batches per epoch, 3 epochs per level:
    # the 40th batch is in level 1.
    clf = fast_clf(module=InterruptAfter, max_levels=5)
    before = signal.getsignal(signal.SIGINT)
    with pytest.warns(UserWarning, match="interrupted during IMP level 1"):
        clf.fit(X, y)
    assert clf.imp_path_["level"].tolist() == [0]
    assert clf.best_level_ == 0
    assert np.isfinite(clf.predict_proba(X)).all()
    # The handler from before the fit is back (not Python's default: a shell
    # may start jobs with SIGINT ignored).
    assert signal.getsignal(signal.SIGINT) is before


def test_ctrl_c_before_any_level_propagates(digits):
    X, y = digits
    with pytest.raises(KeyboardInterrupt):
        fast_clf(module=InterruptAfter, module__n_calls=2).fit(X, y)


def test_ctrl_c_restores_an_ignoring_handler(digits):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        fast_clf(max_levels=1).fit(*digits)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


# -- retraining modes and learning-rate schedules ------------------------------

def trained_level_zero(data, **kwargs):
    runner = make_runner(data, **kwargs)
    runner.prepare_level(0)
    runner.train_level(0)
    return runner, snapshot(runner.net.module_)


def test_reinit_draws_fresh_weights_from_the_module_initialiser(data):
    runner, _ = trained_level_zero(data, retrain="reinit")
    theta0 = runner.rewind_state
    runner.prepare_level(1)
    level1 = snapshot(runner.net.module_)
    keep = runner.mask.tensors["hidden.0.weight"]
    survivors = level1["hidden.0.weight"][keep]
    # Not the rewind point ...
    assert not torch.equal(survivors, theta0["hidden.0.weight"][keep])
    # ... but MLP's own initialiser: Kaiming normal weights, zero biases.
    assert survivors.std().item() == pytest.approx((2 / 64) ** 0.5, rel=0.05)
    assert torch.count_nonzero(level1["hidden.0.bias"]) == 0
    assert torch.count_nonzero(level1["hidden.0.weight"][~keep]) == 0
    # Drawn anew at each level, the same on every run.
    runner.train_level(1)
    runner.prepare_level(2)
    level2 = snapshot(runner.net.module_)
    assert not torch.equal(level2["output.weight"], level1["output.weight"])
    again, _ = trained_level_zero(data, retrain="reinit")
    again.prepare_level(1)
    assert all(torch.equal(v, level1[k]) for k, v in snapshot(again.net.module_).items())


def test_reinit_of_a_module_instance_uses_reset_parameters(data):
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    net = build_net(module, n_classes=10, random_state=0, max_epochs=2, batch_size=64, lr=0.1)
    runner = ImpRunner(net, ["0.weight"], data, max_epochs=2, rewind_epoch=0,
                       pruning_fraction=0.5, max_levels=1, retrain="reinit")
    runner.prepare_level(0)
    runner.train_level(0)
    runner.prepare_level(1)
    bias = net.module_[0].bias.detach()
    bound = 1 / 64 ** 0.5  # torch's default Linear init
    assert bias.abs().max() <= bound and not torch.equal(bias, runner.rewind_state["0.bias"])


def test_lr_rewind_keeps_the_trained_survivors(data):
    runner, trained = trained_level_zero(data, retrain="lr_rewind", momentum=0.9)
    runner.prepare_level(1)
    for name, value in snapshot(runner.net.module_).items():
        keep = runner.mask.tensors.get(name, torch.ones_like(value, dtype=torch.bool))
        assert torch.equal(value[keep], trained[name][keep])
        assert torch.count_nonzero(value[~keep]) == 0
    assert len(runner.net.optimizer_.state) == 0


class LearningRates(Callback):
    """Records the learning rate of every epoch (and batch) of every level."""

    def __init__(self):
        self.epochs, self.batches = [], []

    def on_train_begin(self, net, **kwargs):
        self.epochs.append([])
        self.batches.append([])

    def on_epoch_begin(self, net, **kwargs):
        self.epochs[-1].append(net.optimizer_.param_groups[0]["lr"])

    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            self.batches[-1].append(net.optimizer_.param_groups[0]["lr"])


def schedule_runner(data, schedule, rewind_epoch=2, retrain="rewind"):
    recorder = LearningRates()
    torch.manual_seed(0)
    net = build_net(MLP, n_classes=10, random_state=0, max_epochs=6, batch_size=200, lr=0.1,
                    module__n_features=64, module__n_classes=10, module__hidden_layer_sizes=(16,),
                    callbacks=[schedule, recorder])
    runner = ImpRunner(net, ["hidden.0.weight"], data, max_epochs=6, rewind_epoch=rewind_epoch,
                       pruning_fraction=0.2, max_levels=2, retrain=retrain)
    runner.run()
    return recorder


@pytest.mark.parametrize("retrain", ["rewind", "lr_rewind", "reinit"])
def test_epoch_schedule_is_fast_forwarded_to_the_rewind_epoch(data, retrain):
    from torch.optim.lr_scheduler import MultiStepLR

    recorder = schedule_runner(data, LRScheduler(policy=MultiStepLR, milestones=[3, 5],
                                                 gamma=0.1), retrain=retrain)
    level0, *later = recorder.epochs
    assert level0 == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.01, 0.001])
    assert len(later) == 2
    for lrs in later:  # epochs 3 to 6 of every level get level 0's rates
        assert lrs == pytest.approx(level0[2:])


def test_batch_schedule_is_fast_forwarded_too(data):
    from torch.optim.lr_scheduler import LambdaLR

    warmup = LRScheduler(policy=LambdaLR, lr_lambda=lambda step: min(1.0, (step + 1) / 10),
                         step_every="batch")
    recorder = schedule_runner(data, warmup, rewind_epoch=1)
    level0, *later = recorder.batches
    per_epoch = 4  # 800 rows, batches of 200
    assert len(level0) == 6 * per_epoch
    assert level0[:3] == pytest.approx([0.01, 0.02, 0.03])
    for lrs in later:
        assert lrs == pytest.approx(level0[per_epoch:])


def test_no_schedule_leaves_the_learning_rate_alone(data):
    recorder = LearningRates()
    torch.manual_seed(0)
    net = build_net(MLP, n_classes=10, random_state=0, max_epochs=2, batch_size=200, lr=0.05,
                    module__n_features=64, module__n_classes=10, callbacks=[recorder])
    ImpRunner(net, ["hidden.0.weight"], data, max_epochs=2, rewind_epoch=1,
              pruning_fraction=0.2, max_levels=1).run()
    assert recorder.epochs == [[0.05, 0.05], [0.05]]


class ValidAccuracies(Callback):
    """Records each level's validation accuracy, epoch by epoch."""

    def __init__(self):
        self.levels = []

    def on_train_begin(self, net, **kwargs):
        self.levels.append([])

    def on_epoch_end(self, net, **kwargs):
        self.levels[-1].append(net.history[-1, "valid_acc"])


def test_callbacks_start_afresh_at_every_level(digits, tmp_path):
    """Each level is a skorch fit of its own: EpochScoring's best score and
    Checkpoint(load_best=True) are per level. Levels at 10% and 1% density
    never beat the dense level's best accuracy; were the best score carried
    over, their checkpoints would never be saved and load_best would load the
    dense level's weights into them."""
    from skorch.callbacks import Checkpoint, EpochScoring

    X, y = digits
    record = ValidAccuracies()
    clf = fast_clf(pruning_fraction=0.9, max_epochs=4, callbacks=[
        EpochScoring("accuracy", name="valid_acc", lower_is_better=False), record,
        Checkpoint(monitor="valid_acc_best", load_best=True, dirname=str(tmp_path))]).fit(X, y)
    assert len(record.levels) == 3
    assert max(record.levels[2]) < max(record.levels[0])
    for level, accuracies in enumerate(record.levels):
        # The level is evaluated with the weights of its own best epoch.
        assert clf.imp_path_["val_accuracy"][level] == pytest.approx(max(accuracies))


# -- early_stopping and n_iter_no_change -------------------------------------

def early(**params):
    defaults = dict(hidden_layer_sizes=(32,), max_epochs=8, max_levels=3, label_noise=0.3)
    return fast_clf(**{**defaults, **params})


@pytest.fixture(scope="module")
def last_and_best(digits):
    X, y = digits
    return early().fit(X, y), early(early_stopping=True).fit(X, y)


def test_early_stopping_prunes_the_same_weights(digits, last_and_best):
    X, _ = digits
    last, best = last_and_best
    assert best.imp_path_["n_params"].tolist() == last.imp_path_["n_params"].tolist()
    for level in last.imp_path_["level"]:
        a, b = last.layer_summary(int(level)), best.layer_summary(int(level))
        assert a["n_alive"].tolist() == b["n_alive"].tolist()
        for name, weight in last.level_module(int(level)).state_dict().items():
            kept_last = best.level_module(int(level), epoch="last").state_dict()[name]
            # Same masks, and bit for bit the same last-epoch weights.
            assert torch.equal(kept_last, weight), (level, name)
    assert best.imp_path_["n_epochs"].tolist() == [8] * 4
    assert last.imp_path_["epoch"].tolist() == [8] * 4
    # The last epochs' validation scores are those of the run without it.
    np.testing.assert_allclose(best.imp_path_["last_val_accuracy"],
                               last.imp_path_["val_accuracy"], atol=1e-6)
    np.testing.assert_allclose(best.imp_path_["last_val_loss"],
                               last.imp_path_["val_loss"], rtol=1e-5)


def test_each_level_keeps_its_best_validation_epoch(digits, last_and_best):
    X, y = digits
    last, best = last_and_best
    path = best.imp_path_
    # The kept weights score at least as well as the last epoch's, on the same rows.
    assert (path["val_accuracy"] >= path["last_val_accuracy"] - 1e-6).all()
    assert (path["epoch"] <= 8).all() and (path["epoch"] < 8).any()
    assert best.best_epoch_ == path["epoch"][best.best_level_]
    # Level 0's kept weights are the dense net trained for that many epochs.
    stopped = early(max_levels=0, max_epochs=int(path["epoch"][0])).fit(X, y)
    np.testing.assert_array_equal(stopped.predict_proba(X),
                                  next(best.staged_predict_proba(X)))
    # And no epoch of that dense run scored better on the validation split.
    history = early(max_levels=0, early_stopping=True).fit(X, y).net_.history
    scores = history[:, "valid_acc"]
    assert path["epoch"][0] == int(np.argmax(scores)) + 1
    assert path["val_accuracy"][0] == pytest.approx(max(scores), abs=1e-6)


def test_early_stopping_follows_the_loss_rule(digits):
    X, y = digits
    clf = early(early_stopping=True, selection="loss", max_levels=0).fit(X, y)
    losses = clf.net_.history[:, "valid_loss"]
    assert clf.best_epoch_ == int(np.argmin(losses)) + 1
    assert clf.imp_path_["val_loss"][0] == pytest.approx(min(losses), rel=1e-5)


def test_n_iter_no_change_cuts_levels_short(digits, last_and_best):
    X, y = digits
    clf = early(early_stopping=True, n_iter_no_change=1, max_epochs=20).fit(X, y)
    path = clf.imp_path_
    assert (path["n_epochs"] < 20).all()
    # A level ends n_iter_no_change epochs after its best one (or at the end).
    np.testing.assert_array_equal(path["n_epochs"], np.minimum(path["epoch"] + 1, 20))
    # It trains far fewer epochs than the full schedule.
    assert path["n_epochs"].sum() < 0.75 * 20 * len(path["level"])


def test_n_iter_no_change_never_cuts_before_the_rewind_point(digits):
    X, y = digits
    clf = early(early_stopping=True, n_iter_no_change=1, rewind_epoch=5).fit(X, y)
    path = clf.imp_path_
    assert path["n_epochs"][0] >= 6
    # Later levels count their epochs on the level's own schedule.
    assert (path["epoch"][1:] > 5).all()
    assert (path["n_epochs"][1:] <= 3).all()


def test_verbose_says_when_the_dense_net_is_the_answer(digits, capsys):
    X, y = digits
    clf = early(early_stopping=True, max_levels=1, pruning_fraction=0.999, verbose=1)
    clf.fit(X, y)
    assert clf.best_level_ == 0
    out = capsys.readouterr().out
    assert f"dense network stopped early at epoch {clf.best_epoch_}" in out
    assert "pruning did not help" in out
