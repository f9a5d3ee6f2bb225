"""The training engine: Learner, callbacks, metrics, history, checkpoints."""
from typing import Any

from .callback import Callback, CallbackList
from .callbacks.checkpoint import Checkpoint
from .callbacks.early_stopping import EarlyStopping
from .callbacks.reporting import HistoryWriter, LossWatch, PlotHistory, Progress, TensorBoard
from .callbacks.schedule import GradClip, LRSchedule
from .history import History
from .learner import Learner
from .task import ClassificationTask, Task

__all__ = ["Callback", "CallbackList", "Checkpoint", "ClassificationMetrics", "ClassificationTask", "EarlyStopping",
           "GradClip", "History", "HistoryWriter", "LRSchedule", "Learner", "LossWatch", "PlotHistory", "Progress",
           "Task", "TensorBoard"]


def __getattr__(name: str) -> Any:  # torchmetrics (~2 s with torchvision and scipy) only when metrics are built
    if name == "ClassificationMetrics":
        from .metrics import ClassificationMetrics

        return ClassificationMetrics
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
