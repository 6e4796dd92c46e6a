"""Compact tickets: a pruned MLP rebuilt for fast CPU inference.

A ticket is a dense network whose pruned weights are exactly zero, so it pays
for every zero at inference time. :func:`compact_mlp` rebuilds it:

1. **Dead units are removed**, propagated through the layers until nothing
   changes. A hidden unit whose outgoing weights are all zero cannot affect
   the output and is dropped. A hidden unit whose incoming weights are all
   zero is not dead: it outputs the constant ``relu(bias)``, which is folded
   into the next layer's bias before the unit is dropped. Removing units can
   empty further rows and columns, hence the propagation.
2. **The surviving weights are stored densely, or as CSR** where the layer is
   sparse enough for that to be faster (``sparse_threshold``). CSR layers are
   multiplied with ``torch.nn.functional.embedding_bag``, which reads the
   CSR arrays as they are (``col_indices`` as indices, the row starts as
   offsets, ``values`` as per-sample weights) and on the CPU measured about
   twice as fast as ``torch.sparse.mm`` on the same CSR matrix
   (``benchmarks/bench_compact.py``).

Activations flow transposed (features by rows), in chunks of rows that stay
in cache: a CSR layer then gathers whole contiguous rows, and only the input
and the logits are transposed.
"""

import torch
import torch.nn.functional as F
from torch import nn

from skimp.modules import MLP

__all__ = ["compact_mlp", "CompactMLP", "CompactLinear", "module_nbytes"]

# Layers that are the identity in eval mode.
_PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.AlphaDropout)


def module_nbytes(module):
    """Bytes held by a module's parameters and buffers.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    nbytes : int
        Sum of ``numel * element_size`` over distinct tensors; this is what
        the weights cost in memory, not what pickling adds around them.
    """
    tensors = {id(t): t for t in (*module.parameters(), *module.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values())


class CompactLinear(nn.Module):
    """A linear layer acting on transposed activations ``(features, rows)``.

    Built by :func:`compact_mlp`; holds either a dense ``weight`` or the CSR
    arrays ``offsets`` (row starts), ``col_indices`` and ``values``.

    Parameters
    ----------
    weight : torch.Tensor of shape (out_features, in_features)
        The layer's weights; zeros are dropped when ``sparse`` is True.
    bias : torch.Tensor of shape (out_features,)
    sparse : bool
        Store ``weight`` as CSR and multiply with ``embedding_bag``.
    """

    def __init__(self, weight, bias, sparse):
        super().__init__()
        self.in_features = weight.shape[1]
        self.out_features = weight.shape[0]
        self.sparse = bool(sparse)
        self.register_buffer("bias", bias.reshape(-1, 1).clone())
        if self.sparse:
            # CSR by hand: torch's to_sparse_csr warns that it is beta.
            # int32 indices halve their bytes; embedding_bag takes them as is.
            rows, cols = weight.nonzero(as_tuple=True)  # row-major order
            starts = torch.zeros(self.out_features, dtype=torch.int64)
            starts[1:] = torch.bincount(rows, minlength=self.out_features).cumsum(0)[:-1]
            self.register_buffer("offsets", starts.to(torch.int32))
            self.register_buffer("col_indices", cols.to(torch.int32))
            self.register_buffer("values", weight[rows, cols].clone())
        else:
            self.register_buffer("weight", weight.clone())

    @property
    def nnz(self):
        """Number of stored weights."""
        return self.values.numel() if self.sparse else self.weight.numel()

    def forward(self, h):
        """``weight @ h + bias`` for ``h`` of shape ``(in_features, rows)``."""
        if self.sparse:
            out = F.embedding_bag(self.col_indices, h, self.offsets, mode="sum",
                                  per_sample_weights=self.values)
            return out.add_(self.bias)
        return torch.addmm(self.bias, self.weight, h)

    def extra_repr(self):
        layout = f"csr, nnz={self.nnz}" if self.sparse else "dense"
        return f"in_features={self.in_features}, out_features={self.out_features}, {layout}"


class CompactMLP(nn.Module):
    """A ReLU MLP whose dead units are gone, as built by :func:`compact_mlp`.

    Parameters
    ----------
    layers : list of CompactLinear
        ReLU after every layer but the last. Empty when no hidden unit
        survives, and the logits are the constant ``constant_logits``.
    n_features : int
        Input width, unchanged by compaction.
    n_outputs : int
        Number of logits.
    flatten : bool, default=False
        Flatten each input row first, as a leading ``nn.Flatten`` did.
    chunk_size : int, default=256
        Rows pushed through the network at a time. A program made from the
        module by ``torch.export`` takes all rows at once instead.
    constant_logits : torch.Tensor of shape (n_outputs,), default=None
        The output when ``layers`` is empty.

    Attributes
    ----------
    nbytes : int
        Bytes of the stored weights, biases and indices.
    """

    def __init__(self, layers, n_features, n_outputs, *, flatten=False,
                 chunk_size=256, constant_logits=None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.n_features = n_features
        self.n_outputs = n_outputs
        self.flatten = flatten
        self.chunk_size = chunk_size
        if constant_logits is None:
            constant_logits = torch.zeros(n_outputs)
        self.register_buffer("constant_logits", constant_logits.clone())

    @property
    def nbytes(self):
        return module_nbytes(self)

    def forward(self, X):
        """Logits for the rows of ``X``, shape ``(n_rows, n_outputs)``."""
        # flatten(1) and X.shape[0], not len(X): under torch.export, len()
        # would fix the number of rows to the example's.
        if self.flatten and X.ndim > 1:
            X = X.flatten(1)
        X = X.to(self.constant_logits.dtype)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected input of shape (n_rows, {self.n_features}), "
                             f"got {tuple(X.shape)}.")
        n_rows = X.shape[0]
        if not self.layers:
            return self.constant_logits.expand(n_rows, -1).clone()
        # The number of chunks depends on the number of rows, which
        # torch.export cannot trace for a dynamic batch size: an exported
        # program takes all rows in one chunk.
        if torch.compiler.is_exporting() or n_rows <= self.chunk_size:
            return self._forward_rows(X).contiguous()
        return torch.cat([self._forward_rows(rows) for rows in X.split(self.chunk_size)])

    def _forward_rows(self, X):
        h = X.t().contiguous()
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < last:
                h = h.relu_()
        return h.t()

    def extra_repr(self):
        return f"n_features={self.n_features}, n_outputs={self.n_outputs}, nbytes={self.nbytes}"


def _unsupported(what):
    return TypeError(
        f"compact_mlp supports skimp.modules.MLP and torch.nn.Sequential stacks "
        f"of Linear layers separated by ReLU (a leading Flatten, and Dropout or "
        f"Identity anywhere, are allowed); {what}. Use "
        f"PrunedNetClassifier.level_module() for the masked dense network "
        f"instead, or write the network as such an nn.Sequential.")


def _sequential_children(module):
    for child in module:
        if type(child) is nn.Sequential:
            yield from _sequential_children(child)
        else:
            yield child


def _linear_stack(module):
    """The Linear layers of a supported module, and whether it flattens first."""
    if isinstance(module, MLP):
        if type(module).forward is not MLP.forward:
            raise _unsupported(f"{type(module).__name__} overrides MLP.forward")
        return [*module.hidden, module.output], False
    if not isinstance(module, nn.Sequential):
        raise _unsupported(f"got {type(module).__name__}")
    if type(module).forward is not nn.Sequential.forward:
        raise _unsupported(f"{type(module).__name__} overrides Sequential.forward")
    layers = [c for c in _sequential_children(module) if not isinstance(c, _PASS_THROUGH)]
    flatten = bool(layers) and type(layers[0]) is nn.Flatten
    if flatten:
        if (layers[0].start_dim, layers[0].end_dim) != (1, -1):
            raise _unsupported("only Flatten(start_dim=1, end_dim=-1) is supported")
        layers = layers[1:]
    # Expected: Linear, ReLU, Linear, ..., ReLU, Linear.
    for i, layer in enumerate(layers):
        expected = nn.Linear if i % 2 == 0 else nn.ReLU
        if type(layer) is not expected:
            raise _unsupported(f"layer {i} after Flatten/Dropout/Identity is "
                               f"{type(layer).__name__} where {expected.__name__} "
                               f"was expected")
    if len(layers) % 2 == 0:
        raise _unsupported("it must end with a Linear layer returning logits")
    return layers[::2], flatten


@torch.no_grad()
def compact_mlp(module, *, sparse_threshold=0.25, chunk_size=256):
    """Rebuild a pruned ReLU MLP without its dead units, for fast inference.

    The result computes the same logits as ``module`` in eval mode, up to
    float32 rounding (the bias folding is done in float64).

    Parameters
    ----------
    module : skimp.modules.MLP or torch.nn.Sequential
        A network of Linear layers separated by ReLU, such as
        ``PrunedNetClassifier.level_module(level)``. Its pruned weights must
        be exactly zero. It is not modified.
    sparse_threshold : float, default=0.25
        Layers whose remaining density (nonzero weights over the compacted
        layer's size) is below this are stored as CSR, the others densely.
        On a 2-core AMD EPYC, CSR was faster than dense up to a density of
        about 0.3 on 300x784 and 100x300 layers, and no faster on a 10x100
        one (``benchmarks/bench_compact.py``); 0 keeps every layer dense.
    chunk_size : int, default=256
        Rows pushed through the network at a time; small enough that a
        chunk's activations stay in cache.

    Returns
    -------
    compact : CompactMLP
        On the CPU, in eval mode, picklable.

    Raises
    ------
    TypeError
        If ``module`` is not an MLP of Linear and ReLU layers.

    Examples
    --------
    >>> import torch
    >>> from skimp.compact import compact_mlp
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(),
    ...                           torch.nn.Linear(3, 2))
    >>> with torch.no_grad():
    ...     net[2].weight[:, 0] = 0  # unit 0's output is unused
    >>> compact = compact_mlp(net)
    >>> compact.layers[0].out_features
    2
    >>> X = torch.randn(5, 4)
    >>> bool(torch.allclose(compact(X), net(X), atol=1e-6))
    True
    """
    linears, flatten = _linear_stack(module)
    # float64 so that folding constant units into biases adds no rounding.
    weights = [layer.weight.detach().to("cpu", torch.float64).clone() for layer in linears]
    biases = [torch.zeros(W.shape[0], dtype=torch.float64) if layer.bias is None
              else layer.bias.detach().to("cpu", torch.float64).clone()
              for layer, W in zip(linears, weights)]
    alive = [torch.ones(W.shape[0], dtype=torch.bool) for W in weights[:-1]]

    # A removed unit's row, bias and outgoing column are zeroed, so "all
    # incoming (outgoing) weights are zero" is a plain row (column) test and
    # the loop reaches a fixed point.
    changed = True
    while changed:
        changed = False
        for layer, keep in enumerate(alive):
            W, W_next = weights[layer], weights[layer + 1]
            constant = keep & ~(W != 0).any(dim=1)
            if constant.any():
                biases[layer + 1] += W_next[:, constant] @ biases[layer][constant].clamp_min(0)
            dead = constant | (keep & ~(W_next != 0).any(dim=0))
            if dead.any():
                keep &= ~dead
                W[dead] = 0
                biases[layer][dead] = 0
                W_next[:, dead] = 0
                changed = True

    n_features = weights[0].shape[1]
    n_outputs = weights[-1].shape[0]
    dtype = linears[-1].weight.dtype
    if alive and not alive[-1].any():
        # No hidden unit left: the logits are the folded output bias.
        return CompactMLP([], n_features, n_outputs, flatten=flatten,
                          chunk_size=chunk_size,
                          constant_logits=biases[-1].to(dtype)).eval()

    layers = []
    rows_in = torch.ones(n_features, dtype=torch.bool)
    for layer, (W, b) in enumerate(zip(weights, biases)):
        rows = alive[layer] if layer < len(alive) else torch.ones(W.shape[0], dtype=torch.bool)
        W = W[rows][:, rows_in]
        density = (W != 0).sum().item() / max(W.numel(), 1)
        layers.append(CompactLinear(W.to(dtype), b[rows].to(dtype),
                                    sparse=density < sparse_threshold))
        rows_in = rows
    return CompactMLP(layers, n_features, n_outputs, flatten=flatten,
                      chunk_size=chunk_size,
                      constant_logits=biases[-1].to(dtype)).eval()
