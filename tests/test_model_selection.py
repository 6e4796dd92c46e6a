"""compare_controls: IMP against its controls and two dense baselines."""

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
                    label_noise=0.3, n_threads=1)
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
    assert list(dict.fromkeys(results["method"])) == list(CONTROL_METHODS)
    for method in CONTROL_METHODS:
        for seed in (0, 1):
            r = rows(results, method, seed)
            assert r["chosen"].sum() == 1
            if method in ("early_stopping", "small_dense"):
                assert len(r["level"]) == 1 and r["level"][0] == 0
                assert 1 <= r["epochs"][0] <= 6
            else:
                assert r["level"].tolist() == [0, 1, 2, 3]
                assert (r["epochs"] == 6).all()
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
