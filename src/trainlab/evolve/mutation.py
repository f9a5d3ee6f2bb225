"""Mutations of a population member: widen a volume, deepen a stage (function preserving, via
trainlab.morph), or change the learning rate (same weights).

As in the 2018 neuroevolution code (Painter, "Deep Neuroevolution with Shared Parameters"), a child
starts exactly where its parent is: the weights are inherited, only new units are added, and they
compute zero (R2WiderR / R2DeeperR) or an exact copy (Net2Net) at birth.

Example:
    >>> import random, torch
    >>> from trainlab.evolve.config import EvolveConfig
    >>> from trainlab.models import build_model
    >>> net = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8), width=8)
    >>> m = sample_mutation(random.Random(0), net, torch.zeros(2, 1, 8, 8), EvolveConfig())
    >>> m.kind in ("widen", "deepen", "lr")
    True
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..morph.config import MorphStep
from .config import EvolveConfig
from ..errors import ConfigError, TrainlabError

KINDS = ("widen", "deepen", "lr")


@dataclass(frozen=True)
class Mutation:
    kind: str  # widen | deepen | lr | clone
    steps: list[MorphStep] = field(default_factory=list)  # morph steps to apply (empty for lr/clone)
    lr_factor: float = 1.0
    text: str = ""  # for the lineage: e.g. "widen block2.0 ×1.5"


def deepen_candidates(model: nn.Module, example: Tensor, method: str = "r2r") -> list[str]:
    """Top-level ``nn.Sequential`` children where an identity block can be inserted (checked by trying).

    Example:
        >>> from trainlab.models import build_model
        >>> net = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8), width=8)
        >>> deepen_candidates(net, torch.zeros(2, 1, 8, 8))
        ['stem', 'block1', 'block2', 'pool']
    """
    from .. import morph

    names = []
    for name, child in model.named_children():
        if not isinstance(child, nn.Sequential):
            continue
        try:
            morph.deepen(model, example, where=[name], method=method)
        except TrainlabError:
            continue
        names.append(name)
    return names


def deepen_method(method: str) -> str:
    """The deepen method for an evolve ``method``: NetMorph has no deepen of its own here, it uses R2DeeperR."""
    return "net2net" if method == "net2net" else "r2r"


def sample_mutation(rng: random.Random, model: nn.Module, example: Tensor, cfg: EvolveConfig,
                    stages: list[str] | None = None) -> Mutation:
    """Draw one mutation for ``model`` with the probabilities of ``cfg.mutations``.

    Args:
        rng: the random source (seeded per round and slot, so a resumed run draws the same).
        model: the parent's model (to find widenable volumes).
        example: an input batch the model accepts.
        cfg: the evolve section.
        stages: deepen candidates; default ``cfg.mutations.deepen.stages`` or :func:`deepen_candidates`.

    Raises:
        ConfigError: every probability is 0, or a mutation has nothing to act on.
    """
    from .. import morph

    mu = cfg.mutations
    weights = {"widen": mu.widen.p, "deepen": mu.deepen.p, "lr": mu.lr.p if mu.lr.factors else 0.0}
    if sum(weights.values()) <= 0:
        raise ConfigError("evolve.mutations: every probability is 0; give widen.p, deepen.p or lr.p a positive value.")
    kind = rng.choices(list(weights), weights=list(weights.values()))[0]
    if kind == "lr":
        factor = rng.choice(mu.lr.factors)
        return Mutation("lr", [], factor, f"lr ×{factor:g}")
    if kind == "deepen":
        stages = stages or mu.deepen.stages or deepen_candidates(model, example, deepen_method(cfg.method))
        if not stages:
            raise ConfigError("evolve.mutations.deepen: the model has no stage to deepen; list names in "
                              "evolve.mutations.deepen.stages or set deepen.p to 0.")
        stage = rng.choice(stages)
        step = MorphStep(op="deepen", where=[stage], method=deepen_method(cfg.method), init=cfg.init)
        return Mutation("deepen", [step], 1.0, f"deepen {stage}")
    with torch.no_grad():
        widenable = [v.name for v in morph.volumes(model.eval(), example) if v.widenable]
    if not widenable:
        raise ConfigError("evolve.mutations.widen: the model has no widenable volume; set widen.p to 0.")
    where = [rng.choice(widenable)] if mu.widen.scope == "one" else None
    factor = None if mu.widen.extra else mu.widen.factor
    step = MorphStep(op="widen", factor=factor, extra=mu.widen.extra, where=where, method=cfg.method,
                     init=cfg.init)
    size = f"+{mu.widen.extra}" if mu.widen.extra else f"×{factor:g}"
    return Mutation("widen", [step], 1.0, f"widen {where[0] if where else 'all'} {size}")
