"""Callbacks: plain objects with no-op hooks (Keras style). Hooks receive the Learner.

A callback changes the run only through the Learner's public state (``learner.should_stop = True``,
``learner.optimizer``...). :class:`CallbackList` calls only the hooks a callback overrides, so unused
per-batch hooks cost nothing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .learner import Learner

EVENTS = ("on_fit_start", "on_epoch_start", "on_batch_start", "on_after_backward", "on_batch_end",
          "on_validation_end", "on_epoch_end", "on_fit_end")


class Callback:
    """Base class. ``order`` sorts callbacks (lower runs first); ``state_dict`` goes into checkpoints."""

    order: int = 0

    def on_fit_start(self, learner: Learner) -> None: ...
    def on_epoch_start(self, learner: Learner) -> None: ...
    def on_batch_start(self, learner: Learner) -> None: ...
    def on_after_backward(self, learner: Learner) -> None:
        """Gradients are ready (unscaled under AMP) and the optimizer is about to step."""
    def on_batch_end(self, learner: Learner) -> None: ...
    def on_validation_end(self, learner: Learner) -> None:
        """``learner.logs`` now holds this epoch's validation metrics."""
    def on_epoch_end(self, learner: Learner) -> None: ...
    def on_fit_end(self, learner: Learner) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    @property
    def key(self) -> str:
        """The name this callback's state is stored under in checkpoints."""
        return type(self).__name__


class CallbackList:
    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = sorted(callbacks, key=lambda c: c.order)
        self._hooks = {
            event: [getattr(cb, event) for cb in self.callbacks
                    if getattr(type(cb), event) is not getattr(Callback, event)]
            for event in EVENTS
        }

    def __call__(self, event: str, learner: Learner) -> None:
        for hook in self._hooks[event]:
            hook(learner)

    def __iter__(self):
        return iter(self.callbacks)

    def find(self, kind: type) -> Callback | None:
        return next((cb for cb in self.callbacks if isinstance(cb, kind)), None)

    def state_dict(self) -> dict[str, Any]:
        return {cb.key: cb.state_dict() for cb in self.callbacks if cb.state_dict()}

    def load_state_dict(self, states: dict[str, Any]) -> None:
        for cb in self.callbacks:
            if cb.key in states:
                cb.load_state_dict(states[cb.key])
