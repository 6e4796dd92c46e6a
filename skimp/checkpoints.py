"""Level checkpoints, so that a killed IMP run loses at most one level.

Each finished level is written as two files in a folder named by the run key:

- ``level_NNN.pt``: tensors only (mask bits, trained weights, rewind point and
  RNG states), read back with ``torch.load(weights_only=True)``, which never
  executes code;
- ``level_NNN.json``: plain JSON with the level's ``imp_path_`` row and the
  SHA-256 of the ``.pt`` file. It is written last, so it marks the level as
  complete.

Both are written to a temporary file first and renamed into place, which is
atomic on POSIX file systems: a crash leaves either the old record or the new
one, never half of one. A record that fails to load or whose checksum does not
match is reported with a warning and recomputed.
"""

import hashlib
import inspect
import io
import json
import linecache
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["run_key", "describe_architecture", "CheckpointStore"]

# Parameters that cannot change what any single level computes. Leaving them
# out of the key lets a rerun with more levels or another selection rule reuse
# the levels already done.
_KEY_EXCLUDED = {"verbose", "checkpoint_dir", "max_levels", "patience", "selection"}


def _describe(value):
    """A stable text for a parameter value, the same in every process."""
    if isinstance(value, torch.nn.Module):
        digest = hashlib.sha256()
        for name, tensor in value.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
        return f"{type(value).__module__}.{type(value).__qualname__}:{digest.hexdigest()}"
    if isinstance(value, np.ndarray):  # repr would elide large arrays
        array = np.ascontiguousarray(value)
        digest = hashlib.sha256(array.tobytes()).hexdigest()
        return f"ndarray{array.dtype}{array.shape}:{digest}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__}[{', '.join(_describe(v) for v in value)}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_describe(v)}" for k, v in sorted(value.items())) + "}"
    if inspect.isfunction(value):  # a user's callable: its code decides the levels
        return f"{value.__module__}.{value.__qualname__}:{_source(value)}"
    if hasattr(value, "__qualname__"):  # classes and builtins: repr has an address
        return f"{value.__module__}.{value.__qualname__}"
    if hasattr(value, "get_params"):  # skorch callbacks and sklearn-style objects
        kind = f"{type(value).__module__}.{type(value).__qualname__}"
        return f"{kind}({_describe(value.get_params())})"
    return repr(value)


def _source(obj):
    """The source of a function or class, or its bytecode where there is none."""
    try:
        # A file edited since it was first read must be read again.
        linecache.checkcache(inspect.getsourcefile(obj))
        return inspect.getsource(obj)
    except (OSError, TypeError):  # defined where Python keeps no source
        return _describe_code(obj)


def describe_architecture(module):
    """A stable text for a network's architecture and code.

    It lists the name, shape and dtype of every parameter and buffer, and
    the source of every module class in the network that is not torch's own
    (its functions' bytecode where Python cannot read the source). A class
    edited in a notebook (a new ``forward`` or new layer sizes under the same
    name) therefore gets another text.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    text : str
    """
    parts = [f"{kind}:{name}:{tuple(t.shape)}:{t.dtype}"
             for kind, items in (("param", module.named_parameters()),
                                 ("buffer", module.named_buffers()))
             for name, t in items]
    classes = {type(sub) for sub in module.modules()}
    for cls in sorted(classes, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        if cls.__module__.startswith("torch."):
            continue
        parts.append(f"class:{cls.__module__}.{cls.__qualname__}:{_source(cls)}")
    return "\n".join(parts)


def _describe_code(obj):
    """The bytecode of a function, or of a class's own functions."""
    if inspect.isfunction(obj):
        return "<bytecode>" + _code_text(obj.__code__)
    return "<bytecode>" + ";".join(
        f"{name}:{_code_text(value.__code__)}" for name, value in sorted(vars(obj).items())
        if hasattr(value, "__code__"))


def _code_text(code):
    """Bytecode, constants and names; nested code objects in full, not by address."""
    consts = [_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}:{consts}:{code.co_names!r}"


def run_key(params, X, y, module=None):
    """Hash of everything that determines a run's levels.

    Parameters
    ----------
    params : dict
        The estimator's ``get_params()``, including ``random_state``.
    X, y : ndarray
        The data passed to ``fit``, as validated.
    module : torch.nn.Module, default=None
        The initialized network; its :func:`describe_architecture` joins the
        key, so a changed network never reuses another's levels.

    Returns
    -------
    key : str
        20 hex characters.
    """
    digest = hashlib.sha256()
    for name in sorted(set(params) - _KEY_EXCLUDED):
        digest.update(f"{name}={_describe(params[name])};".encode())
    if module is not None:
        digest.update(describe_architecture(module).encode())
    for array in (X, y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes() if array.dtype != object else repr(array.tolist()).encode())
    return digest.hexdigest()[:20]


def _atomic_write(path, data):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CheckpointStore:
    """The records of one run, in ``directory / key``.

    Parameters
    ----------
    directory : str or path-like
        The user's ``checkpoint_dir``.
    key : str
        From :func:`run_key`.

    Raises
    ------
    ValueError
        If ``directory`` is a file or the folder cannot be written.
    """

    def __init__(self, directory, key):
        directory = Path(directory)
        if directory.exists() and not directory.is_dir():
            raise ValueError(
                f"checkpoint_dir={str(directory)!r} is a file; pass a folder (it is "
                f"created if missing), or checkpoint_dir=None to fit without "
                f"checkpoints.")
        self.path = directory / key
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=self.path).close()
        except OSError as exc:
            raise ValueError(
                f"checkpoint_dir={str(directory)!r} cannot be written ({exc}); pass "
                f"a folder you can write to, or checkpoint_dir=None.") from exc

    def _files(self, level):
        return self.path / f"level_{level:03d}.pt", self.path / f"level_{level:03d}.json"

    def save(self, level, tensors, row):
        """Write ``level``'s record atomically.

        Parameters
        ----------
        level : int
        tensors : dict
            Nested dicts of tensors (and ints/strings), loadable with
            ``weights_only=True``.
        row : dict
            The level's ``imp_path_`` row: plain numbers.
        """
        pt_file, json_file = self._files(level)
        buffer = io.BytesIO()
        torch.save(tensors, buffer)
        payload = buffer.getvalue()
        _atomic_write(pt_file, payload)
        meta = {"level": level, "row": row, "sha256": hashlib.sha256(payload).hexdigest()}
        _atomic_write(json_file, json.dumps(meta).encode())

    def load(self, level):
        """``(tensors, row)`` of ``level``, or None when absent or damaged."""
        pt_file, json_file = self._files(level)
        if not json_file.exists():
            return None
        try:
            meta = json.loads(json_file.read_text())
            payload = pt_file.read_bytes()
            if hashlib.sha256(payload).hexdigest() != meta["sha256"]:
                raise ValueError("checksum mismatch")
            tensors = torch.load(io.BytesIO(payload), weights_only=True)
            return tensors, meta["row"]
        except Exception as exc:  # any damage means: recompute, never crash
            warnings.warn(f"Checkpoint of IMP level {level} in {self.path} is damaged "
                          f"({type(exc).__name__}: {exc}); recomputing that level.",
                          RuntimeWarning, stacklevel=2)
            return None

    def load_completed(self):
        """Records of levels 0, 1, ... up to the first missing or damaged one."""
        records = []
        while (record := self.load(len(records))) is not None:
            records.append(record)
        return records
