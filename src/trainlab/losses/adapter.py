"""The one adapter from a ``loss`` config section to its callback."""
from __future__ import annotations

from .config import LossConfig
from .objectives import ErrorReweighting, FocalLoss, GroupDRO, LossObjective


def objective_from_config(cfg: LossConfig) -> LossObjective:
    """The callback a ``loss`` section asks for.

    Example:
        >>> from trainlab.config import parse_config
        >>> cb = objective_from_config(parse_config({"loss": {"group_dro": {"step_size": 0.1}}}).loss)
        >>> type(cb).__name__, cb.step_size
        ('GroupDRO', 0.1)
    """
    if cfg.focal is not None:
        return FocalLoss(gamma=cfg.focal.gamma, alpha=cfg.focal.alpha)
    if cfg.reweight is not None:
        return ErrorReweighting(strength=cfg.reweight.strength)
    return GroupDRO(step_size=cfg.group_dro.step_size)
