"""Seconds per epoch of one IMP level: OpenLTH (the authors' code) / skimp.

Trains one level of the MLP 784-300-100-10 in OpenLTH
(github.com/facebookresearch/open_lth) with its ``mnist_lenet_300_100``
default hyperparameters, and the same level with skimp's
``PrunedNetClassifier``, on the same Fashion-MNIST training images, on this
CPU. The two are interleaved (OpenLTH, skimp, skimp, OpenLTH, ...) after one
untimed warm-up pair, so that other load on the machine hits both alike.
Each side's figure is the wall time of the whole level divided by its
epochs; the ratio is taken pair by pair and its median and minimum printed.

    python benchmarks/bench_openlth.py --openlth PATH            # ~70 s on 2 cores
    python benchmarks/bench_openlth.py --openlth PATH --quick    # ~10 s; rough, test eval dominates
    python benchmarks/bench_openlth.py --openlth PATH --epochs 4 --repeats 5

``PATH`` is an OpenLTH checkout (``git clone`` of the repository above);
this script never downloads anything, and exits saying so when ``PATH`` or
the Fashion-MNIST IDX files (``--data``, default
``/usr/share/datasets/fashion-mnist``) are missing.

What each side runs
-------------------
OpenLTH: its own command line, in this process, as
``open_lth.py lottery --default_hparams=mnist_lenet_300_100 --levels=0
--training_steps=<K>ep``. Level 0 of a lottery run is chosen over a plain
``train`` run because it is what every IMP level runs: the network wrapped
in ``PrunedModel`` (whose forward multiplies the weights by the mask, here
all ones) trained by ``standard_train``; a ``train`` run would skip that
mask. Everything else is OpenLTH's, unchanged: its data set class (each
example turned into a PIL image, then ``ToTensor`` and ``Normalize``), its
``DataLoader`` (``num_workers=0``, its platform default), SGD at lr 0.1,
batch 128, no momentum, no weight decay, a constant LR schedule stepped
every batch, and its standard callbacks: the test set (10,000 rows)
evaluated before training and after every epoch, a checkpoint (model and
optimizer state) written after every epoch, the initial and final weights,
mask, hparams and logger written to disk. With its defaults it does not
evaluate the training set (``eval_on_train=False``).

skimp: ``PrunedNetClassifier(hidden_layer_sizes=(300, 100), max_levels=0,
max_epochs=K, early_stopping=False, ...)`` with OpenLTH's batch size,
learning rate, optimizer (``torch.optim.SGD``) and momentum, read from
OpenLTH's ``default_hparams``. ``max_levels=0`` trains level 0 only (one
level); skimp holds a mask at level 0 too (all ones, applied after every
step). ``validation_fraction`` is the smallest allowed: it is raised to one
row per class, so 10 of the 60,000 rows are held out and 59,990 train, in
469 batches as OpenLTH's 60,000. With ``early_stopping=False`` and no
callbacks skimp does not score the validation split after each epoch; at
the end of the level it scores the training rows and the 10 validation rows
once. It writes nothing to disk. Its input is the same images, normalized
with OpenLTH's MNIST mean and std once, before timing, as a user passes a
prepared array; OpenLTH converts and normalizes every example at every
epoch, which is part of what it does per epoch.

Both: torch pinned to 1 thread (``torch.set_num_threads(1)``, and skimp's
``n_threads=1``), CPU only. A second line gives each framework's own
per-epoch timer, without the level's fixed costs: OpenLTH's test-callback
``time`` between two epochs (one training epoch, one checkpoint and one test
evaluation) and skimp's skorch history ``dur`` (one training epoch).

Offline shim and compatibility patches (in this process only; no OpenLTH
file is edited)
--------------------------------------------------------------------------
* ``torchvision`` (not installed, and not needed by skimp): a stand-in
  package is written to a temporary folder and put first on ``sys.path``.
  It holds only what OpenLTH touches on this path: ``transforms.Compose``,
  ``ToTensor`` and ``Normalize``, whose code follows torchvision 0.28's
  (``to_tensor`` of a PIL image, ``normalize`` out of place, with the same
  checks and usage logging); ``datasets.MNIST``, which reads the raw IDX
  files from ``<dataset root>/mnist/MNIST/raw`` as torchvision's does and
  never downloads; and placeholders for ``datasets.CIFAR10`` and
  ``models.ResNet`` so that OpenLTH's registries import. The Fashion-MNIST
  files are unpacked there under MNIST's names, so OpenLTH's ``mnist``
  data set reads Fashion-MNIST.
* Platform: a subclass of OpenLTH's ``local`` platform, registered as
  ``skimp_bench`` and chosen with ``--platform=skimp_bench``, whose
  ``root`` (a fresh temporary folder for every run, since OpenLTH skips a
  level whose outputs exist) and ``dataset_root`` are temporary folders
  instead of ``~/open_lth_data`` and ``~/open_lth_datasets``.
* ``numpy.product`` (removed in NumPy 2.0; OpenLTH's LR schedule calls it)
  is set to ``numpy.prod`` when missing.
* ``torch.nn.parallel.DistributedDataParallel`` is replaced by a plain
  ``torch.nn.Module`` subclass while OpenLTH's modules import, then put
  back: in torch 2.13 it also derives from an ABC (``Joinable``), so
  OpenLTH's ``class DistributedDataParallel(Model, DDP)`` in
  ``models/base.py`` has no consistent MRO and fails to import. OpenLTH
  uses that class only on a distributed platform, never here.
Nothing else was needed with torch 2.13, NumPy 2.4 and Pillow 13.
"""

import argparse
import contextlib
import gzip
import io
import os
import re
import shutil
import statistics
import sys
import tempfile
import textwrap
from pathlib import Path

import common  # also puts the checkout on sys.path
import numpy as np
import torch

from skimp import PrunedNetClassifier
from skimp.datasets import load_fashion_mnist

DEFAULT_DATA = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MODEL = "mnist_lenet_300_100"
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081  # OpenLTH's datasets/mnist.py

# Per mode: epochs, timed pairs, warm-up pairs, OpenLTH --subsample_fraction.
SIZES = {"full": (2, 3, 1, None), "quick": (1, 1, 0, 0.1), "smoke": (1, 1, 0, 0.02)}

# --- the offline torchvision stand-in --------------------------------------

SHIM = {
    "__init__.py": '''
        """Offline stand-in for torchvision, written by skimp's benchmarks/bench_openlth.py.

        Only what OpenLTH's MNIST path uses; never downloads.
        """
        from . import datasets, models, transforms  # noqa: F401

        __version__ = "0+skimp.bench.shim"
        ''',
    "utils.py": '''
        from types import FunctionType

        import torch


        def _log_api_usage_once(obj):  # as torchvision 0.28's
            module = obj.__module__
            if not module.startswith("torchvision"):
                module = f"torchvision.internal.{module}"
            name = obj.__class__.__name__
            if isinstance(obj, FunctionType):
                name = obj.__name__
            torch._C._log_api_usage_once(f"{module}.{name}")
        ''',
    "transforms.py": '''
        """Compose, ToTensor and Normalize, following torchvision 0.28's code."""
        import sys

        import numpy as np
        import torch
        from PIL import Image

        from .utils import _log_api_usage_once


        class Compose:
            def __init__(self, transforms):
                _log_api_usage_once(self)
                self.transforms = transforms

            def __call__(self, img):
                for t in self.transforms:
                    img = t(img)
                return img


        def to_tensor(pic):
            _log_api_usage_once(to_tensor)
            if not isinstance(pic, Image.Image):
                raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
            default_float_dtype = torch.get_default_dtype()
            i16 = "I;16" if sys.byteorder == "little" else "I;16B"
            mode_to_nptype = {"I": np.int32, i16: np.int16, "F": np.float32}
            img = torch.from_numpy(np.array(pic, mode_to_nptype.get(pic.mode, np.uint8), copy=True))
            if pic.mode == "1":
                img = 255 * img
            img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
            img = img.permute((2, 0, 1)).contiguous()
            if isinstance(img, torch.ByteTensor):
                return img.to(dtype=default_float_dtype).div(255)
            return img


        def normalize(tensor, mean, std, inplace=False):
            _log_api_usage_once(normalize)
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(f"img should be Tensor Image. Got {type(tensor)}")
            if not tensor.is_floating_point():
                raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
            if tensor.ndim < 3:
                raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). "
                                 f"Got tensor.size() = {tensor.size()}")
            if not inplace:
                tensor = tensor.clone()
            dtype = tensor.dtype
            mean = torch.as_tensor(mean, dtype=dtype, device=tensor.device)
            std = torch.as_tensor(std, dtype=dtype, device=tensor.device)
            if (std == 0).any():
                raise ValueError(f"std evaluated to zero after conversion to {dtype}.")
            if mean.ndim == 1:
                mean = mean.view(-1, 1, 1)
            if std.ndim == 1:
                std = std.view(-1, 1, 1)
            return tensor.sub_(mean).div_(std)


        class ToTensor:
            def __init__(self):
                _log_api_usage_once(self)

            def __call__(self, pic):
                return to_tensor(pic)


        class Normalize(torch.nn.Module):
            def __init__(self, mean, std, inplace=False):
                super().__init__()
                _log_api_usage_once(self)
                self.mean, self.std, self.inplace = mean, std, inplace

            def forward(self, tensor):
                return normalize(tensor, self.mean, self.std, self.inplace)
        ''',
    "datasets.py": '''
        import os

        import numpy as np
        import torch


        def _read_idx(path):
            """An IDX file as a tensor, as torchvision's read_sn3_pascalvincent_tensor."""
            with open(path, "rb") as f:
                data = f.read()
            ndim = data[3]
            shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
            array = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
            return torch.from_numpy(array.copy()).view(*shape)


        class MNIST:
            """The raw IDX files under ``root/MNIST/raw``; ``download`` is ignored."""

            def __init__(self, root, train=True, transform=None, target_transform=None,
                         download=False):
                raw = os.path.join(root, "MNIST", "raw")
                prefix = "train" if train else "t10k"
                self.data = _read_idx(os.path.join(raw, f"{prefix}-images-idx3-ubyte"))
                self.targets = _read_idx(os.path.join(raw, f"{prefix}-labels-idx1-ubyte")).long()
                self.transform, self.target_transform = transform, target_transform


        class CIFAR10:  # OpenLTH subclasses it at import; not available offline
            def __init__(self, *args, **kwargs):
                raise RuntimeError("the offline torchvision stand-in has MNIST only")
        ''',
    "models/__init__.py": '''
        from . import resnet  # noqa: F401
        from .resnet import ResNet  # noqa: F401
        ''',
    "models/resnet.py": '''
        import torch


        class ResNet(torch.nn.Module):  # OpenLTH subclasses it at import
            def __init__(self, *args, **kwargs):
                raise RuntimeError("the offline torchvision stand-in has no models")


        BasicBlock = Bottleneck = None
        ''',
}


def write_shim(folder):
    for name, text in SHIM.items():
        path = Path(folder, "torchvision", name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


# --- data ------------------------------------------------------------------

def find_idx(data_dir, name):
    for candidate in (Path(data_dir, name), Path(data_dir, name + ".gz")):
        if candidate.exists():
            return candidate
    return None


def idx_bytes(path):
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


# --- OpenLTH ---------------------------------------------------------------

class OpenLTH:
    """OpenLTH's command line, imported from ``checkout``, run in this process."""

    def __init__(self, checkout, workdir, epochs, subsample=None):
        self.workdir = Path(workdir)
        shim = self.workdir / "shim"
        write_shim(shim)
        for path in (str(checkout), str(shim)):
            sys.path.insert(0, path)
        for name in ("torchvision", "datasets", "models", "training", "platforms",
                     "foundations", "lottery", "pruning", "cli", "utils", "open_lth"):
            sys.modules.pop(name, None)  # import them from the checkout and the shim
        if not hasattr(np, "product"):  # removed in NumPy 2.0; OpenLTH's LR schedule uses it
            setattr(np, "product", np.prod)  # noqa: B010 (ruff's NPY rules flag the name)

        # torch 2.13's DistributedDataParallel also derives from an ABC
        # (Joinable), so OpenLTH's class Model(ABC, Module) + DDP has no
        # consistent MRO and models/base.py fails to import. The local
        # platform never distributes, so a plain Module stands in for DDP
        # while OpenLTH's modules import, and torch's is put back after.
        real_ddp = torch.nn.parallel.DistributedDataParallel

        class NotDistributed(torch.nn.Module):
            def __init__(self, *args, **kwargs):
                raise RuntimeError("OpenLTH benchmark: distributed training is not supported")

        torch.nn.parallel.DistributedDataParallel = NotDistributed
        try:
            import models.mnist_lenet
            import open_lth
        finally:
            torch.nn.parallel.DistributedDataParallel = real_ddp
        import platforms.local
        import platforms.registry

        self.dataset_root = self.workdir / "datasets"
        self.root = None
        bench = self

        class BenchPlatform(platforms.local.Platform):
            @property
            def root(self):
                return str(bench.root)

            @property
            def dataset_root(self):
                return str(bench.dataset_root)

        platforms.registry.registered_platforms["skimp_bench"] = BenchPlatform
        self.main = open_lth.main
        self.hparams = models.mnist_lenet.Model.default_hparams()
        self.argv = ["open_lth.py", "lottery", "--platform=skimp_bench",
                     f"--default_hparams={MODEL}", "--levels=0",
                     f"--training_steps={epochs}ep"]
        if subsample is not None:
            self.argv.append(f"--subsample_fraction={subsample}")
        self.runs = 0
        self.log = ""

    def put_data(self, raw_files):
        """The IDX files where torchvision's MNIST reads them, under MNIST's names."""
        raw = self.dataset_root / "mnist" / "MNIST" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for name, data in raw_files.items():
            (raw / name).write_bytes(data)

    def __call__(self):
        # A fresh root every run: OpenLTH skips a level whose outputs exist.
        self.runs += 1
        self.root = self.workdir / f"run{self.runs}"
        out, argv = io.StringIO(), sys.argv
        sys.argv = list(self.argv)
        try:
            with contextlib.redirect_stdout(out):
                self.main()
        finally:
            sys.argv = argv
        self.log = out.getvalue()

    def test_lines(self):
        """(epoch, test accuracy, seconds since the previous evaluation) per evaluation."""
        pattern = re.compile(
            r"^test\tep (\d+)\tit \d+\tloss \S+\tacc ([\d.]+)%\tex \d+\ttime ([\d.]+)s",
            re.MULTILINE)
        return [(int(ep), float(acc) / 100, float(t)) for ep, acc, t in pattern.findall(self.log)]


# --- skimp -----------------------------------------------------------------

class Skimp:
    def __init__(self, X, y, epochs, batch_size, lr, momentum, weight_decay):
        self.X, self.y = X, y
        self.params = dict(
            hidden_layer_sizes=(300, 100), max_levels=0, max_epochs=epochs,
            batch_size=batch_size, lr=lr, optimizer=torch.optim.SGD,
            optimizer__momentum=momentum, optimizer__weight_decay=weight_decay,
            early_stopping=False,
            validation_fraction=1e-9,  # raised to one row per class: the smallest split
            random_state=0, n_threads=1)
        self.clf = None

    def __call__(self):
        self.clf = PrunedNetClassifier(**self.params).fit(self.X, self.y)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--openlth", type=Path, default=None,
                        help="an OpenLTH checkout (git clone of facebookresearch/open_lth)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder of the Fashion-MNIST IDX files (.gz or not)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the level (default 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timed (OpenLTH, skimp) pairs (default 3)")
    args = parser.parse_args(argv)
    mode = common.mode(args)
    epochs, repeats, warmup, subsample = SIZES[mode]
    epochs = args.epochs or epochs
    repeats = args.repeats or repeats

    if args.openlth is None or not (args.openlth / "open_lth.py").is_file() \
            or not (args.openlth / "datasets" / "mnist.py").is_file():
        sys.exit(f"No OpenLTH checkout at {args.openlth}: pass --openlth PATH, a clone of "
                 f"https://github.com/facebookresearch/open_lth (e.g. `git clone "
                 f"https://github.com/facebookresearch/open_lth /tmp/open_lth`). "
                 f"This script never downloads anything.")
    found = {name: find_idx(args.data, name) for name in IDX_FILES}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        sys.exit(f"Fashion-MNIST not found: {', '.join(missing)} (or .gz) missing in {args.data}; "
                 f"pass --data DIR. Nothing was measured.")

    torch.set_num_threads(1)
    raw = {name: idx_bytes(path) for name, path in found.items()}  # OpenLTH's copy
    X_train, y_train = load_fashion_mnist(args.data, subset="train")
    X_test, y_test = load_fashion_mnist(args.data, subset="test")

    def prepare(pixels):  # OpenLTH's Normalize, once, on pixels in [0, 1]
        return ((pixels - MNIST_MEAN) / MNIST_STD).astype(np.float32)

    n_rows = len(X_train) if subsample is None else int(np.ceil(len(X_train) * subsample))
    workdir = tempfile.mkdtemp(prefix="bench_openlth_")
    try:
        openlth = OpenLTH(args.openlth.resolve(), workdir, epochs, subsample)
        openlth.put_data(raw)
        desc = openlth.hparams
        training, batch_size = desc.training_hparams, desc.dataset_hparams.batch_size
        if (training.optimizer_name != "sgd" or training.nesterov_momentum
                or training.milestone_steps or training.warmup_steps):
            sys.exit(f"OpenLTH's {MODEL} defaults changed ({training}); this script expects "
                     f"plain SGD.")
        skimp = Skimp(prepare(X_train[:n_rows]), y_train[:n_rows], epochs, batch_size,
                      training.lr, training.momentum or 0.0, training.weight_decay or 0.0)

        print("OpenLTH / skimp, one IMP level of MLP 784-300-100-10"
              + ("" if mode == "full" else f" (--{mode}: not a measurement)"))
        info = common.machine_info(1)
        info["OpenLTH"] = f"{args.openlth} ({git_head(args.openlth)})"
        info["data"] = f"Fashion-MNIST, {args.data}"
        info["load average"] = ", ".join(f"{v:.2f}" for v in os.getloadavg()) + " (before)"
        print(common.format_info(info))
        print(f"  {'hparams':<14} OpenLTH {MODEL} defaults: batch {batch_size}, "
              f"{training.optimizer_name} lr {training.lr}, momentum {training.momentum}, "
              f"weight decay {training.weight_decay or 0}; {epochs} epoch(s)")
        print(f"  {'rows':<14} OpenLTH trains {n_rows} and tests 10000 after every epoch; "
              f"skimp trains {n_rows - 10} and holds out 10 (validation_fraction minimum)")
        print(f"  {'timing':<14} {repeats} interleaved pair(s) after {warmup} warm-up pair(s); "
              f"1 torch thread", flush=True)

        times_o, times_s = common.interleaved(openlth, skimp, repeats=repeats, warmup=warmup)
        summary = common.ratio_summary(times_o, times_s)

        tests = openlth.test_lines()
        own_o = [t for ep, _, t in tests if ep >= 1]
        own_s = list(skimp.clf.net_.history[:, "dur"])
        test_acc_o = tests[-1][1] if tests else float("nan")
        test_acc_s = skimp.clf.score(prepare(X_test), y_test)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def fmt(values):
        return ", ".join(f"{v:.2f}" for v in values)

    print()
    print(f"{'side':<8} {'s/level (median)':>17} {'s/epoch (median)':>17}   s/level of each run")
    for side, key, times in (("OpenLTH", "a_s", times_o), ("skimp", "b_s", times_s)):
        print(f"{side:<8} {summary[key]:>17.2f} {summary[key] / epochs:>17.2f}   {fmt(times)}")
    print(f"\nOpenLTH / skimp, seconds per epoch: {summary['median']:.2f}x median, "
          f"{summary['min']:.2f}x min ({summary['pairs']} pair(s))")
    if own_o and own_s:
        o, s = statistics.median(own_o), statistics.median(own_s)
        print(f"Own per-epoch timers, last run (no fixed costs): OpenLTH {o:.2f} s "
              f"(train epoch + checkpoint + test eval), skimp {s:.2f} s (train epoch); "
              f"{o / s:.2f}x")
    print(f"Sanity, last run: test accuracy OpenLTH {test_acc_o:.4f}, skimp {test_acc_s:.4f} "
          f"(10000 Fashion-MNIST test rows)")
    summary.update(epochs=epochs, openlth_s_per_epoch=summary["a_s"] / epochs,
                   skimp_s_per_epoch=summary["b_s"] / epochs,
                   test_accuracy=(test_acc_o, test_acc_s))
    return summary


def git_head(path):
    """The commit of a git checkout, or "not a git checkout"."""
    head = Path(path, ".git", "HEAD")
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return Path(path, ".git", ref[5:]).read_text().strip()
        return ref
    except OSError:
        return "commit unknown: not a git checkout"


if __name__ == "__main__":
    main()
