"""The one adapter from a ``focus`` config section to a strategy and its callback."""
from __future__ import annotations

from pathlib import Path

from .config import FocusConfig
from ..errors import ConfigError
from .callback import FocusCallback
from .policies import policy_from_config
from .strategies import FOCUS_STRATEGIES, FocusLearning


def strategy_from_config(cfg: FocusConfig, *, seed: int = 0) -> FocusLearning:
    """The strategy a ``focus`` section describes: "soft" for mode soft, else "reversed" (order before) or "focus".

    Example:
        >>> from trainlab.focus.config import FocusConfig
        >>> type(strategy_from_config(FocusConfig(order="before"))).__name__
        'ReversedFocusLearning'
    """
    if cfg.split != "valid":  # the config refuses it too; this guards hand-built sections
        raise ConfigError(f"focus.split is {cfg.split!r}; only 'valid' may choose what to train on.")
    name = "soft" if cfg.mode == "soft" else ("reversed" if cfg.order == "before" else "focus")
    kwargs = dict(k=cfg.k, rank_by=cfg.rank_by, when=policy_from_config(cfg.when), order=cfg.order,
                  penalty_mode=cfg.penalty.mode, penalty=cfg.penalty.value,
                  steps=None if cfg.pass_ == "full" else cfg.pass_.steps, freeze_norm=cfg.freeze_norm,
                  optimizer_state=cfg.optimizer_state, seed=seed)
    if name == "soft":
        kwargs["temperature"] = cfg.temperature
    return FOCUS_STRATEGIES.get(name)(**kwargs)


def focus_from_config(cfg: FocusConfig, *, seed: int = 0, plot_path: Path | None = None) -> FocusCallback:
    """A ready :class:`FocusCallback` for ``cfg`` (``plot_path``: where to draw which classes were focused).

    Example:
        >>> from trainlab.config import parse_config
        >>> cb = focus_from_config(parse_config({"focus": {"k": 3}}).focus, seed=0)
        >>> cb.strategy.k, cb.strategy.penalty_mode
        (3, 'lr_scale')
    """
    return FocusCallback(strategy_from_config(cfg, seed=seed), plot_path=plot_path)
