"""Pruning masks: which weights of a network are still alive.

A :class:`Mask` maps parameter names (as in ``module.named_parameters()``) to
boolean tensors of the same shape. ``True`` means the weight survives. Masks are
immutable in spirit: :func:`skimp.pruning.prune` returns a new, smaller mask,
so the sequence of masks that IMP produces shrinks monotonically by
construction. :meth:`skimp.training.MaskedNet.apply_mask` zeroes the pruned
weights of a network.
"""

import numpy as np
import torch
from torch import nn

__all__ = ["Mask", "prunable_layer_names", "prunable_parameter_names"]

PRUNABLE_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def prunable_layer_names(module):
    """Names of the Linear and Conv submodules of ``module``.

    The root module itself is named ``""`` when it is such a layer.
    """
    return [name for name, sub in module.named_modules() if isinstance(sub, PRUNABLE_LAYERS)]


def prunable_parameter_names(module, exclude=()):
    """Names of the weights that IMP may prune.

    Only the ``weight`` of Linear and Conv layers is prunable. Biases and
    normalisation parameters never are, following the lottery-ticket papers.
    A weight shared by several layers (tied weights) is one tensor: it is
    listed once, under the name ``module.named_parameters()`` gives it, and
    pruned once; it stays dense if any layer that uses it is excluded.

    Parameters
    ----------
    module : torch.nn.Module
        The network.
    exclude : str or iterable of str, default=()
        Names of submodules whose weight is left dense, for instance the
        output layer of the reference MLP. A ``str`` is one name.

    Returns
    -------
    names : list of str
        Parameter names such as ``"hidden.0.weight"`` (or ``"weight"`` when
        ``module`` itself is a Linear layer), in module order.

    Raises
    ------
    ValueError
        If an excluded name is not a submodule of ``module``.
    """
    exclude = {exclude} if isinstance(exclude, str) else set(exclude)
    layers = dict(module.named_modules())
    unknown = sorted(exclude - set(layers))
    if unknown:
        raise ValueError(
            f"unpruned_layers names {unknown}, which are not submodules of "
            f"{type(module).__name__}; name layers, not parameters. The prunable "
            f"layers are {prunable_layer_names(module)}.")
    kept_dense = {id(layers[name].weight) for name in exclude
                  if isinstance(layers[name], PRUNABLE_LAYERS)}
    prunable = {id(sub.weight) for sub in layers.values()
                if isinstance(sub, PRUNABLE_LAYERS)} - kept_dense
    # named_parameters() yields a shared tensor once, under its first name.
    return [name for name, param in module.named_parameters() if id(param) in prunable]


class Mask:
    """Boolean keep-masks over a network's prunable weights.

    Parameters
    ----------
    tensors : dict of str to torch.Tensor
        Boolean tensors keyed by parameter name.

    Examples
    --------
    >>> import torch
    >>> from skimp.masks import Mask
    >>> mask = Mask({"weight": torch.tensor([[True, False], [True, True]])})
    >>> mask.n_alive, mask.density
    (3, 0.75)
    """

    def __init__(self, tensors):
        self.tensors = {name: t.to(torch.bool) for name, t in tensors.items()}

    @classmethod
    def ones_like(cls, module, names):
        """Full mask (nothing pruned) over the parameters ``names``."""
        params = dict(module.named_parameters())
        return cls({n: torch.ones_like(params[n], dtype=torch.bool) for n in names})

    @property
    def n_total(self):
        """Number of prunable weights, alive or not."""
        return sum(t.numel() for t in self.tensors.values())

    @property
    def n_alive(self):
        """Number of weights that survive."""
        return int(sum(int(t.sum()) for t in self.tensors.values()))

    @property
    def density(self):
        """Fraction of prunable weights that survive."""
        return self.n_alive / self.n_total

    def summary(self):
        """What survives in each masked weight, ready for ``pandas.DataFrame``.

        Returns
        -------
        summary : dict of str to ndarray
            One entry per masked parameter, in mask order: ``layer``
            (parameter name), ``shape`` (tuples, dtype object),
            ``n_weights``, ``n_alive``, ``density``, ``dead_inputs`` (input
            units or channels, dimension 1, with no surviving weight) and
            ``dead_outputs`` (output units or channels, dimension 0, with
            none).

        Examples
        --------
        >>> import torch
        >>> from skimp.masks import Mask
        >>> mask = Mask({"fc.weight": torch.tensor([[True, False], [False, False]])})
        >>> table = mask.summary()
        >>> table["n_alive"].tolist(), table["dead_inputs"].tolist(), table["dead_outputs"].tolist()
        ([1], [1], [1])
        """
        rows = {key: [] for key in ("layer", "shape", "n_weights", "n_alive", "density",
                                    "dead_inputs", "dead_outputs")}
        for name, keep in self.tensors.items():
            per_output = keep.flatten(1).sum(1)
            per_input = keep.transpose(0, 1).flatten(1).sum(1)
            rows["layer"].append(name)
            rows["shape"].append(tuple(keep.shape))
            rows["n_weights"].append(keep.numel())
            rows["n_alive"].append(int(keep.sum()))
            rows["density"].append(float(keep.sum()) / keep.numel())
            rows["dead_inputs"].append(int((per_input == 0).sum()))
            rows["dead_outputs"].append(int((per_output == 0).sum()))
        summary = {key: np.asarray(values) for key, values in rows.items() if key != "shape"}
        # An object array of tuples: np.asarray would stack the shapes into a 2-D array.
        summary["shape"] = np.empty(len(rows["shape"]), dtype=object)
        summary["shape"][:] = rows["shape"]
        return {key: summary[key] for key in rows}

    def to(self, device):
        """Copy of the mask on ``device``."""
        return Mask({n: t.to(device) for n, t in self.tensors.items()})

    def to_bits(self):
        """Compact form: each tensor packed to 1 bit per weight with numpy.

        Returns
        -------
        bits : dict of str to (shape, packed uint8 array)
        """
        return {
            n: (tuple(t.shape), np.packbits(t.cpu().numpy().ravel()))
            for n, t in self.tensors.items()
        }

    @classmethod
    def from_bits(cls, bits):
        """Inverse of :meth:`to_bits`."""
        tensors = {}
        for n, (shape, packed) in bits.items():
            count = int(np.prod(shape))
            flat = np.unpackbits(packed, count=count).astype(bool)
            tensors[n] = torch.from_numpy(flat.reshape(shape))
        return cls(tensors)

    def compress(self, state_dict):
        """Copy of ``state_dict`` on the CPU that keeps only surviving weights.

        Masked entries become 1-D tensors of their surviving values, so storing
        every IMP level costs about ``1 / pruning_fraction`` dense copies in all
        rather than one per level. :meth:`expand` inverts it exactly.
        """
        return {
            k: (v[self.tensors[k]] if k in self.tensors else v).detach().cpu().clone()
            for k, v in state_dict.items()
        }

    def expand(self, compressed):
        """Full state dict from :meth:`compress` output; pruned entries are 0."""
        state = {}
        for k, v in compressed.items():
            if k in self.tensors:
                keep = self.tensors[k].cpu()
                full = torch.zeros(keep.shape, dtype=v.dtype)
                full[keep] = v
                v = full
            state[k] = v
        return state

    def __le__(self, other):
        """True when every weight alive here is alive in ``other``."""
        return all(not bool((t & ~other.tensors[n].to(t.device)).any())
                   for n, t in self.tensors.items())

    def __repr__(self):
        return f"Mask(n_alive={self.n_alive}, n_total={self.n_total}, density={self.density:.4f})"
