"""Level checkpoints, so that a killed IMP run loses at most one level.

:class:`CheckpointStore` owns the record format: :meth:`CheckpointStore.save_level`
writes a finished :class:`LevelState` with its rewind point and the RNG states
the next level starts from (:func:`rng_states`), and
:meth:`CheckpointStore.load_level` reads one back and checks that it fits the
network, so :mod:`skimp.imp` only runs levels.

Each finished level is written as two files in a folder named by the run key:

- ``level_NNN.pt``: tensors only (mask bits, kept weights, rewind point, RNG
  states and, when ``early_stopping`` kept an earlier epoch, the weights the
  level ended with), read back with ``torch.load(weights_only=True)``, which never
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
from dataclasses import dataclass
from pathlib import Path

import torch

from skimp._keys import describe_architecture, run_key
from skimp.masks import Mask

# run_key and describe_architecture live in skimp._keys, the key's own
# module, and are part of this module's face.
__all__ = ["run_key", "describe_architecture", "CheckpointStore", "LevelState", "rng_states",
           "set_rng_states"]

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


@dataclass
class LevelState:
    """What is kept of one finished level: its mask and trained weights.

    Attributes
    ----------
    level : int
    mask_bits : dict
        :meth:`skimp.masks.Mask.to_bits` of the level's mask.
    weights : dict
        :meth:`skimp.masks.Mask.compress` of the kept state dict: the last
        epoch's or, with ``early_stopping``, the best epoch's.
    final_weights : dict or None, default=None
        The same for the state dict the level ended with, when it is not the
        kept one; the next level prunes it.
    """

    level: int
    mask_bits: dict
    weights: dict
    final_weights: dict = None

    @property
    def mask(self):
        return Mask.from_bits(self.mask_bits)

    def state_dict(self, epoch="kept"):
        """Full state dict of the trained level, pruned weights exactly 0.

        ``epoch="last"`` gives the weights the level ended with.
        """
        if epoch == "last" and self.final_weights is not None:
            return self.mask.expand(self.final_weights)
        return self.mask.expand(self.weights)


def rng_states(generator, device):
    """The random states a run continues from after a level.

    On CUDA they include the device's generator: Dropout and transforms
    such as :class:`skimp.transforms.RandomCropFlip` draw from it, so a
    resumed level must start it where the uninterrupted run had it. On the
    CPU it is never read, which would initialise CUDA on a machine that has
    it.

    Parameters
    ----------
    generator : torch.Generator
        The net's batch-order generator (``iterator_train__generator``).
    device : str or torch.device
        The net's device.

    Returns
    -------
    states : dict of str to torch.Tensor
        ``batch_rng``, ``torch_rng`` and, on CUDA, ``cuda_rng``.
    """
    states = {"batch_rng": generator.get_state(), "torch_rng": torch.get_rng_state()}
    device = torch.device(device)
    if device.type == "cuda":
        states["cuda_rng"] = torch.cuda.get_rng_state(device)
    return states


def set_rng_states(states, generator, device):
    """Restore what :func:`rng_states` returned.

    Parameters
    ----------
    states : dict of str to torch.Tensor
    generator : torch.Generator
        The net's batch-order generator.
    device : str or torch.device
        The net's device; the CUDA generator is set on CUDA only.
    """
    generator.set_state(states["batch_rng"])
    torch.set_rng_state(states["torch_rng"])
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.set_rng_state(states["cuda_rng"], device)


def _check_fits(state, rewind, module, prunable):
    """Raise ValueError unless a stored level loads into ``module`` exactly."""
    if set(state.mask_bits) != set(prunable):
        raise ValueError(f"its mask covers {sorted(state.mask_bits)}, the network "
                         f"prunes {sorted(prunable)}")
    expected = module.state_dict()
    stored_dicts = (("weights", state.state_dict()), ("final weights", state.state_dict("last")),
                    ("rewind point", rewind))
    for name, stored in stored_dicts:
        if set(stored) != set(expected):
            raise ValueError(f"its {name} hold other tensors than the network's")
        for key, tensor in stored.items():
            if tuple(tensor.shape) != tuple(expected[key].shape):
                raise ValueError(f"{key} has shape {tuple(tensor.shape)} in its {name}, "
                                 f"{tuple(expected[key].shape)} in the network")


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

    def save_level(self, state, row, rewind, rng):
        """Write a finished level, and what the next level starts from.

        Parameters
        ----------
        state : LevelState
        row : dict
            The level's ``imp_path_`` row: plain numbers.
        rewind : dict of str to torch.Tensor
            The rewind point (a state dict), on any device.
        rng : dict of str to torch.Tensor
            From :func:`rng_states`, taken after the level.
        """
        record = {
            "mask": {n: {"bits": torch.from_numpy(bits), "shape": list(shape)}
                     for n, (shape, bits) in state.mask_bits.items()},
            "weights": state.weights,
            "rewind": {k: v.cpu() for k, v in rewind.items()},
            **rng,
        }
        if state.final_weights is not None:
            record["final"] = state.final_weights
        self.save(state.level, record, row)

    def load_level(self, level, module, prunable, device):
        """Read back what :meth:`save_level` wrote, if it fits the network.

        Parameters
        ----------
        level : int
        module : torch.nn.Module
            The network the level must load into exactly.
        prunable : iterable of str
            The parameters the network prunes; the stored mask must cover
            these.
        device : str or torch.device
            The net's device. A record from a CPU run holds no state of the
            CUDA generator, without which a run on CUDA cannot continue
            exactly: on CUDA such a record is recomputed, not trusted.

        Returns
        -------
        loaded : tuple or None
            ``(state, row, rewind, rng)``: the :class:`LevelState`, its
            ``imp_path_`` row, the rewind point on the CPU and the RNG
            states for :func:`set_rng_states`. None, with a
            ``RuntimeWarning``, when the level is absent, damaged or does
            not fit.
        """
        loaded = self.load(level)
        if loaded is None:
            return None
        record, row = loaded
        try:
            bits = {n: (tuple(m["shape"]), m["bits"].numpy()) for n, m in record["mask"].items()}
            state = LevelState(level, bits, record["weights"], record.get("final"))
            _check_fits(state, record["rewind"], module, prunable)
            rng = {key: record[key] for key in ("batch_rng", "torch_rng")}
            if torch.device(device).type == "cuda":
                if "cuda_rng" not in record:
                    raise ValueError("it holds no state of the CUDA generator, which "
                                     "a run on CUDA needs to continue exactly")
                rng["cuda_rng"] = record["cuda_rng"]
        except (KeyError, TypeError, ValueError) as exc:
            warnings.warn(f"Checkpoint of IMP level {level} in {self.path} does not "
                          f"fit this network ({exc}); recomputing from that level.",
                          RuntimeWarning, stacklevel=4)
            return None
        return state, row, record["rewind"], rng
