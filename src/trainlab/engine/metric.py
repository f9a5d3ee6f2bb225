"""The accumulator every task's metrics are built on: tensor states on the device, synced across processes.

A metric keeps a few tensors (counts, sums, rows of detections), updates them each step with tensor ops (no
host sync), and derives its numbers from them once, at the end of an epoch or an evaluation. Under DDP every
process holds the states of its own shard; :meth:`Metric.sync` combines them before :meth:`compute`: states
declared ``"sum"`` are added up, ``"cat"`` ones concatenated (in rank order; processes may hold different
numbers of rows). A checkpoint taken mid-epoch saves :meth:`Metric.states`, so a resumed run keeps counting.

This is all trainlab needs of ``torchmetrics.Metric``; importing torchmetrics costs seconds (it imports
torchvision, scipy and matplotlib), which every ``trainlab`` process paid before its first line.

Example:
    >>> class Mean(Metric):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.add_state("total", torch.zeros((), dtype=torch.float64), "sum")
    ...         self.add_state("count", torch.zeros((), dtype=torch.long), "sum")
    ...     def update(self, values):
    ...         self.total += values.double().sum()
    ...         self.count += values.numel()
    ...     def compute(self):
    ...         return {"mean": float(self.total / self.count.clamp_min(1))}
    >>> m = Mean()
    >>> m.update(torch.tensor([1.0, 2.0])); m.update(torch.tensor([6.0]))
    >>> m.sync().compute()
    {'mean': 3.0}
"""
from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor

Reduce = Literal["sum", "cat"]


class Metric:
    """Base of the tasks' metrics: :meth:`add_state` in ``__init__``, then ``update(...)`` and ``compute()``."""

    def __init__(self) -> None:
        self._reduce: dict[str, Reduce] = {}
        self._defaults: dict[str, Tensor] = {}
        self._synced = False

    def add_state(self, name: str, default: Tensor, reduce: Reduce) -> None:
        """Declare the state ``name`` (an attribute), starting at ``default``, combined across processes by
        ``reduce``: "sum" adds the processes' tensors, "cat" concatenates them along the first dimension."""
        if reduce not in ("sum", "cat"):
            raise ValueError(f"reduce must be 'sum' or 'cat', got {reduce!r}")
        self._reduce[name], self._defaults[name] = reduce, default.clone()
        setattr(self, name, default.clone())

    def update(self, *args: Any) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, Any]:
        raise NotImplementedError

    def to(self, device: torch.device | str) -> Metric:
        """Move every state to ``device``; returns the metric."""
        for name in self._reduce:
            setattr(self, name, getattr(self, name).to(device))
        return self

    def reset(self) -> None:
        """Back to the states' defaults (on their current device)."""
        for name, default in self._defaults.items():
            setattr(self, name, default.to(getattr(self, name).device))
        self._synced = False

    def states(self) -> dict[str, Tensor]:
        """The states by name (what a mid-epoch checkpoint saves)."""
        return {name: getattr(self, name) for name in self._reduce}

    def load_states(self, states: dict[str, Tensor]) -> None:
        """Continue from saved :meth:`states` (on this metric's device)."""
        for name, value in states.items():
            setattr(self, name, value.to(getattr(self, name).device))

    def sync(self) -> Metric:
        """Combine every process's states (no-op in one process, and on a second call); returns the metric."""
        dist = torch.distributed
        if self._synced or not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return self
        for name, reduce in self._reduce.items():
            value = getattr(self, name)
            if reduce == "sum":
                dist.all_reduce(value)  # in place
            else:
                setattr(self, name, _gather_rows(value))
        self._synced = True
        return self


def _gather_rows(value: Tensor) -> Tensor:
    """Every process's ``value`` concatenated along dim 0 in rank order (first dimensions may differ)."""
    dist = torch.distributed
    world = dist.get_world_size()
    n = torch.tensor([value.shape[0]], device=value.device)
    counts = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(counts, n)
    most = int(max(c.item() for c in counts))
    padded = torch.zeros((most, *value.shape[1:]), dtype=value.dtype, device=value.device)
    padded[: value.shape[0]] = value
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([part[: int(c.item())] for part, c in zip(parts, counts)])
