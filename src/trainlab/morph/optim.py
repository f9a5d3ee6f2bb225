"""Rebuild the optimizer after a transform, with the learning rate scaled to the new size.

A transform replaces parameters (new shapes, new tensors), so the old optimizer points at tensors
the model no longer uses. :func:`rebuild_optimizer` makes a fresh optimizer of the same class and
settings for the new model. With ``lr_rule="param_ratio"`` the learning rate is multiplied by
``old parameter count / new parameter count`` -- the rule the R2R experiments used (Painter 2019;
the 2018 neuroevolution code applied the same ratio to weight decay, here optional). Optimizer
state (momentum, Adam moments) starts empty: it belonged to tensors of other shapes. Learning-rate
schedulers hold a reference to the optimizer and must be rebuilt on the new one too.

Example:
    >>> import torch
    >>> from torch import nn
    >>> from trainlab.morph import widen
    >>> net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    >>> wide = widen(net, torch.randn(2, 4), factor=2.0)
    >>> new = rebuild_optimizer(opt, wide)
    >>> round(new.param_groups[0]["lr"], 4), new.param_groups[0]["momentum"]
    (0.0506, 0.9)
"""
from __future__ import annotations

import inspect
import logging
from collections import Counter, defaultdict
from typing import Any

from torch import nn
from torch.optim import Optimizer

from ..errors import ConfigError
from ..registry import close_matches

log = logging.getLogger(__name__)

LR_RULES = ("param_ratio", "keep")


def rebuild_optimizer(
    old_opt: Optimizer,
    new_model: nn.Module,
    lr_rule: str = "param_ratio",
    *,
    old_model: nn.Module | None = None,
    scale_weight_decay: bool = False,
) -> Optimizer:
    """A fresh optimizer like ``old_opt`` over ``new_model``'s trainable parameters.

    Args:
        old_opt: the optimizer used before the transform; its class and every setting of each
            parameter group are kept.
        new_model: the transformed model.
        lr_rule: "param_ratio" multiplies each group's lr by (parameters ``old_opt`` trained) /
            (trainable parameters of ``new_model``); "keep" leaves it.
        old_model: the model before the transform; needed only when ``old_opt`` has several
            parameter groups, to put each parameter in the group of the old parameter with the
            same name, and each parameter of a new layer in the group of old parameters of the
            same kind (e.g. every BatchNorm weight in a no-decay group).
        scale_weight_decay: scale ``weight_decay`` by the same ratio.

    Returns:
        The new optimizer, with empty state.

    Raises:
        ConfigError: unknown ``lr_rule``, or several groups without ``old_model``.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> old = nn.Linear(10, 10)
        >>> opt = torch.optim.Adam(old.parameters(), lr=1e-3)
        >>> rebuild_optimizer(opt, nn.Linear(10, 20)).param_groups[0]["lr"]
        0.0005
    """
    if lr_rule not in LR_RULES:
        hint = close_matches(str(lr_rule), list(LR_RULES))
        raise ConfigError(f"unknown lr_rule {lr_rule!r}.{hint} Allowed: {', '.join(LR_RULES)}.")
    new_params = [(n, p) for n, p in new_model.named_parameters() if p.requires_grad]
    old_count = sum(p.numel() for g in old_opt.param_groups for p in g["params"])
    new_count = sum(p.numel() for _, p in new_params)
    ratio = old_count / new_count if lr_rule == "param_ratio" and new_count else 1.0
    members = _assign_groups(old_opt, new_model, new_params, old_model)
    groups = []
    for index, group in enumerate(old_opt.param_groups):
        params = [p for (_, p), g in zip(new_params, members) if g == index]
        if not params:
            continue
        settings = {k: v for k, v in group.items() if k != "params"}
        for key in ("lr", "initial_lr") + (("weight_decay",) if scale_weight_decay else ()):
            if isinstance(settings.get(key), (int, float)):
                settings[key] = settings[key] * ratio
        groups.append({"params": params, **settings})
    accepted = inspect.signature(type(old_opt).__init__).parameters
    defaults = {k: v for k, v in old_opt.defaults.items() if k in accepted}
    log.info("rebuilt %s over %d parameters (was %d), lr x %.4g", type(old_opt).__name__,
             new_count, old_count, ratio)
    return type(old_opt)(groups, **defaults)


def _assign_groups(old_opt: Optimizer, new_model: nn.Module,
                   new_params: list[tuple[str, nn.Parameter]],
                   old_model: nn.Module | None) -> list[int]:
    """The index of the old parameter group each new parameter joins.

    A parameter ``old_opt`` holds keeps its group; one with the name of an old parameter (widen
    and deepen rename nothing) joins that parameter's group; a parameter of a new layer joins the
    group most old parameters of its kind are in: same layer type and attribute (BatchNorm2d
    ``weight``), else same attribute and rank, else same rank -- the usual weight-decay splits.
    """
    if len(old_opt.param_groups) == 1:
        return [0] * len(new_params)
    if old_model is None:
        raise ConfigError(f"old_opt has {len(old_opt.param_groups)} parameter groups; pass "
                          "old_model= (the model before the transform) so that new parameters can "
                          "be matched to groups.")
    group_of = {id(p): i for i, g in enumerate(old_opt.param_groups) for p in g["params"]}
    by_name: dict[str, int] = {}
    votes: dict[tuple[Any, ...], Counter[int]] = defaultdict(Counter)
    for name, param, kinds in _kinds(old_model):
        if id(param) in group_of:
            by_name[name] = group_of[id(param)]
            for kind in kinds:
                votes[kind][by_name[name]] += 1
    new_kinds = {name: kinds for name, _, kinds in _kinds(new_model)}
    found = []
    for name, param in new_params:
        group = group_of.get(id(param), by_name.get(name))
        if group is None:
            counts = next((votes[k] for k in new_kinds.get(name, ()) if votes[k]), Counter({0: 1}))
            group = counts.most_common(1)[0][0]
        found.append(group)
    return found


def _kinds(model: nn.Module) -> list[tuple[str, nn.Parameter, tuple[tuple[Any, ...], ...]]]:
    """(name, parameter, its kinds from the most to the least specific) for each parameter."""
    found = []
    for owner_name, owner in model.named_modules():
        for attr, param in owner.named_parameters(recurse=False):
            name = f"{owner_name}.{attr}" if owner_name else attr
            kinds = ((type(owner), attr), (attr, param.dim()), (param.dim(),))
            found.append((name, param, kinds))
    return found
