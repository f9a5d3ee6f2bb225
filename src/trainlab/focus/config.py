"""The ``focus`` params section (Adaptive Focus Learning, see :mod:`trainlab.focus`)."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from ..config import Section


class FocusPenalty(Section):
    mode: Literal["lr_scale", "grad_scale"] = "lr_scale"  # lr_scale: the lr of focus steps × value
    value: float = Field(1e-2, gt=0)


class FocusPlateauRule(Section):
    metric: str = "valid.loss"
    patience: int = Field(2, gt=0)  # epochs without a new best before focusing
    mode: Literal["min", "max"] | None = None  # default: min for losses, max otherwise


class FocusEvery(Section):
    every: int = Field(gt=0)


class FocusAfterEpoch(Section):
    after_epoch: int = Field(ge=0)


class FocusPlateau(Section):
    plateau: FocusPlateauRule = FocusPlateauRule()


class FocusSteps(Section):
    steps: int = Field(gt=0)


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
    k: int = Field(2, gt=0)
    monitor: str = "loss"  # a per-class validation metric: loss (highest is worst), accuracy, f1 (lowest is worst)
    split: Literal["valid"] = "valid"
    when: Annotated[Annotated[Literal["always"], Tag("always")] | Annotated[FocusEvery, Tag("every")]
                    | Annotated[FocusAfterEpoch, Tag("after_epoch")] | Annotated[FocusPlateau, Tag("plateau")],
                    Discriminator(_policy_tag)] = "always"
    order: Literal["after", "before"] = "after"  # before: the reversed variant
    penalty: FocusPenalty = FocusPenalty()
    pass_: Literal["full"] | FocusSteps = Field("full", alias="pass")
    mode: Literal["hard", "soft"] = "hard"
    temperature: float = Field(0.1, gt=0)  # soft: p(class) = softmax(error / temperature)
    freeze_norm: bool = True  # BatchNorm keeps (and normalizes with) its running statistics during focus passes
    optimizer_state: Literal["restore", "shared"] = "restore"  # restore: focus steps leave no trace in Adam's moments

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
                             "{plateau: {metric, patience}}")
        return v

    @field_validator("pass_", mode="before")
    @classmethod
    def _known_pass(cls, v: Any) -> Any:
        if v != "full" and not (isinstance(v, dict) and set(v) == {"steps"}):
            raise ValueError(f"unknown focus pass {v!r}; allowed: 'full' (every training sample of the chosen "
                             "classes once) or {steps: N} (N optimizer steps)")
        return v

    @field_validator("monitor")
    @classmethod
    def _short_monitor(cls, v: str) -> str:
        return v.removeprefix("valid.per_class.")
