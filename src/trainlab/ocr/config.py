"""The ``ocr`` params section: how text-line models decode in evaluation (see :mod:`trainlab.ocr`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config import Section


class OcrConfig(Section):
    """How OCR models (trainlab.ocr) decode lines in evaluation; training metrics always decode greedily."""

    decoder: Literal["greedy", "beam"] = Field("greedy", description="greedy, or beam search")
    beam_width: int = Field(8, gt=0, description="beam search: hypotheses kept")
    lm_order: int = Field(0, ge=0, le=8, description="order of a character n-gram LM trained on the training "
                                                     "labels; 0: no LM")
    lm_weight: float = Field(0.0, ge=0, description="shallow fusion: score += lm_weight × log P_lm")
    length_bonus: float = Field(0.0, description="added per decoded symbol: offsets the LM's per-symbol cost "
                                                 "(which favours deletions)")
