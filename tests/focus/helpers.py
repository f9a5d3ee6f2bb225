"""Small Learners with focus for these tests: synthetic 6-class data (noisy enough that classes differ)."""
import torch

from trainlab.config import DataConfig
from trainlab.data import data_from_config
from trainlab.engine import ClassificationTask, Learner
from trainlab.focus import FocusCallback, FocusLearning


def focus_data(seed=0, batch_size=32, augment="none"):
    return data_from_config(DataConfig(name="synthetic", batch_size=batch_size, augment=augment,
                                       args={"num_classes": 6, "samples": 360, "image_size": 8, "noise": 0.9}),
                            seed=seed)


def focus_learner(strategy: FocusLearning | None = None, *, callbacks=(), lr=0.01, seed=0, dropout=0.0,
                  optimizer="adam", task=None, augment="none", **kwargs):
    data = focus_data(seed, augment=augment)
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                                torch.nn.Dropout(dropout), torch.nn.Linear(32, 6))
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(model.parameters(), lr=lr)
    cbs = [FocusCallback(strategy)] if strategy is not None else []
    return Learner(model, data, optimizer=opt, callbacks=[*cbs, *callbacks], task=task, **kwargs)


def weights(learner):
    return {k: v.clone() for k, v in learner.model.state_dict().items()}


class SpyTask(ClassificationTask):
    """Records the labels of every training-mode loss call, tagged with the phase the learner is in."""

    def __init__(self, num_classes):
        super().__init__(num_classes)
        self.phase = "normal"
        self.calls: list[tuple[str, int, torch.Tensor]] = []  # (phase, epoch, labels)
        self.learner = None

    def loss(self, logits, target):
        if self.learner is not None and self.learner.model.training:
            self.calls.append((self.phase, self.learner.loop.epoch, target.clone()))
        return super().loss(logits, target)


def spy_on(learner):
    """Give ``learner`` a SpyTask whose phase is "focus" inside train_pass; return the task."""
    spy = SpyTask(learner.data.num_classes)
    spy.learner, learner.task = learner, spy
    original = learner.train_pass

    def train_pass(*args, **kwargs):
        spy.phase = "focus"
        try:
            return original(*args, **kwargs)
        finally:
            spy.phase = "normal"

    learner.train_pass = train_pass
    return spy

