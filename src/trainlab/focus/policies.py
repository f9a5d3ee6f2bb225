"""When to focus: small callables ``policy(history, epoch) -> bool`` used by the focus strategies.

``epoch`` is the 1-based number of the epoch whose focus pass is being decided; ``history`` holds every
row recorded so far. With the focus pass *after* the normal pass, the last row is the current epoch's
validation, taken before focusing (the original code looked at the previous epoch's: one epoch stale).

Example:
    >>> from trainlab.engine import History
    >>> Every(2)(History(), epoch=3), Every(2)(History(), epoch=4)
    (False, True)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from ..engine.history import History
from ..errors import ConfigError
from ..registry import close_matches


class FocusPolicy(Protocol):
    def __call__(self, history: History, epoch: int) -> bool: ...


@dataclass(frozen=True)
class Always:
    """Focus every epoch (the original study's rule).

    Example:
        >>> Always()(History(), epoch=1)
        True
    """

    def __call__(self, history: History, epoch: int) -> bool:
        return True


@dataclass(frozen=True)
class Every:
    """Focus on epochs n, 2n, 3n, ...

    Example:
        >>> [Every(3)(History(), epoch=e) for e in (1, 2, 3)]
        [False, False, True]
    """

    n: int

    def __call__(self, history: History, epoch: int) -> bool:
        return epoch % self.n == 0


@dataclass(frozen=True)
class AfterEpoch:
    """Focus on every epoch after the first ``n`` (a warm-up of plain training).

    Example:
        >>> [AfterEpoch(1)(History(), epoch=e) for e in (1, 2)]
        [False, True]
    """

    n: int

    def __call__(self, history: History, epoch: int) -> bool:
        return epoch > self.n


@dataclass(frozen=True)
class Plateau:
    """Focus while ``monitor`` has not improved on its best for ``patience`` recorded epochs.

    ``mode`` says which way is better (default: "min" for names ending in "loss", else "max"). Once the
    metric improves again, focusing pauses until the next plateau.

    Example:
        >>> h = History([{"valid.loss": v} for v in (0.9, 0.5, 0.6, 0.7)])
        >>> Plateau("valid.loss", patience=2)(h, epoch=4), Plateau("valid.loss", patience=3)(h, epoch=4)
        (True, False)
    """

    monitor: str = "valid.loss"
    patience: int = 2
    mode: str | None = None

    def __call__(self, history: History, epoch: int) -> bool:
        values = [float(v) for v in history.values(self.monitor) if isinstance(v, int | float) and not math.isnan(v)]
        if not values:
            recorded = sorted(history.metric_names())
            if recorded and any(k.startswith("valid.") for k in recorded):
                raise ConfigError(f"focus.when.plateau.monitor {self.monitor!r} is not recorded."
                                  f"{close_matches(self.monitor, recorded)} Recorded: {', '.join(recorded)}.")
            return False
        minimize = (self.mode or ("min" if self.monitor.endswith("loss") else "max")) == "min"
        best = min(values) if minimize else max(values)
        since_best = len(values) - 1 - values.index(best)  # first time the best value was reached
        return since_best >= self.patience


def policy_from_config(when) -> FocusPolicy:
    """The policy for a ``focus.when`` setting ("always" or a FocusEvery/FocusAfterEpoch/FocusPlateau section).

    Example:
        >>> policy_from_config("always")
        Always()
    """
    if when == "always":
        return Always()
    if hasattr(when, "every"):
        return Every(when.every)
    if hasattr(when, "after_epoch"):
        return AfterEpoch(when.after_epoch)
    if hasattr(when, "plateau"):
        rule = when.plateau
        return Plateau(rule.monitor, rule.patience, rule.mode)
    raise ConfigError(f"unknown focus.when {when!r}; allowed: 'always', {{every: N}}, {{after_epoch: N}}, "
                      "{plateau: {monitor, patience}}.")
