"""The tensor surgery of widening: new rows, columns and per-channel entries for each method.

For a volume of ``old`` channels grown by ``added``:

- **r2r** (R2WiderR, Painter 2019, eq. 9-11): producers get rows ``[W; U; U]`` and biases
  ``[b; 0; 0]``, consumers get columns ``[W', U', -U']``. The two new halves are equal after
  any channel-wise operation, so their contributions to every consumer cancel. Norm layers get
  ``gamma, beta`` = the mean of the old ones and running statistics (0, 1), the same for both
  halves. ``added`` must be even.
- **net2net** (Net2WiderNet, Chen et al., "Net2Net: Accelerating Learning via Knowledge
  Transfer", ICLR 2016): a random map ``g`` (identity on old channels); producers copy ``W[g]``,
  ``b[g]``, norm layers copy every per-channel entry at ``g``, consumers divide each column by the
  number of copies of its channel.
- **netmorph** (Wei et al., "Network Morphism", ICML 2016): producers get random rows, consumers
  zero columns (one side zero), norm layers as r2r.
- **random**: random rows and random columns; not function preserving (a baseline).

Within a layer's dim 1 several volumes may sit side by side (after a concatenation), and each
channel may own a block of ``H*W`` columns (after a flatten). New entries of a volume are appended
at the end of its own segment; columns are channel-major, so a channel's block stays contiguous.

Example:
    >>> import torch
    >>> plan = make_plan(2, 2, "net2net", torch.Generator().manual_seed(0))
    >>> int(plan.counts.sum())
    4
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .init import draw, fill_normal_
from .layout import Layout, iter_segments

Method = Literal["r2r", "net2net", "netmorph", "random"]
METHODS: tuple[str, ...] = ("r2r", "net2net", "netmorph", "random")
Fill = Literal["scale", "shift", "mean", "var"]


@dataclass(frozen=True)
class Plan:
    """How one volume grows: ``old`` channels, ``added`` new ones, and for net2net the map ``g``."""

    old: int
    added: int
    mapping: Tensor | None = None  # (added,) the old channel each new channel copies
    counts: Tensor | None = None  # (old,) copies of each old channel after widening, itself too


def make_plan(old: int, added: int, method: str, generator: torch.Generator | None,
              unit: int = 1) -> Plan:
    """The growth plan of a volume of ``old`` channels widened by ``added``.

    With ``unit > 1`` (grouped convolutions read the volume) net2net copies whole groups of
    ``unit`` consecutive channels, so every new group is a copy of one old group.
    """
    if method != "net2net":
        return Plan(old, added)
    assert old % unit == 0 and added % unit == 0, "volumes grow by whole groups"
    groups = torch.randint(0, old // unit, (added // unit,), generator=generator)
    mapping = (groups[:, None] * unit + torch.arange(unit)).reshape(-1)  # (added,)
    counts = torch.ones(old).index_add_(0, mapping, torch.ones(added))
    return Plan(old, added, mapping, counts)


PlanOf = Callable[[int], "Plan | None"]  # volume id -> plan, None when the volume stays


def grow_weight(weight: Tensor, bias: Tensor | None, inputs: Layout | None, plan_of: PlanOf,
                out_plan: Plan | None, method: str, std: float, noise_std: float,
                generator: torch.Generator | None) -> tuple[Tensor, Tensor | None]:
    """A producer's ``weight`` (out, in, *kernel) and ``bias`` (out,) grown on both sides.

    Input columns are added for every growing volume in ``inputs``, then output rows for
    ``out_plan``. The result is written into one new tensor (no chain of concatenations).
    """
    out, kernel = weight.shape[0], tuple(weight.shape[2:])
    segments = [(start, seg, plan_of(seg.volume)) for start, seg in iter_segments(inputs)]
    width = sum((seg.channels + (plan.added if plan else 0)) * seg.block
                for _, seg, plan in segments)
    rows = out + (out_plan.added if out_plan else 0)
    grown = weight.new_empty((rows, width or weight.shape[1], *kernel))
    if not segments:
        grown[:out] = weight
    dst = 0
    for start, seg, plan in segments:
        old = seg.channels * seg.block
        part = weight[:, start:start + old]
        if plan is None or not plan.added:
            grown[:out, dst:dst + old] = part
            dst += old
            continue
        added = plan.added * seg.block
        _columns(grown[:out, dst:dst + old + added], part, seg.block, plan, method, std, generator)
        if noise_std:
            grown[:out, dst + old:dst + old + added] += draw((out, added, *kernel), noise_std,
                                                             weight, generator)
        dst += old + added
    new_bias = bias
    if out_plan is not None and out_plan.added:
        new_bias = _rows(grown, bias, out, out_plan, method, std, generator)
        if noise_std:
            grown[out:] += draw(tuple(grown[out:].shape), noise_std, weight, generator)
    return grown, new_bias


def _columns(dst: Tensor, part: Tensor, block: int, plan: Plan, method: str, std: float,
             generator: torch.Generator | None) -> None:
    """Write ``part``'s columns (out, old*block, *kernel) and the new ones into ``dst``."""
    out, kernel = part.shape[0], tuple(part.shape[2:])
    old, half = plan.old * block, plan.added // 2 * block  # columns: old ones, each new half
    if method == "net2net":
        cols = part.reshape(out, plan.old, block, *kernel)  # (out, old, block, *kernel)
        assert plan.counts is not None and plan.mapping is not None
        cols = cols / plan.counts.to(cols).view(1, plan.old, *[1] * (cols.dim() - 2))
        dst[:, :old] = cols.reshape(part.shape)
        dst[:, old:] = cols[:, plan.mapping.to(cols.device)].reshape(out, -1, *kernel)
        return
    dst[:, :old] = part
    if method == "r2r":
        u = fill_normal_(dst[:, old:old + half], std, generator)  # U'
        dst[:, old + half:].copy_(u).neg_()  # -U'
    elif method == "netmorph":
        dst[:, old:].zero_()
    else:
        fill_normal_(dst[:, old:], std, generator)


def _rows(grown: Tensor, bias: Tensor | None, out: int, plan: Plan, method: str, std: float,
          generator: torch.Generator | None) -> Tensor | None:
    """Fill rows ``out:`` of ``grown`` (whose first ``out`` rows are final); return the new bias."""
    if method == "net2net":
        index = plan.mapping.to(grown.device)  # type: ignore[union-attr]
        grown[out:] = grown[index]
        return torch.cat([bias, bias[index]]) if bias is not None else None
    if method == "r2r":
        half = plan.added // 2
        fill_normal_(grown[out:out + half], std, generator)  # U
        grown[out + half:] = grown[out:out + half]  # U again
    else:
        fill_normal_(grown[out:], std, generator)
    return torch.cat([bias, bias.new_zeros(plan.added)]) if bias is not None else None


def grow_filters(weight: Tensor, bias: Tensor | None, layout: Layout | None, plan_of: PlanOf,
                 method: str, std: float, noise_std: float,
                 generator: torch.Generator | None) -> tuple[Tensor, Tensor | None]:
    """A grouped convolution's ``weight`` (C, C/groups, *kernel) and ``bias`` (C,) grown like
    ``layout``: one new filter per new channel, reading the new group it falls in.

    New filters follow the method's rule for new rows: r2r draws ``U`` for the first half of the
    new channels and repeats it for the second (equal inputs give equal outputs, which the
    consumers cancel), net2net copies the filters of the copied channels, netmorph and random
    draw them (netmorph's consumers read them with weight 0). New biases are 0 (net2net: copied).
    """
    rows, biases = [], []
    for start, seg in iter_segments(layout):
        part = weight[start:start + seg.channels]
        part_bias = bias[start:start + seg.channels] if bias is not None else None
        rows.append(part)
        biases.append(part_bias)
        plan = plan_of(seg.volume)
        if plan is None or not plan.added:
            continue
        new = part.new_empty((plan.added, *part.shape[1:]))
        if method == "net2net":
            index = plan.mapping.to(part.device)  # type: ignore[union-attr]
            new.copy_(part[index])
            new_bias = part_bias[index] if part_bias is not None else None
        else:
            if method == "r2r":
                half = plan.added // 2
                new[half:] = fill_normal_(new[:half], std, generator)  # U; U
            else:
                fill_normal_(new, std, generator)
            new_bias = part_bias.new_zeros(plan.added) if part_bias is not None else None
        if noise_std:
            new += draw(tuple(new.shape), noise_std, weight, generator)
        rows.append(new)
        biases.append(new_bias)
    grown = torch.cat(rows) if rows else weight
    return grown, (torch.cat(biases) if bias is not None and biases else bias)


def grow_vector(vector: Tensor, layout: Layout | None, plan_of: PlanOf, method: str,
                fill: Fill) -> Tensor:
    """A per-channel vector (BatchNorm weight/bias/statistics, PReLU slopes) grown like its layout.

    ``fill`` says what the entry is: "scale"/"shift" (gamma, beta, slopes) get the mean of the old
    entries, "mean"/"var" running statistics get 0/1; net2net copies the entries at ``g``.
    """
    pieces = []
    for start, seg in iter_segments(layout):
        part = vector[start:start + seg.channels * seg.block]
        plan = plan_of(seg.volume)
        if plan is not None and plan.added:
            rows = part.reshape(plan.old, seg.block)  # (old, block)
            if method == "net2net":
                new = rows[plan.mapping.to(rows.device)]  # type: ignore[union-attr]
            elif fill in ("scale", "shift"):
                new = rows.mean().expand(plan.added, seg.block)
            else:
                new = torch.full((plan.added, seg.block), 0.0 if fill == "mean" else 1.0,
                                 dtype=rows.dtype, device=rows.device)
            part = torch.cat([rows, new], 0).reshape(-1)
        pieces.append(part)
    return torch.cat(pieces) if pieces else vector
