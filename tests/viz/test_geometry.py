import pytest
import torch
from torch import nn

from trainlab.errors import UnsupportedLayerError
from trainlab.viz import analytic_receptive_field, receptive_field


class TwoBranches(nn.Module):
    """Inception-like: a 1×1 and a 5×5 branch concatenated, then a 3×3 conv with 'same' padding."""

    def __init__(self):
        super().__init__()
        self.small = nn.Conv2d(1, 2, 1)
        self.large = nn.Conv2d(1, 2, 5, padding=2)
        self.mix = nn.Conv2d(4, 2, 3, padding="same")

    def forward(self, x):
        return self.mix(torch.cat([self.small(x), self.large(x)], dim=1))


def test_concatenated_branches_take_the_larger_field():
    net = TwoBranches()
    a = analytic_receptive_field(net, "mix", (1, 16, 16))
    assert a.size == (7, 7) and a.start == (-3, -3)
    assert receptive_field(net, "mix", (1, 16, 16), unit=(0, 8, 8)).size == (7, 7)


def test_reflect_padding_and_pools():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"), nn.AvgPool2d(2),
                        nn.AdaptiveAvgPool2d(4))
    assert analytic_receptive_field(net, "0", (1, 16, 16)).start == (-1, -1)
    pooled = analytic_receptive_field(net, "2", (1, 16, 16))  # 8 -> 4: windows of 2, stride 2
    assert pooled.size == (3 + 1 + 2 * 1, 6) and pooled.stride == (4, 4)


def test_non_window_ops_are_reported():
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2), nn.Conv2d(1, 1, 3))
    with pytest.raises(UnsupportedLayerError, match="interpolate"):
        analytic_receptive_field(net, "2", (1, 12, 12))
    uneven = nn.Sequential(nn.AdaptiveAvgPool2d(3))
    with pytest.raises(UnsupportedLayerError, match="unequal"):
        analytic_receptive_field(uneven, "0", (1, 8, 8))
    rf = receptive_field(net, "2", (1, 12, 12), unit=(0, 0, 0))  # the gradient field needs no geometry
    assert rf.analytic is None and rf.box == (0, 0, 4, 4)  # upsampled rows 0-2 come from rows 0-1: pixels 0-3
