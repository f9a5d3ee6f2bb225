"""blocks: zero-branch residual blocks (R2DeeperR) and identity blocks (Net2DeeperNet)."""
from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from trainlab.errors import UnsupportedLayerError
from trainlab.morph.blocks import ResidualBlock, check_identity, identity_block, zero_branch_


@pytest.mark.parametrize("spatial,shape", [(0, (6, 10)), (1, (2, 10, 7)), (2, (2, 10, 5, 5)),
                                           (3, (1, 10, 3, 4, 4))])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_residual_block_zeroed_is_identity_for_any_input(spatial, shape, batchnorm):
    block = ResidualBlock(10, spatial_dims=spatial, batchnorm=batchnorm)
    zero_branch_(block, torch.randn(shape))
    x = torch.randn(shape) * 3  # negative values too: no ReLU after the sum
    assert (block.eval()(x) - x).abs().max() < 1e-5
    assert torch.count_nonzero(block.conv1.weight) > 0 and torch.count_nonzero(block.conv2.weight) > 0


def test_grouped_block_with_an_odd_number_of_groups_pairs_whole_groups():
    # RegNet-Y block: 1x1 conv, grouped 3x3 conv (3 groups of 8), squeeze-excitation, 1x1 conv
    block = torchvision.models.regnet.ResBottleneckBlock(
        24, 24, 1, nn.BatchNorm2d, nn.ReLU, group_width=8, se_ratio=0.25)
    x = torch.relu(torch.randn(2, 24, 6, 6))
    zero_branch_(block, x)
    grouped = block.f.b[0].weight  # (24, 8, 3, 3): groups 0 and 1 equal, group 2 unused
    assert torch.equal(grouped[:8], grouped[8:16]) and torch.count_nonzero(grouped[16:]) == 0
    assert torch.count_nonzero(grouped[:8]) > 0
    assert (block.eval()(x) - x).abs().max() < 1e-5


def test_odd_hidden_width_leaves_one_channel_unused():
    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 7), nn.Linear(7, 4)

        def forward(self, x):
            return x + self.b(torch.relu(self.a(x)))

    block = Odd()
    zero_branch_(block, torch.randn(3, 4))
    assert torch.equal(block.a.weight[:3], block.a.weight[3:6])
    assert torch.count_nonzero(block.a.weight[6]) == 0 and torch.count_nonzero(block.b.weight[:, 6]) == 0
    x = torch.randn(5, 4)
    assert (block(x) - x).abs().max() < 1e-6


@pytest.mark.parametrize("block", [torchvision.models.resnet.BasicBlock(16, 16),
                                   torchvision.models.resnet.Bottleneck(32, 8)])
def test_torchvision_blocks_zeroed(block):
    x = torch.relu(torch.randn(2, block.conv1.in_channels, 6, 6))
    zero_branch_(block, x, init="he", generator=torch.Generator().manual_seed(0))
    assert (block.eval()(x) - x).abs().max() < 1e-5
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    width = convs[0].out_channels
    assert torch.equal(convs[0].weight[: width // 2], convs[0].weight[width // 2:])
    assert convs[0].weight.std().item() == pytest.approx((2 / convs[0].weight[0].numel()) ** 0.5, rel=0.2)


def test_block_without_hidden_channels_is_refused():
    with pytest.raises(UnsupportedLayerError, match="no hidden channels"):
        zero_branch_(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1)), torch.randn(1, 4, 5, 5))


@pytest.mark.parametrize("shape", [(8, 6), (4, 6, 5), (2, 6, 5, 5), (1, 6, 3, 3, 3)])
def test_identity_block_is_identity_on_non_negative_inputs(shape):
    x = torch.relu(torch.randn(shape)) * 4
    block = identity_block(x, batchnorm=True).eval()
    assert (block(x) - x).abs().max() < 1e-5
    fresh = torch.relu(torch.randn(shape))
    assert (block(fresh) - fresh).abs().max() < 1e-5  # not only on the input that set the stats


def test_identity_block_without_batchnorm_has_zero_bias():
    x = torch.relu(torch.randn(2, 3, 4, 4))
    block = identity_block(x, batchnorm=False)
    assert len(block) == 2 and torch.count_nonzero(block[0].bias) == 0


def test_check_identity_reports_the_change():
    with pytest.raises(UnsupportedLayerError, match="max |change|"):
        check_identity(nn.ReLU(), torch.tensor([[-1.0, 2.0]]), "a ReLU")
    check_identity(nn.ReLU(), torch.tensor([[1.0, 2.0]]), "a ReLU")
