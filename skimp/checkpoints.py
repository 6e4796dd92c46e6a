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
import io
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

__all__ = ["run_key", "CheckpointStore"]

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
    if hasattr(value, "__qualname__"):  # classes and functions: repr has an address
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def run_key(params, X, y):
    """Hash of everything that determines a run's levels.

    Parameters
    ----------
    params : dict
        The estimator's ``get_params()``, including ``random_state``.
    X, y : ndarray
        The data passed to ``fit``, as validated.

    Returns
    -------
    key : str
        20 hex characters.
    """
    digest = hashlib.sha256()
    for name in sorted(set(params) - _KEY_EXCLUDED):
        digest.update(f"{name}={_describe(params[name])};".encode())
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
    """

    def __init__(self, directory, key):
        self.path = Path(directory) / key
        self.path.mkdir(parents=True, exist_ok=True)

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
