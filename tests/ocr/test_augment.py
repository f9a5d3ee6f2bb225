"""Line augmentations: reproducible from the generator, bounded, each one really changes the line."""
from __future__ import annotations

import pytest
import torch

from trainlab.errors import ConfigError
from trainlab.ocr.augment import LineAugment


def lines() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.zeros(3, 1, 16, 48)
    x[:, :, 3:13, 6:9] = 1.0  # a vertical bar ...
    x[:, :, 3:5, 6:20] = 1.0  # ... and a horizontal one
    return x, torch.tensor([48, 30, 24])


def test_presets_and_unknown_name() -> None:
    assert LineAugment.preset("none") is None
    assert LineAugment.preset("light").rotation < LineAugment.preset("standard").rotation
    assert "shear" in LineAugment.preset("standard").describe()
    with pytest.raises(ConfigError, match="light"):
        LineAugment.preset("heavy")


def test_same_generator_same_result_and_values_stay_in_range() -> None:
    x, w = lines()
    aug = LineAugment.preset("standard")
    a = aug(x, w, torch.Generator().manual_seed(7))
    b = aug(x, w, torch.Generator().manual_seed(7))
    c = aug(x, w, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= 0 and float(a.max()) <= 1


def test_all_zero_magnitudes_is_the_identity() -> None:
    x, w = lines()
    assert torch.equal(LineAugment()(x, w, torch.Generator().manual_seed(0)), x)


@pytest.mark.parametrize("field", ["rotation", "shear", "scale", "shift", "elastic", "perspective", "blur", "noise"])
def test_each_augmentation_changes_the_line(field: str) -> None:
    x, w = lines()
    value = {"rotation": 10.0, "shear": 0.5, "scale": 0.3, "shift": 0.2, "elastic": 2.0, "perspective": 0.5,
             "blur": 1.5, "noise": 0.2}[field]
    y = LineAugment(**{field: value})(x, w, torch.Generator().manual_seed(1))
    assert float((y - x).abs().mean()) > 1e-3


def test_shear_moves_the_top_and_bottom_of_a_stroke_apart() -> None:
    x = torch.zeros(1, 1, 16, 40)
    x[:, :, :, 18:21] = 1.0  # an upright bar in the middle
    for seed in range(20):  # find a draw with a clear slant, then check its direction is consistent
        y = LineAugment(shear=0.6)(x, torch.tensor([40]), torch.Generator().manual_seed(seed))[0, 0]
        cols = torch.arange(40, dtype=torch.float32)
        top, bottom = (y[1] * cols).sum() / y[1].sum(), (y[-2] * cols).sum() / y[-2].sum()
        if abs(float(top - bottom)) > 2:
            return
    pytest.fail("no draw slanted the bar by more than 2 pixels")


def test_stroke_width_thickens_and_thins() -> None:
    x, w = lines()
    ink = x.sum((1, 2, 3))  # (B,)
    thick = LineAugment(stroke=1.0)(x, w, torch.Generator().manual_seed(0)).sum((1, 2, 3))
    assert bool((thick > ink + 5).all())  # probability 1: every line thickens
    changed = [LineAugment(stroke=0.5)(x, w, torch.Generator().manual_seed(s)).sum((1, 2, 3)) for s in range(8)]
    assert any(bool((c < ink - 5).any()) for c in changed)  # and some draws thin a line
