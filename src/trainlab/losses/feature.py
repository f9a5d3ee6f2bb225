"""What trainlab.losses adds to a run: the ``loss`` params section and its callback."""
from __future__ import annotations

from ..config import register_section
from ..engine.factory import CALLBACKS
from .config import LossConfig

register_section("loss", LossConfig)


@CALLBACKS.register("loss")
def loss_callbacks(cfg, exp_dir) -> list:
    if cfg.loss is None:
        return []
    from .adapter import objective_from_config

    return [objective_from_config(cfg.loss)]
