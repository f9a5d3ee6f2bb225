"""Re-applying ``model.morph`` steps: how an experiment made by ``trainlab morph`` rebuilds its model."""
from __future__ import annotations

import torch
from torch import nn

from .config import MorphStep
from .deepen import deepen
from .widen import widen


def apply_morph_steps(model: nn.Module, steps: list[MorphStep], input_shape: tuple[int, ...]) -> nn.Module:
    """``model`` after each step in order. The new shapes are deterministic; the new values are overwritten by
    the weights loaded afterwards (``init.pt``, a checkpoint).

    Example:
        >>> from trainlab.models import build_model
        >>> net = build_model("cnn_tiny", num_classes=10, in_channels=1, input_size=(8, 8), width=8)
        >>> wide = apply_morph_steps(net, [MorphStep(op="widen", factor=2)], (1, 8, 8))
        >>> sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in net.parameters())
        True
    """
    example = torch.zeros(2, *input_shape)
    for step in steps:
        common = dict(method=step.method, init=step.init)
        if step.op == "widen":
            model = widen(model, example, factor=step.factor, extra=step.extra, where=step.where,
                          noise=step.noise, **common)
        else:
            model = deepen(model, example, where=step.where or [], kernel_size=step.kernel_size, **common)
    return model
