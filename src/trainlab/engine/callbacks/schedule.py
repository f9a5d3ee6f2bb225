"""Learning-rate schedule and gradient clipping callbacks."""
from __future__ import annotations

import warnings
from typing import Any

import torch

from ..callback import Callback
from ..monitor import check_monitor, monitored


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

    restarts_on_new_settings = True  # the old schedule belongs to the old length and lr

    def restart(self, learner) -> None:
        self.restart_at(learner.loop)

    def restart_at(self, loop) -> None:
        """Move this (freshly built) schedule to where a resumed run stands, as if it had run from the start:
        for a run resumed with changed settings (a new length, a new lr), whose old schedule no longer applies.

        Example:
            >>> import torch
            >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            >>> cb = LRSchedule(torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5), "epoch")
            >>> from trainlab.engine.loop_state import LoopState
            >>> cb.restart_at(LoopState(epoch=3)); opt.param_groups[0]["lr"]
            0.125
        """
        if self.interval == "step":
            steps = min(loop.step, self.scheduler.total_steps - 1)
        else:
            steps = loop.epoch if self.interval == "epoch" else 0  # plateau starts afresh at the new lr
        with warnings.catch_warnings():  # "step() before optimizer.step()": no optimizer step belongs here
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(steps):
                self.scheduler.step()

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
