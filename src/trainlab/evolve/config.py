"""The ``evolve`` params section (neuroevolution with shared weights, see :mod:`trainlab.evolve`)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from ..config import Section


class EvolveWiden(Section):
    p: float = Field(0.5, ge=0)  # relative probability of this mutation
    factor: float | None = Field(1.5, gt=1)  # new width = factor × old (or use extra)
    extra: int | None = Field(None, gt=0)  # add this many channels instead of a factor
    scope: Literal["one", "all"] = "one"  # one: a random widenable volume; all: every widenable volume


class EvolveDeepen(Section):
    p: float = Field(0.3, ge=0)
    stages: list[str] | None = None  # candidate stages/layers (one picked at random); None: top-level nn.Sequential children


class EvolveLr(Section):
    p: float = Field(0.2, ge=0)
    factors: list[float] = [0.5, 2.0]  # the child's lr = parent's lr × a random factor (same weights)


class EvolveMutations(Section):
    widen: EvolveWiden = EvolveWiden()
    deepen: EvolveDeepen = EvolveDeepen()
    lr: EvolveLr = EvolveLr()


class EvolveEnsemble(Section):
    size: int = Field(3, gt=0)
    combine: Literal["mean_softmax", "vote", "stacking"] = "mean_softmax"
    hidden: int = Field(64, gt=0)  # stacking head: (E·C) -> hidden -> C, trained on the validation split only
    steps: int = Field(300, gt=0)
    lr: float = Field(1e-2, gt=0)


class EvolveConfig(Section):
    """Neuroevolution with shared weights: a population grown by function-preserving mutations (trainlab.evolve)."""

    population: int = Field(6, gt=1)  # M
    keep: int = Field(3, gt=0)  # K survivors per round
    rounds: int = Field(3, gt=0)  # R
    steps_per_round: int = Field(100, gt=0)  # optimizer steps each member trains per round
    mutations: EvolveMutations = EvolveMutations()
    method: Literal["r2r", "net2net", "netmorph"] = "r2r"
    init: Literal["match_std", "he"] | float = "match_std"
    selection: Literal["best", "diverse"] = "best"
    ensemble: EvolveEnsemble = EvolveEnsemble()
    budget: float | None = Field(None, gt=0)  # total training FLOPs (base + members); no new round past it
    lr_rule: Literal["param_ratio", "keep"] = "param_ratio"  # child lr × parent/child parameter count
    scale_weight_decay: bool = True  # weight decay × the same ratio (as the original)
    tolerance: float = Field(1e-4, gt=0)  # max |Δ logits| allowed at a child's birth
    baseline: bool = True  # also train the base model from scratch with the same total training FLOPs
    seed: int = 0

    @field_validator("keep")
    @classmethod
    def _keep_below_population(cls, v: int, info: Any) -> int:
        m = info.data.get("population")
        if m is not None and v > m:
            raise ValueError(f"keep ({v}) must be <= population ({m})")
        return v
