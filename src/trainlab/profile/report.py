"""The result of a FLOPs count: totals, one row per module, a text table and JSON.

Units: FLOPs are floating-point operations, a multiply-add counts 2. MACs (multiply-accumulates)
are reported separately and only for the dense part (matmul, convolution, attention, RNN gates),
so ``forward_macs == forward_dense_flops // 2`` whatever ``include_elementwise`` says.

Example:
    >>> from trainlab.profile.report import format_count
    >>> format_count(4_089_184_256)
    '4.09G'
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

_UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))


def format_count(value: int | float) -> str:
    """A count with a metric unit and three significant digits: ``1234567 -> '1.23M'``.

    Example:
        >>> format_count(999), format_count(1_500), format_count(25_600_000)
        ('999', '1.50K', '25.6M')
    """
    for scale, unit in _UNITS:
        if abs(value) >= scale:
            scaled = value / scale
            digits = 2 if abs(scaled) < 10 else 1 if abs(scaled) < 100 else 0
            return f"{scaled:.{digits}f}{unit}"
    return f"{value:.0f}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class ModuleRow:
    """FLOPs and parameters of one module, its children included (rows nest like ``named_modules``).

    ``name`` is the qualified name ('' for the model itself), ``depth`` its nesting level (0 for the
    model), ``calls`` how many times the module ran in the counted forward pass; shapes are those of
    its first call (a PackedSequence shows the shape of its ``data``).
    """

    name: str
    type: str
    depth: int
    calls: int
    input_shapes: tuple[tuple[int, ...], ...]
    output_shapes: tuple[tuple[int, ...], ...]
    params: int
    forward_flops: int
    backward_flops: int


@dataclass(frozen=True)
class Profile:
    """FLOPs and parameters of one model on one example input.

    ``forward_flops``/``backward_flops`` are totals for the whole example batch (divide by
    ``batch_size`` for per-sample numbers); ``*_dense_flops`` are the matmul/conv/attention/RNN part,
    equal to the totals unless elementwise ops were counted. ``by_op`` maps an aten op name to its
    ``(forward, backward)`` FLOPs. ``device`` is where the count ran (``'cpu'`` after a meta
    fallback) and ``notes`` says why, plus any compute op that ran without a formula.

    Example:
        >>> import torch
        >>> from trainlab.profile import count
        >>> p = count(torch.nn.Linear(3, 4), torch.zeros(2, 3))
        >>> p.forward_flops, p.forward_macs, p.params
        (48, 24, 16)
    """

    forward_flops: int
    backward_flops: int
    forward_dense_flops: int
    backward_dense_flops: int
    params: int
    trainable_params: int
    batch_size: int
    device: str
    backward: bool
    include_elementwise: bool
    by_module: tuple[ModuleRow, ...] = ()
    by_op: dict[str, tuple[int, int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def total_flops(self) -> int:
        """Forward plus backward FLOPs: the cost of one training step on the example batch."""
        return self.forward_flops + self.backward_flops

    @property
    def forward_macs(self) -> int:
        """Multiply-accumulates of the dense forward ops (the unit fvcore/ptflops call 'flops')."""
        return self.forward_dense_flops // 2

    @property
    def backward_macs(self) -> int:
        """Multiply-accumulates of the dense backward ops."""
        return self.backward_dense_flops // 2

    def module(self, name: str) -> ModuleRow:
        """The row of the module with qualified name ``name`` ('' is the model itself).

        Example:
            >>> import torch
            >>> from trainlab.profile import count
            >>> p = count(torch.nn.Sequential(torch.nn.Linear(3, 4)), torch.zeros(1, 3))
            >>> p.module("0").forward_flops
            24
        """
        for row in self.by_module:
            if row.name == name:
                return row
        names = ", ".join(repr(r.name) for r in self.by_module[:8])
        raise KeyError(f"no module named {name!r} in this profile; names start with: {names}")

    def to_dict(self) -> dict[str, Any]:
        """Plain data (ints, strings, lists) for JSON, with the MAC totals added."""
        data = asdict(self)
        data["by_module"] = [asdict(row) for row in self.by_module]
        data["by_op"] = {op: {"forward": f, "backward": b} for op, (f, b) in self.by_op.items()}
        data["notes"] = list(self.notes)
        data.update(
            total_flops=self.total_flops,
            forward_macs=self.forward_macs,
            backward_macs=self.backward_macs,
            units="FLOPs: floating-point operations, one multiply-add = 2 FLOPs = 1 MAC",
        )
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """The profile as a JSON string (see :meth:`to_dict`).

        Example:
            >>> import json, torch
            >>> from trainlab.profile import count
            >>> json.loads(count(torch.nn.Linear(3, 4), torch.zeros(2, 3)).to_json())["params"]
            16
        """
        return json.dumps(self.to_dict(), indent=indent)

    def summary(self) -> str:
        """Totals on a few lines: FLOPs, MACs, parameters, per-sample cost and conventions."""
        per_sample = self.total_flops / max(self.batch_size, 1)
        passes = "forward+backward" if self.backward else "forward only"
        lines = [
            f"forward   {format_count(self.forward_flops)} FLOPs ({format_count(self.forward_macs)} MACs)",
            f"backward  {format_count(self.backward_flops)} FLOPs"
            + ("" if self.backward else " (not counted)"),
            f"params    {format_count(self.params)} ({format_count(self.trainable_params)} trainable)",
            f"per sample ({passes}, batch {self.batch_size}): {format_count(per_sample)} FLOPs",
            f"counted on {self.device}; elementwise ops "
            + ("included" if self.include_elementwise else "not counted")
            + "; 1 multiply-add = 2 FLOPs = 1 MAC",
        ]
        return "\n".join(lines + [f"note: {note}" for note in self.notes])

    def table(self, by_module: bool = True, max_depth: int | None = None) -> str:
        """A human-readable, aligned table with G/M/K units.

        With ``by_module=False`` only the totals (:meth:`summary`). Otherwise one line per module,
        indented by depth (children are included in their parent's numbers), down to
        ``max_depth`` (``None``: all), followed by the totals.

        Example:
            >>> import torch
            >>> from trainlab.profile import count
            >>> print(count(torch.nn.Linear(3, 4), torch.zeros(2, 3)).table().splitlines()[0])
            module   type    input  output  params  forward  backward
        """
        if not by_module:
            return self.summary()
        header = ("module", "type", "input", "output", "params", "forward", "backward")
        rows = [header]
        for row in self.by_module:
            if max_depth is not None and row.depth > max_depth:
                continue
            name = "  " * row.depth + (row.name.rsplit(".", 1)[-1] if row.name else "(model)")
            rows.append((
                name,
                row.type,
                _shapes_text(row.input_shapes),
                _shapes_text(row.output_shapes),
                format_count(row.params),
                format_count(row.forward_flops),
                format_count(row.backward_flops),
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        right = {4, 5, 6}
        lines = [
            "  ".join(
                (cell.rjust(w) if i in right and r is not header else cell.ljust(w))
                for i, (cell, w) in enumerate(zip(r, widths))
            ).rstrip()
            for r in rows
        ]
        return "\n".join(lines + ["", self.summary()])


def _shapes_text(shapes: tuple[tuple[int, ...], ...]) -> str:
    """``((2, 3, 8, 8),) -> '2x3x8x8'``; several tensors joined by commas, '-' for none."""
    if not shapes:
        return "-"
    return ",".join("x".join(str(d) for d in shape) or "scalar" for shape in shapes)
