import pytest
import torch

from trainlab.errors import ModelError
from trainlab.viz import ATTRIBUTIONS, attribute, grad_cam, integrated_gradients, occlusion, saliency

from .helpers import LeftHalf, small_cnn


@pytest.mark.parametrize("method", ["saliency", "integrated-gradients", "occlusion"])
def test_maps_have_the_input_shape_and_are_zero_where_the_input_cannot_matter(method):
    torch.manual_seed(0)
    net = LeftHalf(channels=2, size=8)
    x = torch.randn(3, 2, 8, 8)
    maps = attribute(method, net, x, target=1) if method != "occlusion" else occlusion(net, x, 1, window=4, stride=4)
    assert maps.shape == x.shape
    right, left = maps[..., 4:].abs().max(), maps[..., :4].abs().max()
    if method == "occlusion":
        # occlusion subtracts two forward passes of differently batched inputs; whether they round alike depends
        # on the CPU's kernels (AVX-512 left -3e-8 here), so "zero" is relative to the map's scale
        assert right <= 1e-5 * left
    else:
        assert right == 0  # gradients: the right half has no path to the output, so they are exact zeros
    assert left > 0


def test_registry_lists_the_methods():
    assert ATTRIBUTIONS.list() == ["gradcam", "integrated-gradients", "occlusion", "saliency"]


def test_integrated_gradients_are_complete():
    torch.manual_seed(0)
    net = small_cnn()
    x = torch.randn(2, 1, 8, 8)
    attr = integrated_gradients(net, x, target=[0, 2], steps=64)
    net.eval()
    with torch.no_grad():
        gap = net(x)[[0, 1], [0, 2]] - net(torch.zeros_like(x))[[0, 1], [0, 2]]
    assert attr.sum(dim=(1, 2, 3)).tolist() == pytest.approx(gap.tolist(), abs=0.02)


def test_grad_cam_is_upsampled_nonnegative_and_leaves_the_model_alone():
    net = small_cnn().train()
    x = torch.randn(4, 1, 8, 8)
    cam = grad_cam(net, x, layer="5")  # followed by nothing in place, output of an in-place ReLU
    assert cam.shape == (4, 1, 8, 8) and float(cam.min()) >= 0
    cam_bn = grad_cam(net, x, target=0, layer="1")  # BN output, followed by an in-place ReLU
    assert cam_bn.shape == (4, 1, 8, 8)
    assert net.training and net[2].inplace
    with pytest.raises(ModelError, match="not a feature map"):
        grad_cam(net, x, layer="8")
    with pytest.raises(ModelError, match="layer=NAME"):
        grad_cam(net, x)


def test_default_target_is_the_predicted_class():
    torch.manual_seed(1)
    net = small_cnn()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        predicted = net.eval()(x).argmax(1)
    assert torch.equal(saliency(net, x), saliency(net, x, target=predicted))
    with pytest.raises(ModelError, match="batch"):
        saliency(net, x[0, 0])
