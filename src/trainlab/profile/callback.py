"""Training FLOPs in the history, and a FLOPs budget (``train.count_flops``, ``train.flops_budget``)."""
from __future__ import annotations

import logging
from typing import Any

import torch

from ..engine.callback import Callback
from ..errors import TrainlabError
from .counter import flops_per_sample, model_signature

log = logging.getLogger(__name__)


class FlopsCounter(Callback):
    """Records ``flops_per_sample`` (forward + backward) and cumulative ``train_flops`` each epoch.

    The per-sample cost is counted on the meta device once per model shape and again when the shape
    changes (e.g. after a morph transform). Every training sample counts, extra passes (focus) included.
    With ``budget`` the run stops once the training FLOPs reach it: at the next optimizer step of an epoch
    (which then ends early), or at the end of the epoch whose extra passes reached it. A resumed run that
    had reached it stops at once.

    Example:
        >>> from trainlab.engine import Learner
        >>> learner = Learner(model, data, optimizer=opt, callbacks=[FlopsCounter()]).fit(1)  # doctest: +SKIP
        >>> learner.history.rows[-1]["train_flops"] > 0  # doctest: +SKIP
        True
    """

    def __init__(self, budget: float | None = None) -> None:
        self.budget = budget
        self.total = 0.0  # training FLOPs of the recorded epochs (all processes)
        self.per_sample: int | None = None
        self._signature = None
        self._counted_samples = 0  # learner.loop.samples when self.total was last brought up to date

    def _count(self, learner) -> None:
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

    def on_fit_start(self, learner) -> None:
        self._count(learner)
        # A run the budget ended stays ended when resumed. Between epochs, what the recorded epochs spent
        # decides: the next epoch's focus pass (order before) may be done already, and the uninterrupted run
        # only looks again after that epoch's first batch.
        spent = self._so_far(learner) if learner.loop.batch else self.total
        if self.budget is not None and self.per_sample and spent >= self.budget:
            self._stop(learner, spent)

    def on_epoch_start(self, learner) -> None:
        self._count(learner)

    def _so_far(self, learner) -> float:
        seen = (learner.loop.samples - self._counted_samples) * learner.world_size
        return self.total + (self.per_sample or 0) * seen

    def on_train_batch_end(self, learner) -> None:
        self._check_budget(learner)

    def _check_budget(self, learner) -> None:
        if self.budget is not None and self.per_sample and self._so_far(learner) >= self.budget:
            self._stop(learner, self._so_far(learner))

    def _stop(self, learner, spent: float) -> None:
        learner.should_stop = True
        learner.stop_reason = f"FLOPs budget reached: {spent:.3g} >= {self.budget:.3g}"

    def on_epoch_end(self, learner) -> None:
        self.total, self._counted_samples = self._so_far(learner), learner.loop.samples
        if self.per_sample is not None:
            learner.logs.update(flops_per_sample=self.per_sample, train_flops=self.total)
        self._check_budget(learner)  # extra passes (focus) may have reached it since the last batch

    def state_dict(self) -> dict[str, Any]:
        return {"total": self.total, "counted_samples": self._counted_samples}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.total = state["total"]
        self._counted_samples = state.get("counted_samples", state.get("epoch_start_samples", 0))
