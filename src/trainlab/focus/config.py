"""The ``focus`` params section (Adaptive Focus Learning, see :mod:`trainlab.focus`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from ..config import Section


class FocusPenalty(Section):
    """How the focus pass is damped."""

    mode: Literal["lr_scale", "grad_scale"] = Field("lr_scale", description="lr_scale: the lr of focus steps × "
                                                    "value; grad_scale: the gradients × value (the original's)")
    value: float = Field(1e-2, gt=0, description="the damping factor")


class FocusPlateauRule(Section):
    """Focus while a metric has not beaten its best for some epochs."""

    monitor: str = Field("valid.loss", description="the metric watched")
    patience: int = Field(2, gt=0, description="epochs without a new best before focusing")
    mode: Literal["min", "max"] | None = Field(None, description="min if lower is better (default for losses), max "
                                                                 "otherwise")


class FocusEvery(Section):
    every: int = Field(gt=0, description="focus every N epochs")


class FocusAfterEpoch(Section):
    after_epoch: int = Field(ge=0, description="focus from the epoch after this one on")


class FocusPlateau(Section):
    plateau: FocusPlateauRule = Field(FocusPlateauRule(), description="focus while the metric is on a plateau")


class FocusSteps(Section):
    steps: int = Field(gt=0, description="optimizer steps per focus pass")


def _policy_tag(v: Any) -> str | None:
    """Which ``focus.when`` form a value is: 'always', or the single key of its mapping."""
    if isinstance(v, dict):
        return next(iter(v), None)
    if isinstance(v, BaseModel):
        return next(iter(type(v).model_fields))
    return v if isinstance(v, str) else None


class FocusConfig(Section):
    """Adaptive Focus Learning: an extra damped pass over the worst classes' training samples (trainlab.focus)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True)
    k: int = Field(2, gt=0, description="classes per focus pass")
    rank_by: str = Field("loss", description="the per-class validation metric that ranks classes: loss (highest is "
                                             "worst), accuracy or f1 (lowest is worst)")
    split: Literal["valid"] = Field("valid", description="the split that ranks classes: valid only (the test split "
                                                         "must never choose what to train on)")
    when: Annotated[Annotated[Literal["always"], Tag("always")] | Annotated[FocusEvery, Tag("every")]
                    | Annotated[FocusAfterEpoch, Tag("after_epoch")] | Annotated[FocusPlateau, Tag("plateau")],
                    Discriminator(_policy_tag)] = Field("always", description="always | {every: N} | "
                                                        "{after_epoch: N} | {plateau: {monitor, patience, mode}}")
    order: Literal["after", "before"] = Field("after", description="after the normal pass, or before it (the "
                                                                   "reversed variant)")
    penalty: FocusPenalty = Field(FocusPenalty(), description="how focus steps are damped")
    pass_: Literal["full"] | FocusSteps = Field("full", alias="pass", description="full: each chosen class's "
                                                "training samples once; {steps: N}: N optimizer steps")
    mode: Literal["hard", "soft"] = Field("hard", description="hard: the k worst classes; soft: every class drawn "
                                                              "with p = softmax(error / temperature)")
    temperature: float = Field(0.1, gt=0, description="soft: the temperature, in the metric's units")
    freeze_norm: bool = Field(True, description="BatchNorm layers keep (and normalize with) their running "
                                                "statistics during focus passes")
    optimizer_state: Literal["restore", "shared"] = Field("restore", description="restore: the optimizer's state "
                                                          "(momentum, Adam's moments) is put back after a focus pass; "
                                                          "shared: focus steps change it (the original)")

    @field_validator("split", mode="before")
    @classmethod
    def _valid_split_only(cls, v: Any) -> Any:
        if v == "test":
            raise ValueError("the test split must never choose what to train on (it would leak into training "
                             "and bias every reported test number); use split: valid")
        return v

    @field_validator("when", mode="before")
    @classmethod
    def _known_policy(cls, v: Any) -> Any:
        if v != "always" and not (isinstance(v, dict) and len(v) == 1 and set(v) <= {"every", "after_epoch", "plateau"}):
            raise ValueError(f"unknown focus policy {v!r}; allowed: 'always', {{every: N}}, {{after_epoch: N}}, "
                             "{plateau: {monitor, patience}}")
        return v

    @field_validator("pass_", mode="before")
    @classmethod
    def _known_pass(cls, v: Any) -> Any:
        if v != "full" and not (isinstance(v, dict) and set(v) == {"steps"}):
            raise ValueError(f"unknown focus pass {v!r}; allowed: 'full' (every training sample of the chosen "
                             "classes once) or {steps: N} (N optimizer steps)")
        return v

    @field_validator("rank_by")
    @classmethod
    def _short_rank_by(cls, v: str) -> str:
        return v.removeprefix("valid.per_class.")
