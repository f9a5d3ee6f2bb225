"""Object detection: a YOLO-style anchor-free detector as a third Task, COCO mAP, the YOLO label format.

:mod:`trainlab.detection.feature` registers the model ``yolo`` for :func:`trainlab.models.build_model`,
the datasets ``digit-scenes`` (scenes of handwritten digits or Fashion-MNIST items, made on the fly) and
``yolo-folder`` (ultralytics' folder format) for ``data.name``, and the ``detection`` params section.
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
from .assign import Assignment, assign
from .augment import BoxAugment
from .data import DetectionLoader, DetectionSplit, DetectionTargets, detection_bundle, make_split, pad_boxes
from .metrics import DetectionMetrics
from .model import YOLO
from .scenes import SceneOptions, scene_splits
from .task import ClassScores, DetectionOutput, DetectionTask, decode
from .yolo_format import read_yolo_dataset, write_yolo_dataset

__all__ = [
    "Assignment", "BoxAugment", "ClassScores", "DetectionLoader", "DetectionMetrics", "DetectionOutput",
    "DetectionSplit", "DetectionTargets", "DetectionTask", "SceneOptions", "YOLO", "assign", "decode",
    "detection_bundle", "make_split", "pad_boxes", "read_yolo_dataset", "scene_splits", "write_yolo_dataset",
]
