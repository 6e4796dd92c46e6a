"""The compact networks: what :func:`skimp.compact.compact` returns.

Activations of the fully connected part flow transposed (features by rows),
in chunks of rows that stay in cache: a CSR layer then gathers whole
contiguous rows, and only the input and the logits are transposed.
"""

import math

import torch
from torch import nn

from skimp._threads import torch_threads
from skimp.modules import as_images

__all__ = ["CompactMLP", "CompactConvNet", "module_nbytes"]


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


def relu_stack(layers, h):
    """Run ``h`` through ``layers`` with a ReLU between each two (none after the last)."""
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        h = layer(h)
        if i < last:
            h = h.relu_()
    return h


class _CompactNet(nn.Module):
    """What both compact networks hold: the logits when nothing survives, and
    the torch thread count their forward pass runs with."""

    def __init__(self, n_outputs, chunk_size, constant_logits, n_threads=1):
        super().__init__()
        self.n_outputs = n_outputs
        self.chunk_size = chunk_size
        self.n_threads = n_threads
        if constant_logits is None:
            constant_logits = torch.zeros(n_outputs)
        self.register_buffer("constant_logits", constant_logits.clone())

    @property
    def nbytes(self):
        """Bytes of the stored weights, biases and indices."""
        return module_nbytes(self)

    def _constant(self, n_rows):
        return self.constant_logits.expand(n_rows, -1).clone()

    def forward(self, X):
        """Logits for the rows of ``X``, computed with ``n_threads`` torch threads."""
        # Traced programs (torch.export, torch.compile) hold the operations
        # only: the thread count is the caller's business there.
        if torch.compiler.is_compiling() or torch.compiler.is_exporting():
            return self._forward(X)
        # Modules pickled before n_threads existed run as they did.
        with torch_threads(getattr(self, "n_threads", None)):
            return self._forward(X)


class CompactMLP(_CompactNet):
    """A ReLU MLP whose dead units are gone, as built by
    :func:`skimp.compact.compact_mlp`.

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
    n_threads : int or None, default=1
        Torch threads of the forward pass, set for its duration and restored
        (:func:`skimp.training.torch_threads`; the count is the calling
        thread's own, so a server's thread pool is safe).
        A ticket's layers are small: threads spend more time meeting than
        computing, and on a busy machine a thread waiting for a descheduled
        sibling made the forward pass many times slower
        (``benchmarks/bench_compact.py --contention``). ``None`` runs with
        torch's own setting. A ``torch.export``-ed program runs with the
        caller's.

    Attributes
    ----------
    nbytes : int
        Bytes of the stored weights, biases and indices.
    """

    def __init__(self, layers, n_features, n_outputs, *, flatten=False,
                 chunk_size=256, constant_logits=None, n_threads=1):
        super().__init__(n_outputs, chunk_size, constant_logits, n_threads)
        self.layers = nn.ModuleList(layers)
        self.n_features = n_features
        self.flatten = flatten

    def _forward(self, X):
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
            return self._constant(n_rows)
        # The number of chunks depends on the number of rows, which
        # torch.export cannot trace for a dynamic batch size: an exported
        # program takes all rows in one chunk.
        if torch.compiler.is_exporting() or n_rows <= self.chunk_size:
            return self._forward_rows(X).contiguous()
        return torch.cat([self._forward_rows(rows) for rows in X.split(self.chunk_size)])

    def _forward_rows(self, X):
        return relu_stack(self.layers, X.t().contiguous()).t()

    def extra_repr(self):
        return f"n_features={self.n_features}, n_outputs={self.n_outputs}, nbytes={self.nbytes}"


class CompactConvNet(_CompactNet):
    """A convolutional net whose dead channels and units are gone, as built by
    :func:`skimp.compact.compact_convnet`.

    Parameters
    ----------
    features : list of torch.nn.Module
        :class:`~skimp.compact.CompactConv2d` layers, each followed by its
        channel-wise layers (ReLU, pooling).
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
        Rows pushed through the fully connected layers at a time, as in
        :class:`CompactMLP`.
    constant_logits : torch.Tensor of shape (n_outputs,), default=None
        The output when ``head`` is empty.
    n_threads : int or None, default=1
        Torch threads of the forward pass, as in :class:`CompactMLP`.

    Attributes
    ----------
    nbytes : int
        Bytes of the stored weights, biases and indices, as for
        :class:`CompactMLP`.
    """

    def __init__(self, features, head, input_shape, n_outputs, *, image_chunk=256,
                 chunk_size=256, constant_logits=None, n_threads=1):
        super().__init__(n_outputs, chunk_size, constant_logits, n_threads)
        self.features = nn.ModuleList(features)
        self.head = nn.ModuleList(head)
        self.input_shape = tuple(input_shape)
        self.n_features = math.prod(self.input_shape)
        self.image_chunk = image_chunk

    def _forward(self, X):
        """Logits for images ``X`` of shape ``(n, *input_shape)``, or flat rows."""
        X = as_images(X.to(self.constant_logits.dtype), self.input_shape, "CompactConvNet")
        n_rows = X.shape[0]
        exporting = torch.compiler.is_exporting()
        # Nothing to compute for an empty batch (torch.export assumes 2 or
        # more rows anyway, so an exported program has no such branch).
        if not self.head or (not exporting and n_rows == 0):
            return self._constant(n_rows)
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
        return relu_stack(self.head, h)

    def extra_repr(self):
        return (f"input_shape={self.input_shape}, n_outputs={self.n_outputs}, "
                f"nbytes={self.nbytes}")
