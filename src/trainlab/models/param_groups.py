"""Optimizer parameter groups with their own learning rates ("discriminative learning rates").

Early layers learn general features and get small learning rates, the head the largest: the
convention of fastai and of the cs230 fine-tuning notes (Howard & Ruder 2018, "Universal Language
Model Fine-tuning for Text Classification", https://arxiv.org/abs/1801.06146).
"""
from __future__ import annotations

import logging
from typing import Any

from torch import nn

from ..errors import ModelError
from .heads import check_prefixes, head_name, matches, top_level_names

log = logging.getLogger(__name__)


def param_groups(model: nn.Module, lrs: list[float], groups: list[list[str]] | None = None) -> list[dict[str, Any]]:
    """One optimizer parameter group per learning rate, first group = earliest layers.

    Args:
        model: the model; parameters with ``requires_grad=False`` (frozen) are left out.
        lrs: one learning rate per group.
        groups: for each group, module-name prefixes (usually top-level module names) of the parameters
            it holds; ``len(groups)`` is ``len(lrs)`` or ``len(lrs) - 1``. Parameters no prefix names go to
            the last group. A prefix that matches nothing, or a parameter named by two groups, raises
            ``ModelError``. When ``None`` and ``len(lrs) > 1``, the top-level modules are split in order
            into ``len(lrs)`` contiguous groups of about equal parameter count, the head in the last one.

    Returns:
        ``[{"params": [...], "lr": lr, "name": "group0"}, ...]``, ready for ``torch.optim.*(groups)``.

    Example:
        >>> import torch
        >>> from trainlab.models import build_model
        >>> m = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28))
        >>> gs = param_groups(m, [1e-4, 1e-3], [["stem", "stage1", "stage2"], []])
        >>> [(g["name"], g["lr"]) for g in gs]
        [('group0', 0.0001), ('group1', 0.001)]
        >>> opt = torch.optim.AdamW(gs)
    """
    if not lrs or not all(isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr >= 0 for lr in lrs):
        raise ModelError(f"lrs must be a non-empty list of learning rates >= 0, got {lrs!r}.")
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if groups is not None:
        assigned = _assign_by_prefix(model, trainable, len(lrs), groups)
    elif len(lrs) == 1:
        assigned = [[p for _, p in trainable]]
    else:
        assigned = _split_evenly(model, trainable, len(lrs))
    result = [
        {"params": params, "lr": float(lr), "name": f"group{i}"} for i, (params, lr) in enumerate(zip(assigned, lrs))
    ]
    for group in result:
        log.debug("%s: lr=%g, %d parameters", group["name"], group["lr"], sum(p.numel() for p in group["params"]))
    return result


def _assign_by_prefix(
    model: nn.Module, trainable: list[tuple[str, nn.Parameter]], n_groups: int, groups: list[list[str]]
) -> list[list[nn.Parameter]]:
    if not isinstance(groups, (list, tuple)) or len(groups) not in (n_groups, n_groups - 1) or not all(
        isinstance(g, (list, tuple)) for g in groups
    ):
        raise ModelError(
            f"groups must be a list of {n_groups} (or {n_groups - 1}) lists of module-name prefixes, one per "
            f"learning rate in lrs; got {groups!r}."
        )
    for prefixes in groups:
        check_prefixes(model, prefixes, "param group prefix")
    assigned: list[list[nn.Parameter]] = [[] for _ in range(n_groups)]
    for name, param in trainable:
        owners = [i for i, prefixes in enumerate(groups) if any(matches(name, p) for p in prefixes)]
        if len(owners) > 1:
            raise ModelError(
                f"parameter {name!r} is named by param groups {owners}; give each module to one group only."
            )
        assigned[owners[0] if owners else n_groups - 1].append(param)
    return assigned


def _split_evenly(
    model: nn.Module, trainable: list[tuple[str, nn.Parameter]], n_groups: int
) -> list[list[nn.Parameter]]:
    """Contiguous split of the top-level modules (head last) into groups of about equal parameter count."""
    head = head_name(model)
    order = [n for n in top_level_names(model) if n != head] + [head]
    units: list[tuple[str, list[nn.Parameter]]] = []
    for unit in order:
        params = [p for n, p in trainable if matches(n, unit)]
        if params:
            units.append((unit, params))
    if len(units) < n_groups:
        raise ModelError(
            f"cannot split {type(model).__name__} into {n_groups} parameter groups: only {len(units)} top-level "
            f"modules have trainable parameters ({', '.join(u for u, _ in units)}). Pass at most {len(units)} "
            "learning rates, or list the prefixes of each group explicitly."
        )
    counts = [sum(p.numel() for p in params) for _, params in units]
    total = sum(counts)
    cumulative = [sum(counts[: i + 1]) for i in range(len(counts))]
    # Greedy boundaries: group j ends after the unit whose running total is nearest j * total / n_groups,
    # keeping at least one unit for each group still to come.
    bounds = [0]
    for j in range(1, n_groups):
        lo, hi = bounds[-1] + 1, len(units) - (n_groups - j)
        bounds.append(min(range(lo, hi + 1), key=lambda b: abs(cumulative[b - 1] - j * total / n_groups)))
    bounds.append(len(units))
    return [[p for _, params in units[a:b] for p in params] for a, b in zip(bounds, bounds[1:])]
