"""The ``loss`` params section: a training objective aimed at the worst classes (see :mod:`trainlab.losses`)."""
from __future__ import annotations

from pydantic import Field, model_validator

from ..config import Section


class FocalOptions(Section):
    gamma: float = Field(2.0, ge=0)  # focusing parameter: 0 is cross-entropy
    alpha: list[float] | None = None  # per-class weights alpha_y (C,); null: 1 for every class


class ReweightOptions(Section):
    strength: float = Field(0.5, ge=0, le=1)  # w = (1 - strength) + strength * C * error_c / sum(error)


class GroupDROOptions(Section):
    step_size: float = Field(0.01, gt=0)  # eta_q of the exponentiated-gradient update of the class weights


class LossConfig(Section):
    """Training objective for the worst classes: focal, reweight (by validation error) or group_dro (trainlab.losses)."""

    focal: FocalOptions | None = None
    reweight: ReweightOptions | None = None
    group_dro: GroupDROOptions | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> LossConfig:
        chosen = [name for name in ("focal", "reweight", "group_dro") if getattr(self, name) is not None]
        if len(chosen) != 1:
            raise ValueError(f"choose exactly one objective, got {chosen or 'none'}; e.g. loss: {{focal: {{gamma: 2}}}}, "
                             "{reweight: {strength: 0.5}} or {group_dro: {step_size: 0.01}}")
        return self

    @property
    def method(self) -> str:
        """The chosen objective's name."""
        return next(name for name in ("focal", "reweight", "group_dro") if getattr(self, name) is not None)
