"""Classification metrics accumulated on the device, synced across processes (:mod:`.metric`).

One confusion matrix, per-class loss sums and a top-5 count are updated each step (a few tensor ops, no
host sync); accuracy, macro F1, per-class accuracy and loss are derived from them at epoch end.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .metric import Metric


class ClassificationMetrics(Metric):
    """Loss, accuracy, top-5 (when classes ≥ 5), macro F1, per-class accuracy/loss, confusion matrix.

    Targets are class indices (B,), or class probabilities (B, C) (a mixed batch), which count toward
    their largest class (the dominant label).

    Example:
        >>> m = ClassificationMetrics(num_classes=3)
        >>> m.update(torch.tensor([[2., 0, 0], [0, 2., 0]]), torch.tensor([0, 2]), torch.tensor([0.1, 2.0]))
        >>> m.compute()["accuracy"]
        0.5
    """

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        c = num_classes
        self.add_state("confmat", torch.zeros(c, c, dtype=torch.long), "sum")  # [true, pred]
        self.add_state("loss_sum", torch.zeros(c, dtype=torch.float64), "sum")
        self.add_state("top5", torch.zeros((), dtype=torch.long), "sum")

    def update(self, logits: Tensor, target: Tensor, loss: Tensor) -> None:  # (B, C), (B,) or (B, C), (B,)
        c = self.num_classes
        if target.dim() == 2:  # soft targets (mixup, cutmix): each sample counts toward its dominant label
            target = target.argmax(1)
        logits = logits.float()
        pred = logits.argmax(1)
        self.confmat += torch.bincount(target * c + pred, minlength=c * c).view(c, c)
        self.loss_sum += torch.bincount(target, weights=loss.double(), minlength=c)
        if c >= 5:
            self.top5 += (logits.topk(5, 1).indices == target[:, None]).any(1).sum()

    def compute(self) -> dict:
        cm = self.confmat.double()
        support = cm.sum(1)  # samples per true class
        predicted = cm.sum(0)
        tp = cm.diag()
        n = support.sum().clamp_min(1)
        recall = tp / support.clamp_min(1)
        precision = tp / predicted.clamp_min(1)
        f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall), torch.zeros_like(tp))
        out = {
            "loss": float(self.loss_sum.sum() / n),
            "accuracy": float(tp.sum() / n),
            "f1": float(f1[support > 0].mean()) if (support > 0).any() else 0.0,
            "per_class": {
                "accuracy": recall.tolist(),
                "loss": (self.loss_sum / support.clamp_min(1)).tolist(),
                "f1": f1.tolist(),
                "support": support.long().tolist(),
            },
            "confusion_matrix": self.confmat.tolist(),
        }
        if self.num_classes >= 5:
            out["top5"] = float(self.top5 / n)
        return out


def empty_compute(metrics: Metric) -> dict:
    """``metrics.compute()`` on its empty state, in this process only: what a task records (names, per-class
    structure), without the cross-process sync that other processes would not join."""
    return metrics.compute()
