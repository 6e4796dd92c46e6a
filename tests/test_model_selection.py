"""compare_controls: IMP against its controls and two dense baselines."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone

from skimp import PrunedNetClassifier
from skimp.model_selection import CONTROL_METHODS, RESULT_KEYS, compare_controls
from skimp.modules import ConvNet


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    return X[:700], y[:700], X[700:1000], y[700:1000]


def noisy_clf(**params):
    defaults = dict(hidden_layer_sizes=(32,), max_epochs=6, max_levels=3, batch_size=64,
                    label_noise=0.3, n_threads=1, early_stopping=False)
    return PrunedNetClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def results(data):
    return compare_controls(noisy_clf(), *data, seeds=(0, 1))


def rows(res, method, seed=None):
    keep = res["method"] == method
    if seed is not None:
        keep &= res["seed"] == seed
    return {key: value[keep] for key, value in res.items()}


def test_every_method_runs_with_one_chosen_row(results):
    assert set(RESULT_KEYS) <= set(results)
    assert len({len(v) for v in results.values()}) == 1
    default = [m for m in CONTROL_METHODS if m != "imp_last_epoch"]
    assert list(dict.fromkeys(results["method"])) == default
    for method in default:
        for seed in (0, 1):
            r = rows(results, method, seed)
            assert r["chosen"].sum() == 1
            if method in ("early_stopping", "small_dense"):
                assert len(r["level"]) == 1 and r["level"][0] == 0
                assert 1 <= r["epochs"][0] <= 6
            else:
                assert r["level"].tolist() == [0, 1, 2, 3]
                assert (r["n_epochs"] == 6).all()
                # lr_rewind carries its weights from level to level.
                assert r["epochs"].tolist() == (
                    [6, 12, 18, 24] if method == "lr_rewind" else [6] * 4)
    for key in ("test_accuracy", "test_ece", "val_accuracy"):
        assert ((results[key] >= 0) & (results[key] <= 1)).all()
    assert (results["test_log_loss"] > 0).all()


def test_pruning_methods_share_the_dense_level_and_the_densities(results):
    for seed in (0, 1):
        imp = rows(results, "imp", seed)
        for method in ("random", "reinit", "lr_rewind"):
            other = rows(results, method, seed)
            assert other["n_params"].tolist() == imp["n_params"].tolist()
            # Same seed: same noise, split, initial weights and batch order.
            assert other["test_accuracy"][0] == imp["test_accuracy"][0]
            assert other["val_loss"][0] == imp["val_loss"][0]
        # The controls differ from IMP once pruning starts.
        assert rows(results, "random", seed)["val_loss"][1] != imp["val_loss"][1]


def test_early_stopping_keeps_the_best_epoch_on_the_imp_fits_validation_rows(data, results):
    X, y, X_test, y_test = data
    for seed in (0, 1):
        early = rows(results, "early_stopping", seed)
        imp = rows(results, "imp", seed)
        # The last epoch is a candidate, so the kept one scores at least as well.
        assert early["val_accuracy"][0] >= imp["val_accuracy"][0]
        # The kept epoch is the dense IMP run stopped there: the same weights on
        # the same (noisy) validation rows.
        stopped = clone(noisy_clf()).set_params(
            random_state=seed, max_levels=0, max_epochs=int(early["epochs"][0])).fit(X, y)
        assert stopped.imp_path_["val_accuracy"][0] == early["val_accuracy"][0]
        assert stopped.imp_path_["val_loss"][0] == pytest.approx(early["val_loss"][0])
        assert stopped.score(X_test, y_test) == early["test_accuracy"][0]
        # No epoch of the run scores better on validation.
        full = clone(noisy_clf()).set_params(random_state=seed, max_levels=0)
        for epochs in range(1, 7):
            path = full.set_params(max_epochs=epochs).fit(X, y).imp_path_
            assert path["val_accuracy"][0] <= early["val_accuracy"][0]


def test_early_stopping_follows_the_loss_rule(data):
    res = compare_controls(noisy_clf(selection="loss"), *data,
                           methods=("imp", "early_stopping"), seeds=(0,))
    early, imp = rows(res, "early_stopping"), rows(res, "imp")
    assert early["val_loss"][0] <= imp["val_loss"][0] + 1e-6


def test_small_dense_matches_the_tickets_weights(results):
    for seed in (0, 1):
        imp = rows(results, "imp", seed)
        ticket = imp["n_params"][imp["chosen"] == 1][0]
        small = rows(results, "small_dense", seed)["n_params"][0]
        # 64 inputs: one hidden unit is 64 weights, so within 32 of the ticket.
        assert abs(small - ticket) <= 32
        assert abs(small - ticket) / ticket < 0.05


def test_small_dense_resizes_a_convnet_by_its_width(data):
    X, y, X_test, y_test = data
    images = X.reshape(-1, 1, 8, 8)
    clf = PrunedNetClassifier(module=ConvNet, module__n_conv_pairs=1,
                              module__hidden_layer_sizes=(64,), max_epochs=2, max_levels=4,
                              pruning_fraction=0.5, n_threads=1)
    res = compare_controls(clf, images, y, X_test.reshape(-1, 1, 8, 8), y_test,
                           methods=("imp", "small_dense"), seeds=(0,))
    imp = rows(res, "imp")
    ticket = imp["n_params"][imp["chosen"] == 1][0]
    small = rows(res, "small_dense")["n_params"][0]
    assert abs(small - ticket) / ticket < 0.1


def test_seeds_reproduce_and_n_jobs_does_not_change_results(data, results):
    again = compare_controls(noisy_clf(), *data, seeds=(0, 1), n_jobs=2)
    for key in RESULT_KEYS:
        if key == "fit_time":
            continue
        assert again[key].tolist() == results[key].tolist(), key


def test_the_estimator_is_cloned_not_fitted(data):
    clf = noisy_clf(max_levels=1)
    compare_controls(clf, *data, methods=("imp",), seeds=(0,))
    assert not hasattr(clf, "net_") and clf.random_state is None


def test_extra_metrics_become_columns(data):
    seen = []

    def mean_confidence(y_true, proba):
        seen.append(proba.shape)
        return float(proba.max(1).mean())

    res = compare_controls(noisy_clf(max_levels=1), *data, methods=("imp", "early_stopping"),
                           seeds=(0,), metrics={"confidence": mean_confidence})
    assert len(res["confidence"]) == 3
    assert ((res["confidence"] > 0.1) & (res["confidence"] <= 1)).all()
    assert seen == [(300, 10)] * 3


class NoWidth(torch.nn.Module):
    def __init__(self, n_classes=10):
        super().__init__()
        self.fc = torch.nn.Linear(64, n_classes)

    def forward(self, X):
        return self.fc(X)


@pytest.mark.parametrize("kwargs, estimator, match", [
    (dict(methods=("imp", "magnitude")), None, r"unknown: \['magnitude'\]"),
    (dict(methods=()), None, "non-empty"),
    (dict(methods=("imp", "imp")), None, "duplicates"),
    (dict(methods=("small_dense",)), None, "add 'imp'"),
    (dict(seeds=()), None, "seeds is empty"),
    (dict(seeds=(0, 0.5)), None, "seeds must be ints"),
    (dict(methods=("imp", "small_dense")), noisy_clf(module=NoWidth),
     "small_dense cannot resize"),
    (dict(methods=("imp", "small_dense")), noisy_clf(module=NoWidth()),
     "small_dense cannot resize"),
    (dict(methods=("early_stopping",)), noisy_clf(selection=lambda path: 0),
     "must be 'accuracy' or 'loss'"),
    (dict(metrics={"test_ece": lambda y, p: 0.0}), None, "built-in column"),
    (dict(metrics={"x": 3}), None, "callables"),
])
def test_bad_arguments(data, kwargs, estimator, match):
    with pytest.raises(ValueError, match=match):
        compare_controls(estimator or noisy_clf(), *data, **kwargs)


def test_bad_test_data(data):
    X, y, X_test, y_test = data
    with pytest.raises(ValueError, match=r"X_test has rows of shape \(63,\)"):
        compare_controls(noisy_clf(), X, y, X_test[:, 1:], y_test, seeds=(0,))
    with pytest.raises(ValueError, match="one label per row"):
        compare_controls(noisy_clf(), X, y, X_test, y_test[:-1], seeds=(0,))
    with pytest.raises(ValueError, match=r"labels that y does not: \[11\]"):
        compare_controls(noisy_clf(), X, y, X_test, np.where(y_test == 0, 11, y_test),
                         seeds=(0,))
    with pytest.raises(TypeError, match="needs an unfitted PrunedNetClassifier"):
        compare_controls(object(), X, y, X_test, y_test)


@pytest.mark.parametrize("method, epochs", [
    ("imp", [4, 4, 4]), ("lr_rewind", [4, 7, 10]), ("reinit", [4, 3, 3])])
def test_epochs_count_the_training_behind_each_rows_weights(data, method, epochs):
    res = compare_controls(noisy_clf(max_epochs=4, rewind_epoch=1, max_levels=2), *data,
                           methods=(method,), seeds=(0,))
    assert res["epochs"].tolist() == epochs
    assert res["n_epochs"].tolist() == [4, 3, 3]


def test_epochs_of_early_stopped_levels_end_at_the_kept_epoch(data):
    res = compare_controls(noisy_clf(max_epochs=6, early_stopping=True), *data,
                           methods=("imp", "lr_rewind"), seeds=(0,))
    imp, lr = rows(res, "imp"), rows(res, "lr_rewind")
    assert (imp["epochs"] <= 6).all() and (imp["epochs"] < 6).any()
    # lr_rewind's level L starts from all that level L - 1 trained.
    carried = np.concatenate([[0], np.cumsum(lr["n_epochs"])[:-1]])
    kept_epoch = lr["epochs"] - carried
    assert ((kept_epoch >= 1) & (kept_epoch <= 6)).all()


def test_with_early_stopping_the_baseline_is_level_0_of_the_imp_fit(data):
    clf = noisy_clf(early_stopping=True)
    res = compare_controls(clf, *data, methods=("imp", "imp_last_epoch", "early_stopping"),
                           seeds=(0, 1))
    alone = compare_controls(clf, *data, methods=("early_stopping",), seeds=(0, 1))
    for seed in (0, 1):
        read, fitted = rows(res, "early_stopping", seed), rows(alone, "early_stopping", seed)
        imp = rows(res, "imp", seed)
        assert read["epochs"].tolist() == fitted["epochs"].tolist() == imp["epochs"][:1].tolist()
        for key in ("test_accuracy", "val_accuracy", "train_accuracy"):
            assert read[key][0] == fitted[key][0], key
        for key in ("test_log_loss", "test_ece", "val_loss"):
            assert read[key][0] == pytest.approx(fitted[key][0], abs=1e-6), key
        # Read, not fitted again: it costs level 0 of the IMP fit.
        assert read["fit_time"][0] < imp["fit_time"][0]


def test_imp_last_epoch_is_read_from_the_early_stopped_fit(data, results):
    res = compare_controls(noisy_clf(early_stopping=True), *data,
                           methods=("imp", "imp_last_epoch"), seeds=(0, 1))
    for seed in (0, 1):
        last, plain = rows(res, "imp_last_epoch", seed), rows(results, "imp", seed)
        for key in ("n_params", "epochs", "chosen", "test_accuracy", "train_accuracy"):
            assert last[key].tolist() == plain[key].tolist(), key
        np.testing.assert_allclose(last["test_log_loss"], plain["test_log_loss"], atol=1e-6)
        np.testing.assert_allclose(last["val_accuracy"], plain["val_accuracy"], atol=1e-6)
        # The early-stopped ticket: same masks, its own epochs.
        assert rows(res, "imp", seed)["n_params"].tolist() == plain["n_params"].tolist()


def test_dataframe_test_rows_are_checked_by_column_name(data):
    pd = pytest.importorskip("pandas")
    X, y, X_test, y_test = data
    columns = [f"pixel{i}" for i in range(X.shape[1])]
    X_df, X_test_df = pd.DataFrame(X, columns=columns), pd.DataFrame(X_test, columns=columns)
    clf = noisy_clf(max_levels=1, max_epochs=2)
    with pytest.raises(ValueError, match=r"X_test's columns .* are not X's .*X_test\[X.columns\]"):
        compare_controls(clf, X_df, y, X_test_df[columns[::-1]], y_test, methods=("imp",),
                         seeds=(0,))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names.*")
        res = compare_controls(clf, X_df, y, X_test_df, y_test, methods=("imp",), seeds=(0,))
    plain = compare_controls(clf, X, y, X_test, y_test, methods=("imp",), seeds=(0,))
    assert res["test_accuracy"].tolist() == plain["test_accuracy"].tolist()


def test_loss_rule_baselines_survive_a_class_missing_from_the_noisy_validation_rows():
    # Class 2 has two rows: one goes to the validation split, and 90% noise
    # redraws its label, so no validation label may be 2. The old baselines
    # scored log-loss without labels= and crashed after every other fit.
    rng = np.random.RandomState(0)
    X = rng.rand(120, 6).astype(np.float32)
    y = np.r_[np.zeros(59), np.ones(59), [2, 2]].astype(int)
    X[y == 2] += 2
    clf = PrunedNetClassifier(hidden_layer_sizes=(8,), max_epochs=3, max_levels=1,
                              label_noise=0.9, selection="loss", n_threads=1)
    fitted = clone(clf).set_params(random_state=0).fit(X, y)
    val_row = fitted.validation_mask_ & (y == 2)
    assert fitted.noise_mask_[val_row].all()  # the case the test is about
    res = compare_controls(clf, X, y, X, y, methods=("imp", "early_stopping", "small_dense"),
                           seeds=(0,))
    assert np.isfinite(res["val_loss"]).all() and res["chosen"].sum() == 3


def test_user_callbacks_may_use_any_name_and_keep_the_epochs(data, tmp_path):
    from skorch.callbacks import Checkpoint, EpochScoring, PassthroughScoring

    methods = ("imp", "early_stopping", "small_dense")
    plain = compare_controls(noisy_clf(max_levels=1), *data, methods=methods, seeds=(0,))
    # A user's Checkpoint writes the history's event_cp, which the old
    # baselines read their kept epoch from.
    callbacks = [("best_epoch", PassthroughScoring("train_loss", on_train=True)),
                 ("valid_acc", EpochScoring("accuracy", lower_is_better=False,
                                            name="valid_acc")),
                 ("cp", Checkpoint(monitor="train_loss_best", dirname=str(tmp_path),
                                   f_params=None, f_optimizer=None, f_criterion=None,
                                   f_history=None))]
    res = compare_controls(noisy_clf(max_levels=1, callbacks=callbacks), *data,
                           methods=methods, seeds=(0,))
    assert res["chosen"].sum() == 3
    assert res["epochs"].tolist() == plain["epochs"].tolist()
    assert res["test_accuracy"].tolist() == plain["test_accuracy"].tolist()


def test_baselines_reuse_the_estimators_checkpoints(data, tmp_path):
    clf = noisy_clf(max_levels=1, checkpoint_dir=tmp_path)
    first = compare_controls(clf, *data, methods=("imp", "early_stopping"), seeds=(0,))
    keys = sorted(p.name for p in tmp_path.iterdir())
    assert len(keys) == 2  # one run key for imp, one for the dense baseline
    again = compare_controls(clf, *data, methods=("imp", "early_stopping"), seeds=(0,))
    assert sorted(p.name for p in tmp_path.iterdir()) == keys
    for key in ("test_accuracy", "epochs", "fit_time"):
        assert again[key].tolist() == first[key].tolist(), key


def test_small_dense_searches_resnet20_in_whole_channels(data):
    from skimp.modules import ResNet20

    X, y, X_test, y_test = data
    images = X.reshape(-1, 1, 8, 8)[:300]
    clf = PrunedNetClassifier(module=ResNet20, max_epochs=1, max_levels=3, pruning_fraction=0.6,
                              batch_size=64, iterator_train__drop_last=True, n_threads=1)
    res = compare_controls(clf, images, y[:300], X_test.reshape(-1, 1, 8, 8)[:100],
                           y_test[:100], methods=("imp", "small_dense"), seeds=(0,))
    imp = rows(res, "imp")
    ticket = imp["n_params"][imp["chosen"] == 1][0]
    small = rows(res, "small_dense")["n_params"][0]
    assert small < imp["n_params"][0]
    assert abs(np.log(small / ticket)) < np.log(2)


def test_a_tiny_last_batch_is_announced_once_per_call(data):
    import warnings

    X, y, X_test, y_test = data
    # 600 rows, 60 held out: 540 training rows = 8 * 67 + 4, a 4-row last batch
    # in every fit, 4 in the first call and 4 in the second.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compare_controls(noisy_clf(batch_size=67, max_epochs=1, max_levels=1), X[:600],
                         y[:600], X_test, y_test, seeds=(0,),
                         methods=("imp", "random", "early_stopping", "small_dense"))
        compare_controls(noisy_clf(batch_size=67, max_epochs=1, max_levels=1), X[:600],
                         y[:600], X_test, y_test, seeds=(0, 1), n_jobs=2,
                         methods=("imp", "early_stopping"))
    ours = [w for w in caught if "last training batch" in str(w.message)]
    assert [str(w.message).split(":")[0] for w in ours] == [
        "The last training batch of every epoch holds 4 rows, against batch_size=67"] * 2
    assert {w.filename for w in ours} == {__file__}  # points at the call
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # 630 training rows end on 18 rows, a quarter of 68: not worth a word.
        compare_controls(noisy_clf(batch_size=68, max_epochs=1, max_levels=1), X, y,
                         X_test, y_test, seeds=(0,), methods=("imp", "early_stopping"))


def test_imp_last_epoch_with_patience_equals_a_separate_last_epoch_fit(data):
    # patience stops an early-stopped fit after levels chosen on its kept
    # scores; a last-epoch fit stops after levels chosen on the last ones.
    # The rows must be those of a real early_stopping=False fit.
    X, y, X_test, y_test = data
    params = dict(label_noise=0.4, patience=1, max_levels=6, max_epochs=8)
    seeds = (0, 1, 2, 3, 4)
    both = compare_controls(noisy_clf(early_stopping=True, **params), X, y, X_test, y_test,
                            methods=("imp", "imp_last_epoch"), seeds=seeds)
    alone = compare_controls(noisy_clf(early_stopping=False, **params), X, y, X_test, y_test,
                             methods=("imp",), seeds=seeds)
    for seed in seeds:
        last, plain = rows(both, "imp_last_epoch", seed), rows(alone, "imp", seed)
        for key in ("level", "n_params", "chosen", "test_accuracy"):
            assert last[key].tolist() == plain[key].tolist(), (seed, key)
