"""``model.morph``: the function-preserving transforms a model is rebuilt with (see :mod:`trainlab.morph`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config import Section


class MorphStep(Section):
    """One function-preserving transform, re-applied whenever the model is rebuilt (see trainlab.morph)."""

    op: Literal["widen", "deepen"]
    factor: float | None = Field(None, gt=1)
    extra: int | None = Field(None, gt=0)
    where: list[str] | None = None
    method: Literal["r2r", "net2net", "netmorph", "random"] = "r2r"
    init: Literal["match_std", "he"] | float = "match_std"
    noise: float = Field(0.0, ge=0)
