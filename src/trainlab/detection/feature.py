"""What trainlab.detection adds: the ``detection`` params section, the ``yolo`` model, and the
``digit-scenes``, ``yolo-folder`` and ``coco`` datasets (each with the detection Task). Imported lazily: parsing a
params file does not import the detection code."""
from __future__ import annotations

from ..config import register_section
from ..data import TASK_DATASETS
from ..models import MODELS
from .config import DetectionConfig

register_section("detection", DetectionConfig)
MODELS.register_lazy("yolo", "trainlab.detection.model:yolo")
TASK_DATASETS.register_lazy("digit-scenes", "trainlab.detection.task:digit_scenes")
TASK_DATASETS.register_lazy("yolo-folder", "trainlab.detection.task:yolo_folder")
TASK_DATASETS.register_lazy("coco", "trainlab.detection.task:coco")
