"""The compaction pipeline: parse, then one dead-unit fixed point, then assemble.

An MLP is a convolutional network with no convolution stages, so both kinds
go through the same three steps:

1. :func:`parse` reads the module's layers, from the view a skimp model gives
   of itself (``layer_sequence()``) or from the children of an
   ``nn.Sequential``, into convolution stages and a linear head.
2. :func:`remove_dead_units` runs one fixed point over all stages, in
   float64, folding each constant unit into the stage after it.
3. :func:`assemble` builds the compact layers from what survives.
"""

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import fuse_conv_bn_weights

from skimp.compact.layers import CompactConv2d, CompactLinear
from skimp.compact.nets import CompactConvNet, CompactMLP

# Layers that are the identity in eval mode.
PASS_THROUGH = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.AlphaDropout)

# Layers that may follow a convolution (after its optional BatchNorm). Each
# acts on every channel separately, so dropping a channel commutes with it,
# and applied to the image that a weightless channel always outputs it gives
# that channel's exact image downstream.
CHANNEL_WISE = (nn.ReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
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
CHUNK_POSITIONS = 4096

# What each entry point supports, for its TypeError.
SUPPORTED = {
    "mlp": ("compact_mlp supports skimp.modules.MLP and torch.nn.Sequential stacks of "
            "Linear layers separated by ReLU (a leading Flatten, and Dropout or Identity "
            "anywhere, are allowed)"),
    "conv": ("compact_convnet supports skimp.modules.ConvNet and torch.nn.Sequential "
             "stacks of Conv2d layers, each optionally followed by BatchNorm2d and then "
             "by ReLU and pooling layers, then Flatten and Linear layers separated by "
             "ReLU (a leading Unflatten, and Dropout or Identity anywhere, are allowed)"),
}


def unsupported(kind, what):
    """The TypeError of ``compact_mlp`` (``kind="mlp"``) or ``compact_convnet``."""
    return TypeError(
        f"{SUPPORTED[kind]}; {what}. Use PrunedNetClassifier.level_module() for the "
        f"masked dense network instead, or write the network as such an nn.Sequential.")


# --------------------------------------------------------------------------
# 1. Parse
# --------------------------------------------------------------------------


def _sequential_steps(module, prefix=""):
    """``(name, layer)`` of an ``nn.Sequential``, nested ones unpacked."""
    for name, child in module.named_children():
        if type(child) is nn.Sequential:
            yield from _sequential_steps(child, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", child


def _defining_class(module, method):
    """The class in ``type(module).__mro__`` that defines ``method``."""
    return next(c for c in type(module).__mro__ if method in vars(c))


def layer_steps(module, kind):
    """The ``(name, layer)`` steps of ``module`` in order, identities left out.

    A module that lists its own layers (``layer_sequence()``, as
    :class:`skimp.modules.MLP` and :class:`skimp.modules.ConvNet` do) is read
    through that view, which describes the forward of the class that defines
    it; an ``nn.Sequential`` is read through its children.
    """
    if hasattr(module, "layer_sequence"):
        owner = _defining_class(module, "layer_sequence")
        if _defining_class(module, "forward") is not owner:
            raise unsupported(kind, f"{type(module).__name__} overrides "
                                    f"{owner.__name__}.forward")
        try:
            steps = module.layer_sequence()
        except TypeError as e:  # the model says why it is no sequence
            raise unsupported(kind, str(e)) from None
    elif isinstance(module, nn.Sequential):
        if type(module).forward is not nn.Sequential.forward:
            raise unsupported(kind, f"{type(module).__name__} overrides Sequential.forward")
        steps = _sequential_steps(module)
    else:
        raise unsupported(kind, f"got {type(module).__name__}")
    return [(name, layer) for name, layer in steps if not isinstance(layer, PASS_THROUGH)]


def _where(steps, i, expected):
    """``"layer 'name' is X where Y was expected"``, for a TypeError."""
    if i >= len(steps):
        return f"the network ends where {expected} was expected"
    name, layer = steps[i]
    which = "a step" if name is None else f"layer {name!r}"
    return f"{which} is {type(layer).__name__} where {expected} was expected"


def _conv_stage(kind, steps, i):
    """The ``(conv, batchnorm, channel-wise layers)`` stage at ``steps[i]``, and its end."""
    name, conv = steps[i]
    if conv.groups != 1 or conv.padding_mode != "zeros":
        raise unsupported(kind, f"layer {name!r} is a Conv2d with groups={conv.groups} and "
                                f"padding_mode={conv.padding_mode!r}; only groups=1 and zero "
                                f"padding are supported")
    i, bn = i + 1, None
    if i < len(steps) and type(steps[i][1]) is nn.BatchNorm2d:
        (name, bn), i = steps[i], i + 1
        if bn.running_mean is None:
            raise unsupported(kind, f"layer {name!r} is a BatchNorm2d without running "
                                    f"statistics (track_running_stats=False)")
    ops = []
    while i < len(steps) and type(steps[i][1]) in CHANNEL_WISE:
        if getattr(steps[i][1], "return_indices", False):
            raise unsupported(kind, f"layer {steps[i][0]!r} returns pooling indices")
        ops.append(steps[i][1])
        i += 1
    return (conv, bn, ops), i


def parse(module, kind):
    """Read ``module`` into convolution stages and a linear head.

    Parameters
    ----------
    module : torch.nn.Module
    kind : {"mlp", "conv"}
        ``"mlp"`` accepts no convolution and an optional leading Flatten;
        ``"conv"`` accepts an optional leading ``Unflatten(1, shape)``, one
        or more convolution stages, then a Flatten.

    Returns
    -------
    stages : list of tuple
        ``(conv, batchnorm or None, channel-wise layers)``.
    linears : list of torch.nn.Linear
        The head; ReLU between each two.
    flatten : bool
        Whether a Flatten comes before the head.
    declared_shape : tuple of int or None
        The image shape of a leading Unflatten.
    """
    steps = layer_steps(module, kind)
    i, declared = 0, None
    if kind == "conv" and steps and type(steps[0][1]) is nn.Unflatten:
        unflatten = steps[0][1]
        if unflatten.dim != 1 or len(unflatten.unflattened_size) != 3:
            raise unsupported(kind, "only Unflatten(1, (channels, height, width)) is supported")
        i, declared = 1, tuple(int(s) for s in unflatten.unflattened_size)
    stages = []
    while kind == "conv" and i < len(steps) and type(steps[i][1]) is nn.Conv2d:
        stage, i = _conv_stage(kind, steps, i)
        stages.append(stage)
    if kind == "conv" and not stages:
        raise unsupported(kind, _where(steps, i, "Conv2d"))
    flatten = i < len(steps) and type(steps[i][1]) is nn.Flatten
    if flatten:
        if (steps[i][1].start_dim, steps[i][1].end_dim) != (1, -1):
            raise unsupported(kind, "only Flatten(start_dim=1, end_dim=-1) is supported")
        i += 1
    elif stages:
        raise unsupported(kind, _where(steps, i, "Conv2d, BatchNorm2d, ReLU, pooling or "
                                                 "Flatten"))
    head = steps[i:]
    # Expected: Linear, ReLU, Linear, ..., ReLU, Linear.
    for j in range(len(head)):
        expected = nn.Linear if j % 2 == 0 else nn.ReLU
        if type(head[j][1]) is not expected:
            raise unsupported(kind, _where(steps, i + j, expected.__name__))
    if len(head) % 2 == 0:
        raise unsupported(kind, "it must end with a Linear layer returning logits")
    return stages, [layer for _, layer in head[::2]], flatten, declared


def image_shape(declared, input_shape, first_conv):
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


# --------------------------------------------------------------------------
# 2. The stages in float64, and the dead-unit fixed point
# --------------------------------------------------------------------------


def _float64(tensor, size=None):
    """A float64 CPU copy of ``tensor``, or zeros of ``size`` when it is None."""
    if tensor is None:
        return torch.zeros(size, dtype=torch.float64)
    return tensor.detach().to("cpu", torch.float64).clone()


def _numeric_padding(conv):
    """``conv.padding`` in pixels; ``"same"`` is symmetric for odd kernel extents."""
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        extents = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
        if any(e % 2 for e in extents):
            raise unsupported("conv", "padding='same' with an even kernel extent pads "
                                      "unevenly, which is not supported")
        return tuple(e // 2 for e in extents)
    return tuple(conv.padding)


def _apply(ops, x):
    for op in ops:
        x = op(x)
    return x


class Stage:
    """One layer of the network being compacted, in float64.

    A convolution (its BatchNorm folded in) with the channel-wise layers
    after it, or a Linear layer with the ReLU after it. The bias of a
    convolution is a map over its output positions, so that what a removed
    channel contributed can vary over the image.

    Parameters
    ----------
    weight : torch.Tensor
        ``(units, ...)``: one row, or one kernel, per output unit.
    bias : torch.Tensor
        ``(units,)`` or, for a convolution, ``(units, height, width)``.
    ops : list of torch.nn.Module
        What follows the layer, channel by channel (a ReLU for a hidden
        Linear layer, none for the output layer).
    conv : dict, default=None
        ``stride``, ``padding`` and ``dilation`` of a convolution.
    input_size : tuple of int, default=None
        ``(height, width)`` of a convolution's input.
    """

    def __init__(self, weight, bias, ops, conv=None, input_size=None):
        self.weight, self.bias, self.ops = weight, bias, ops
        self.conv, self.input_size = conv, input_size
        self.n_units = weight.shape[0]

    def fixed_output(self, units):
        """What ``units`` output whatever the input: their bias through ``ops``."""
        return _apply(self.ops, self.bias[units].unsqueeze(0))[0]

    def fold(self, image, units):
        """Add the fixed ``image`` of the previous stage's ``units`` to the bias."""
        if self.conv is not None:
            # Exact at the borders, where zero padding hides part of the image.
            self.bias += F.conv2d(image.unsqueeze(0), self.weight[:, units], None,
                                  **self.conv)[0]
        else:
            # After Flatten a channel owns a block of height * width columns.
            columns = self.weight.reshape(self.n_units, len(units), -1)[:, units]
            self.bias += columns.reshape(self.n_units, -1) @ image.reshape(-1)

    def inputs_per_unit(self, n_inputs):
        """The weights as ``(units, n_inputs, -1)``, a view: one block per input unit."""
        return self.weight.reshape(self.n_units, n_inputs, -1)


def conv_stages(stages, shape):
    """:class:`Stage` of each convolution, and the number of features it flattens to."""
    result = []
    x = torch.zeros(1, *shape, dtype=torch.float64)
    for conv, bn, ops in stages:
        W, b = _float64(conv.weight), _float64(conv.bias, conv.out_channels)
        if bn is not None:
            W, b = (t.detach() for t in fuse_conv_bn_weights(
                W, b, _float64(bn.running_mean), _float64(bn.running_var), bn.eps,
                None if bn.weight is None else _float64(bn.weight),
                None if bn.bias is None else _float64(bn.bias)))
        params = dict(stride=tuple(conv.stride), padding=_numeric_padding(conv),
                      dilation=tuple(conv.dilation))
        size = tuple(x.shape[2:])
        x = F.conv2d(x, W, None, **params)
        bias = b.reshape(-1, 1, 1).expand(-1, *x.shape[2:]).clone()
        result.append(Stage(W, bias, ops, conv=params, input_size=size))
        x = _apply(ops, x)
    return result, x[0].numel()


def linear_stages(linears):
    """:class:`Stage` of each Linear layer; a ReLU follows all but the last."""
    return [Stage(_float64(layer.weight), _float64(layer.bias, layer.out_features),
                  [nn.ReLU()] if i < len(linears) - 1 else [])
            for i, layer in enumerate(linears)]


def remove_dead_units(stages):
    """Zero the dead units of every stage but the last, until nothing changes.

    A unit is removed when nothing downstream reads it (the next stage's
    weights from it are all zero) or when it has no incoming weights, in
    which case its fixed output is first folded into the next stage's bias.
    A removed unit's weights, bias and outgoing weights are zeroed, so both
    tests are plain row and column tests and the loop reaches a fixed point.

    Parameters
    ----------
    stages : list of Stage
        Changed in place.

    Returns
    -------
    alive : list of torch.Tensor of bool
        The surviving units of each stage but the last.
    """
    alive = [torch.ones(stage.n_units, dtype=torch.bool) for stage in stages[:-1]]
    changed = True
    while changed:
        changed = False
        for s, keep in enumerate(alive):
            stage, after = stages[s], stages[s + 1]
            incoming = (stage.weight != 0).reshape(stage.n_units, -1).any(dim=1)
            outgoing = after.inputs_per_unit(stage.n_units)
            constant = keep & ~incoming
            if constant.any():
                after.fold(stage.fixed_output(constant), constant)
            dead = constant | (keep & ~(outgoing != 0).any(dim=2).any(dim=0))
            if dead.any():
                keep &= ~dead
                stage.weight[dead] = 0
                stage.bias[dead] = 0
                outgoing[:, dead] = 0
                changed = True
    return alive


# --------------------------------------------------------------------------
# 3. Assemble
# --------------------------------------------------------------------------


def _density(W):
    return (W != 0).sum().item() / max(W.numel(), 1)


def assemble(stages, alive, n_inputs, dtype, *, sparse_threshold, conv_sparse_threshold):
    """The compact layers of what survives: convolutions (each followed by
    copies of its channel-wise layers), then CompactLinear layers.

    Parameters
    ----------
    stages : list of Stage
    alive : list of torch.Tensor of bool
        From :func:`remove_dead_units`.
    n_inputs : int
        Input units of the first stage: features, or image channels.
    dtype : torch.dtype
        Of the compact layers.
    sparse_threshold, conv_sparse_threshold : float
        Densities below which Linear layers and stride-1 convolutions are
        stored sparse.

    Returns
    -------
    features : list of torch.nn.Module
    head : list of CompactLinear
    """
    features, head = [], []
    rows_in = torch.ones(n_inputs, dtype=torch.bool)
    for s, stage in enumerate(stages):
        rows = alive[s] if s < len(alive) else torch.ones(stage.n_units, dtype=torch.bool)
        kept = stage.weight[rows]
        if stage.conv is not None:
            W, bias = kept[:, rows_in], stage.bias[rows]
            if bool((bias == bias[:, :1, :1]).all()):
                bias = bias[:, 0, 0]  # the same everywhere: a plain bias
            sparse = (_density(W) < conv_sparse_threshold
                      and stage.conv["stride"] == (1, 1))
            features.append(CompactConv2d(W.to(dtype), bias.to(dtype), sparse=sparse,
                                          input_size=stage.input_size, **stage.conv))
            features.extend(copy.deepcopy(op) for op in stage.ops)
        else:
            # Flatten's columns of the surviving channels, in their order.
            W = kept.reshape(len(kept), len(rows_in), -1)[:, rows_in].reshape(len(kept), -1)
            head.append(CompactLinear(W.to(dtype), stage.bias[rows].to(dtype),
                                      sparse=_density(W) < sparse_threshold))
        rows_in = rows
    return features, head


def build(module, kind, *, input_shape=None, sparse_threshold, conv_sparse_threshold=None,
          chunk_size):
    """Parse, remove dead units, assemble: the body of ``compact_mlp`` and
    ``compact_convnet``.

    Returns
    -------
    compact : CompactMLP or CompactConvNet
        In eval mode.
    """
    convs, linears, flatten, declared = parse(module, kind)
    dtype = linears[-1].weight.dtype
    stages, shape = [], None
    if convs:
        shape = image_shape(declared, input_shape, convs[0][0])
        stages, n_flat = conv_stages(convs, shape)
        if n_flat != linears[0].in_features:
            raise ValueError(
                f"the convolutions turn images of shape {shape} into {n_flat} features "
                f"but the first Linear layer takes {linears[0].in_features}; pass the "
                f"input_shape that the network was built for.")
    stages += linear_stages(linears)
    alive = remove_dead_units(stages)
    n_outputs = stages[-1].n_units
    constant_logits = stages[-1].bias.to(dtype)
    # No unit left before the output: the logits are its folded bias.
    empty = bool(alive) and not alive[-1].any()
    if empty:
        features, head = [], []
    else:
        n_inputs = shape[0] if convs else linears[0].in_features
        features, head = assemble(stages, alive, n_inputs, dtype,
                                  sparse_threshold=sparse_threshold,
                                  conv_sparse_threshold=conv_sparse_threshold)
    if not convs:
        return CompactMLP(head, linears[0].in_features, n_outputs, flatten=flatten,
                          chunk_size=chunk_size, constant_logits=constant_logits).eval()
    image_chunk = chunk_size
    if any(getattr(layer, "sparse", False) for layer in features):
        padded = features[0].padded_size
        image_chunk = max(1, CHUNK_POSITIONS // (padded[0] * padded[1]))
    return CompactConvNet(features, head, shape, n_outputs, image_chunk=image_chunk,
                          chunk_size=chunk_size, constant_logits=constant_logits).eval()
