"""The yolo detector: registered, output layout, anchors, sizes, gradients, FLOPs counting."""
from __future__ import annotations

import math

import pytest
import torch

from trainlab.detection.model import YOLO
from trainlab.errors import ModelError
from trainlab.models import build_model, list_models


def test_registered_with_sizes_and_options() -> None:
    assert "yolo" in list_models()
    small = build_model("yolo", num_classes=3, in_channels=1, input_size=(64, 64))
    wide = build_model("yolo", num_classes=3, in_channels=1, input_size=(64, 64), size="s")
    deep = build_model("yolo", num_classes=3, in_channels=1, input_size=(64, 64), size="m")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(small) < count(wide) < count(deep)
    assert len(deep.backbone.stage2) == 3  # strided conv + 2 residual blocks
    with pytest.raises(ModelError, match="allowed: n, s, m"):
        build_model("yolo", num_classes=3, in_channels=1, input_size=(64, 64), size="xl")
    with pytest.raises(ModelError, match="multiple of 32"):
        build_model("yolo", num_classes=3, in_channels=1, input_size=(60, 64))


@pytest.mark.parametrize(("h", "w"), [(64, 64), (96, 128)])
def test_outputs_line_up_with_anchor_points(h: int, w: int) -> None:
    model = YOLO(num_classes=5, in_channels=3, width=8)
    out = model(torch.randn(2, 3, h, w))
    centres, strides = model.anchors((h, w))
    n = sum((h // s) * (w // s) for s in (8, 16, 32))
    assert out.shape == (2, n, 10) and centres.shape == (n, 2) and strides.shape == (n,)
    assert centres[0].tolist() == [4.0, 4.0] and centres[-1].tolist() == [w - 16.0, h - 16.0]
    assert strides[: (h // 8) * (w // 8)].eq(8).all() and strides[-1] == 32


def test_decoded_boxes_contain_their_anchor_point_and_scale_with_the_stride() -> None:
    centres, strides = torch.tensor([[4.0, 4.0], [16.0, 16.0]]), torch.tensor([8.0, 32.0])
    boxes = YOLO.decode_boxes(torch.zeros(1, 2, 4), centres, strides)  # softplus(0) = ln 2 strides each side
    assert torch.allclose(boxes[0, 1], torch.tensor([16.0, 16.0, 16.0, 16.0]) + 32 * math.log(2) * torch.tensor([-1.0, -1, 1, 1]),
                          atol=1e-4)
    assert ((boxes[..., :2] < centres) & (boxes[..., 2:] > centres)).all()


def test_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = YOLO(num_classes=2, in_channels=1, width=8)
    model(torch.randn(2, 1, 64, 64)).square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_initial_scores_predict_nothing_here() -> None:
    with torch.no_grad():
        out = YOLO(num_classes=4, in_channels=1, width=8).eval()(torch.randn(1, 1, 64, 64))
    score = torch.sigmoid(out[..., 4:5]) * torch.sigmoid(out[..., 5:])
    assert float(score.max()) < 0.01  # the prior bias: about 0.01 × 0.01


def test_flops_are_counted() -> None:
    from trainlab.profile.counter import flops_per_sample

    model = YOLO(num_classes=10, in_channels=1, width=8)
    assert flops_per_sample(model, torch.zeros(2, 1, 64, 64)) > 3 * sum(p.numel() for p in model.parameters())
