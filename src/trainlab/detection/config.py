"""The ``detection`` params section: how the detector's outputs are decoded and its loss is assigned."""
from __future__ import annotations

from typing import Any

from pydantic import Field

from ..config import Section


class DetectionConfig(Section):
    """How detection models (trainlab.detection) decode boxes and assign them in the loss."""

    score_threshold: float = Field(0.001, ge=0, lt=1, description="detections scoring below are dropped before "
                                                                  "mAP (COCO practice: 0.001)")
    iou_threshold: float = Field(0.6, gt=0, le=1, description="class-wise non-maximum suppression IoU")
    max_detections: int = Field(100, gt=0, description="detections kept per image (COCO's mAP counts at most 100)")
    class_metrics: bool = Field(True, description="per-class AP in the history (one more COCOeval run per class)")
    box_weight: float = Field(5.0, ge=0, description="weight of the CIoU box loss against objectness and class")
    topk: int = Field(10, gt=0, description="positives per true box (the assigner's top-k)")
    radius: float = Field(2.5, gt=0, description="centre sampling: candidates within this many strides of a box's "
                                                 "centre")

    def task_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`trainlab.detection.task.DetectionTask`."""
        return self.model_dump()
