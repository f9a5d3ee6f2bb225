"""An exponential moving average (EMA) of the weights, kept beside the training run and evaluated instead.

After every optimizer step (the epoch's and any extra pass's, through ``on_after_optimizer_step``) each
floating-point entry of the model's state dict, parameters and buffers alike (BatchNorm running statistics
included), moves toward the model's: ``ema <- d_t ema + (1 - d_t) w``; integer buffers (BatchNorm's batch
count) are copied. ``d_t = min(decay, (1 + t) / (warmup_steps + t))`` at the t-th update (the warm-up of
TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``, used by timm's model EMA): early updates
weigh heavily, so the average soon forgets the random initialization. Validation (hence ``best.pt``'s
choice), ``trainlab evaluate`` and prediction use the average; checkpoints hold it with its update count, so
a resumed run continues it exactly.

Under several processes (DDP) every rank computes the same average of the parameters (they are the same on
every rank); BatchNorm statistics, which each rank measures on its own batches, are taken from rank 0 at
every validation (as timm's ``distribute_bn`` does for its EMA), so all ranks evaluate the same average.

Example:
    >>> [round(ema_decay(t, decay=0.999, warmup_steps=10), 4) for t in (1, 10, 100, 10_000)]
    [0.1818, 0.55, 0.9182, 0.999]
"""
from __future__ import annotations

import copy
import logging
from typing import Any

import torch
from torch import Tensor, nn

from ..engine import Callback
from ..errors import ConfigError

log = logging.getLogger(__name__)


def ema_decay(t: int, *, decay: float, warmup_steps: int) -> float:
    """The decay of the t-th update (t = 1, 2, ...): ``min(decay, (1 + t) / (warmup_steps + t))``, or
    ``decay`` when ``warmup_steps`` is 0.

    Example:
        >>> ema_decay(1, decay=0.9, warmup_steps=0)
        0.9
    """
    if warmup_steps <= 0:
        return decay
    return min(decay, (1 + t) / (warmup_steps + t))


@torch.no_grad()
def update_average(average: list[Tensor], current: list[Tensor], decay: float) -> None:
    """``average <- decay * average + (1 - decay) * current``, in place, for lists of float tensors (one fused
    kernel per device and dtype).

    Example:
        >>> a = [torch.zeros(2)]; update_average(a, [torch.ones(2)], 0.75); a[0].tolist()
        [0.25, 0.25]
    """
    if average:
        torch._foreach_lerp_(average, current, 1.0 - decay)


class ModelEMA(Callback):
    """Keeps an EMA of the model's weights and buffers; validation, ``best.pt``, evaluate and predict use it.

    Args:
        decay: the share of itself the average keeps at each step (0.999: a horizon of ~1,000 steps).
        warmup_steps: the warm-up constant of :func:`ema_decay` (0: none).

    The average is a copy of the model (``module``, in eval mode, no gradients); the Learner evaluates it
    (``learner.eval_model``) and checkpoints hold its state dict under ``callbacks.ema.weights``
    (``eval_weights: "ema"``), which ``trainlab evaluate`` and :func:`trainlab.runs.learner_for_checkpoint`
    load unless asked for the raw weights. A model replaced during training (``learner.set_model``, e.g. a
    widened network) restarts the average from its weights.

    Example:
        >>> learner = Learner(model, data, optimizer=opt, callbacks=[ModelEMA(decay=0.99)])  # doctest: +SKIP
        >>> learner.fit(3).evaluate("test")  # the average's metrics  # doctest: +SKIP
    """

    def __init__(self, *, decay: float = 0.999, warmup_steps: int = 10) -> None:
        if not 0 <= decay < 1:
            raise ConfigError(f"train.ema.decay must be in [0, 1), got {decay}; e.g. 0.999.")
        if warmup_steps < 0:
            raise ConfigError(f"train.ema.warmup_steps must be >= 0, got {warmup_steps}.")
        self.decay, self.warmup_steps = decay, warmup_steps
        self.updates = 0
        self.module: nn.Module | None = None
        self._source: nn.Module | None = None  # the model the average follows

    @property
    def state_key(self) -> str:  # where checkpoints keep the average (trainlab.engine.checkpoint.checkpoint_weights)
        return "ema"

    @property
    def current_decay(self) -> float:
        """The decay the last update used (that of the first update before any)."""
        return ema_decay(max(self.updates, 1), decay=self.decay, warmup_steps=self.warmup_steps)

    def on_setup(self, learner) -> None:
        if learner.eval_model is not None:
            raise ConfigError("train.ema: another callback already gives validation its own weights; keep one.")
        self._follow(learner.model)
        learner.eval_model, learner.eval_weights = self.module, self.state_key
        learner.eval_notes["weights"] = self.state_key

    def _follow(self, model: nn.Module) -> None:
        """Start the average at ``model``'s current weights."""
        self._source, self.updates = model, 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        pairs = list(zip(self.module.state_dict().values(), model.state_dict().values()))
        self._floats = ([a for a, _ in pairs if a.is_floating_point()], [w for a, w in pairs if a.is_floating_point()])
        self._others = [(a, w) for a, w in pairs if not a.is_floating_point()]

    def on_fit_start(self, learner) -> None:
        if self.updates == 0:  # weights loaded after setup (a resumed run that had no average yet) are the start
            self.module.load_state_dict(learner.model.state_dict())

    def on_after_optimizer_step(self, learner) -> None:
        if learner.model is not self._source:  # replaced (morph): a new architecture, a new average
            log.info("the model was replaced at step %d; the weight average restarts from it", learner.loop.step)
            self._follow(learner.model)
            learner.eval_model = self.module
        self.updates += 1
        update_average(*self._floats, ema_decay(self.updates, decay=self.decay, warmup_steps=self.warmup_steps))
        for average, current in self._others:
            average.copy_(current)

    def on_epoch_end(self, learner) -> None:
        learner.logs["ema.decay"] = self.current_decay  # what the epoch's validation averaged with

    def state_dict(self) -> dict[str, Any]:
        return {"updates": self.updates, "weights": self.module.state_dict()} if self.module is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["weights"])
        self.updates = int(state["updates"])
