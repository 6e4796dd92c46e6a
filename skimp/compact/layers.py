"""The layers of a compact ticket: dense or CSR, built once and never trained.

Both kernels multiply CSR weights with ``torch.nn.functional.embedding_bag``,
which reads the CSR arrays as they are: ``col_indices`` as indices, the row
starts as offsets, ``values`` as per-sample weights.
``benchmarks/bench_compact.py`` compares it with ``torch.sparse.mm`` on the
same CSR matrix, and docs/performance.md gives the figures.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CompactLinear", "CompactConv2d"]


def csr_arrays(matrix):
    """Row starts, column indices and values of a 2-D tensor's nonzeros.

    CSR by hand, because torch's ``to_sparse_csr`` warns that it is beta.

    Parameters
    ----------
    matrix : torch.Tensor of shape (n_rows, n_columns)

    Returns
    -------
    starts : torch.Tensor of int64, shape (n_rows,)
        Where each row's entries begin in ``columns`` and ``values``.
    columns : torch.Tensor of int64
    values : torch.Tensor, of the dtype of ``matrix``
    """
    rows, columns = matrix.nonzero(as_tuple=True)  # row-major order
    starts = torch.zeros(matrix.shape[0], dtype=torch.int64)
    starts[1:] = torch.bincount(rows, minlength=matrix.shape[0]).cumsum(0)[:-1]
    return starts, columns, matrix[rows, columns]


class CompactLinear(nn.Module):
    """A linear layer acting on transposed activations ``(features, rows)``.

    Built by :func:`skimp.compact.compact_mlp`; holds either a dense
    ``weight`` or the CSR arrays ``offsets`` (row starts), ``col_indices``
    and ``values``.

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
            starts, columns, values = csr_arrays(weight)
            # int32 indices halve their bytes; embedding_bag takes them as is.
            self.register_buffer("offsets", starts.to(torch.int32))
            self.register_buffer("col_indices", columns.to(torch.int32))
            self.register_buffer("values", values.clone())
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


class CompactConv2d(nn.Module):
    """A 2-D convolution of a compact ticket, dense or sparse.

    Built by :func:`skimp.compact.compact_convnet`; takes and returns
    ``(rows, channels, height, width)`` like ``torch.nn.Conv2d``. A dense
    layer calls ``conv2d``. A sparse one (stride 1 only) runs one
    ``embedding_bag`` per kernel tap that has weights: the input, laid out
    channel by channel, zero-padded and flattened, then shifted by the tap's
    offset, is a table of one row per channel, which the tap's CSR weights
    gather and sum without copying. Positions where a shift wraps across a row
    or an image fall outside the output and are cropped.

    Parameters
    ----------
    weight : torch.Tensor of shape (out_channels, in_channels, kh, kw)
    bias : torch.Tensor of shape (out_channels,) or (out_channels, out_height, out_width)
        A map where a removed channel's contribution varies over the image
        (see :func:`skimp.compact.compact_convnet`).
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
                starts, columns, tap_values = csr_arrays(weight[:, :, i, j])
                if columns.numel() == 0:
                    continue
                taps.append((i * dh * wp + j * dw, start, start + columns.numel()))
                offsets.append(starts)
                cols.append(columns)
                values.append(tap_values)
                start += columns.numel()
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
