"""Training-time batch transforms."""

import numpy as np
import pytest
import torch

from skimp.transforms import RandomCropFlip
from tests._helpers import fast_clf


def test_each_image_is_a_window_of_its_padded_copy():
    torch.manual_seed(0)
    images = torch.rand(64, 3, 8, 8)
    out = RandomCropFlip(padding=2, flip=False)(images)
    assert out.shape == images.shape
    padded = torch.nn.functional.pad(images, (2, 2, 2, 2))
    offsets = set()
    for i in range(len(images)):
        hits = [(top, left) for top in range(5) for left in range(5)
                if torch.equal(padded[i, :, top:top + 8, left:left + 8], out[i])]
        assert hits, f"image {i} is no window of its padded copy"
        offsets.add(hits[0])
    assert len(offsets) > 10  # offsets differ between images


def test_flip_mirrors_about_half_the_images():
    torch.manual_seed(0)
    images = torch.rand(1000, 1, 4, 4)
    out = RandomCropFlip(padding=0)(images)
    mirrored = np.array([torch.equal(o, i.flip(-1)) for o, i in zip(out, images)])
    kept = np.array([torch.equal(o, i) for o, i in zip(out, images)])
    assert (mirrored | kept).all()
    assert 400 < mirrored.sum() < 600


def test_flat_rows_are_reshaped_and_flattened_back():
    torch.manual_seed(1)
    flat = torch.rand(16, 3 * 6 * 6)
    torch.manual_seed(2)
    out = RandomCropFlip(image_shape=(3, 6, 6))(flat)
    torch.manual_seed(2)
    expected = RandomCropFlip()(flat.reshape(16, 3, 6, 6)).reshape(16, -1)
    assert torch.equal(out, expected)
    with pytest.raises(ValueError, match=r"takes batches of images.*image_shape="):
        RandomCropFlip()(flat)


class CountingTransform:
    """Records the batches it sees; adds no change."""

    def __init__(self):
        self.rows = []

    def __call__(self, X):
        self.rows.append(len(X))
        return X


def test_the_transform_runs_on_training_batches_only(digits):
    X, y = digits
    transform = CountingTransform()
    clf = fast_clf(train_transform=transform, batch_size=100).fit(X, y)
    # 540 training rows in batches of 100: 6 batches, 3 epochs, 3 levels.
    assert transform.rows == [100, 100, 100, 100, 100, 40] * 3 * 3
    seen = len(transform.rows)
    clf.predict_proba(X)
    list(clf.staged_predict_proba(X))
    assert len(transform.rows) == seen
    # An identity transform leaves the fit as it was.
    plain = fast_clf(batch_size=100).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))


def test_augmentation_changes_training_reproducibly(digits):
    X, y = digits
    augment = RandomCropFlip(padding=1, image_shape=(1, 8, 8))
    first = fast_clf(train_transform=augment).fit(X, y)
    again = fast_clf(train_transform=augment).fit(X, y)
    plain = fast_clf().fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))
    assert not np.array_equal(first.predict_proba(X), plain.predict_proba(X))


@pytest.mark.parametrize("padding", [-2, 1.5, 2.0, True, "4", None])
def test_padding_must_be_a_non_negative_int(padding):
    with pytest.raises(ValueError, match=rf"padding={padding!r}.*must be an int >= 0"):
        RandomCropFlip(padding=padding)


def test_padding_accepts_numpy_integers():
    torch.manual_seed(0)
    images = torch.rand(4, 1, 6, 6)
    torch.manual_seed(1)
    out = RandomCropFlip(padding=np.int64(1))(images)
    torch.manual_seed(1)
    assert torch.equal(out, RandomCropFlip(padding=1)(images))
