"""DetectionTask: decoding (threshold, NMS, cap), per-image loss normalization, training on a batch."""
from __future__ import annotations

import torch

from trainlab.detection.data import DetectionTargets
from trainlab.detection.model import YOLO
from trainlab.detection.task import ClassScores, DetectionTask, decode


def raw_with(scores: list[tuple[int, int, float]], a: int = 6, c: int = 3) -> torch.Tensor:
    """Raw outputs (1, a, 5 + c) whose score σ(obj)·σ(cls) is ~s for (point, class, s) and ~0 elsewhere."""
    raw = torch.full((1, a, 5 + c), -20.0)
    for point, k, s in scores:
        raw[0, point, 4] = 20.0
        raw[0, point, 5 + k] = torch.logit(torch.tensor(s))
    return raw


def test_decode_suppresses_duplicates_of_a_class_only_and_caps_per_image() -> None:
    boxes = torch.tensor([[[0.0, 0, 10, 10], [1, 1, 11, 11], [1, 1, 11, 11], [30, 30, 40, 40], [50, 50, 60, 60],
                           [0, 0, 10, 10]]])
    raw = raw_with([(0, 0, 0.9), (1, 0, 0.8), (2, 1, 0.7), (3, 2, 0.6), (4, 2, 0.3), (5, 1, 0.0005)])
    d = decode(raw, boxes, iou_threshold=0.5)
    assert d[:, 6].long().tolist() == [0, 1, 2, 2]  # point 1 overlaps point 0 of its class; point 5 is below 0.001
    assert torch.allclose(d[:, 5], torch.tensor([0.9, 0.7, 0.6, 0.3]), atol=1e-4)
    assert decode(raw, boxes, iou_threshold=0.5, max_detections=2)[:, 5].tolist() == d[:2, 5].tolist()
    two = decode(torch.cat([raw, raw]), torch.cat([boxes, boxes]), iou_threshold=0.5, max_detections=3)
    assert two[:, 0].tolist() == [0, 0, 0, 1, 1, 1]


def targets() -> DetectionTargets:
    return DetectionTargets(torch.tensor([[[4.0, 4.0, 24.0, 30.0], [0, 0, 0, 0]], [[30.0, 8.0, 50.0, 30.0],
                                                                               [8.0, 36.0, 28.0, 60.0]]]),
                            torch.tensor([[0, -1], [1, 2]]), torch.tensor([5, 9]))


def test_loss_is_per_image_and_its_mean_is_the_batch_sum_over_positives() -> None:
    torch.manual_seed(0)
    model = YOLO(num_classes=3, in_channels=1, width=8)
    task = DetectionTask()
    out = task.forward(model.train(), torch.randn(2, 1, 64, 64), targets())
    loss = task.loss(out, targets())
    assert loss.shape == (2,) and out.detections is None  # training: nothing decoded
    assert set(out.parts) == {"box_loss", "obj_loss", "cls_loss"}
    parts = sum(out.parts.values())
    assert torch.allclose(parts, loss.detach())
    loss.mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_a_few_steps_on_one_batch_find_its_boxes() -> None:
    torch.manual_seed(0)
    model = YOLO(num_classes=3, in_channels=1, width=8)
    x = torch.zeros(2, 1, 64, 64)
    y = targets()
    for img, d in enumerate(y.as_list()):
        for x1, y1, x2, y2 in d["boxes"].long().tolist():
            x[img, 0, y1:y2, x1:x2] = 1.0 + 0.5 * img
    task = DetectionTask()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(80):
        opt.zero_grad()
        task.loss(task.forward(model.train(), x, y), y).mean().backward()
        opt.step()
    out = task.forward(model.eval(), x, y)
    found = task.predictions(out, y, min_score=0.1)
    assert found["objects"].tolist() == [1, 2] and found["found"].tolist() == [1, 2], found


def test_classifier_view_shares_the_layers_and_scores_each_class() -> None:
    model = YOLO(num_classes=3, in_channels=1, width=8).eval()
    view = DetectionTask().classifier_view(model)
    assert isinstance(view, ClassScores) and view.backbone is model.backbone
    assert dict(view.named_parameters()).keys() == dict(model.named_parameters()).keys()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        raw, logits = model(x), view(x)
    best = (torch.sigmoid(raw[..., 4:5]) * torch.sigmoid(raw[..., 5:])).amax(1)
    assert logits.shape == (2, 3) and torch.allclose(torch.sigmoid(logits), best, atol=1e-5)  # two float paths
