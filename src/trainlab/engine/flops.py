"""Training FLOPs in the history, and a FLOPs budget (trainlab.profile does the counting)."""
from __future__ import annotations

import logging
from typing import Any

import torch

from ..errors import TrainlabError
from .callback import Callback

log = logging.getLogger(__name__)


class FlopsCounter(Callback):
    """Records ``flops_per_sample`` (forward + backward) and cumulative ``train_flops`` each epoch.

    The per-sample cost is counted on the meta device once per model shape and again when the shape
    changes (e.g. after a morph transform). With ``budget`` the run stops once the training FLOPs reach it.
    """

    order = 5  # before early stopping and checkpoints, so both see this epoch's numbers

    def __init__(self, budget: float | None = None) -> None:
        self.budget = budget
        self.total = 0.0  # training FLOPs so far (all processes)
        self.per_sample: int | None = None
        self._signature = None
        self._epoch_start_samples = 0

    def _count(self, learner) -> None:
        from ..profile import flops_per_sample, model_signature

        signature = model_signature(learner.model)
        if signature == self._signature:
            return
        self._signature = signature
        example = torch.zeros(2, *learner.data.input_shape)
        try:
            self.per_sample = flops_per_sample(learner.model, example)
        except (TrainlabError, RuntimeError, NotImplementedError) as e:  # never stop training for a counter
            self.per_sample = None
            log.warning("could not count FLOPs for this model (%s); history will have no FLOPs", e)

    def on_epoch_start(self, learner) -> None:
        self._count(learner)
        self._epoch_start_samples = learner.samples_seen

    def _so_far(self, learner) -> float:
        seen = (learner.samples_seen - self._epoch_start_samples) * learner.world_size
        return self.total + (self.per_sample or 0) * seen

    def on_batch_end(self, learner) -> None:
        if self.budget is not None and self.per_sample and self._so_far(learner) >= self.budget:
            learner.should_stop = True
            learner.stop_reason = f"FLOPs budget reached: {self._so_far(learner):.3g} >= {self.budget:.3g}"

    def on_epoch_end(self, learner) -> None:
        self.total = self._so_far(learner)
        self._epoch_start_samples = learner.samples_seen
        if self.per_sample is not None:
            learner.logs.update(flops_per_sample=self.per_sample, train_flops=self.total)
            learner.history.rows[-1].update(flops_per_sample=self.per_sample, train_flops=self.total)

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total, "epoch_start_samples": self._epoch_start_samples}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total, self._epoch_start_samples = state["total"], state["epoch_start_samples"]
