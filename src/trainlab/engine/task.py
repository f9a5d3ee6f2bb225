"""Tasks: what the model's output means, how its loss and metrics are computed.

The Learner is task-agnostic: it asks the task for a per-sample loss and a metrics object. A sequence
task (CTC, attention decoding) plugs in as another Task without touching the loop.
"""
from __future__ import annotations

from typing import Protocol

import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from .metrics import ClassificationMetrics


class Task(Protocol):
    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        """Per-sample loss, shape (B,)."""

    def metrics(self) -> Metric:
        """A fresh metrics accumulator with ``update(output, target, per_sample_loss)`` and ``compute()``."""


class ClassificationTask:
    """Cross-entropy over logits (B, C), optional label smoothing."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0) -> None:
        self.num_classes, self.label_smoothing = num_classes, label_smoothing

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(output.float(), target, reduction="none", label_smoothing=self.label_smoothing)

    def metrics(self) -> ClassificationMetrics:
        return ClassificationMetrics(self.num_classes)
