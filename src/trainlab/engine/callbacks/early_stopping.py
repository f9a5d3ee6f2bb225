"""Stop when the monitored metric stops improving (Keras' EarlyStopping semantics, restore on by default)."""
from __future__ import annotations

import copy
import logging
from typing import Any

from ...models.weights import describe_mismatch
from ..callback import Callback
from ..monitor import check_monitor, improved, monitored

log = logging.getLogger(__name__)


class EarlyStopping(Callback):
    """Stops after ``patience`` validated epochs without an improvement larger than ``min_delta``.

    With ``restore_best`` the model gets the best epoch's weights back when fit ends. Those weights are part
    of the callback's state, so a run resumed after its best epoch ends with them too; a run it stopped
    stops again at once when resumed (unless ``patience`` was raised).
    Its state key names ``monitor`` and ``mode``: two EarlyStopping callbacks on different metrics keep
    their own states.

    Example:
        >>> EarlyStopping(monitor="valid.accuracy", mode="max").state_key
        'EarlyStopping(monitor=valid.accuracy, mode=max)'
    """

    def __init__(self, *, monitor: str = "valid.loss", mode: str = "min", patience: int = 5,
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, min_delta
        self.restore_best = restore_best
        self.best: float | None = None
        self.best_epoch = 0
        self.wait = 0
        self.best_weights: dict | None = None
        self._model_state: dict | None = None  # the model's state dict, to check restored weights against

    @property
    def state_key(self) -> str:
        return self.__dict__.get("_state_key") or self._generate_state_key(monitor=self.monitor, mode=self.mode)

    @state_key.setter
    def state_key(self, key: str) -> None:
        self._state_key = key

    def on_setup(self, learner) -> None:
        check_monitor(learner, self.monitor, "train.early_stopping.monitor")
        self._model_state = learner.model.state_dict()

    def on_fit_start(self, learner) -> None:
        if learner.loop.epoch == 0:  # a fresh run; a resumed one keeps its loaded state
            self.best, self.best_epoch, self.wait, self.best_weights = None, 0, 0, None
        elif self.wait >= self.patience:  # a run this callback ended stays ended (raise patience to go on)
            self._stop(learner)

    def on_epoch_end(self, learner) -> None:
        value = monitored(learner.logs, self.monitor)
        if value is None:
            return
        if improved(value, self.best, self.mode, self.min_delta):
            self.best, self.best_epoch, self.wait = value, learner.loop.epoch, 0
            if self.restore_best:
                self.best_weights = copy.deepcopy({k: v.detach() for k, v in learner.model.state_dict().items()})
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self._stop(learner)

    def _stop(self, learner) -> None:
        learner.should_stop = True
        learner.stop_reason = (f"early stopping: {self.monitor} did not improve for {self.wait} "
                               f"epochs (best {self.best:.4g} at epoch {self.best_epoch})")

    def on_fit_end(self, learner) -> None:
        if learner.stop_now:  # stopped by a signal, to be resumed: the model must stay where the run is
            return
        if self.restore_best and self.best_weights is not None and self.best_epoch != learner.loop.epoch:
            learner.model.load_state_dict(self.best_weights)
            log.info("restored the weights of epoch %d (%s %.4g)", self.best_epoch, self.monitor, self.best)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait,
                "best_weights": self.best_weights or {}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        weights = state.get("best_weights") or None  # checkpoints before best weights were kept hold none
        if weights is not None and self._model_state is not None:
            mismatch = describe_mismatch(self._model_state, weights, limit=120)
            if mismatch:
                raise ValueError(f"its best weights do not fit the model ({mismatch})")
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_weights = dict(weights) if weights is not None else None
