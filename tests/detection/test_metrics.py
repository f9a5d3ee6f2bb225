"""DetectionMetrics: mAP as torchmetrics computes it, per-class AP, the losses, states fit for checkpoints."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest
import torch
from torchmetrics.detection import MeanAveragePrecision

from trainlab.detection.metrics import DetectionMetrics
from trainlab.engine.metrics import empty_compute


def batch(seed: int, images: int = 6, classes: int = 3):
    """Random true boxes and noisy detections of them (some missed, some false) for a batch of images."""
    g = torch.Generator().manual_seed(seed)
    boxes, labels, dets = [], [], []
    for i in range(images):
        n = int(torch.randint(1, 4, (1,), generator=g))
        xy = torch.rand(n, 2, generator=g) * 40
        b = torch.cat([xy, xy + 10 + torch.rand(n, 2, generator=g) * 20], 1)
        k = torch.randint(0, classes, (n,), generator=g)
        boxes.append(b)
        labels.append(k)
        for j in range(n):
            if torch.rand(1, generator=g) < 0.8:
                noisy = b[j] + torch.randn(4, generator=g) * 2
                dets.append([i, *noisy.tolist(), float(torch.rand(1, generator=g)), int(k[j])])
        dets.append([i, 1.0, 1.0, 9.0, 9.0, 0.2, int(torch.randint(0, classes, (1,), generator=g))])
    k_max = max(len(x) for x in labels)
    y = NS(boxes=torch.stack([torch.cat([b, torch.zeros(k_max - len(b), 4)]) for b in boxes]),
           labels=torch.stack([torch.cat([k, torch.full((k_max - len(k),), -1)]) for k in labels]),
           index=torch.arange(images) + 100 * seed)
    return NS(detections=torch.tensor(dets), parts={"box_loss": torch.ones(images), "obj_loss": torch.zeros(images),
                                                    "cls_loss": torch.zeros(images)}), y


def test_map_equals_torchmetrics_on_the_same_boxes() -> None:
    ours = DetectionMetrics(num_classes=3)
    reference = MeanAveragePrecision(box_format="xyxy", class_metrics=True)
    for seed in range(3):
        out, y = batch(seed)
        ours.update(out, y, torch.full((6,), 2.0))
        d = out.detections
        reference.update([{"boxes": d[d[:, 0] == i, 1:5], "scores": d[d[:, 0] == i, 5], "labels": d[d[:, 0] == i, 6].long()}
                          for i in range(6)],
                         [{"boxes": y.boxes[i][y.labels[i] >= 0], "labels": y.labels[i][y.labels[i] >= 0]} for i in range(6)])
    r, ref = ours.compute(), reference.compute()
    assert r["map"] == pytest.approx(float(ref["map"])) and r["map50"] == pytest.approx(float(ref["map_50"]))
    assert r["per_class"]["ap"] == pytest.approx(ref["map_per_class"].tolist())
    assert 0 < r["map"] < r["map50"] <= 1 and len(r["per_class"]["ap50"]) == 3
    assert r["loss"] == 2.0 and r["box_loss"] == 1.0 and r["images"] == 18
    assert sum(r["per_class"]["objects"]) == int(sum((batch(s)[1].labels >= 0).sum() for s in range(3)))


def test_training_batches_record_losses_only_and_empty_metrics_name_the_map_keys() -> None:
    m = DetectionMetrics(num_classes=2)
    empty = empty_compute(m)  # what the Learner asks for the names a run records
    assert {"map50", "map", "loss", "box_loss"} <= set(empty) and empty["per_class"]["ap"] == [-1.0, -1.0]
    out, y = batch(0, classes=2)
    m.update(NS(detections=None, parts=out.parts), y, torch.ones(6))
    r = m.compute()
    assert "map50" not in r and r["loss"] == 1.0


def test_states_are_tensors_a_checkpoint_can_hold() -> None:
    m = DetectionMetrics(num_classes=3)
    out, y = batch(1)
    m.update(out, y, torch.ones(6))
    state = m.states()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    restored = DetectionMetrics(num_classes=3)
    restored.load_states({name: value.clone() for name, value in state.items()})
    assert restored.compute()["map"] == m.compute()["map"]
