"""The parity check of an export: onnxruntime against PyTorch on the run's own samples, not random noise.

For each pass (batch size 1, then a larger batch size; text lines come in many widths at batch size 1 and at
each batch's widest line after it), every graph of the bundle is run by both on the same inputs and its
outputs compared elementwise, ``|onnx − torch| <= atol + rtol·|torch|`` (fp32: rtol 1e-3, atol 1e-5, the
tolerances of PyTorch's onnxruntime tutorial); then the bundle's answers (its numpy host code included)
are compared with the Task's: the same top-1 class, the same detections, the same text
(:func:`.records.agree`). The figures go into ``parity.json``; any failed check fails the export.

Example:
    >>> report = check_parity(task, model, data.valid, BundlePredictor("bundle"), samples=256)  # doctest: +SKIP
    >>> report["passed"], report["answers"]["agreement"]  # doctest: +SKIP
    (True, 1.0)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..engine.task import Task
from .bundle import BundlePredictor
from .records import agree

RTOL, ATOL = 1e-3, 1e-5


def _compare(ours: np.ndarray, theirs: np.ndarray, rtol: float, atol: float) -> dict[str, Any]:
    """Figures of one output: max abs diff, the worst diff in units of the tolerance, whether it passes."""
    if ours.shape != theirs.shape:
        return {"shape": list(theirs.shape), "onnx_shape": list(ours.shape), "passed": False}
    if ours.dtype == bool or theirs.dtype == bool:
        bad = int((ours != theirs).sum())
        return {"mismatched": bad, "passed": bad == 0}
    a, b = ours.astype(np.float64), theirs.astype(np.float64)
    finite = np.isfinite(b)
    same_inf = (a == b) & ~finite
    diff = np.where(same_inf, 0.0, np.abs(a - b))
    diff = np.nan_to_num(diff, nan=math.inf)
    worst = float((diff / (atol + rtol * np.abs(np.where(finite, b, 0.0)))).max()) if diff.size else 0.0
    return {"max_abs_diff": float(diff.max()) if diff.size else 0.0, "max_tolerance_used": worst,
            "passed": worst <= 1.0}


@torch.no_grad()
def check_parity(task: Task, model: nn.Module, loader: Any, bundle: BundlePredictor, *, samples: int | None = 256,
                 batch_sizes: tuple[int, ...] = (1, 32), rtol: float = RTOL, atol: float = ATOL,
                 min_score: float = 0.25, first_batch: int = 16) -> dict[str, Any]:
    """Run the checks (see the module docstring) on the first ``samples`` of ``loader`` (None or 0: all);
    the first batch size runs on at most ``first_batch`` of them. ``model`` must be on the CPU in eval mode.

    Returns the report that ``parity.json`` holds: ``passed``, ``failed`` (the checks that failed, in words),
    ``passes`` (per batch size: batches, samples, line widths, per-output figures) and ``answers``.
    """
    model.eval()
    n = loader.num_samples if not samples else min(samples, loader.num_samples)
    report: dict[str, Any] = {"samples": n, "rtol": rtol, "atol": atol, "passes": [], "failed": []}
    agreed, compared, disagree = 0, 0, []
    for size in batch_sizes:
        count = min(n, first_batch) if size == batch_sizes[0] and len(batch_sizes) > 1 else n
        sub = loader.subset(torch.arange(count), train=False)
        sub.batch_size = size
        outputs: dict[str, dict[str, Any]] = {}
        widths_seen, batches, start = set(), 0, 0
        for x, y in sub.batches(0):
            x = x.cpu().float()
            widths = task.batch_widths(y)
            widths = widths.cpu() if widths is not None else None
            widths_seen.add(int(x.shape[-1]))
            batches += 1
            for g in task.export_graphs(model, x, widths):
                ref = g.module(*g.inputs)
                ref = ref if isinstance(ref, tuple | list) else (ref,)
                got = bundle.run(g.name, *[t.numpy() for t in g.inputs])
                for name, ours, theirs in zip(g.output_names, got, ref):
                    figures = _compare(np.asarray(ours), theirs.detach().float().numpy()
                                       if theirs.dtype != torch.bool else theirs.numpy(), rtol, atol)
                    key = f"{g.name}.{name}"
                    merged = outputs.setdefault(key, {})
                    for k, v in figures.items():  # the worst over the batches
                        if k == "passed":
                            merged[k] = merged.get(k, True) and v
                        else:
                            merged[k] = max(merged.get(k, v), v) if isinstance(v, int | float) else v
            theirs = task.answers(model, x, widths, greedy=True)
            ours = bundle.answers(x.numpy(), widths.numpy() if widths is not None else None)
            for i, (a, b) in enumerate(zip(ours, theirs)):
                ok = agree(bundle.kind, a, b, min_score=min_score)
                agreed += ok
                compared += 1
                if not ok and len(disagree) < 20:
                    disagree.append(start + i)
            start += len(x)
        entry = {"batch_size": size, "batches": batches, "samples": count, "outputs": outputs}
        if bundle.kind.startswith("ocr"):
            entry["widths"] = sorted(widths_seen)
        report["passes"].append(entry)
        for key, figures in outputs.items():
            if not figures["passed"]:
                detail = (f"max abs diff {figures['max_abs_diff']:.3g} ({figures['max_tolerance_used']:.3g}× the "
                          "tolerance)" if "max_abs_diff" in figures else "shape or value mismatch")
                report["failed"].append(f"tensors at batch size {size}: {key} differs, {detail}")
    report["answers"] = {"agreement": agreed / max(compared, 1), "compared": compared, "disagree": disagree}
    if agreed < compared:
        what = {"classification": "top-1 classes", "detection": "detections"}.get(bundle.kind, "texts")
        report["failed"].append(f"answers: {compared - agreed} of {compared} {what} differ (e.g. sample "
                                f"{disagree[0]})")
    report["passed"] = not report["failed"]
    return report
