"""What trainlab.profile adds to a run: ``train.count_flops`` and ``train.flops_budget``, and their callback."""
from __future__ import annotations

from pydantic import Field

from ..config import register_field
from ..engine.factory import CALLBACKS

register_field("train", "count_flops", bool, Field(
    True, description="record flops_per_sample and cumulative train_flops in the history"))
register_field("train", "flops_budget", float | None, Field(
    None, gt=0, description="stop once the training FLOPs (all processes) reach this"))


@CALLBACKS.register("flops")
def flops_callbacks(cfg, exp_dir) -> list:
    if not (cfg.train.count_flops or cfg.train.flops_budget):
        return []
    from .callback import FlopsCounter

    return [FlopsCounter(cfg.train.flops_budget)]
