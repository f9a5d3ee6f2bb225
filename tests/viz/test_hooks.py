import pytest
import torch
from torch import nn

from trainlab.errors import ModelError, UnknownNameError
from trainlab.viz.hooks import capture, conv_layers, eval_mode, get_layer, layer_names, no_inplace


class Boom(nn.Module):
    def forward(self, x):
        raise AssertionError("the forward pass should have stopped before this layer")


def test_capture_sees_the_value_before_an_inplace_relu_and_stops_early():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), Boom())
    x = torch.randn(3, 1, 8, 8)
    out = capture(net, x, ["0", "1"])
    assert (out["0"] < 0).any()  # the conv output, not overwritten by the in-place ReLU
    assert torch.equal(out["1"], out["0"].clamp_min(0))
    assert not out["0"].requires_grad


def test_capture_with_grad_keeps_the_graph_to_the_input():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True))
    x = torch.randn(1, 1, 6, 6, requires_grad=True)
    out = capture(net, x, ["0"], grad=True)["0"]
    (g,) = torch.autograd.grad(out[0, 0, 0, 0], x)
    assert g[0, 0, :3, :3].abs().sum() > 0 and g[0, 0, 3:].abs().sum() == 0


class WithUnused(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.unused = nn.Linear(2, 2)

    def forward(self, x):
        return self.conv(x)


def test_unknown_and_unused_layers_raise_helpful_errors():
    net = WithUnused()
    with pytest.raises(UnknownNameError, match="Did you mean 'unused'"):
        get_layer(net, "unusd")
    with pytest.raises(ModelError, match="did not run"):
        capture(net, torch.zeros(1, 1, 5, 5), ["unused"])
    assert layer_names(net) == ["conv", "unused"] and conv_layers(net) == ["conv"]
    assert get_layer(net, "") is net


def test_eval_mode_and_no_inplace_restore_the_model():
    net = nn.Sequential(nn.BatchNorm2d(1), nn.Dropout(), nn.ReLU(inplace=True)).train()
    net[1].eval()
    with eval_mode(net), no_inplace(net):
        assert not any(m.training for m in net.modules()) and net[2].inplace is False
    assert net.training and net[0].training and not net[1].training and net[2].inplace is True


def test_feature_map_layers_and_the_default_layer():
    from trainlab.viz.hooks import default_layer, feature_map_layers

    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 3, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    layers = dict(feature_map_layers(net, torch.zeros(1, 1, 8, 8)))
    assert layers == {"0": (2, 6, 6), "1": (2, 6, 6), "2": (3, 4, 4), "3": (3, 1, 1)}  # no 2-D output
    assert default_layer(net, layers) == "2"  # the last larger than 1×1, not the pooled "3"
    assert default_layer(net, {"a": (4, 1, 1), "b": (4, 1, 1)}) == "a"  # every map 1×1: the first
    net.default_layer = "0"  # a model may name its own (a detector: its backbone's last stage)
    assert default_layer(net, layers) == "0"
    with pytest.raises(ModelError, match="no layer with a 2-D feature map"):
        default_layer(nn.Linear(2, 2), {})
