"""Sweep trainlab.morph.widen over every torchvision classifier: preserved / refused / failed.

For each model of ``torchvision.models.list_models(module=torchvision.models)`` (80 in torchvision
0.29; weights=None, BatchNorm statistics and affine parameters randomised, eval mode) and each
method, ``widen(model, x, factor=1.5, method=m)`` runs with the default ``where=None`` (every
hidden volume that can be widened; the rest are skipped with a warning). Outcome per model:

- **preserved**: the widen ran, grew the model, and on fresh U(-1, 1) batches the outputs moved by
  at most ``--tol`` (1e-4) times the largest output magnitude;
- **refused**: the widen raised a trainlab error (``UnsupportedLayerError``/``ModelError``): no
  volume of the model can be widened, and the message says why;
- **failed**: anything else (another exception, no growth, or a larger output change).

The comparison is relative to the output scale because random BatchNorm statistics give outputs of
very different magnitudes across models, and float32 rounding grows with them.
Prints a Markdown summary (per method: preserved / refused / failed of N) and one row per model
(skipped volumes and the first reason, parameters before and after, seconds).

Run (one thread, ~the whole sweep takes tens of minutes on one CPU core; see docs/morph.md):
    PYTHONPATH=src python benchmarks/morph_coverage.py --json /tmp/morph_coverage.json
    PYTHONPATH=src python benchmarks/morph_coverage.py --models resnext50_32x4d mobilenet_v2
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import gc
import json
import os
import platform
import time
import warnings
from datetime import date
from typing import Any

import torch
import torchvision
from torch import nn

from morph import _randomize_norms as randomize_norms  # benchmarks/morph.py, next to this file
from trainlab.errors import TrainlabError
from trainlab.morph import SkippedVolumesWarning, widen

METHODS = ("r2r", "net2net", "netmorph")
# Input sizes: the smallest that every part of the model accepts (aux heads included: widen
# traces them too); everything else runs at 64x64.
SIZES = {"inception_v3": 299, "vit_b_16": 224, "vit_b_32": 224, "vit_l_16": 224, "vit_l_32": 224,
         "vit_h_14": 224, "maxvit_t": 224}


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def relative_change(before: nn.Module, after: nn.Module, shape: tuple[int, ...],
                    draws: int = 2) -> float:
    """max |after(x) - before(x)| / max |before(x)| over fresh U(-1, 1) batches, eval mode."""
    before.eval(), after.eval()
    worst = 0.0
    with torch.no_grad():
        for _ in range(draws):
            x = torch.rand(shape) * 2 - 1
            y = before(x)
            worst = max(worst, float((after(x) - y).abs().max() / y.abs().max().clamp_min(1e-12)))
    return worst


def sweep_one(model: nn.Module, size: int, method: str, tol: float) -> dict[str, Any]:
    """Widen one model with one method and judge the outcome."""
    start = time.perf_counter()
    example = torch.randn(1, 3, size, size)
    row: dict[str, Any] = {"method": method, "size": size, "params": params(model)}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SkippedVolumesWarning)
            wide = widen(model, example, factor=1.5, method=method,
                         generator=torch.Generator().manual_seed(0))
        skipped = [w.message.skipped for w in caught if isinstance(w.message, SkippedVolumesWarning)]
        row["skipped"] = [list(s) for s in (skipped[0] if skipped else ())]
        row["params_after"] = params(wide)
        row["change"] = relative_change(model, wide, (2, 3, size, size))
        grew = row["params_after"] > row["params"]
        row["status"] = "preserved" if grew and row["change"] <= tol else "failed"
        if not grew:
            row["reason"] = "nothing grew"
        del wide
    except TrainlabError as err:
        row.update(status="refused", reason=f"{type(err).__name__}: {err}")
    except Exception as err:  # a bug in morph: report it, go on with the next model
        row.update(status="failed", reason=f"{type(err).__name__}: {err}")
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


@contextlib.contextmanager
def held(lock: str | None) -> Any:
    """Hold an exclusive file lock (shared machines: one heavy job at a time) or nothing."""
    if lock is None:
        yield
        return
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def sweep(names: list[str], methods: tuple[str, ...], tol: float,
          lock: str | None = None) -> tuple[dict[str, list[dict[str, Any]]], float]:
    """One row per model and method, and the seconds spent waiting for ``lock``."""
    results: dict[str, list[dict[str, Any]]] = {}
    waited = 0.0
    for name in names:
        asked = time.perf_counter()
        with held(lock):
            waited += time.perf_counter() - asked
            torch.manual_seed(0)
            model = randomize_norms(torchvision.models.get_model(name, weights=None)).eval()
            results[name] = [sweep_one(model, SIZES.get(name, 64), m, tol) for m in methods]
            del model
            gc.collect()
        for row in results[name]:
            print(f"  {name:22s} {row['method']:8s} {row['status']:9s} "
                  f"{row.get('change', float('nan')):.1e} {row['seconds']:6.1f}s "
                  f"{row.get('reason', '')[:100]}", flush=True)
    return results, waited


def summary(results: dict[str, list[dict[str, Any]]], methods: tuple[str, ...]) -> str:
    lines = ["| method | preserved | refused | failed |", "|---|---|---|---|"]
    for i, method in enumerate(methods):
        states = [rows[i]["status"] for rows in results.values()]
        n = len(states)
        lines.append(f"| {method} | {states.count('preserved')} / {n} | "
                     f"{states.count('refused')} / {n} | {states.count('failed')} / {n} |")
    return "\n".join(lines)


def details(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| model | r2r / net2net / netmorph | max rel. change | params before -> after (r2r) "
             "| volumes skipped: first reason |", "|---|---|---|---|---|"]
    for name, rows in results.items():
        first = rows[0]
        states = " / ".join(r["status"] for r in rows)
        change = max((r.get("change", 0.0) for r in rows), default=0.0)
        sizes = (f"{first['params'] / 1e6:.1f}M -> {first['params_after'] / 1e6:.1f}M"
                 if "params_after" in first else "-")
        skipped = first.get("skipped", [])
        why = (f"{len(skipped)}: {skipped[0][0]} {skipped[0][1]}" if skipped
               else first.get("reason", "0"))
        lines.append(f"| {name} | {states} | {change:.1e} | {sizes} | {why[:160]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="model names (default: all torchvision "
                                                    "classifiers)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--tol", type=float, default=1e-4,
                        help="largest allowed output change relative to the output scale")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", help="also write every row to this file")
    parser.add_argument("--lock", help="hold this file lock while each model runs, so that other "
                                       "heavy jobs sharing the machine can run in between")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.models or torchvision.models.list_models(module=torchvision.models)
    methods = tuple(args.methods)
    start = time.perf_counter()
    results, waited = sweep(names, methods, args.tol, args.lock)
    wall = time.perf_counter() - start - waited
    print(f"\n{date.today()} | torch {torch.__version__} | torchvision {torchvision.__version__} | "
          f"{platform.machine()}, {os.cpu_count()} CPUs | {args.threads} thread(s) | "
          f"{wall / 60:.1f} min (not counting {waited / 60:.1f} min waiting for the lock)\n")
    print(summary(results, methods))
    print()
    print(details(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"wall_seconds": wall, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
