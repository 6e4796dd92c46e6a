"""Networks that skimp builds for the user.

* :class:`MLP` -- the fully connected reference model of the IMP papers.
* :class:`ConvNet` -- Conv-2, Conv-4 and Conv-6 of Frankle and Carbin (2019).
* :class:`ResNet20` -- the CIFAR ResNet-20 of OpenLTH (``cifar_resnet_20_W``).

The image networks take either images of shape ``(n, *input_shape)`` or flat
rows of ``prod(input_shape)`` columns, so that they sit in a scikit-learn
``Pipeline`` after a scaler, which only passes 2-D arrays on.
"""

import math
from numbers import Integral, Real

import torch.nn.functional as F
from torch import nn

from skimp._validation import NotBoolInterval, PositiveInts, validate_parameter_constraints

__all__ = ["MLP", "ConvNet", "ResNet20", "as_images"]

# Constraints shared by the image networks' arguments.
_AT_LEAST_ONE = [NotBoolInterval(Integral, 1, None, closed="left")]
_IMAGE_SHAPE = [PositiveInts("(channels, height, width) with positive integers, such as "
                             "(1, 28, 28) or (3, 32, 32)", length=3)]


class MLP(nn.Module):
    """Fully connected ReLU network, the reference model of the IMP papers.

    Weights use Kaiming-normal initialisation and biases start at zero, as in
    the MNIST reference setup (LeNet-300-100, MLP 784-h-100-10).

    Parameters
    ----------
    n_features : int
        Input width.
    n_classes : int
        Output width; the module returns logits.
    hidden_layer_sizes : tuple of int, default=(256,)
        Widths of the hidden layers.

    Attributes
    ----------
    unpruned_layers : tuple of str
        Submodules that IMP leaves dense. The output layer is kept dense, as
        in the reference MLP setup, because it is small and pruning it can cut
        a class off entirely. Custom modules may declare the same attribute.

    Examples
    --------
    >>> import torch
    >>> from skimp.modules import MLP
    >>> MLP(4, 3, (8,))(torch.zeros(2, 4)).shape
    torch.Size([2, 3])
    """

    unpruned_layers = ("output",)

    def __init__(self, n_features, n_classes, hidden_layer_sizes=(256,)):
        super().__init__()
        widths = [n_features, *hidden_layer_sizes]
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.output = nn.Linear(widths[-1], n_classes)
        for layer in [*self.hidden, self.output]:
            nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward(self, X):
        for layer in self.hidden:
            X = layer(X).relu()
        return self.output(X)

    def layer_sequence(self):
        """The steps of :meth:`forward`, in order.

        Returns
        -------
        steps : list of (str or None, torch.nn.Module)
            Each step's name in ``named_modules()``, so that its weight is
            ``name + ".weight"``, and the step; ``None`` names a step that
            ``forward`` applies as a function (here each hidden layer's
            ReLU), given as a fresh module. Applied in order, the steps
            compute the same logits as the network.

        Examples
        --------
        >>> from skimp.modules import MLP
        >>> [(name, type(step).__name__) for name, step in MLP(4, 3, (8,)).layer_sequence()]
        [('hidden.0', 'Linear'), (None, 'ReLU'), ('output', 'Linear')]
        """
        steps = []
        for i, layer in enumerate(self.hidden):
            steps += [(f"hidden.{i}", layer), (None, nn.ReLU())]
        return [*steps, ("output", self.output)]


# --------------------------------------------------------------------------
# Image networks
# --------------------------------------------------------------------------


def as_images(X, input_shape, owner):
    """``X`` as a batch of images of ``input_shape``; flat rows are reshaped.

    How the image networks, and the compact ones built from them, take
    either images or flat rows. Only the batch dimension is left free, so
    that ``torch.export`` can make it dynamic: ``X.shape[0]`` and
    ``unflatten``, never ``len(X)``.

    Parameters
    ----------
    X : torch.Tensor of shape (n, channels, height, width) or (n, n_features)
        Images of ``input_shape``, or flat rows of
        ``n_features = prod(input_shape)`` columns.
    input_shape : tuple of int
        ``(channels, height, width)``.
    owner : str
        The network's name, for the error message.

    Returns
    -------
    images : torch.Tensor of shape (n, channels, height, width)

    Raises
    ------
    ValueError
        If ``X`` is neither, naming both shapes it could have.

    Examples
    --------
    >>> import torch
    >>> from skimp.modules import as_images
    >>> as_images(torch.zeros(2, 12), (3, 2, 2), "net").shape
    torch.Size([2, 3, 2, 2])
    """
    n_columns = math.prod(input_shape)
    if X.ndim == 2 and X.shape[1] == n_columns:
        return X.unflatten(1, input_shape)
    if X.ndim == 4 and tuple(X.shape[1:]) == input_shape:
        return X
    raise ValueError(
        f"{owner} was built for images of shape {input_shape}: pass X of shape "
        f"(n_samples, {', '.join(map(str, input_shape))}) or flat rows of shape "
        f"(n_samples, {n_columns}); got {tuple(X.shape)}. Set input_shape "
        f"(module__input_shape in PrunedNetClassifier) to the shape of your images.")


class ConvNet(nn.Module):
    """Conv-2, Conv-4 and Conv-6, the small VGG-like CIFAR-10 networks of the
    lottery-ticket paper.

    Frankle and Carbin, "The Lottery Ticket Hypothesis: Finding Sparse,
    Trainable Neural Networks", ICLR 2019, Figure 2: ``n_conv_pairs`` pairs
    of 3x3 convolutions (padding 1, ReLU after each) with 2x2 max-pooling
    after each pair; the pairs have 64, 128 and 256 channels (pair ``i``
    has ``64 * 2**i``); then fully connected ReLU layers 256-256 and the
    output layer. On CIFAR-10 (``input_shape=(3, 32, 32)``, ``width=1``)
    Conv-2 and Conv-4 hold 4,300,992 and 2,425,024 weights, the paper's 4.3M
    and 2.4M, of which 38,592 and 259,776 in convolutions (38K and 260K).
    Conv-6 holds 2,261,184 weights, 1,144,512 in convolutions (the paper's
    1.1M); the paper's total of 1.7M does not add up with its own layer
    list, whose fully connected layers alone hold 1,116,672.

    Weights are Kaiming-normal (fan-in, ReLU gain) and biases start at zero,
    as in :class:`MLP` and OpenLTH; the paper used Glorot-normal weights.

    Parameters
    ----------
    n_classes : int
        Number of logits returned.
    input_shape : tuple of int, default=(1, 28, 28)
        ``(channels, height, width)`` of the images. Height and width must
        survive ``n_conv_pairs`` halvings (floor division by 2 each).
    n_conv_pairs : int, default=2
        1, 2 or 3 for Conv-2, Conv-4 or Conv-6; more pairs keep doubling the
        channels.
    width : float, default=1.0
        Scales every convolution's channels and every hidden fully connected
        layer, each rounded to the nearest integer and at least 1. ``0.25``
        gives a Conv-2 with 16 channels and hidden layers 64-64.
    hidden_layer_sizes : tuple of int, default=(256, 256)
        Fully connected hidden layers at ``width=1``; ``()`` puts the output
        layer right after the convolutions.

    Attributes
    ----------
    unpruned_layers : tuple of str
        ``("output",)``. The paper prunes convolutions at 10% to 15% per
        round, hidden fully connected layers at 20% and the output layer at
        half the fully connected rate; skimp prunes one global ranking, so it
        keeps the small output layer dense instead, as for :class:`MLP`.
    features : torch.nn.Sequential
        The convolutions, ReLUs and max-pooling layers.
    hidden : torch.nn.Sequential
        The hidden fully connected layers and their ReLUs.
    output : torch.nn.Linear
        The output layer.

    Notes
    -----
    The forward pass accepts images of shape ``(n, *input_shape)`` or flat
    rows of ``prod(input_shape)`` columns, which it reshapes: X from
    :func:`skimp.datasets.load_fashion_mnist` or after a ``StandardScaler``
    works as it is.

    Examples
    --------
    >>> import torch
    >>> from skimp.modules import ConvNet
    >>> net = ConvNet(10, (3, 32, 32), n_conv_pairs=1)  # Conv-2
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    >>> net(torch.zeros(2, 3 * 32 * 32)).shape  # flat rows work too
    torch.Size([2, 10])
    """

    unpruned_layers = ("output",)

    _parameter_constraints = {
        "n_classes": _AT_LEAST_ONE,
        "input_shape": _IMAGE_SHAPE,
        "n_conv_pairs": _AT_LEAST_ONE,
        "width": [NotBoolInterval(Real, 0, None, closed="neither")],
        "hidden_layer_sizes": [PositiveInts("a tuple of integers >= 1")],
    }

    def __init__(self, n_classes, input_shape=(1, 28, 28), *, n_conv_pairs=2, width=1.0,
                 hidden_layer_sizes=(256, 256)):
        super().__init__()
        validate_parameter_constraints(
            self._parameter_constraints,
            dict(n_classes=n_classes, input_shape=input_shape, n_conv_pairs=n_conv_pairs,
                 width=width, hidden_layer_sizes=hidden_layer_sizes),
            caller_name=type(self).__name__)
        self.input_shape = tuple(int(s) for s in input_shape)
        n_classes, n_conv_pairs = int(n_classes), int(n_conv_pairs)
        hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        channels, height, breadth = self.input_shape
        side = min(height, breadth) // 2 ** n_conv_pairs
        if side < 1:
            raise ValueError(
                f"ConvNet: images of {height}x{breadth} pixels cannot be max-pooled "
                f"{n_conv_pairs} times (each pair halves them); use fewer "
                f"n_conv_pairs or larger images.")

        def scaled(n):
            return max(1, round(n * width))

        layers = []
        for pair in range(n_conv_pairs):
            out = scaled(64 * 2 ** pair)
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(out, out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        n_flat = (channels * (height // 2 ** n_conv_pairs)
                  * (breadth // 2 ** n_conv_pairs))
        widths = [n_flat, *(scaled(h) for h in hidden_layer_sizes)]
        hidden = []
        for a, b in zip(widths[:-1], widths[1:]):
            hidden += [nn.Linear(a, b), nn.ReLU()]
        self.hidden = nn.Sequential(*hidden)
        self.output = nn.Linear(widths[-1], n_classes)
        for layer in self.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    def forward(self, X):
        X = as_images(X, self.input_shape, "ConvNet")
        return self.output(self.hidden(self.flatten(self.features(X))))

    def layer_sequence(self):
        """The steps of :meth:`forward`, in order, for flat rows.

        Returns
        -------
        steps : list of (str or None, torch.nn.Module)
            As :meth:`skimp.modules.MLP.layer_sequence`: each step's name in
            ``named_modules()``, or ``None`` for the reshape of flat rows
            into images, given as ``nn.Unflatten(1, input_shape)``. Applied
            in order to flat rows, the steps compute the same logits as the
            network.

        Examples
        --------
        >>> from skimp.modules import ConvNet
        >>> steps = ConvNet(3, (1, 8, 8), n_conv_pairs=1).layer_sequence()
        >>> [name for name, _ in steps]  # doctest: +NORMALIZE_WHITESPACE
        [None, 'features.0', 'features.1', 'features.2', 'features.3', 'features.4',
         'flatten', 'hidden.0', 'hidden.1', 'hidden.2', 'hidden.3', 'output']
        """
        return [(None, nn.Unflatten(1, self.input_shape)),
                *((f"features.{name}", layer) for name, layer in self.features.named_children()),
                ("flatten", self.flatten),
                *((f"hidden.{name}", layer) for name, layer in self.hidden.named_children()),
                ("output", self.output)]


class _BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU (OpenLTH's Block)."""

    def __init__(self, f_in, f_out, downsample):
        super().__init__()
        stride = 2 if downsample else 1
        self.conv1 = nn.Conv2d(f_in, f_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(f_out)
        self.conv2 = nn.Conv2d(f_out, f_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(f_out)
        if downsample or f_in != f_out:
            # OpenLTH's projection: a strided 1x1 convolution and BatchNorm.
            self.shortcut = nn.Sequential(
                nn.Conv2d(f_in, f_out, 1, stride=stride, bias=False), nn.BatchNorm2d(f_out))
        else:
            self.shortcut = nn.Sequential()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    """The CIFAR-10 ResNet-20 of OpenLTH, ``cifar_resnet_20_W``.

    He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
    section 4.2, as implemented in OpenLTH (``models/cifar_resnet.py``) for
    Frankle et al., "Linear Mode Connectivity and the Lottery Ticket
    Hypothesis", ICML 2020: a 3x3 convolution to ``width`` channels with
    BatchNorm and ReLU; three stages of three basic blocks with ``width``,
    ``2 * width`` and ``4 * width`` channels, the first block of stages 2
    and 3 striding by 2; global average pooling and a linear output layer.
    A block is conv3x3-BN-ReLU-conv3x3-BN plus its shortcut, then ReLU; the
    shortcut is the identity, or a strided 1x1 convolution and BatchNorm
    where the shape changes. Convolutions have no bias. At ``width=16`` it
    holds 272,474 parameters for 10 classes, as OpenLTH's test pins.

    Initialisation as OpenLTH's defaults: Kaiming-normal (fan-in, ReLU gain)
    convolution and linear weights, BatchNorm scales uniform on [0, 1) and
    shifts zero, and PyTorch's default for the output bias.

    Parameters
    ----------
    n_classes : int
        Number of logits returned.
    input_shape : tuple of int, default=(3, 32, 32)
        ``(channels, height, width)`` of the images; the first convolution
        takes ``channels``. Global pooling accepts any image size.
    width : int, default=16
        Channels of the first stage, ``W`` in OpenLTH's name.

    Attributes
    ----------
    unpruned_layers : tuple of str
        ``()``: every convolution, shortcuts included, and the output layer
        are pruned in one global ranking, as OpenLTH's ``sparse_global``
        strategy does with its default ``prunable_layer_names``.

    Notes
    -----
    Like :class:`ConvNet`, it accepts images or flat rows. BatchNorm cannot
    train on a batch of one row: with ``PrunedNetClassifier``, pass
    ``iterator_train__drop_last=True`` when the last batch could hold one.

    Examples
    --------
    >>> import torch
    >>> from skimp.modules import ResNet20
    >>> net = ResNet20(10)
    >>> sum(p.numel() for p in net.parameters())
    272474
    >>> net.eval()(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
    """

    unpruned_layers = ()

    _parameter_constraints = {
        "n_classes": _AT_LEAST_ONE,
        "input_shape": _IMAGE_SHAPE,
        "width": _AT_LEAST_ONE,
    }

    def __init__(self, n_classes, input_shape=(3, 32, 32), *, width=16):
        super().__init__()
        validate_parameter_constraints(
            self._parameter_constraints,
            dict(n_classes=n_classes, input_shape=input_shape, width=width),
            caller_name=type(self).__name__)
        self.input_shape = tuple(int(s) for s in input_shape)
        n_classes, width = int(n_classes), int(width)
        self.conv = nn.Conv2d(self.input_shape[0], width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        blocks, current = [], width
        for stage, filters in enumerate((width, 2 * width, 4 * width)):
            for index in range(3):
                blocks.append(_BasicBlock(current, filters, stage > 0 and index == 0))
                current = filters
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(current, n_classes)
        for layer in self.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
            elif isinstance(layer, nn.BatchNorm2d):
                nn.init.uniform_(layer.weight, 0.0, 1.0)
                nn.init.zeros_(layer.bias)

    def forward(self, X):
        X = as_images(X, self.input_shape, "ResNet20")
        out = self.blocks(F.relu(self.bn(self.conv(X))))
        return self.fc(out.mean((2, 3)))

    def layer_sequence(self):
        """Refused: a residual network's layers are no sequence.

        Raises
        ------
        TypeError
            Always. A shortcut adds a block's input to its output, so the
            output of a block is not a function of its last layer alone.
            :func:`skimp.compact.compact` asks for this view, and says why
            it cannot rebuild the network.
        """
        raise TypeError(
            f"{type(self).__name__} is residual: a shortcut adds each block's input to "
            f"its output, so its layers form no sequence")
