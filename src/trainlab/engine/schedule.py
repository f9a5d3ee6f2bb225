"""Learning-rate schedule and gradient clipping callbacks."""
from __future__ import annotations

from typing import Any

import torch

from .callback import Callback
from .monitor import check_monitor, monitored


class LRSchedule(Callback):
    """Steps a torch scheduler per optimizer step ("step"), per epoch ("epoch") or on a metric ("plateau")."""

    def __init__(self, scheduler, interval: str, monitor: str = "valid.loss") -> None:
        self.scheduler, self.interval, self.monitor = scheduler, interval, monitor

    def on_setup(self, learner) -> None:
        if self.interval == "plateau":
            check_monitor(learner, self.monitor, "schedule.monitor")

    def on_train_batch_end(self, learner) -> None:
        if self.interval == "step" and learner.did_step and self.scheduler.last_epoch < self.scheduler.total_steps - 1:
            self.scheduler.step()

    def on_epoch_end(self, learner) -> None:
        if self.interval == "epoch":
            self.scheduler.step()
        elif self.interval == "plateau":
            value = monitored(learner.logs, self.monitor)
            if value is not None:
                self.scheduler.step(value)

    def state_dict(self) -> dict[str, Any]:
        return self.scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state)


class GradClip(Callback):
    """Clips the global gradient norm before each optimizer step (gradients are already unscaled)."""

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    def on_before_optimizer_step(self, learner) -> None:
        torch.nn.utils.clip_grad_norm_(learner.model.parameters(), self.max_norm)
