"""A layer-by-layer summary of a model: output shapes and parameter counts (like Keras' ``model.summary()``).

One forward pass of a zero tensor, in eval mode under ``torch.no_grad``, with forward hooks on the leaf
modules (and on modules that own parameters directly, such as ViT's class token holder). Rows come in
call order; a module called twice gets two rows, its parameters counted on the first. Parameters of
modules the forward pass never calls are listed at the end with ``output_shape=None``, so the totals
always equal ``sum(p.numel() for p in model.parameters())`` (shared parameters counted once).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Shape = tuple[Any, ...]


@dataclass(frozen=True)
class SummaryRow:
    """One module call: its qualified name, class name, output shape, parameter counts.

    ``output_shape`` is the tensor shape (batch dim included), a tuple of shapes for tuple outputs,
    or None for modules that were not called. ``params`` / ``trainable`` count parameters (all /
    ``requires_grad``) owned by the module and not counted in an earlier row.
    """

    name: str
    type: str
    output_shape: Shape | None
    params: int
    trainable: int


def _shape_of(output: Any) -> Shape | None:
    """A tensor's shape; for tuples/lists/dicts, the shapes of all tensors inside, flattened in order."""
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    shapes: list[tuple[int, ...]] = []

    def collect(obj: Any) -> None:
        if isinstance(obj, torch.Tensor):
            shapes.append(tuple(obj.shape))
        elif isinstance(obj, (tuple, list)):
            for item in obj:
                collect(item)
        elif isinstance(obj, dict):
            for item in obj.values():
                collect(item)

    collect(output)
    return tuple(shapes) or None


def summary(model: nn.Module, input_shape: tuple[int, ...], *, dtype: torch.dtype = torch.float32) -> list[SummaryRow]:
    """Run a zero input of ``input_shape`` (batch dim included) through ``model`` and describe each layer.

    The model's train/eval flags (per module) are restored afterwards; no gradients are recorded.

    Example:
        >>> from trainlab.models import build_model
        >>> m = build_model("mlp", num_classes=3, in_channels=1, input_size=(4, 4), hidden_sizes=[8])
        >>> [(r.name, r.output_shape, r.params) for r in summary(m, (2, 1, 4, 4))][:2]
        [('flatten', (2, 16), 0), ('layer1.0', (2, 8), 136)]
    """
    rows: list[SummaryRow] = []
    seen: set[int] = set()  # ids of parameters already counted

    def count(module: nn.Module) -> tuple[int, int]:
        total = trainable = 0
        for p in module.parameters(recurse=False) if _has_children(module) else module.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                total += p.numel()
                trainable += p.numel() if p.requires_grad else 0
        return total, trainable

    def make_hook(name: str) -> Any:
        def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
            total, trainable = count(module)
            label = name or type(module).__name__  # the root module has the empty name
            rows.append(SummaryRow(label, type(module).__name__, _shape_of(output), total, trainable))

        return hook

    watched = [(n, m) for n, m in model.named_modules() if not _has_children(m) or _owns_parameters(m)]
    flags = {m: m.training for m in model.modules()}
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    handles = [m.register_forward_hook(make_hook(n)) for n, m in watched]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(input_shape, dtype=dtype, device=device))
    finally:
        for h in handles:
            h.remove()
        for m, training in flags.items():
            m.training = training
    for name, module in watched:  # modules the forward pass did not call (e.g. auxiliary heads)
        total, trainable = count(module)
        if total:
            rows.append(SummaryRow(name or type(module).__name__, type(module).__name__, None, total, trainable))
    return rows


def _has_children(module: nn.Module) -> bool:
    return next(module.children(), None) is not None


def _owns_parameters(module: nn.Module) -> bool:
    return next(module.parameters(recurse=False), None) is not None


def _format_shape(shape: Shape | None) -> str:
    if shape is None:
        return "(not called)"
    if shape and isinstance(shape[0], tuple):
        return ", ".join(_format_shape(s) for s in shape)
    return "[" + ", ".join(str(d) for d in shape) + "]"


def format_summary(rows: list[SummaryRow]) -> str:
    """An aligned text table of ``rows`` and a totals line.

    Example:
        >>> print(format_summary([SummaryRow("fc", "Linear", (2, 3), 15, 15)]))
        Layer  Type    Output shape  Params  Trainable
        fc     Linear  [2, 3]            15         15
        Total params: 15 | trainable: 15 | non-trainable: 0
    """
    header = ("Layer", "Type", "Output shape", "Params", "Trainable")
    table = [header] + [
        (r.name, r.type, _format_shape(r.output_shape), f"{r.params:,}", f"{r.trainable:,}") for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
        for line in table
    ]
    total = sum(r.params for r in rows)
    trainable = sum(r.trainable for r in rows)
    lines.append(f"Total params: {total:,} | trainable: {trainable:,} | non-trainable: {total - trainable:,}")
    return "\n".join(lines)
