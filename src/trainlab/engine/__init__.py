"""The training engine: Learner, callbacks, metrics, history, checkpoints."""
from .callback import Callback, CallbackList
from .checkpointing import Checkpoint
from .early_stopping import EarlyStopping
from .history import History
from .learner import Learner
from .metrics import ClassificationMetrics
from .reporting import HistoryWriter, LossWatch, PlotHistory, Progress, TensorBoard
from .schedule import GradClip, LRSchedule
from .task import ClassificationTask, Task

__all__ = ["Callback", "CallbackList", "Checkpoint", "ClassificationMetrics", "ClassificationTask", "EarlyStopping",
           "GradClip", "History", "HistoryWriter", "LRSchedule", "Learner", "LossWatch", "PlotHistory", "Progress",
           "Task", "TensorBoard"]
