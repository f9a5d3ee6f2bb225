"""volumes(): producers, consumers and norms of each volume, and the nodes that block widening."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from trainlab.errors import ModelError, UnsupportedLayerError
from trainlab.morph import volumes, widen
from trainlab.morph.graph import analyze


def by_name(vols):
    return {v.name: v for v in vols}


def test_mlp_volumes(kit):
    vols = volumes(kit.MLP(), torch.randn(3, 6))
    assert [(v.name, v.channels, v.widenable) for v in vols] == [
        ("net.0", 32, True), ("net.4", 16, True), ("net.6", 4, False)]
    assert vols[0].consumers == ("net.4",) and vols[0].norms == ("net.1",)
    assert "model output" in vols[2].reason


def test_residual_adds_join_volumes(kit):
    vols = by_name(volumes(kit.TinyResNet(), torch.randn(1, 3, 12, 12)))
    stage1 = vols["stem.0"]
    assert stage1.producers == ("stem.0", "stage1.0.conv2", "stage1.1.conv2")
    assert set(stage1.consumers) == {"stage1.0.conv1", "stage1.1.conv1", "stage2.0.conv1",
                                     "stage2.0.short.0"}
    stage2 = vols["stage2.0.conv2"]
    assert stage2.producers == ("stage2.0.conv2", "stage2.0.short.0", "stage2.1.conv2")
    assert stage2.consumers == ("stage2.1.conv1", "head")
    assert len(vols) == 7


def test_resnet18_volumes():
    vols = volumes(torchvision.models.resnet18(weights=None), torch.randn(1, 3, 32, 32))
    assert [v.name for v in vols][:3] == ["conv1", "layer1.0.conv1", "layer1.1.conv1"]
    assert sum(v.widenable for v in vols) == 12 and vols[-1].name == "fc"


def test_concat_and_flatten_layouts(kit):
    model = kit.ConcatNet()
    analysis = analyze(model, torch.randn(1, 3, 8, 8))
    fc = analysis.roles["fc"].inputs
    assert [(s.channels, s.block) for s in fc] == [(6, 4), (4, 4), (8, 4)]
    bn = analysis.roles["bn"].inputs
    assert [s.channels for s in bn] == [6, 4]
    vols = by_name(volumes(model, torch.randn(1, 3, 8, 8)))
    assert vols["a"].consumers == ("mix", "fc") and vols["a"].norms == ("bn",)


def test_volumes_leaves_the_model_as_it_was(kit):
    model = kit.randomize_norms(kit.SmallCNN()).train()
    stats = model.bn1.running_mean.clone()
    volumes(model, torch.randn(4, 3, 16, 16))
    assert model.training and model.bn1.training
    assert torch.equal(model.bn1.running_mean, stats)  # shapes were found in eval mode


def test_shared_layer_called_twice_has_one_role():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c = nn.Linear(5, 8), nn.Linear(8, 8), nn.Linear(8, 2)

        def forward(self, x):
            return self.c(self.b(torch.relu(self.b(torch.relu(self.a(x))))))

    model = Twice().eval()
    vols = by_name(volumes(model, torch.randn(2, 5)))
    assert vols["a"].producers == ("a", "b")  # b reads a's channels and writes into them again
    wide = widen(model, torch.randn(2, 5), extra=4)
    x = torch.randn(6, 5)
    assert wide.b.weight.shape == (12, 12)
    assert (wide(x) - model(x)).abs().max() < 1e-5


class Net(nn.Module):
    """conv -> <op> -> conv -> pool -> linear; ``op`` decides what is widenable."""

    def __init__(self, op) -> None:
        super().__init__()
        self.a, self.b, self.fc, self.op = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 1), nn.Linear(8, 2), op

    def forward(self, x):
        h = self.op(self.a(x))
        return self.fc(F.adaptive_avg_pool2d(self.b(h), 1).flatten(1))


@pytest.mark.parametrize("op,words", [
    (nn.GroupNorm(2, 8), "GroupNorm"),
    (nn.LayerNorm([8, 6, 6]), "LayerNorm"),
    (nn.Softmax(dim=1), "channel dimension"),
    (lambda h: h[:, :4].repeat(1, 2, 1, 1), "slices"),
    (lambda h: torch.roll(h, 1, 1), "does not know"),
    (lambda h: h * h.mean(1, keepdim=True), "reduces over the channel"),
    (lambda h: h + torch.ones(8, 1, 1), "another rank"),
    (nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=8), nn.Conv2d(16, 8, 1)), "group width"),
    (lambda h: h.view(h.size(0), 2, 4, 6, 6).transpose(1, 2).reshape(h.size(0), -1, 6, 6),
     "channel shuffle"),
    (nn.utils.parametrizations.weight_norm(nn.Conv2d(8, 8, 1)), "parametrization"),
    (nn.ChannelShuffle(2), "ChannelShuffle"),
    (lambda h: h.permute(0, 2, 3, 1).permute(0, 3, 1, 2), "moves the channel dimension"),
    (lambda h: F.group_norm(h, 2), "GroupNorm"),
    (lambda h: F.layer_norm(h, (8, 6, 6)), "layer_norm"),
])
def test_unsupported_nodes_are_named(op, words):
    model = Net(op)
    with pytest.raises(UnsupportedLayerError, match=words):
        widen(model, torch.randn(1, 3, 6, 6), where=["a"])


@pytest.mark.parametrize("op", [
    nn.LayerNorm([6]),  # normalises over width only
    nn.Softmax(dim=-1),
    nn.PReLU(8),
    nn.InstanceNorm2d(8, affine=True),
    lambda h: F.pad(h, (1, 1)),
    lambda h: torch.sigmoid(h) * h,
    lambda h: h * torch.sigmoid(h.mean((2, 3), keepdim=True)),
    lambda h: h.clamp(-1, 1) / 2,
    lambda h: torch.cat([h, -h], dim=0),  # along the batch: both halves are the same volume
    lambda h: F.interpolate(F.max_pool2d(h, 2), scale_factor=2.0),
    nn.Conv2d(8, 8, 3, padding=1, groups=8),  # depthwise: channel i -> channel i
    nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False),  # new channels form new groups of 4
    torchvision.ops.StochasticDepth(0.5, "row"),  # the identity in eval mode
    torchvision.ops.SqueezeExcitation(8, 2),
    lambda h: h.transpose(2, 3).permute(0, 1, 3, 2),  # spatial dimensions only
    lambda h: F.layer_norm(h, (6,)),
])
def test_channelwise_ops_stay_exact(kit, op):
    model = Net(op).eval()
    if isinstance(op, nn.PReLU):
        with torch.no_grad():
            op.weight.uniform_(0.0, 0.5)
    x = torch.randn(1, 3, 6, 6)
    assert by_name(volumes(model, x))["a"].widenable
    for method in ("r2r", "net2net", "netmorph"):
        wide = widen(model, x, extra=4, where=["a"], method=method)
        assert kit.max_delta(model, wide, (2, 3, 6, 6)) < 1e-5, method


def test_hard_coded_channel_count_in_a_view_is_refused():
    class View(Net):
        def forward(self, x):
            h = self.a(x).view(x.size(0), 8, 36).view(x.size(0), 8, 6, 6)
            return self.fc(F.adaptive_avg_pool2d(self.b(h), 1).flatten(1))

    with pytest.raises(UnsupportedLayerError, match="hard-coded channel count"):
        widen(View(torch.nn.Identity()), torch.randn(2, 3, 6, 6), where=["a"])


def test_computed_sizes_in_views_are_fine(kit):
    class View(Net):
        def forward(self, x):
            b, c, h, w = x.shape
            h = self.a(x)
            h = h.view(b, h.size(1), -1).view(b, -1, 6, 6)
            return self.fc(F.adaptive_avg_pool2d(self.b(h), 1).flatten(1))

    model = View(nn.Identity()).eval()
    wide = widen(model, torch.randn(2, 3, 6, 6), extra=2, where=["a"])
    assert type(wide) is View and wide.b.in_channels == 10
    assert kit.max_delta(model, wide, (3, 3, 6, 6)) < 1e-5


def test_untraceable_model_is_an_unsupported_layer_error():
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(3, 3)

        def forward(self, x):
            return self.a(x) if x.sum() > 0 else x

    with pytest.raises(UnsupportedLayerError, match="torch.fx"):
        volumes(Branchy(), torch.randn(2, 3))


def test_example_input_must_fit():
    with pytest.raises(ModelError, match=r"\[\(2, 4\)\]"):
        volumes(nn.Linear(3, 3), torch.randn(2, 4))
