"""``ConnectivityDisplay``: the first layer's surviving connections per pixel."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skimp.plotting._base import check_matplotlib_support

__all__ = ["ConnectivityDisplay"]


class ConnectivityDisplay:
    """Surviving first-layer connections per input pixel, as a heat map.

    The picture lottery-ticket papers show for MNIST: IMP keeps the
    connections of the pixels that carry the digit and prunes the border.
    Each pixel's value is the number of weights of the first prunable layer
    that still read it.

    Parameters
    ----------
    counts : ndarray of shape (height, width)
        Surviving connections per pixel (summed over channels).
    level : int, default=None
        The IMP level shown, for the title.
    n_outputs : int, default=None
        Units of the first layer: the most connections a pixel can keep.
    name : str, default=None
        Name shown in the title.

    Attributes
    ----------
    image_ : matplotlib.image.AxesImage
    colorbar_ : matplotlib.colorbar.Colorbar or None
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skimp.plotting import ConnectivityDisplay
    >>> disp = ConnectivityDisplay(np.arange(16).reshape(4, 4), level=3, n_outputs=16)
    >>> int(disp.counts.max())
    15
    """

    def __init__(self, counts, *, level=None, n_outputs=None, name=None):
        self.counts = np.asarray(counts)
        self.level = level
        self.n_outputs = n_outputs
        self.name = name

    def plot(self, *, ax=None, cmap="viridis", colorbar=True):
        """Draw the heat map.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.
        cmap : str or Colormap, default="viridis"
        colorbar : bool, default=True

        Returns
        -------
        display : ConnectivityDisplay
        """
        check_matplotlib_support(f"{type(self).__name__}.plot")
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        vmax = self.n_outputs if self.n_outputs is not None else None
        self.image_ = ax.imshow(self.counts, cmap=cmap, vmin=0, vmax=vmax,
                                interpolation="nearest")
        self.colorbar_ = None
        if colorbar:
            self.colorbar_ = ax.figure.colorbar(self.image_, ax=ax)
            self.colorbar_.set_label("surviving connections")
        ax.set_xticks([])
        ax.set_yticks([])
        title = "first-layer connections per pixel"
        if self.level is not None:
            title += f", level {self.level}"
        if self.name:
            title = f"{self.name}: {title}"
        ax.set_title(title)
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, level=None, image_shape=None, ax=None,
                       name=None, cmap="viridis", colorbar=True):
        """Count the first layer's surviving connections per pixel and plot.

        Parameters
        ----------
        estimator : PrunedNetClassifier
            Fitted, with a Linear first prunable layer reading flat pixels.
        level : int, default=None
            IMP level; ``None`` is the chosen ticket.
        image_shape : tuple of int, default=None
            ``(height, width)`` or ``(channels, height, width)`` of the
            flattened input. ``None`` works for square one-channel images.
        ax, name, cmap, colorbar
            See :meth:`plot`.

        Returns
        -------
        display : ConnectivityDisplay
        """
        check_matplotlib_support(f"{cls.__name__}.from_estimator")
        check_is_fitted(estimator, ["imp_path_", "best_level_"])
        level = estimator.best_level_ if level is None else level
        table = estimator.layer_summary(level)
        module = estimator.level_module(level)
        first = table["layer"][0]
        weight = dict(module.named_parameters())[first].detach().cpu()
        if weight.ndim != 2:
            raise TypeError(
                f"{cls.__name__} needs a Linear first layer reading flat pixels; the "
                f"first prunable weight {first!r} has shape {tuple(weight.shape)}.")
        n_inputs = weight.shape[1]
        if image_shape is None:
            side = int(round(np.sqrt(n_inputs)))
            if side * side != n_inputs:
                raise ValueError(
                    f"The first layer reads {n_inputs} inputs, not a square image; "
                    f"pass image_shape=(height, width) or (channels, height, width).")
            image_shape = (side, side)
        if int(np.prod(image_shape)) != n_inputs:
            raise ValueError(
                f"image_shape={tuple(image_shape)} holds {int(np.prod(image_shape))} "
                f"pixels but the first layer reads {n_inputs} inputs.")
        counts = (weight != 0).sum(0).numpy().reshape(image_shape)
        if counts.ndim == 3:
            counts = counts.sum(0)
        disp = cls(counts, level=level, n_outputs=weight.shape[0] * (
            1 if len(image_shape) == 2 else image_shape[0]), name=name)
        return disp.plot(ax=ax, cmap=cmap, colorbar=colorbar)
