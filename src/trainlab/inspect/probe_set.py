"""The probe set: a fixed, seeded choice of images of one split, the same in every epoch and on resume."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..errors import DataError


def probe_indices(num_samples: int, count: int, seed: int) -> list[int]:
    """``count`` distinct sample indices of a split of ``num_samples``, drawn with ``seed``, sorted.

    Example:
        >>> probe_indices(100, 4, seed=0) == probe_indices(100, 4, seed=0)
        True
        >>> len(probe_indices(3, 8, seed=0))  # fewer samples than asked for: all of them
        3
    """
    if num_samples <= 0:
        raise DataError("the probe split holds no samples; choose another split (logging.probe.split).")
    gen = torch.Generator().manual_seed(seed)
    return sorted(torch.randperm(num_samples, generator=gen)[:count].tolist())


def probe_batch(loader: Any, indices: list[int]) -> tuple[Tensor, Tensor | None]:
    """The inputs (and class targets, when the task has tensor targets) of ``indices`` of ``loader``, in order.

    Example:
        >>> from trainlab.config import DataConfig
        >>> from trainlab.data import data_from_config
        >>> data = data_from_config(DataConfig(name="synthetic"), seed=0)
        >>> probe_batch(data.valid, [0, 2])[0].shape[0]
        2
    """
    batches = list(loader.subset(torch.tensor(indices), train=False).batches(0))
    x = torch.cat([b[0] for b in batches])
    ys = [b[1] for b in batches]
    y = torch.cat(ys) if all(isinstance(t, Tensor) for t in ys) else None
    return x, y


def feature_map_blocks(model: nn.Module, x: Tensor) -> list[str]:
    """The model's top-level children whose output is a feature map ``(B, C, H, W)``, in call order.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
        >>> feature_map_blocks(net, torch.zeros(1, 1, 4, 4))
        ['0', '1']
    """
    order: list[str] = []

    def hook_for(name: str):
        def hook(module: nn.Module, args: object, output: object) -> None:
            if isinstance(output, Tensor) and output.dim() == 4 and name not in order:
                order.append(name)
        return hook

    handles = [child.register_forward_hook(hook_for(name)) for name, child in model.named_children()]
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags.items():
            m.training = flag
    return order
