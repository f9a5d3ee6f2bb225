"""The params of trainlab.inspect: ``logging.probe`` and ``logging.diagnostics`` (absent or null: off)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config import Section


class ProbeConfig(Section):
    """Record chosen layers' outputs on a fixed set of images at init and every ``every`` epochs."""

    layers: list[str] | None = Field(None, description="qualified module names; null: the model's top-level "
                                                       "feature-map blocks")
    images: int = Field(8, gt=0, le=256, description="probe images, a seeded draw from ``split``")
    every: int = Field(1, gt=0, description="epochs between records (the last epoch is always recorded)")
    split: Literal["train", "valid", "test"] = Field("valid", description="the split the probe images come from")
    max_mb: float = Field(8.0, gt=0, description="refuse layer choices whose record would exceed this per epoch")


class DiagnosticsConfig(Section):
    """Per-layer weights, gradients, update/weight ratios and activation statistics every ``every`` epochs."""

    every: int = Field(1, gt=0, description="epochs between diagnoses")
    images: int = Field(32, gt=0, le=1024, description="probe images for the activation statistics")
    split: Literal["train", "valid", "test"] = Field("valid", description="the split the probe images come from")
    histograms: bool = Field(True, description="weight, gradient and update histograms in TensorBoard (when "
                                               "logging.tensorboard)")
