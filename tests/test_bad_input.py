"""Every bad input gets a clear error that names the problem. One row per case."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from skorch.callbacks import EarlyStopping, InputShapeSetter, LoadInitState, LRScheduler
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR

from tests._helpers import fast_clf

X = np.random.RandomState(0).rand(40, 5)
y = np.arange(40) % 2
X_nan = X.copy(); X_nan[3, 1] = np.nan  # noqa: E702
X_inf = X.copy(); X_inf[0, 0] = np.inf  # noqa: E702
y_nan = y.astype(float); y_nan[5] = np.nan  # noqa: E702
y_rare = y.copy(); y_rare[0] = 2  # noqa: E702

class Dense(torch.nn.Module):
    """A module whose only layer is kept dense."""

    unpruned_layers = ("output",)

    def __init__(self):
        super().__init__()
        self.output = torch.nn.Linear(5, 2)

    def forward(self, X):
        return self.output(X)


class OneDim(Dense):
    unpruned_layers = ()

    def forward(self, X):
        return self.output(X)[:, 0]


FIT_CASES = [
    # (id, estimator params, X, y, error, message pattern)
    ("nan in X", {}, X_nan, y, ValueError, "Input X contains NaN"),
    ("inf in X", {}, X_inf, y, ValueError, "Input X contains infinity"),
    ("nan in y", {}, X, y_nan, ValueError, "Input y contains NaN"),
    ("continuous y", {}, X, X[:, 0], ValueError, "Unknown label type: continuous"),
    ("single class", {}, X, np.zeros(40, int), ValueError, "at least 2 classes"),
    ("string features", {}, np.array([["a"] * 5] * 40), y, ValueError, r"could not convert string.*encode string columns first.*OneHotEncoder"),
    ("empty X", {}, np.empty((0, 5)), np.empty(0, int), ValueError, "0 sample"),
    ("length mismatch", {}, X, y[:-1], ValueError, "inconsistent numbers of samples"),
    ("3-D X into the MLP", {}, X.reshape(40, 5, 1), y, ValueError, "Found array with dim 3"),
    ("sparse X", {}, sp.csr_matrix(X), y, TypeError, r"Sparse data was passed.*\.toarray\(\)"),
    ("class with one row", {}, X, y_rare, ValueError, r"Classes \[2\] have fewer than 2 rows"),
    ("label_noise = 1", {"label_noise": 1.0}, X, y, ValueError, "'label_noise' parameter"),
    ("label_noise < 0", {"label_noise": -0.1}, X, y, ValueError, "'label_noise' parameter"),
    ("pruning_fraction = 0", {"pruning_fraction": 0.0}, X, y, ValueError, "'pruning_fraction'"),
    ("pruning_fraction = 1", {"pruning_fraction": 1.0}, X, y, ValueError, "'pruning_fraction'"),
    ("hidden size 0", {"hidden_layer_sizes": (8, 0)}, X, y, ValueError, "hidden_layer_sizes must hold integers >= 1"),
    ("hidden size a boolean", {"hidden_layer_sizes": (True, 3)}, X, y, ValueError, r"hidden_layer_sizes must hold integers >= 1, got \(True, 3\)"),
    ("hidden_layer_sizes a boolean", {"hidden_layer_sizes": True}, X, y, ValueError, "'hidden_layer_sizes' parameter"),
    ("hidden_layer_sizes a string", {"hidden_layer_sizes": "64"}, X, y, ValueError, r"hidden_layer_sizes='64' is a string; pass a tuple of ints, e.g. hidden_layer_sizes=\(64,\)"),
    ("hidden_layer_sizes a string of two", {"hidden_layer_sizes": "64, 32"}, X, y, ValueError, r"e.g. hidden_layer_sizes=\(64, 32\)"),
    # Booleans are ints to Python; as counts they would run as 1 or 0, or fail deep in torch.
    ("max_epochs a boolean", {"max_epochs": True}, X, y, ValueError, "'max_epochs' parameter"),
    ("batch_size a boolean", {"batch_size": True}, X, y, ValueError, "'batch_size' parameter"),
    ("max_levels a boolean", {"max_levels": False}, X, y, ValueError, "'max_levels' parameter"),
    ("patience a boolean", {"patience": True}, X, y, ValueError, "'patience' parameter"),
    ("rewind_epoch a boolean", {"rewind_epoch": False}, X, y, ValueError, "'rewind_epoch' parameter"),
    ("n_threads a boolean", {"n_threads": True}, X, y, ValueError, "'n_threads' parameter"),
    ("iterator_train__batch_size a boolean", {"iterator_train__batch_size": True}, X, y, ValueError, r"iterator_train__batch_size=True is a boolean.*e.g. iterator_train__batch_size=128"),
    ("iterator_valid__batch_size a boolean", {"iterator_valid__batch_size": False}, X, y, ValueError, r"iterator_valid__batch_size=False is a boolean"),
    ("negative max_levels", {"max_levels": -1}, X, y, ValueError, "'max_levels' parameter"),
    ("rewind_epoch >= max_epochs", {"rewind_epoch": 3, "max_epochs": 3}, X, y, ValueError, "rewind_epoch=3 must be below max_epochs=3"),
    ("validation_fraction = 0", {"validation_fraction": 0.0}, X, y, ValueError, "'validation_fraction'"),
    ("validation_fraction = 1", {"validation_fraction": 1.0}, X, y, ValueError, "'validation_fraction'"),
    ("validation split too large", {"validation_fraction": 0.99}, X, y, ValueError, "lower validation_fraction"),
    ("unknown selection", {"selection": "f1"}, X, y, ValueError, "'selection' parameter"),
    ("selection returns no level", {"selection": lambda path: 99}, X, y, ValueError, "selection callable returned 99"),
    ("unprefixed extra parameter", {"momentum": 0.9}, X, y, TypeError, r"unexpected parameters \['momentum'\].*optimizer__momentum"),
    ("diverging learning rate", {"lr": 1e12}, X * 1e6, y, ValueError, r"diverged at IMP level 0, epoch \d+.*learning rate \(lr=1e\+12\)"),
    ("diverging optimizer__lr", {"optimizer__lr": 1e12}, X * 1e6, y, ValueError, r"learning rate \(optimizer__lr=1e\+12\)"),
    ("optimizer needs a closure", {"optimizer": torch.optim.LBFGS}, X, y, ValueError, r"optimizer=LBFGS needs a closure.*torch.optim.SGD"),
    ("module__hidden_layer_sizes with the MLP", {"module__hidden_layer_sizes": (8,)}, X, y, ValueError, r"module__hidden_layer_sizes is set by skimp.*use hidden_layer_sizes"),
    ("module__n_features with the MLP", {"module__n_features": 5}, X, y, ValueError, r"module__n_features is set by skimp.*input width from X"),
    ("module__n_classes with the MLP", {"module__n_classes": 2}, X, y, ValueError, r"module__n_classes is set by skimp.*output width from y"),
    ("iterator_train__generator", {"iterator_train__generator": torch.Generator()}, X, y, ValueError, r"iterator_train__generator is set by skimp.*use random_state"),
    ("nothing to prune", {"module": Dense}, X, y, ValueError, r"Dense has no weights to prune.*unpruned_layers"),
    ("module that fails on X", {"module": torch.nn.Linear(3, 2)}, X, y, ValueError, r"Linear failed on the first 2 rows of X \(shape \(2, 5\)\)"),
    ("module returning 1-D", {"module": OneDim}, X, y, ValueError, r"must return a 2-D tensor of logits.*returned \(2,\)"),
    # Callbacks that cannot follow IMP's levels; the rest run as in skorch (tests/test_training.py).
    ("EarlyStopping", {"callbacks": [EarlyStopping()]}, X, y, ValueError, r"EarlyStopping cannot run inside IMP \(callback 'EarlyStopping'\).*patience="),
    ("EarlyStopping set through set_params", {"callbacks": [("stop", LRScheduler())], "callbacks__stop": EarlyStopping()}, X, y, ValueError, r"EarlyStopping cannot run inside IMP \(callback 'stop'\)"),
    ("LoadInitState", {"callbacks": [LoadInitState(checkpoint=None)]}, X, y, ValueError, r"LoadInitState .*over the rewound survivors.*checkpoint_dir="),
    ("InputShapeSetter", {"callbacks": [InputShapeSetter()]}, X, y, ValueError, r"InputShapeSetter .*builds the module again.*module__"),
    ("ReduceLROnPlateau with rewinding", {"rewind_epoch": 1, "callbacks": [LRScheduler(policy=ReduceLROnPlateau)]}, X, y, ValueError, "cannot be fast-forwarded to rewind_epoch"),
    ("ReduceLROnPlateau set through set_params", {"rewind_epoch": 1, "callbacks": [LRScheduler(policy=StepLR, step_size=1)], "callbacks__LRScheduler__policy": ReduceLROnPlateau}, X, y, ValueError, r"ReduceLROnPlateau\) depends on the losses seen \(callback 'LRScheduler'\).*cannot be fast-forwarded"),
    ("ReduceLROnPlateau named by string through set_params", {"rewind_epoch": 1, "callbacks": [LRScheduler(policy=StepLR, step_size=1)], "callbacks__LRScheduler__policy": "ReduceLROnPlateau"}, X, y, ValueError, "cannot be fast-forwarded"),
]


@pytest.mark.parametrize("params, X_fit, y_fit, error, match",
                         [case[1:] for case in FIT_CASES], ids=[case[0] for case in FIT_CASES])
def test_fit_rejects(params, X_fit, y_fit, error, match):
    clf = fast_clf(**params)
    with pytest.raises(error, match=match):
        clf.fit(X_fit, y_fit)
    assert not [k for k in vars(clf) if k.endswith("_")]  # never half-fitted


def test_fit_rejects_sample_weight():
    from sklearn.utils.validation import has_fit_parameter

    clf = fast_clf()
    with pytest.raises(TypeError, match=r"does not support sample_weight.*np\.repeat.*resample"):
        clf.fit(X, y, sample_weight=np.ones(len(y)))
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['epochs'\]"):
        clf.fit(X, y, epochs=3)
    assert not [k for k in vars(clf) if k.endswith("_")]
    # sample_weight=None is no weighting; fit declares no sample_weight, so that
    # meta-estimators such as BaggingClassifier resample rows instead of weighting.
    assert clf.fit(X, y, sample_weight=None).imp_path_["level"].tolist() == [0, 1, 2]
    assert not has_fit_parameter(clf, "sample_weight")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available.*device='cpu'"):
        fast_clf(device="cuda").fit(X, y)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function", "score"])
def test_wrong_number_of_features_at_predict(method):
    clf = fast_clf().fit(X, y)
    args = (X[:, :3], y) if method == "score" else (X[:, :3],)
    with pytest.raises(ValueError, match="X has 3 features, but PrunedNetClassifier is expecting 5"):
        getattr(clf, method)(*args)


def test_predict_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        fast_clf().predict(X)


def test_string_features_at_predict():
    clf = fast_clf().fit(X, y)
    with pytest.raises(ValueError, match="encode string columns first"):
        clf.predict(np.array([["a"] * 5] * 3))


def test_checkpoint_dir_that_is_a_file(tmp_path):
    a_file = tmp_path / "ckpt"
    a_file.write_text("not a folder")
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*ckpt' is a file; pass a folder"):
        fast_clf(checkpoint_dir=a_file).fit(X, y)
    with pytest.raises(ValueError, match=r"checkpoint_dir=.*cannot be written"):
        fast_clf(checkpoint_dir=a_file / "below").fit(X, y)


def test_wrong_row_shape_at_predict_for_nd_input():
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(10, 2))
    X3 = X.reshape(40, 5, 1).repeat(2, axis=2)
    clf = fast_clf(module=module).fit(X3, y)
    assert clf.predict(X3).shape == (40,)
    with pytest.raises(ValueError, match=r"rows of shape \(5, 3\).*fitted on rows of shape \(5, 2\)"):
        clf.predict(np.zeros((4, 5, 3)))


EARLY_STOPPING_CASES = [
    ("early_stopping not a bool", {"early_stopping": "yes"}, y,
     r"'early_stopping' parameter .* must be an instance of 'bool'"),
    ("early_stopping an int", {"early_stopping": 1}, y,
     r"'early_stopping' parameter .* must be an instance of 'bool'"),
    ("n_iter_no_change zero", {"early_stopping": True, "n_iter_no_change": 0}, y,
     r"'n_iter_no_change' parameter .* must be an int in the range \[1, inf\) or None"),
    ("n_iter_no_change negative", {"early_stopping": True, "n_iter_no_change": -2}, y,
     r"'n_iter_no_change' parameter .* must be an int in the range \[1, inf\) or None"),
    ("n_iter_no_change a float", {"early_stopping": True, "n_iter_no_change": 2.5}, y,
     r"'n_iter_no_change' parameter .* must be an int in the range \[1, inf\) or None"),
    ("n_iter_no_change a bool", {"early_stopping": True, "n_iter_no_change": True}, y,
     r"'n_iter_no_change' parameter .* must be an int in the range \[1, inf\) or None"),
    ("n_iter_no_change without early_stopping", {"n_iter_no_change": 3}, y,
     r"n_iter_no_change=3 needs early_stopping=True.*Set early_stopping=True, or "
     r"n_iter_no_change=None"),
    ("early_stopping with a callable selection",
     {"early_stopping": True, "selection": lambda path: 0}, y,
     r"early_stopping=True scores every epoch under selection.*'accuracy' or 'loss'"),
    ("early_stopping without a validation split", {"early_stopping": True}, y_rare,
     r"Classes \[2\] have fewer than 2 rows.*early_stopping=True scores this split"),
]


@pytest.mark.parametrize("params, y_fit, match", [c[1:] for c in EARLY_STOPPING_CASES],
                         ids=[c[0] for c in EARLY_STOPPING_CASES])
def test_fit_rejects_early_stopping_settings_and_keeps_a_fitted_model(params, y_fit, match):
    fitted = fast_clf().fit(X, y)
    before = fitted.predict_proba(X)
    with pytest.raises(ValueError, match=match):
        fitted.set_params(**params).fit(X, y_fit)
    # Nothing is lost: the refused fit leaves the fitted model as it was.
    np.testing.assert_array_equal(fitted.predict_proba(X), before)
    assert fitted.best_epoch_ == fitted.max_epochs == 3
