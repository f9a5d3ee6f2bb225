"""``model.morph``: the function-preserving transforms a model is rebuilt with (see :mod:`trainlab.morph`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config import Section


class MorphStep(Section):
    """One function-preserving transform, re-applied whenever the model is rebuilt (see trainlab.morph)."""

    op: Literal["widen", "deepen"] = Field(description="widen channel volumes, or deepen after stages")
    factor: float | None = Field(None, gt=1, description="widen: new width = factor × old")
    extra: int | None = Field(None, gt=0, description="widen: add this many channels instead of a factor")
    where: list[str] | None = Field(None, description="widen: the volumes (default: every widenable one); "
                                                      "deepen: the stages or layers to insert after")
    method: Literal["r2r", "net2net", "netmorph", "random"] = Field("r2r", description="the transform; random: "
                                                                    "padding that does not preserve the function")
    init: Literal["match_std", "he"] | float = Field("match_std", description="scale of the new weights")
    noise: float = Field(0.0, ge=0, description="widen: noise added to break the symmetry of copied units")
    kernel_size: int = Field(3, ge=1, description="deepen: kernel of the convolutions trainlab builds (odd; 1 is "
                                                  "cheap where channels are many)")
