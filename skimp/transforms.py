"""Training-time batch transforms (data augmentation) for image inputs.

A batch transform is any callable that takes the training batch of X, a
float32 tensor already on the device, and returns one of the same shape. Pass
it as ``PrunedNetClassifier(train_transform=...)``: it runs on every training
batch and never when a level is evaluated or when predicting. It works on
whole batches at once, with no per-image Python loop, so it costs little on a
GPU.
"""

from dataclasses import dataclass
from numbers import Integral

import torch
import torch.nn.functional as F

__all__ = ["RandomCropFlip"]


@dataclass(frozen=True)
class RandomCropFlip:
    """Random crop after zero padding, and random horizontal flip.

    The standard CIFAR-10 augmentation of the lottery-ticket papers (and
    OpenLTH): pad each image by ``padding`` pixels on every side, crop a
    random window of the original size, and mirror it left to right with
    probability 1/2. Each image of the batch gets its own offsets and flip.

    Parameters
    ----------
    padding : int, default=4
        Zero padding on each side, at least 0; offsets are drawn in
        ``[0, 2 * padding]``. ``0`` turns the crop off.
    flip : bool, default=True
        Mirror half of the images horizontally.
    image_shape : tuple of int, default=None
        ``(channels, height, width)`` of flat rows. ``None`` takes batches
        of images, shaped ``(n, channels, height, width)``; with it, flat
        batches ``(n, channels * height * width)`` are reshaped, transformed
        and flattened back, for networks that take flat X in a Pipeline.

    Raises
    ------
    ValueError
        If ``padding`` is not an integer >= 0.

    Examples
    --------
    >>> import torch
    >>> from skimp.transforms import RandomCropFlip
    >>> batch = torch.rand(8, 3, 32, 32)
    >>> RandomCropFlip(padding=4)(batch).shape
    torch.Size([8, 3, 32, 32])
    """

    padding: int = 4
    flip: bool = True
    image_shape: tuple = None

    def __post_init__(self):
        # At construction, not at the first batch: a bad value would
        # otherwise surface mid-fit, inside F.pad, or (a negative one) turn
        # the crop off without a word. bool is an int subclass; it is refused.
        p = self.padding
        if not isinstance(p, Integral) or isinstance(p, bool) or p < 0:
            raise ValueError(
                f"RandomCropFlip(padding={p!r}): padding must be an int >= 0, the "
                f"pixels of zero padding on each side; pass e.g. padding=4, or "
                f"padding=0 for no crop.")

    def __call__(self, X):
        flat = self.image_shape is not None
        images = X.reshape(len(X), *self.image_shape) if flat else X
        if images.ndim != 4:
            raise ValueError(
                f"RandomCropFlip takes batches of images (n, channels, height, width); "
                f"got shape {tuple(X.shape)}. For flat rows pass image_shape="
                f"(channels, height, width).")
        out = self._crop(images) if self.padding else images
        if self.flip:
            mirrored = torch.rand(len(out), device=out.device) < 0.5
            out = torch.where(mirrored[:, None, None, None], out.flip(-1), out)
        return out.reshape(X.shape) if flat else out

    def _crop(self, images):
        n, channels, height, width = images.shape
        p = self.padding
        padded = F.pad(images, (p, p, p, p))
        device = images.device
        top = torch.randint(0, 2 * p + 1, (n,), device=device)
        left = torch.randint(0, 2 * p + 1, (n,), device=device)
        rows = (top[:, None] + torch.arange(height, device=device))[:, None, :, None]
        cols = (left[:, None] + torch.arange(width, device=device))[:, None, None, :]
        # One gather for the whole batch: image i reads rows top[i] + 0..h-1
        # and columns left[i] + 0..w-1 of its padded copy.
        batch = torch.arange(n, device=device)[:, None, None, None]
        channel = torch.arange(channels, device=device)[None, :, None, None]
        return padded[batch, channel, rows, cols]
