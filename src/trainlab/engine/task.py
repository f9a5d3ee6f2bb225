"""Tasks: what the model's output means, how its loss and metrics are computed.

The Learner is task-agnostic: it asks the task for a per-sample loss and a metrics object. A sequence
task (CTC, attention decoding) plugs in as another Task without touching the loop.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:  # torchmetrics imports torchvision and scipy (~2 s): imported when metrics are first built
    from torchmetrics import Metric

    from .metrics import ClassificationMetrics


class Task(Protocol):
    def forward(self, model: nn.Module, x: Tensor, target: Any) -> Any:
        """The model's output for a batch (a sequence task may feed the target, e.g. teacher forcing)."""

    def loss(self, output: Any, target: Any) -> Tensor:
        """Per-sample loss, shape (B,)."""

    def metrics(self) -> Metric:
        """A fresh accumulator: ``update(output, target, per_sample_loss)`` (called under no_grad) and
        ``compute() -> dict`` with at least "loss"; per-class values under "per_class"."""


class ClassificationTask:
    """Cross-entropy over logits (B, C), optional label smoothing."""

    def __init__(self, num_classes: int, label_smoothing: float = 0.0) -> None:
        self.num_classes, self.label_smoothing = num_classes, label_smoothing

    def forward(self, model: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        return model(x)  # (B, C) logits

    def loss(self, output: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(output.float(), target, reduction="none", label_smoothing=self.label_smoothing)

    def metrics(self) -> ClassificationMetrics:
        from .metrics import ClassificationMetrics

        return ClassificationMetrics(self.num_classes)
