"""Compact tickets: a pruned network rebuilt for fast CPU inference.

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
   offsets, ``values`` as per-sample weights); ``benchmarks/bench_compact.py``
   compares it with ``torch.sparse.mm`` on the same CSR matrix, and
   docs/performance.md gives the figures.

Activations flow transposed (features by rows), in chunks of rows that stay
in cache: a CSR layer then gathers whole contiguous rows, and only the input
and the logits are transposed.

:func:`compact_convnet` does the same for convolutional networks such as
:class:`skimp.modules.ConvNet` (convolutions, ReLU, pooling, flatten, then an
MLP): dead channels go, with an exact correction where zero padding makes a
constant channel's contribution vary at the image borders, BatchNorm is
folded into its convolution, and convolutions sparse enough run as one CSR
product per kernel tap. :func:`compact` picks the right one for a module.
Residual networks are not supported.
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from skimp.modules import MLP, ConvNet, ResNet20, _as_images

__all__ = ["compact", "compact_mlp", "compact_convnet", "CompactMLP", "CompactLinear",
           "CompactConvNet", "CompactConv2d", "module_nbytes"]

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


class _CompactNet(nn.Module):
    """What both compact networks hold: the logits when nothing survives."""

    def __init__(self, n_outputs, chunk_size, constant_logits):
        super().__init__()
        self.n_outputs = n_outputs
        self.chunk_size = chunk_size
        if constant_logits is None:
            constant_logits = torch.zeros(n_outputs)
        self.register_buffer("constant_logits", constant_logits.clone())

    @property
    def nbytes(self):
        return module_nbytes(self)


class CompactMLP(_CompactNet):
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
        super().__init__(n_outputs, chunk_size, constant_logits)
        self.layers = nn.ModuleList(layers)
        self.n_features = n_features
        self.flatten = flatten

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
        return _relu_stack(self.layers, X.t().contiguous()).t()

    def extra_repr(self):
        return f"n_features={self.n_features}, n_outputs={self.n_outputs}, nbytes={self.nbytes}"


def _relu_stack(layers, h):
    """Run ``h`` through ``layers`` with a ReLU between each two (none after the last)."""
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        h = layer(h)
        if i < last:
            h = h.relu_()
    return h


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


# --------------------------------------------------------------------------
# Convolutional networks
# --------------------------------------------------------------------------

# Layers that may follow a convolution (after its optional BatchNorm). Each
# acts on every channel separately, so dropping a channel commutes with it,
# and applied to the image that a weightless channel always outputs it gives
# that channel's exact image downstream.
_CHANNEL_WISE = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
                 nn.AdaptiveMaxPool2d)

# Convolution layers whose density (nonzero weights over the compacted
# layer's size) is below this run sparse. On a 2-core AMD EPYC shared with
# other work, one thread, a 3x3 convolution of 64 channels on 28x28 images
# ran sparse 2x to 3x faster than conv2d at density 0.02, 1.5x to 3x at 0.1,
# about as fast at 0.25 and slower at 0.3 (``conv_layer_sweep`` in
# ``benchmarks/bench_compact.py``); 128 channels on 14x14 behaved alike.
CONV_SPARSE_THRESHOLD = 0.1

# Padded pixel positions (images x height x width) per chunk of a sparse
# convolution, so that one tap's output for every channel stays in cache.
# Chunks of 4 images of 30x30 were 2x to 3x faster than chunks of 64.
_CHUNK_POSITIONS = 4096


class CompactConv2d(nn.Module):
    """A 2-D convolution of a compact ticket, dense or sparse.

    Built by :func:`compact_convnet`; takes and returns ``(rows, channels,
    height, width)`` like ``torch.nn.Conv2d``. A dense layer calls
    ``conv2d``. A sparse one (stride 1 only) runs one ``embedding_bag`` per
    kernel tap that has weights: the input, laid out channel by channel,
    zero-padded and flattened, then shifted by the tap's offset, is a table of
    one row per channel, which the tap's CSR weights gather and sum without
    copying. Positions where a shift wraps across a row or an image fall
    outside the output and are cropped.

    Parameters
    ----------
    weight : torch.Tensor of shape (out_channels, in_channels, kh, kw)
    bias : torch.Tensor of shape (out_channels,) or (out_channels, out_height, out_width)
        A map where a removed channel's contribution varies over the image
        (see :func:`compact_convnet`).
    stride, padding, dilation : tuple of int
        As in ``torch.nn.Conv2d``; ``padding`` in pixels, zeros.
    sparse : bool
        Store the weights as CSR per tap; needs ``stride == (1, 1)``.
    input_size : tuple of int
        ``(height, width)`` of the input.
    """

    def __init__(self, weight, bias, *, stride, padding, dilation, sparse, input_size):
        super().__init__()
        self.out_channels, self.in_channels, kh, kw = weight.shape
        self.kernel_size = (kh, kw)
        self.stride, self.padding = tuple(stride), tuple(padding)
        self.dilation, self.input_size = tuple(dilation), tuple(input_size)
        self.sparse = bool(sparse)
        if self.sparse and self.stride != (1, 1):
            raise ValueError(f"a sparse CompactConv2d needs stride (1, 1), got {self.stride}.")
        (ph, pw), (dh, dw) = self.padding, self.dilation
        self.padded_size = (self.input_size[0] + 2 * ph, self.input_size[1] + 2 * pw)
        self.output_size = tuple(
            (size - d * (k - 1) - 1) // s + 1
            for size, d, k, s in zip(self.padded_size, self.dilation, (kh, kw), self.stride))
        self.register_buffer("bias", bias.clone())
        if not self.sparse:
            self.register_buffer("weight", weight.clone())
            return
        # One CSR matrix (out_channels x in_channels) per tap with weights.
        wp = self.padded_size[1]
        taps, offsets, cols, values, start = [], [], [], [], 0
        for i in range(kh):
            for j in range(kw):
                tap = weight[:, :, i, j]
                rows, cols_ij = tap.nonzero(as_tuple=True)  # row-major order
                if rows.numel() == 0:
                    continue
                starts = torch.zeros(self.out_channels, dtype=torch.int64)
                starts[1:] = torch.bincount(rows, minlength=self.out_channels).cumsum(0)[:-1]
                taps.append((i * dh * wp + j * dw, start, start + rows.numel()))
                offsets.append(starts)
                cols.append(cols_ij)
                values.append(tap[rows, cols_ij])
                start += rows.numel()
        self._taps = taps
        empty = torch.zeros(0, dtype=torch.int64)
        self.register_buffer("offsets", torch.stack(offsets).to(torch.int32) if offsets
                             else empty.reshape(0, self.out_channels).to(torch.int32))
        self.register_buffer("col_indices", torch.cat([empty, *cols]).to(torch.int32))
        self.register_buffer("values", torch.cat([weight.new_zeros(0), *values]))

    @property
    def nnz(self):
        """Number of stored weights."""
        return self.values.numel() if self.sparse else self.weight.numel()

    def forward(self, X):
        """The convolution of ``X``, of shape ``(rows, in_channels, height, width)``."""
        plain_bias = self.bias.ndim == 1
        if not self.sparse:
            out = F.conv2d(X, self.weight, self.bias if plain_bias else None, self.stride,
                           self.padding, self.dilation)
            return out if plain_bias else out + self.bias
        n_rows, n_channels = X.shape[0], X.shape[1]
        hp, wp = self.padded_size
        n_positions = n_rows * hp * wp
        (ph, pw) = self.padding
        # Channels first; one zero channel more, as the last channel's
        # shifted table reads past its end.
        flat = F.pad(X.transpose(0, 1), (pw, pw, ph, ph, 0, 0, 0, 1)).reshape(-1)
        out = None
        for t, (shift, start, stop) in enumerate(self._taps):
            table = flat[shift:shift + n_channels * n_positions].view(n_channels, n_positions)
            part = F.embedding_bag(self.col_indices[start:stop], table, self.offsets[t],
                                   mode="sum", per_sample_weights=self.values[start:stop])
            out = part if out is None else out.add_(part)
        if out is None:  # no weight at all: only the bias is left
            out = flat.new_zeros(self.out_channels, n_positions)
        height, width = self.output_size
        out = out.view(self.out_channels, n_rows, hp, wp)[:, :, :height, :width]
        bias = self.bias.reshape(self.out_channels, 1, *self.bias.shape[1:] or (1, 1))
        # Back to rows first: a view, which the next layer reads as it is.
        return (out + bias).transpose(0, 1)

    def extra_repr(self):
        layout = f"csr per tap, nnz={self.nnz}" if self.sparse else "dense"
        bias = "bias map" if self.bias.ndim > 1 else "bias"
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, input_size="
                f"{self.input_size}, {bias}, {layout}")


class CompactConvNet(_CompactNet):
    """A convolutional net whose dead channels and units are gone, as built by
    :func:`compact_convnet`.

    Parameters
    ----------
    features : list of torch.nn.Module
        :class:`CompactConv2d` layers, each followed by its channel-wise
        layers (ReLU, pooling).
    head : list of CompactLinear
        The fully connected layers after flattening, ReLU between them. Empty
        when nothing survives, and the logits are ``constant_logits``.
    input_shape : tuple of int
        ``(channels, height, width)`` of the images.
    n_outputs : int
        Number of logits.
    image_chunk : int, default=256
        Images pushed through the convolutions at a time; small when a
        convolution is sparse, so that its activations stay in cache.
    chunk_size : int, default=256
        Rows pushed through the fully connected layers at a time. A program
        made by ``torch.export`` takes all rows at once instead.
    constant_logits : torch.Tensor of shape (n_outputs,), default=None
        The output when ``head`` is empty.

    Attributes
    ----------
    nbytes : int
        Bytes of the stored weights, biases and indices.
    """

    def __init__(self, features, head, input_shape, n_outputs, *, image_chunk=256,
                 chunk_size=256, constant_logits=None):
        super().__init__(n_outputs, chunk_size, constant_logits)
        self.features = nn.ModuleList(features)
        self.head = nn.ModuleList(head)
        self.input_shape = tuple(input_shape)
        self.n_features = math.prod(self.input_shape)
        self.image_chunk = image_chunk

    def forward(self, X):
        """Logits for images ``X`` of shape ``(n, *input_shape)``, or flat rows."""
        X = _as_images(X.to(self.constant_logits.dtype), self.input_shape, "CompactConvNet")
        n_rows = X.shape[0]
        exporting = torch.compiler.is_exporting()
        # Nothing to compute for an empty batch (torch.export assumes 2 or
        # more rows anyway, so an exported program has no such branch).
        if not self.head or (not exporting and n_rows == 0):
            return self.constant_logits.expand(n_rows, -1).clone()
        # As in CompactMLP: torch.export cannot trace a number of chunks that
        # depends on the batch size, so an exported program takes one chunk.
        if exporting or n_rows <= self.image_chunk:
            h = self._features(X)
        else:
            h = torch.cat([self._features(rows) for rows in X.split(self.image_chunk)], dim=1)
        if exporting or n_rows <= self.chunk_size:
            return self._head(h).t().contiguous()
        return torch.cat([self._head(cols.contiguous())
                          for cols in h.split(self.chunk_size, dim=1)], dim=1).t().contiguous()

    def _features(self, X):
        """Flattened features, transposed for the head: shape ``(n_flat, rows)``."""
        for layer in self.features:
            X = layer(X)
        return X.flatten(1).t().contiguous()

    def _head(self, h):
        return _relu_stack(self.head, h)

    def extra_repr(self):
        return (f"input_shape={self.input_shape}, n_outputs={self.n_outputs}, "
                f"nbytes={self.nbytes}")


def _unsupported_conv(what):
    return TypeError(
        f"compact_convnet supports skimp.modules.ConvNet and torch.nn.Sequential "
        f"stacks of Conv2d layers, each optionally followed by BatchNorm2d and then "
        f"by ReLU and pooling layers, then Flatten and Linear layers separated by "
        f"ReLU (a leading Unflatten, and Dropout or Identity anywhere, are "
        f"allowed); {what}. Use PrunedNetClassifier.level_module() for the masked "
        f"dense network instead, or write the network as such an nn.Sequential.")


def _conv_layers(module):
    """The layers of a supported conv net in order, and the image shape it declares."""
    if isinstance(module, ResNet20):
        raise _unsupported_conv(
            f"{type(module).__name__} is residual: a shortcut adds a block's input to "
            f"its output, so a channel of the residual stream is not dead where one "
            f"convolution has no weights for it, and removing the dead channels inside "
            f"blocks is not implemented")
    if isinstance(module, ConvNet):
        if type(module).forward is not ConvNet.forward:
            raise _unsupported_conv(f"{type(module).__name__} overrides ConvNet.forward")
        layers = [*module.features, module.flatten, *module.hidden, module.output]
        return [c for c in layers if not isinstance(c, _PASS_THROUGH)], module.input_shape
    if not isinstance(module, nn.Sequential):
        raise _unsupported_conv(f"got {type(module).__name__}")
    if type(module).forward is not nn.Sequential.forward:
        raise _unsupported_conv(f"{type(module).__name__} overrides Sequential.forward")
    layers = [c for c in _sequential_children(module) if not isinstance(c, _PASS_THROUGH)]
    if layers and type(layers[0]) is nn.Unflatten:
        if layers[0].dim != 1 or len(layers[0].unflattened_size) != 3:
            raise _unsupported_conv("only Unflatten(1, (channels, height, width)) is supported")
        return layers[1:], tuple(int(s) for s in layers[0].unflattened_size)
    return layers, None


def _numeric_padding(conv):
    """``conv.padding`` in pixels; ``"same"`` is symmetric for odd kernel extents."""
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        extents = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
        if any(e % 2 for e in extents):
            raise _unsupported_conv("padding='same' with an even kernel extent pads "
                                    "unevenly, which is not supported")
        return tuple(e // 2 for e in extents)
    return tuple(conv.padding)


def _parse_convnet(layers):
    """Split the layers into (conv, batchnorm, channel-wise layers) stages and linears."""
    stages, i = [], 0
    while i < len(layers) and type(layers[i]) is nn.Conv2d:
        conv, i = layers[i], i + 1
        if conv.groups != 1 or conv.padding_mode != "zeros":
            raise _unsupported_conv(f"layer {i - 1} is a Conv2d with groups={conv.groups} "
                                    f"and padding_mode={conv.padding_mode!r}; only groups=1 "
                                    f"and zero padding are supported")
        bn = None
        if i < len(layers) and type(layers[i]) is nn.BatchNorm2d:
            bn, i = layers[i], i + 1
            if bn.running_mean is None:
                raise _unsupported_conv(f"layer {i - 1} is a BatchNorm2d without running "
                                        f"statistics (track_running_stats=False)")
        ops = []
        while i < len(layers) and type(layers[i]) in _CHANNEL_WISE:
            if getattr(layers[i], "return_indices", False):
                raise _unsupported_conv(f"layer {i} returns pooling indices")
            ops.append(layers[i])
            i += 1
        stages.append((conv, bn, ops))
    found = type(layers[i]).__name__ if i < len(layers) else "nothing"
    if not stages:
        raise _unsupported_conv(f"layer 0 is {found} where Conv2d was expected")
    if found != "Flatten":
        raise _unsupported_conv(
            f"layer {i} is {found} where Conv2d, BatchNorm2d, ReLU, pooling or Flatten "
            f"was expected")
    if (layers[i].start_dim, layers[i].end_dim) != (1, -1):
        raise _unsupported_conv("only Flatten(start_dim=1, end_dim=-1) is supported")
    rest = layers[i + 1:]
    for j, layer in enumerate(rest):
        expected = nn.Linear if j % 2 == 0 else nn.ReLU
        if type(layer) is not expected:
            raise _unsupported_conv(f"layer {i + 1 + j} after Flatten is "
                                    f"{type(layer).__name__} where {expected.__name__} "
                                    f"was expected")
    if len(rest) % 2 == 0:
        raise _unsupported_conv("it must end with a Linear layer returning logits")
    return stages, rest[::2]


def _image_shape(declared, input_shape, first_conv):
    """The ``(channels, height, width)`` that the first convolution sees."""
    given = None if input_shape is None else tuple(int(s) for s in input_shape)
    if given is not None and len(given) not in (1, 3):
        raise ValueError(f"input_shape must be (channels, height, width) or the width of "
                         f"flat rows, (n_features,); got {input_shape!r}.")
    if given is not None and len(given) == 3:
        if declared is not None and given != declared:
            raise ValueError(f"input_shape={given} disagrees with the module's own image "
                             f"shape {declared}.")
        shape = given
    elif declared is not None:
        shape = declared
        if given is not None and given[0] != math.prod(declared):
            raise ValueError(f"input_shape={given}: flat rows of {given[0]} columns cannot "
                             f"hold the module's images of shape {declared}.")
    else:
        raise ValueError("compact_convnet needs the image shape: pass input_shape=(channels, "
                         "height, width), or start the nn.Sequential with "
                         "nn.Unflatten(1, (channels, height, width)).")
    if shape[0] != first_conv.in_channels:
        raise ValueError(f"images of shape {shape} have {shape[0]} channels but the first "
                         f"Conv2d takes {first_conv.in_channels}.")
    return shape


def _apply(ops, x):
    for op in ops:
        x = op(x)
    return x


@torch.no_grad()
def compact_convnet(module, *, input_shape=None, sparse_threshold=0.25,
                    conv_sparse_threshold=CONV_SPARSE_THRESHOLD, chunk_size=256):
    """Rebuild a pruned convolutional network without its dead channels and units.

    The result computes the same logits as ``module`` in eval mode, up to
    float32 rounding (BatchNorm folding and constant folding are done in
    float64).

    Parameters
    ----------
    module : skimp.modules.ConvNet or torch.nn.Sequential
        Conv2d layers, each optionally followed by BatchNorm2d, then ReLU and
        pooling layers (MaxPool2d, AvgPool2d and their adaptive forms); then
        Flatten and Linear layers separated by ReLU, such as
        ``PrunedNetClassifier.level_module(level)``. Its pruned weights must
        be exactly zero. It is not modified.
    input_shape : tuple of int, default=None
        ``(channels, height, width)`` of the images, needed for an
        ``nn.Sequential`` that does not start with
        ``nn.Unflatten(1, (channels, height, width))``. A ConvNet declares its
        own; passing the shape of one row of X as fitted, ``(n_features,)`` or
        the image shape, is also accepted and checked against it.
    sparse_threshold : float, default=0.25
        Fully connected layers below this density are stored as CSR, as in
        :func:`compact_mlp`.
    conv_sparse_threshold : float, default=0.1
        Convolutions with stride 1 below this density run sparse, one CSR
        matrix per kernel tap; 0 keeps every convolution dense.
    chunk_size : int, default=256
        Rows pushed through the fully connected layers at a time.

    Returns
    -------
    compact : CompactConvNet
        On the CPU, in eval mode, picklable, exportable with ``torch.export``.
        It takes images of shape ``(n, *input_shape)`` or flat rows.

    Raises
    ------
    TypeError
        If ``module`` is not such a network; residual networks such as
        :class:`skimp.modules.ResNet20` are not supported.
    ValueError
        If the image shape is missing or does not fit the network.

    Notes
    -----
    A channel is removed when nothing downstream reads it (the next layer's
    weights from it are all zero) or when it has no incoming weights. Such a
    channel outputs a fixed image, ``relu(bias)`` before pooling, whatever
    the input; it is folded into the next layer exactly before removal. For a
    Linear layer after Flatten that is a bias term. For a convolution it is
    not, in general: with zero padding the taps that fall outside the image
    see zeros, so the fixed image's contribution is smaller at the borders
    than inside. It is computed by convolving the fixed image itself, and
    kept as a per-position bias map (``CompactConv2d.bias`` of shape
    ``(out_channels, height, width)``) where it varies over the image,
    and as a plain bias where it does not. Channels removed from a layer's
    output are also removed from the next layer's input, and removals
    repeat until nothing changes, as in :func:`compact_mlp`. BatchNorm2d
    (running statistics, as in eval mode) is folded into the preceding
    convolution, which keeps pruned weights at zero.

    Examples
    --------
    >>> import torch
    >>> from skimp.compact import compact_convnet
    >>> from skimp.modules import ConvNet
    >>> net = ConvNet(3, (1, 8, 8), n_conv_pairs=1, width=0.125).eval()
    >>> with torch.no_grad():
    ...     net.features[2].weight[:4] = 0    # channels 0-3 of conv 2 have no inputs
    ...     net.features[2].bias[:4] = 0.5    # and output the constant 0.5
    >>> compact = compact_convnet(net)
    >>> compact.features[2].out_channels
    4
    >>> X = torch.randn(5, 64)
    >>> bool(torch.allclose(compact(X), net(X), atol=1e-5))
    True
    """
    layers, declared = _conv_layers(module)
    stages, linears = _parse_convnet(layers)
    image_shape = _image_shape(declared, input_shape, stages[0][0])
    f64 = torch.float64
    dtype = linears[-1].weight.dtype

    # Weights and biases in float64, BatchNorm folded in; a conv's bias is a
    # map over its output positions so that folded contributions can vary.
    weights, biases, convs, sizes = [], [], [], []
    x = torch.zeros(1, *image_shape, dtype=f64)
    for conv, bn, ops in stages:
        W = conv.weight.detach().to("cpu", f64).clone()
        b = (torch.zeros(W.shape[0], dtype=f64) if conv.bias is None
             else conv.bias.detach().to("cpu", f64).clone())
        if bn is not None:
            gamma = torch.ones_like(b) if bn.weight is None else bn.weight.detach().to("cpu", f64)
            beta = torch.zeros_like(b) if bn.bias is None else bn.bias.detach().to("cpu", f64)
            scale = gamma / torch.sqrt(bn.running_var.detach().to("cpu", f64) + bn.eps)
            W *= scale.reshape(-1, 1, 1, 1)
            b = (b - bn.running_mean.detach().to("cpu", f64)) * scale + beta
        params = dict(stride=tuple(conv.stride), padding=_numeric_padding(conv),
                      dilation=tuple(conv.dilation))
        sizes.append(tuple(x.shape[2:]))
        x = F.conv2d(x, W, None, **params)
        biases.append(b.reshape(-1, 1, 1).expand(-1, *x.shape[2:]).clone())
        weights.append(W)
        convs.append(params)
        x = _apply(ops, x)
    n_flat = x[0].numel()
    if n_flat != linears[0].in_features:
        raise ValueError(
            f"the convolutions turn images of shape {image_shape} into {n_flat} features "
            f"but the first Linear layer takes {linears[0].in_features}; pass the "
            f"input_shape that the network was built for.")
    for layer in linears:
        weights.append(layer.weight.detach().to("cpu", f64).clone())
        biases.append(torch.zeros(layer.out_features, dtype=f64) if layer.bias is None
                      else layer.bias.detach().to("cpu", f64).clone())

    n_conv = len(stages)

    def fixed_output(s, units):
        """What the ``units`` of stage ``s`` output whatever the input."""
        if s < n_conv:
            return _apply(stages[s][2], biases[s][units].unsqueeze(0))[0]
        return biases[s][units].clamp_min(0)

    def fold(s, units):
        """Add the fixed output of ``units`` of stage ``s`` to stage ``s + 1``'s bias."""
        image = fixed_output(s, units)
        W_next = weights[s + 1]
        if s + 1 < n_conv:
            # Exact at the borders, where zero padding hides part of the image.
            biases[s + 1] += F.conv2d(image.unsqueeze(0), W_next[:, units], None,
                                      **convs[s + 1])[0]
        else:
            columns = W_next.reshape(W_next.shape[0], len(units), -1)[:, units]
            biases[s + 1] += columns.reshape(W_next.shape[0], -1) @ image.reshape(-1)

    # As in compact_mlp: a removed unit's weights, bias and outgoing weights
    # are zeroed, so the tests below reach a fixed point.
    alive = [torch.ones(W.shape[0], dtype=torch.bool) for W in weights[:-1]]
    changed = True
    while changed:
        changed = False
        for s, keep in enumerate(alive):
            W, W_next = weights[s], weights[s + 1]
            units = W.shape[0]
            incoming = (W != 0).reshape(units, -1).any(dim=1)
            # Weights of the next layer per unit of this one; after Flatten a
            # channel owns a block of height * width columns.
            outgoing = W_next.reshape(W_next.shape[0], units, -1)
            constant = keep & ~incoming
            if constant.any():
                fold(s, constant)
            dead = constant | (keep & ~(outgoing != 0).any(dim=2).any(dim=0))
            if dead.any():
                keep &= ~dead
                W[dead] = 0
                biases[s][dead] = 0
                outgoing[:, dead] = 0
                changed = True

    n_outputs = weights[-1].shape[0]
    constant_logits = biases[-1].to(dtype)
    if not alive[-1].any():
        # Nothing reaches the output: the logits are its folded bias.
        return CompactConvNet([], [], image_shape, n_outputs, chunk_size=chunk_size,
                              constant_logits=constant_logits).eval()

    features, rows_in = [], torch.ones(image_shape[0], dtype=torch.bool)
    any_sparse = False
    for s, (_, _, ops) in enumerate(stages):
        rows = alive[s]
        W = weights[s][rows][:, rows_in]
        bias = biases[s][rows]
        if bool((bias == bias[:, :1, :1]).all()):
            bias = bias[:, 0, 0]  # the same everywhere: a plain bias
        density = (W != 0).sum().item() / max(W.numel(), 1)
        sparse = density < conv_sparse_threshold and convs[s]["stride"] == (1, 1)
        any_sparse |= sparse
        features.append(CompactConv2d(W.to(dtype), bias.to(dtype), sparse=sparse,
                                      input_size=sizes[s], **convs[s]))
        features.extend(copy.deepcopy(op) for op in ops)
        rows_in = rows

    head = []
    first = weights[n_conv]
    # Flatten's columns of the surviving channels, in their order.
    W_first = first.reshape(first.shape[0], len(rows_in), -1)[:, rows_in]
    head_weights = [W_first.reshape(first.shape[0], -1), *weights[n_conv + 1:]]
    rows_in = None
    for s, (W, b) in enumerate(zip(head_weights, biases[n_conv:])):
        unit = n_conv + s
        rows = alive[unit] if unit < len(alive) else torch.ones(W.shape[0], dtype=torch.bool)
        W = W[rows] if rows_in is None else W[rows][:, rows_in]
        density = (W != 0).sum().item() / max(W.numel(), 1)
        head.append(CompactLinear(W.to(dtype), b[rows].to(dtype),
                                  sparse=density < sparse_threshold))
        rows_in = rows
    padded = features[0].padded_size
    image_chunk = (max(1, _CHUNK_POSITIONS // (padded[0] * padded[1])) if any_sparse
                   else chunk_size)
    return CompactConvNet(features, head, image_shape, n_outputs, image_chunk=image_chunk,
                          chunk_size=chunk_size, constant_logits=constant_logits).eval()


def _has_conv(module):
    return any(isinstance(m, nn.Conv2d) for m in module.modules())


def compact(module, *, input_shape=None, sparse_threshold=0.25,
            conv_sparse_threshold=CONV_SPARSE_THRESHOLD, chunk_size=256):
    """Rebuild a pruned network for fast CPU inference, MLP or convolutional.

    Calls :func:`compact_convnet` for a network with Conv2d layers and
    :func:`compact_mlp` otherwise.

    Parameters
    ----------
    module : torch.nn.Module
        A masked ticket, such as ``PrunedNetClassifier.level_module(level)``.
    input_shape : tuple of int, default=None
        Shape of one input row, e.g. ``X.shape[1:]`` of the data the network
        was fitted on; convolutional networks use it as described in
        :func:`compact_convnet`, MLPs ignore it.
    sparse_threshold, conv_sparse_threshold, chunk_size
        As in :func:`compact_convnet`; MLPs ignore ``conv_sparse_threshold``.

    Returns
    -------
    compact : CompactMLP or CompactConvNet

    Raises
    ------
    TypeError
        If the network is neither kind, naming what is supported.

    Examples
    --------
    >>> import torch
    >>> from skimp.compact import compact
    >>> from skimp.modules import MLP, ConvNet
    >>> type(compact(MLP(4, 3, (8,)))).__name__
    'CompactMLP'
    >>> type(compact(ConvNet(3, (1, 8, 8), width=0.125))).__name__
    'CompactConvNet'
    """
    if _has_conv(module):
        return compact_convnet(module, input_shape=input_shape,
                               sparse_threshold=sparse_threshold,
                               conv_sparse_threshold=conv_sparse_threshold,
                               chunk_size=chunk_size)
    return compact_mlp(module, sparse_threshold=sparse_threshold, chunk_size=chunk_size)
