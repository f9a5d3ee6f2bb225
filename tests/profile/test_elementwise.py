"""include_elementwise: the stated per-element conventions, applied wherever an op is dispatched."""
import pytest
import torch
from torch import nn

from trainlab.profile import count

DEVICES = ["meta", "cpu"]


def extra(model, x, device="meta", **kwargs):
    """(forward, backward) FLOPs that only include_elementwise adds."""
    base = count(model, x, device=device, **kwargs)
    full = count(model, x, device=device, include_elementwise=True, **kwargs)
    assert (full.forward_dense_flops, full.backward_dense_flops) == (base.forward_flops,
                                                                     base.backward_flops)
    return full.forward_flops - base.forward_flops, full.backward_flops - base.backward_flops


@pytest.mark.parametrize("device", DEVICES)
def test_off_by_default_and_activation_is_one_flop_per_element(device):
    x = torch.randn(4, 5, 6)
    assert count(nn.ReLU(), x, device=device).forward_flops == 0
    for act in (nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.GELU(), nn.SiLU()):
        assert count(act, x, device=device, include_elementwise=True).forward_flops == x.numel()


@pytest.mark.parametrize("device", DEVICES)
def test_linear_bias_and_its_gradient(device):
    x = torch.randn(3, 4)
    fwd, bwd = extra(nn.Linear(4, 5), x, device)
    assert fwd == 3 * 5  # one add per output element
    assert bwd == 3 * 5  # the bias gradient sums the output gradient over the batch
    assert extra(nn.Linear(4, 5, bias=False), x, device) == (0, 0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train_and_eval(device, affine):
    bn = nn.BatchNorm2d(3, affine=affine)
    x = torch.randn(2, 3, 4, 4)
    per_element = 2 + 2 + (2 if affine else 0)  # statistics, normalize, scale and shift
    assert count(bn.train(), x, device=device, include_elementwise=True,
                 backward=False).forward_flops == per_element * x.numel() + 1  # +1: batches seen
    assert count(bn.eval(), x, device=device, include_elementwise=True,
                 backward=False).forward_flops == (per_element - 2) * x.numel()


@pytest.mark.parametrize("device", DEVICES)
def test_layer_norm_softmax_and_pooling(device):
    x = torch.randn(2, 6, 10)
    assert count(nn.LayerNorm(10), x, device=device, include_elementwise=True,
                 backward=False).forward_flops == 6 * x.numel()
    assert count(nn.Softmax(-1), x, device=device, include_elementwise=True).forward_flops == 3 * x.numel()
    img = torch.randn(2, 3, 8, 8)
    pooled = 2 * 3 * 4 * 4
    assert count(nn.MaxPool2d(2), img, device=device, include_elementwise=True).forward_flops == pooled * 4
    assert count(nn.AvgPool2d(2), img, device=device, include_elementwise=True).forward_flops == pooled * 4


def test_cnn_counts_agree_between_meta_and_cpu():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(8, 8, 3, groups=4), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Dropout(0.2), nn.Linear(8, 5), nn.LogSoftmax(-1))
    x = torch.randn(2, 3, 12, 12)
    meta = count(net, x, device="meta", include_elementwise=True)
    cpu = count(net, x, device="cpu", include_elementwise=True)
    assert (meta.forward_flops, meta.backward_flops) == (cpu.forward_flops, cpu.backward_flops)
    assert meta.forward_flops > meta.forward_dense_flops
    assert meta.forward_macs == cpu.forward_macs == count(net, x).forward_macs
