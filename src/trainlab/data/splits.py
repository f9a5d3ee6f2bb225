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
