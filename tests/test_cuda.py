"""device="cuda" end to end. Skipped where torch sees no CUDA device.

Run them on a GPU machine with ``pytest -m cuda``.
"""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from ._helpers import fast_clf

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

# CPU and GPU kernels round float32 differently; nothing else differs.
ATOL = 1e-5


@pytest.fixture(scope="module")
def cuda_fit(digits):
    X, y = digits
    return fast_clf(device="cuda", max_levels=3, max_epochs=5,
                    optimizer__momentum=0.9).fit(X, y)


def test_fit_and_predict_on_cuda(cuda_fit, digits):
    X, y = digits
    clf = cuda_fit
    params = dict(clf.net_.module_.named_parameters())
    assert all(p.device.type == "cuda" for p in params.values())
    # The mask held the pruned weights at exactly zero through momentum.
    for name, keep in clf.net_.mask_.tensors.items():
        assert keep.device.type == "cuda"
        assert torch.count_nonzero(params[name][~keep]) == 0
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 10) and np.allclose(proba.sum(1), 1)
    assert np.mean(clf.predict(X) == y) > 0.5
    # The same IMP levels, densities and pruning counts as on the CPU.
    cpu = fast_clf(max_levels=3, max_epochs=5, optimizer__momentum=0.9).fit(X, y)
    np.testing.assert_array_equal(clf.imp_path_["n_params"], cpu.imp_path_["n_params"])
    staged = list(clf.staged_predict_proba(X[:20]))
    assert len(staged) == 4 and np.allclose(staged[clf.best_level_], proba[:20], atol=ATOL)


def test_grid_search_with_cuda(digits):
    X, y = digits
    grid = GridSearchCV(fast_clf(device="cuda"), {"hidden_layer_sizes": [(8,), (16,)]},
                        cv=2, n_jobs=1).fit(X, y)
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert next(grid.best_estimator_.net_.module_.parameters()).device.type == "cuda"


def test_compact_module_of_a_cuda_fit_runs_on_cpu(cuda_fit, digits):
    X, _ = digits
    clf = cuda_fit
    compact = clf.compact_module()
    assert all(t.device.type == "cpu" for t in compact.buffers()) and not compact.training
    Xt = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        reference = clf.level_module(clf.best_level_).cpu()(Xt)
        logits = compact(Xt)
    assert float((logits - reference).abs().max()) <= 1e-4
    # Against the logits computed on the GPU, too.
    assert np.abs(logits.numpy() - clf.decision_function(X)).max() <= 1e-4
    # The fitted net is still on the GPU: compacting copies.
    assert next(clf.net_.module_.parameters()).device.type == "cuda"


def test_pickled_cuda_fit_loads_without_cuda(cuda_fit, digits, tmp_path):
    X, _ = digits
    clf = cuda_fit
    (tmp_path / "clf.pkl").write_bytes(pickle.dumps(clf))
    np.save(tmp_path / "X.npy", X)
    code = (
        "import pickle, sys, warnings, numpy as np, torch; from pathlib import Path;"
        "d = Path(sys.argv[1]); assert not torch.cuda.is_available();"
        "warnings.simplefilter('ignore');"  # skorch's 'loading on cpu instead'
        "clf = pickle.loads((d / 'clf.pkl').read_bytes());"
        "assert next(clf.net_.module_.parameters()).device.type == 'cpu';"
        "np.save(d / 'p.npy', clf.predict_proba(np.load(d / 'X.npy')))")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", code, tmp_path], check=True, cwd=ROOT, env=env)
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), clf.predict_proba(X),
                               rtol=0, atol=ATOL)
    # In a process with CUDA the clone is on the GPU and predicts identically.
    clone = pickle.loads(pickle.dumps(clf))
    assert next(clone.net_.module_.parameters()).device.type == "cuda"
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))


def test_convnet_with_augmentation_and_schedule_on_cuda(digits):
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import MultiStepLR

    from skimp.modules import ConvNet
    from skimp.transforms import RandomCropFlip

    X, y = digits
    images = X.reshape(-1, 1, 8, 8).astype(np.float32)
    clf = fast_clf(module=ConvNet, module__width=0.125, module__hidden_layer_sizes=(32,),
                   device="cuda", max_levels=2, rewind_epoch=1,
                   train_transform=RandomCropFlip(padding=1),
                   callbacks=[LRScheduler(policy=MultiStepLR, milestones=[2], gamma=0.1)])
    clf.fit(images, y)
    params = dict(clf.net_.module_.named_parameters())
    for name, keep in clf.net_.mask_.tensors.items():
        assert params[name].device.type == "cuda"
        assert torch.count_nonzero(params[name][~keep]) == 0
    assert clf.optimizer is torch.optim.SGD and clf.n_params_ > 0
    compact = clf.compact_module()
    logits = compact(torch.as_tensor(images)).numpy()
    ticket = clf.level_module(clf.best_level_).cpu()
    with torch.no_grad():
        on_cpu = ticket(torch.as_tensor(images)).numpy()
    np.testing.assert_allclose(logits, on_cpu, atol=1e-4)
    # cuDNN computes float32 convolutions in TF32 by default on Ampere and
    # later GPUs (torch.backends.cudnn.allow_tf32): about 3 decimal digits.
    np.testing.assert_allclose(clf.decision_function(images), on_cpu, atol=5e-3)


def test_resnet20_trains_on_cuda():
    from skimp.modules import ResNet20

    rng = np.random.default_rng(0)
    X = rng.random((260, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, 260)
    clf = fast_clf(module=ResNet20, module__width=4, device="cuda", max_levels=1,
                   iterator_train__drop_last=True).fit(X, y)
    assert next(clf.net_.module_.parameters()).device.type == "cuda"
    assert clf.predict_proba(X[:7]).shape == (7, 10)


class DropoutMLP(torch.nn.Module):
    """An MLP with Dropout, which draws from the CUDA generator at every step."""

    unpruned_layers = ("output",)

    def __init__(self):
        super().__init__()
        self.hidden = torch.nn.Linear(64, 32)
        self.dropout = torch.nn.Dropout(0.3)
        self.output = torch.nn.Linear(32, 10)

    def forward(self, X):
        return self.output(self.dropout(self.hidden(X).relu()))


def test_resumed_cuda_run_with_dropout_and_augmentation_matches_an_uninterrupted_one(
        digits, tmp_path):
    from skimp.checkpoints import CheckpointStore
    from skimp.transforms import RandomCropFlip

    X, y = digits
    params = dict(module=DropoutMLP, device="cuda", max_epochs=4,
                  train_transform=RandomCropFlip(padding=1, image_shape=(1, 8, 8)))
    uninterrupted = fast_clf(max_levels=3, **params).fit(X, y)
    # A run stopped after level 1, then resumed from its checkpoints.
    fast_clf(max_levels=1, checkpoint_dir=tmp_path, **params).fit(X, y)
    resumed = fast_clf(max_levels=3, checkpoint_dir=tmp_path, **params).fit(X, y)
    (run,) = tmp_path.iterdir()
    record, _ = CheckpointStore(tmp_path, run.name).load(1)
    assert record["cuda_rng"].dtype == torch.uint8 and record["cuda_rng"].numel() > 0
    for key in ("n_params", "train_loss", "val_loss", "val_accuracy"):
        np.testing.assert_array_equal(resumed.imp_path_[key], uninterrupted.imp_path_[key],
                                      err_msg=key)
    np.testing.assert_array_equal(resumed.predict_proba(X), uninterrupted.predict_proba(X))
