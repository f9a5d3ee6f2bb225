"""The training engine: Learner, callbacks, metrics, history, checkpoints."""
from .callback import Callback, CallbackList
from .callbacks.checkpoint import Checkpoint
from .callbacks.early_stopping import EarlyStopping
from .callbacks.reporting import HistoryWriter, LossWatch, PlotHistory, Progress, TensorBoard
from .callbacks.schedule import GradClip, LRSchedule
from .history import History
from .learner import Learner
from .metrics import ClassificationMetrics
from .task import ClassificationTask, Task

__all__ = ["Callback", "CallbackList", "Checkpoint", "ClassificationMetrics", "ClassificationTask", "EarlyStopping",
           "GradClip", "History", "HistoryWriter", "LRSchedule", "Learner", "LossWatch", "PlotHistory", "Progress",
           "Task", "TensorBoard"]

