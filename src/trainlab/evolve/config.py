"""The ``evolve`` params section (neuroevolution with shared weights, see :mod:`trainlab.evolve`)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ..config import Section


class EvolveWiden(Section):
    """The widen mutation."""

    p: float = Field(0.5, ge=0, description="relative probability of this mutation")
    factor: float | None = Field(1.5, gt=1, description="new width = factor × old (or use extra)")
    extra: int | None = Field(None, gt=0, description="add this many channels instead of a factor")
    scope: Literal["one", "all"] = Field("one", description="one: a random widenable volume; all: every one")


class EvolveDeepen(Section):
    """The deepen mutation."""

    p: float = Field(0.3, ge=0, description="relative probability of this mutation")
    stages: list[str] | None = Field(None, description="candidate stages (one picked at random); default: the "
                                                       "top-level nn.Sequential children")


class EvolveLr(Section):
    """The learning-rate mutation (same weights, another lr)."""

    p: float = Field(0.2, ge=0, description="relative probability of this mutation")
    factors: list[float] = Field([0.5, 2.0], description="the child's lr = the parent's × one of these, at random")


class EvolveMutations(Section):
    """How children are made."""

    widen: EvolveWiden = Field(EvolveWiden(), description="widen a volume (function-preserving)")
    deepen: EvolveDeepen = Field(EvolveDeepen(), description="insert an identity block (function-preserving)")
    lr: EvolveLr = Field(EvolveLr(), description="change the learning rate")


class EvolveEnsemble(Section):
    """The final ensemble."""

    size: int = Field(3, gt=0, description="members in the ensemble (the best by validation accuracy)")
    combine: Literal["mean_softmax", "vote", "stacking"] = Field("mean_softmax", description="how members' "
                                                                 "outputs are combined")
    hidden: int = Field(64, gt=0, description="stacking head: (E·C) -> hidden -> C, trained on the validation "
                                              "split only")
    steps: int = Field(300, gt=0, description="stacking head: training steps")
    lr: float = Field(1e-2, gt=0, description="stacking head: learning rate")


class EvolveConfig(Section):
    """Neuroevolution with shared weights: a population grown by function-preserving mutations (trainlab.evolve)."""

    population: int = Field(6, gt=1, description="members after each refill (M)")
    keep: int = Field(3, gt=0, description="survivors per round (K)")
    rounds: int = Field(3, gt=0, description="rounds of select, mutate, train")
    steps_per_round: int = Field(100, gt=0, description="optimizer steps each member trains per round")
    mutations: EvolveMutations = Field(EvolveMutations(), description="how children are made")
    method: Literal["r2r", "net2net", "netmorph"] = Field("r2r", description="the function-preserving transform")
    init: Literal["match_std", "he"] | float = Field("match_std", description="scale of the new weights")
    selection: Literal["best", "diverse"] = Field("best", description="best by validation accuracy, or diverse "
                                                  "(complementary mistakes)")
    ensemble: EvolveEnsemble = Field(EvolveEnsemble(), description="the final ensemble")
    budget: float | None = Field(None, gt=0, description="total training FLOPs (base + members); no new round "
                                                         "past it")
    lr_rule: Literal["param_ratio", "keep"] = Field("param_ratio", description="param_ratio: a child's lr × "
                                                    "parent/child parameter count; keep: the parent's")
    scale_weight_decay: bool = Field(True, description="weight decay × the same ratio (as the original)")
    tolerance: float = Field(1e-4, gt=0, description="largest |Δ output| allowed at a child's birth")
    baseline: bool = Field(True, description="also train the base model from scratch with the same total training "
                                             "FLOPs")
    seed: int = Field(0, description="seeds mutations and members' training seeds")

    @field_validator("keep")
    @classmethod
    def _keep_below_population(cls, v: int, info: Any) -> int:
        m = info.data.get("population")
        if m is not None and v > m:
            raise ValueError(f"keep ({v}) must be <= population ({m})")
        return v
