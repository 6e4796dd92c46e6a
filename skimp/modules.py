"""Networks that skimp builds for the user."""

from torch import nn

__all__ = ["MLP"]


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
