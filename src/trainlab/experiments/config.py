"""The ``search`` params section: a hyperparameter search over child experiments (``trainlab search``)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..config import Section


class SearchConfig(Section):
    space: dict[str, Any] = {}
    sampler: Literal["grid", "random", "tpe"] = "grid"
    trials: int | None = Field(None, gt=0)
    metric: str = "valid.accuracy"
    direction: Literal["minimize", "maximize"] = "maximize"
    pruner: Literal["none", "median", "hyperband"] = "none"
