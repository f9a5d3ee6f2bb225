import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from trainlab.errors import ModelError, UnsupportedLayerError
from trainlab.viz import analytic_receptive_field, receptive_field, receptive_fields
from trainlab.viz.receptive_field import gradient_support


def clipped(window, size):
    return max(window[0], 0), min(window[1], size)


def test_three_3x3_convs_see_7x7():
    net = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)])
    rf = receptive_field(net, "2", (1, 16, 16), unit=(0, 8, 8))
    assert rf.size == (7, 7) and rf.box == (5, 5, 12, 12) and int(rf.mask.sum()) == 49
    assert rf.analytic.size == (7, 7) and rf.analytic.stride == (1, 1) and rf.analytic.offset == (0.0, 0.0)


def test_stride_two_layer_and_border_clipping():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, stride=2, padding=1),
                        nn.Conv2d(2, 2, 3, padding=1))
    # 3 -> 3 + 2·1 = 5 (stride 2 after) -> 5 + 2·2 = 9
    rf = receptive_field(net, "3", (1, 20, 20), unit=(1, 5, 5))
    assert rf.analytic.size == (9, 9) and rf.analytic.stride == (2, 2)
    assert rf.size == (9, 9) and rf.box == (6, 6, 15, 15)
    corner = receptive_field(net, "3", (1, 20, 20), unit=(0, 0, 0))
    assert corner.box == (0, 0, 5, 5)  # the window starts at -4: clipped by the image border
    assert corner.analytic.window((0, 0)) == ((-4, 5), (-4, 5))


def test_dilation_leaves_holes_that_the_mask_shows():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2, padding=2))
    rf = receptive_field(net, "0", (1, 11, 11), unit=(0, 5, 5))
    assert rf.size == (5, 5) and int(rf.mask.sum()) == 9  # 3×3 taps spread over 5×5
    assert rf.mask[3, 3] and not rf.mask[4, 4]


def test_max_pool_field_is_the_whole_window_even_where_the_trained_gradient_is_sparse():
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, padding=1))
    structural = receptive_field(net, "2", (1, 16, 16), unit=(0, 4, 4))
    assert structural.size == (8, 8) == structural.analytic.size  # 3 + 1 = 4, then +2·2 = 8
    actual = receptive_field(net, "2", (1, 16, 16), unit=(0, 4, 4), image=torch.randn(1, 16, 16))
    assert actual.mask.sum() < structural.mask.sum()  # max pooling routes the gradient to one pixel per window
    assert not (actual.mask & ~structural.mask).any()


def test_zero_initialised_residual_branch_still_counts():
    from trainlab.models import build_model

    net = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28), width=4)
    assert all(float(m.bn2.weight.detach().abs().sum()) == 0 for m in net.modules() if hasattr(m, "bn2"))
    rf = receptive_field(net, "stage2", (1, 64, 64), unit=(0, 8, 8))
    # stem 3×3 (3) + pool (4, stride 2) + stage1 2 convs (12) + stage2 2 convs, stride 2 (24)
    assert rf.analytic.size == (24, 24) and rf.analytic.stride == (4, 4)
    (top, bottom), (left, right) = rf.analytic.window((8, 8))  # (21, 45): inside the 64×64 image
    assert rf.size == (24, 24) and rf.box == (top, left, bottom, right) == (21, 21, 45, 45)


def test_resnet18_layer1_sees_43_pixels():
    torchvision = pytest.importorskip("torchvision")
    net = torchvision.models.resnet18()
    rf = receptive_field(net, "layer1", (3, 96, 96), unit=(5, 12, 12))
    assert rf.analytic.size == (43, 43) and rf.analytic.stride == (4, 4)
    (top, bottom), (left, right) = rf.analytic.window((12, 12))
    assert rf.size == (43, 43) and rf.box == (top, left, bottom, right)


def test_global_context_has_no_analytic_field_but_an_exact_one():
    class SqueezeExcite(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(2, 2, 1), nn.Sigmoid())

        def forward(self, x):
            y = self.conv(x)
            return y * self.gate(y)

    net = SqueezeExcite()
    rf = receptive_field(net, "", (1, 12, 12), unit=(0, 6, 6))
    assert rf.analytic is None and "squeeze" in rf.analytic_note
    assert int(rf.mask.sum()) == 144
    with pytest.raises(UnsupportedLayerError, match="gradient-based"):
        analytic_receptive_field(net, "", (1, 12, 12))


def test_unit_outside_the_output_is_refused():
    net = nn.Sequential(nn.Conv2d(1, 2, 3))
    with pytest.raises(ModelError, match="outside layer"):
        receptive_field(net, "0", (1, 8, 8), unit=(2, 0, 0))
    with pytest.raises(ModelError, match="outside layer"):
        receptive_field(net, "0", (1, 8, 8), unit=(0, 6))


def test_batched_fields_and_gradient_support_agree_with_single_calls():
    net = nn.Sequential(nn.Conv2d(1, 1, 5, padding=2), nn.Conv2d(1, 1, 3, stride=2))
    units = [(0, 0, 0), (0, 3, 2), (0, 5, 5)]
    many = receptive_fields(net, "1", (1, 14, 14), units)
    for unit, rf in zip(units, many):
        assert torch.equal(rf.mask, receptive_field(net, "1", (1, 14, 14), unit).mask)
    masks = gradient_support(net, "1", torch.randn(3, 1, 14, 14), units)
    assert masks.shape == (3, 14, 14) and all(m.any() for m in masks)


layer_spec = st.tuples(st.sampled_from(["conv", "max", "avg"]), st.integers(1, 4), st.integers(1, 2),
                       st.integers(0, 2), st.integers(1, 2))


@settings(max_examples=15, deadline=None)
@given(st.lists(layer_spec, min_size=1, max_size=3), st.integers(0, 1000))
def test_gradient_field_equals_the_clipped_analytic_window(specs, seed):
    """For any conv/pool chain, the exact box is the analytic window clipped to the image."""
    layers, size = [], 40
    for kind, k, s, p, d in specs:
        p = min(p, k // 2)  # PyTorch pools need padding <= kernel / 2
        if kind == "conv":
            layers.append(nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d))
        elif kind == "max":
            layers.append(nn.MaxPool2d(k, stride=s, padding=p, dilation=d))
        else:
            layers.append(nn.AvgPool2d(k, stride=s, padding=p))
    net = nn.Sequential(*layers)
    out = net(torch.zeros(1, 1, size, size))
    g = torch.Generator().manual_seed(seed)
    y, x = (int(torch.randint(0, n, (1,), generator=g)) for n in out.shape[2:])
    rf = receptive_field(net, str(len(layers) - 1), (1, size, size), unit=(0, y, x))
    (t, b), (l, r) = (clipped(w, size) for w in rf.analytic.window((y, x)))
    if all(d == 1 and k >= s for _, k, s, _, d in specs):  # no dilation, no skipping stride: a full window
        assert rf.box == (t, l, b, r) and int(rf.mask.sum()) == (b - t) * (r - l)
    else:  # dilation (or a stride over the kernel) leaves holes; the outermost taps may fall in the padding
        top, left, bottom, right = rf.box
        assert t <= top < bottom <= b and l <= left < right <= r
        assert rf.size == rf.analytic.size or t == 0 or l == 0 or b == size or r == size
