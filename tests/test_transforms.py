"""Training augmentations on real FER2013 faces: each changes what it says, keeps the batch's shape and
scale, and repeats exactly under the same seed."""

import numpy as np
import torch

from vadcore.data import load_fer2013
from vadcore.transforms import PIXEL_MEAN, PIXEL_STD, degrade, photometric, random_erase, to_tensor

from helpers import FER_SAMPLE


def _faces(n: int = 32) -> torch.Tensor:
    return to_tensor(load_fer2013(FER_SAMPLE).pixels[:n])


def _grey(x: torch.Tensor) -> torch.Tensor:
    return x * PIXEL_STD + PIXEL_MEAN


def test_each_augmentation_repeats_under_the_same_seed_and_keeps_faces_on_the_grey_scale():
    x = _faces()
    for augmentation in (photometric, degrade, random_erase):
        a = augmentation(x, torch.Generator().manual_seed(3), 1.0)
        b = augmentation(x, torch.Generator().manual_seed(3), 1.0)
        assert torch.equal(a, b), augmentation.__name__
        assert a.shape == x.shape and not torch.equal(a, x), augmentation.__name__
        grey = _grey(a)
        assert grey.min() >= -1e-5 and grey.max() <= 1 + 1e-5, augmentation.__name__


def test_probability_zero_leaves_faces_alone():
    x = _faces()
    for augmentation in (photometric, degrade, random_erase):
        assert torch.equal(augmentation(x, torch.Generator().manual_seed(0), 0.0), x), augmentation.__name__


def test_degrade_removes_fine_detail():
    x = _faces()
    detail = lambda t: (t[..., 1:, :] - t[..., :-1, :]).abs().mean().item()  # noqa: E731
    assert detail(degrade(x, torch.Generator().manual_seed(1), 1.0)) < 0.8 * detail(x)


def test_erasing_fills_one_rectangle_with_the_mean_grey():
    x = _faces(64)
    erased = random_erase(x, torch.Generator().manual_seed(2), 1.0)
    changed = (erased != x).squeeze(1)
    for face in changed.numpy():
        rows, cols = np.nonzero(face)
        if len(rows):  # a rectangle: every pixel of its bounding box may be changed (some were already grey)
            assert face[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].mean() > 0.9
    assert (erased[erased != x] == 0).all()  # 0 after normalisation is the training set's mean grey
    assert changed.flatten(1).any(1).float().mean() > 0.9
