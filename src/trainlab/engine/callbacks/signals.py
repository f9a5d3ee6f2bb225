"""Stop cleanly on SIGINT/SIGTERM: finish the current step, save last.pt, tell the user how to resume."""
from __future__ import annotations

import signal
import threading

from ..callback import Callback


class GracefulStop(Callback):
    """While fitting, the first SIGINT/SIGTERM asks the Learner to stop after the current step (the Checkpoint
    callback then writes last.pt); a second one interrupts at once."""

    def __init__(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        self.signals = signals
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def on_fit_start(self, learner) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # handlers can only be installed from the main thread

        def handler(signum, frame):
            if self.received is not None:  # second signal: give up waiting
                raise KeyboardInterrupt
            self.received = signum
            learner.should_stop = learner.stop_now = True
            learner.stop_reason = f"stopped by {signal.Signals(signum).name}"

        for s in self.signals:
            self._previous[s] = signal.signal(s, handler)

    def on_fit_end(self, learner) -> None:
        if self.received is not None:  # where the run stopped, numbered as the resume message numbers it
            learner.stop_reason += f" ({learner.loop.describe(learner.batches_per_epoch)})"
        for s, previous in self._previous.items():
            signal.signal(s, previous)
        self._previous.clear()

    def on_exception(self, learner, error: BaseException) -> None:
        self.on_fit_end(learner)
