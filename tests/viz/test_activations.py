import pytest
import torch

from trainlab.errors import ModelError
from trainlab.viz import activations, channel_response, feature_maps, filters, layer_filters, layer_weights

from .helpers import small_cnn


def test_activations_match_the_layer_outputs_in_eval_mode():
    net = small_cnn().train()
    x = torch.randn(4, 1, 8, 8)
    acts = activations(net, x, ["2", "8"])
    assert net.training  # restored
    net.eval()
    with torch.no_grad():
        expected_logits = net(x)
        expected_relu = net[2](net[1](net[0](x)))
    assert torch.allclose(acts["8"], expected_logits) and torch.allclose(acts["2"], expected_relu)


def test_feature_maps_are_per_image_and_refuse_non_maps():
    net = small_cnn()
    maps = feature_maps(net, torch.randn(1, 8, 8), "3")
    assert maps.shape == (6, 4, 4)
    with pytest.raises(ModelError, match="not \\(C, H, W\\)"):
        feature_maps(net, torch.randn(1, 8, 8), "8")
    with pytest.raises(ModelError, match="one image"):
        feature_maps(net, torch.randn(2, 1, 8, 8), "3")


def test_filters_and_weights():
    net = small_cnn()
    assert torch.equal(layer_filters(net, "4"), net[4].weight.detach())
    with pytest.raises(ModelError, match="Conv2d"):
        filters(net[8])
    weights = layer_weights(net)
    assert set(weights) == {"0", "1", "4", "8"}
    assert weights["8"]["weight"].shape == (3, 6) and "bias" in weights["1"]


def test_channel_response_max_and_mean():
    out = torch.arange(16.0).view(2, 2, 2, 2)
    assert channel_response(out, 1).tolist() == [7.0, 15.0]
    assert channel_response(out, 0, "mean").tolist() == [1.5, 9.5]
    with pytest.raises(ModelError, match="out of range"):
        channel_response(out, 2)
