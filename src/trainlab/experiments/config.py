"""The ``search`` params section: a hyperparameter search over child experiments (``trainlab search``)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..config import Section


class SearchConfig(Section):
    """A hyperparameter search over child experiments (trainlab search)."""

    space: dict[str, Any] = Field({}, description="dotted keys to a list of values or {low, high, log, step}")
    sampler: Literal["grid", "random", "tpe"] = Field("grid", description="grid: every combination; random and "
                                                      "tpe need trials")
    trials: int | None = Field(None, gt=0, description="how many trials (grid: the first N combinations)")
    monitor: str = Field("valid.accuracy", description="the validation metric a trial is judged by (its best epoch)")
    mode: Literal["min", "max"] = Field("max", description="min if lower values of monitor are better, max if higher")
    pruner: Literal["none", "median", "hyperband"] = Field("none", description="stop unpromising trials early")
