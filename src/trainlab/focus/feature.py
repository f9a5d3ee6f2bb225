"""What trainlab.focus adds to a run: the ``focus`` params section and its callback."""
from __future__ import annotations

from pathlib import Path

from ..config import register_section
from ..engine.factory import CALLBACKS
from ..runs import declare_outputs
from .config import FocusConfig

register_section("focus", FocusConfig)
declare_outputs("focus", "focus_history.png")


@CALLBACKS.register("focus")
def focus_callbacks(cfg, exp_dir) -> list:
    if cfg.focus is None:
        return []
    from .adapter import focus_from_config

    plot = Path(exp_dir) / "focus_history.png" if exp_dir is not None and cfg.logging.plot else None
    return [focus_from_config(cfg.focus, seed=cfg.train.seed, plot_path=plot)]
