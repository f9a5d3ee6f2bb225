"""Object detection: a YOLO-style anchor-free detector as a third Task, COCO mAP, the YOLO and COCO formats.

:mod:`trainlab.detection.feature` registers the model ``yolo`` for :func:`trainlab.models.build_model`,
the datasets ``digit-scenes`` (scenes of handwritten digits or Fashion-MNIST items, made on the fly),
``yolo-folder`` (ultralytics' folder format) and ``coco`` (COCO JSON annotations) for ``data.name``, and
the ``detection`` params section.
Boxes are (x1, y1, x2, y2) in pixels of the model's input everywhere.

Example:
    >>> import torch
    >>> from trainlab.detection import YOLO, DetectionTask, DetectionTargets
    >>> model = YOLO(num_classes=10, in_channels=1, width=8).eval()
    >>> y = DetectionTargets(torch.tensor([[[8., 8., 30., 40.]]]), torch.tensor([[3]]), torch.tensor([0]))
    >>> out = DetectionTask().forward(model, torch.zeros(1, 1, 64, 64), y)
    >>> out.raw.shape, out.detections.shape[1]
    (torch.Size([1, 84, 15]), 7)
"""
from __future__ import annotations

import importlib
from typing import Any

# Imported on first use (PEP 562): loading the feature registrations must not import torchvision.
_WHERE = {
    "Assignment": "assign", "assign": "assign", "BoxAugment": "augment", "DetectionLoader": "data",
    "DetectionSplit": "data", "DetectionTargets": "data", "detection_bundle": "data", "make_split": "data",
    "pad_boxes": "data", "DetectionMetrics": "metrics", "YOLO": "model", "SceneOptions": "scenes",
    "scene_splits": "scenes", "ClassScores": "task", "DetectionOutput": "task", "DetectionTask": "task",
    "decode": "task", "read_yolo_dataset": "yolo_format", "write_yolo_dataset": "yolo_format",
    "read_coco_dataset": "coco_format", "coco_results": "coco_results", "write_coco_results": "coco_results",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
