"""The ``loss`` params section: a training objective aimed at the worst classes (see :mod:`trainlab.losses`)."""
from __future__ import annotations

from pydantic import Field, model_validator

from ..config import Section


class FocalOptions(Section):
    gamma: float = Field(2.0, ge=0, description="focusing parameter: 0 is cross-entropy")
    alpha: list[float] | None = Field(None, description="per-class weights alpha_y, one per class (null: 1 each)")


class ReweightOptions(Section):
    strength: float = Field(0.5, ge=0, le=1, description="w_c = (1 - strength) + strength * C * error_c / "
                                                         "sum(error): 0 is plain cross-entropy")


class GroupDROOptions(Section):
    step_size: float = Field(0.01, gt=0, description="eta of the exponentiated-gradient update of the class "
                                                     "weights")


class LossConfig(Section):
    """Training objective for the worst classes: focal, reweight (by validation error) or group_dro (trainlab.losses)."""

    focal: FocalOptions | None = Field(None, description="focal loss (Lin et al. 2017)")
    reweight: ReweightOptions | None = Field(None, description="cross-entropy weighted per class by the last "
                                                               "validation error")
    group_dro: GroupDROOptions | None = Field(None, description="Group DRO over classes (Sagawa et al. 2020)")

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
