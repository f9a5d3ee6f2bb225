"""Reading a monitored metric ("valid.loss") from the Learner's logs and comparing values."""
from __future__ import annotations

import math
from typing import Any

from ..errors import ConfigError
from ..registry import close_matches


def monitored(logs: dict[str, Any], key: str) -> float | None:
    """The value of ``key`` in ``logs``; None on epochs without validation; error for an unknown key."""
    if key in logs:
        return float(logs[key])
    if any(k.startswith("valid.") for k in logs) or not key.startswith("valid."):
        numeric = sorted(k for k, v in logs.items() if isinstance(v, float | int))
        raise ConfigError(f"monitored metric {key!r} is not recorded.{close_matches(key, numeric)} "
                          f"Recorded: {', '.join(numeric)}.")
    return None  # no validation this epoch


def improved(value: float, best: float | None, mode: str, min_delta: float = 0.0) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def check_monitor(learner, key: str, option: str) -> None:
    """Refuse a monitored metric the run will never record (a typo), before anything trains.

    ``option`` names the setting for the message (e.g. "train.monitor"); the allowed names are the
    task's scalar metrics on the train and valid splits (:meth:`Learner.metric_names`).
    """
    names = learner.metric_names()
    if key not in names:
        raise ConfigError(f"{option} is {key!r}, which this run does not record.{close_matches(key, names)} "
                          f"Recorded: {', '.join(names)}.")
