"""Stratified splits with exact per-class counts."""
from __future__ import annotations

import torch
from torch import Tensor


def stratified_split(targets: Tensor, fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    """Split indices into (keep, carved): per class, round(n_c × fraction) samples are carved out.

    Example:
        >>> keep, carved = stratified_split(torch.tensor([0] * 10 + [1] * 20), 0.1, seed=0)
        >>> len(carved), len(keep)
        (3, 27)
    """
    gen = torch.Generator().manual_seed(seed)
    keep, carved = [], []
    for c in torch.unique(targets).tolist():
        idx = torch.nonzero(targets == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        k = int(round(len(idx) * fraction))
        carved.append(idx[:k])
        keep.append(idx[k:])
    return torch.cat(keep).sort().values, torch.cat(carved).sort().values


def stratified_subset(targets: Tensor, n: int, seed: int) -> Tensor:
    """Indices of exactly ``n`` samples (0 < n < len(targets)), each class in proportion to its size.

    The samples are those :func:`stratified_split` keeps for the fraction ``n / len(targets)``, when their
    count is ``n``; otherwise (a few samples of many classes, where each class's share rounds to 0) the
    classes whose share lost most to rounding get one more (or fewer) until there are ``n``.

    Example:
        >>> targets = torch.arange(10) % 10  # ten classes of one sample
        >>> len(stratified_subset(targets, 1, seed=0)), len(stratified_split(targets, 0.9, seed=0)[0])
        (1, 0)
    """
    gen = torch.Generator().manual_seed(seed)  # the same draws as stratified_split's
    total, fraction = len(targets), 1 - n / len(targets)
    orders, cuts = [], []  # per class: its samples in drawn order, and how many of the first ones are left out
    for c in torch.unique(targets).tolist():
        idx = torch.nonzero(targets == c).flatten()
        orders.append(idx[torch.randperm(len(idx), generator=gen)])
        cuts.append(int(round(len(idx) * fraction)))
    kept = sum(len(o) - k for o, k in zip(orders, cuts))
    while kept != n:
        short = [len(o) * n / total - (len(o) - k) for o, k in zip(orders, cuts)]  # share minus kept, per class
        if kept < n:
            i = max((i for i in range(len(orders)) if cuts[i] > 0), key=lambda i: short[i])
            cuts[i], kept = cuts[i] - 1, kept + 1
        else:
            i = min((i for i in range(len(orders)) if cuts[i] < len(orders[i])), key=lambda i: short[i])
            cuts[i], kept = cuts[i] + 1, kept - 1
    return torch.cat([o[k:] for o, k in zip(orders, cuts)]).sort().values
