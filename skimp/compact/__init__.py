"""Compact tickets: a pruned network rebuilt for fast CPU inference.

A ticket is a dense network whose pruned weights are exactly zero, so it pays
for every zero at inference time. :func:`compact` rebuilds it:

1. **Dead units are removed**, propagated through the layers until nothing
   changes. A hidden unit whose outgoing weights are all zero cannot affect
   the output and is dropped. A hidden unit whose incoming weights are all
   zero is not dead: it outputs the constant ``relu(bias)``, which is folded
   into the next layer's bias before the unit is dropped. Removing units can
   empty further rows and columns, hence the propagation.
2. **The surviving weights are stored densely, or as CSR** where the layer is
   sparse enough for that to be faster (``sparse_threshold``), multiplied
   with ``torch.nn.functional.embedding_bag``.

Convolutional networks such as :class:`skimp.modules.ConvNet` (convolutions,
ReLU, pooling, flatten, then an MLP) go the same way, an MLP being a
convolutional network without convolutions: dead channels go, with an exact
correction where zero padding makes a constant channel's contribution vary at
the image borders, BatchNorm is folded into its convolution, and convolutions
sparse enough run as one CSR product per kernel tap. Residual networks are
not supported.

The package holds the pipeline in ``_build`` (parse a module into
convolution stages and a linear head, one dead-unit fixed point, assemble),
the compact layers in :mod:`skimp.compact.layers` and the compact networks
in :mod:`skimp.compact.nets`.
"""

from numbers import Integral

import torch

from skimp._validation import NotBoolInterval, validate_params
from skimp.compact._build import CONV_SPARSE_THRESHOLD, build
from skimp.compact.layers import CompactConv2d, CompactLinear
from skimp.compact.nets import CompactConvNet, CompactMLP, module_nbytes

__all__ = ["compact", "compact_mlp", "compact_convnet", "CompactMLP", "CompactLinear",
           "CompactConvNet", "CompactConv2d", "module_nbytes"]

# Checked when the network is built: the forward pass would fail on it,
# deep in torch, or split rows one at a time for chunk_size=True.
_CHUNK_SIZE = {"chunk_size": [NotBoolInterval(Integral, 1, None, closed="left")]}


@validate_params(_CHUNK_SIZE, prefer_skip_nested_validation=True)
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
    return build(module, "mlp", sparse_threshold=sparse_threshold, chunk_size=chunk_size)


@validate_params(_CHUNK_SIZE, prefer_skip_nested_validation=True)
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
    return build(module, "conv", input_shape=input_shape, sparse_threshold=sparse_threshold,
                 conv_sparse_threshold=conv_sparse_threshold, chunk_size=chunk_size)


@validate_params(_CHUNK_SIZE, prefer_skip_nested_validation=True)
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
        Its forward pass runs with one torch thread, whatever torch's
        setting (its ``n_threads`` attribute; set it to ``None`` for torch's
        own, or to another count): a ticket's layers are too small for
        threads to pay, and under load a thread that waits for a descheduled
        sibling made it slower than the dense net (docs/performance.md).

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
    if any(isinstance(m, torch.nn.Conv2d) for m in module.modules()):
        return compact_convnet(module, input_shape=input_shape,
                               sparse_threshold=sparse_threshold,
                               conv_sparse_threshold=conv_sparse_threshold,
                               chunk_size=chunk_size)
    return compact_mlp(module, sparse_threshold=sparse_threshold, chunk_size=chunk_size)
