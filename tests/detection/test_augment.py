"""Box-aware augmentation: boxes follow the pixels, clipped boxes are dropped, presets and seeding."""
from __future__ import annotations

import pytest
import torch

from trainlab.detection.augment import BoxAugment
from trainlab.errors import ConfigError


def bright_box(x: torch.Tensor) -> list[float]:
    """The bounding box (x1, y1, x2, y2, in pixel edges) of the pixels above half brightness."""
    ys, xs = torch.nonzero(x[0] > 0.5, as_tuple=True)
    return [float(xs.min()), float(ys.min()), float(xs.max()) + 1, float(ys.max()) + 1]


@pytest.mark.parametrize("seed", range(6))
def test_boxes_follow_the_pixels_under_flip_zoom_and_shift(seed: int) -> None:
    x = torch.zeros(1, 1, 64, 64)
    x[0, 0, 20:36, 12:30] = 1.0  # a bright rectangle, exactly its box
    boxes, labels = torch.tensor([[[12.0, 20.0, 30.0, 36.0]]]), torch.tensor([[2]])
    aug = BoxAugment(flip=0.5, scale=0.3, translate=0.1)
    out, b, lab = aug(x, boxes, labels, torch.Generator().manual_seed(seed))
    assert lab.tolist() == [[2]]
    # bilinear resampling blurs an edge by up to a pixel; the box is exact
    assert all(abs(p - q) <= 1.01 for p, q in zip(bright_box(out[0]), b[0, 0].tolist())), (bright_box(out[0]), b)


def test_a_box_pushed_mostly_out_of_the_image_is_dropped_and_others_clipped() -> None:
    aug = BoxAugment(translate=0.5)
    boxes = torch.tensor([[[2.0, 2.0, 10.0, 10.0], [20.0, 20.0, 40.0, 40.0], [0.0, 0.0, 0.0, 0.0]]])
    labels = torch.tensor([[1, 3, -1]])
    for seed in range(20):
        _, b, lab = aug(torch.zeros(1, 1, 64, 64), boxes, labels, torch.Generator().manual_seed(seed))
        assert lab[0, 2] == -1 and (b >= 0).all() and (b <= 64).all()
        kept = lab[0] >= 0
        assert (b[0, kept, 2] > b[0, kept, 0]).all()
    dropped = sum(int((aug(torch.zeros(1, 1, 64, 64), boxes, labels, torch.Generator().manual_seed(s))[2] == -1).sum())
                  for s in range(20))
    assert dropped > 20  # some of the 20 draws pushed a box out


def test_presets_flip_only_when_allowed_and_unknown_names_fail() -> None:
    assert BoxAugment.preset("none") is None
    assert BoxAugment.preset("light").flip == 0 and BoxAugment.preset("light", flip=True).flip == 0.5
    assert "scale" in BoxAugment.preset("standard").describe()
    with pytest.raises(ConfigError, match="allowed: none, light, standard"):
        BoxAugment.preset("heavy")


def test_colour_changes_stay_in_range_and_depend_on_the_seed() -> None:
    aug = BoxAugment(brightness=0.3, contrast=0.3)
    x = torch.rand(4, 3, 32, 32)
    a = aug(x, torch.zeros(4, 1, 4), torch.full((4, 1), -1), torch.Generator().manual_seed(1))[0]
    b = aug(x, torch.zeros(4, 1, 4), torch.full((4, 1), -1), torch.Generator().manual_seed(2))[0]
    assert 0 <= float(a.min()) and float(a.max()) <= 1 and not torch.equal(a, b)
