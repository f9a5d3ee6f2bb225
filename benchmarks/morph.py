"""Benchmark trainlab.morph: how long widening resnet18 x1.5 takes, and how exact it is.

Part 1 (this file, for now): for each widen method, the median wall time of
``widen(resnet18, x, factor=1.5)`` on CPU (deep copy, fx trace, shape pass and weight surgery
included), its ratio to building a fresh ``resnet18(weights=None)`` in the same process (the
from-scratch alternative), and the max |output change| on fresh random inputs in eval mode. The
deepen rows do the same for one R2DeeperR / Net2DeeperNet block appended to every stage.
Target: widen < 1 s on CPU, max |change| < 1e-5 for the exact methods.

The Fashion-MNIST teacher -> student comparison (issue 6) is to be added here once the Learner
exists.

Run:
    python benchmarks/morph.py                      # markdown table on stdout
    python benchmarks/morph.py --repeats 7 --threads 2 --json morph_widen.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torchvision
from torch import nn

from trainlab.morph import deepen, widen

STAGES = ["layer1", "layer2", "layer3", "layer4"]


def _randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm parameters and statistics, so exactness is tested for real."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def _max_change(before: nn.Module, after: nn.Module, shape: tuple[int, ...], draws: int) -> float:
    before.eval(), after.eval()
    worst = 0.0
    with torch.no_grad():
        for _ in range(draws):
            x = torch.rand(shape) * 2 - 1  # fresh inputs, not the example
            worst = max(worst, float((after(x) - before(x)).abs().max()))
    return worst


def widen_timing(repeats: int = 5, size: int = 32, draws: int = 3) -> list[dict[str, Any]]:
    """One row per transform: seconds (median), ratio to building resnet18, max |change|."""
    torch.manual_seed(0)
    model = _randomize_norms(torchvision.models.resnet18(weights=None, num_classes=10)).eval()
    example = torch.randn(1, 3, size, size)
    cold = time.perf_counter()
    widen(model, example, factor=1.5)  # first call pays one-off costs (oneDNN set-up, imports)
    cold = time.perf_counter() - cold
    build, _ = _median_time(lambda: torchvision.models.resnet18(weights=None, num_classes=10),
                            repeats)
    params = sum(p.numel() for p in model.parameters())
    rows = [{"transform": "baseline: build resnet18", "seconds": build, "ratio": 1.0,
             "params": params, "max_change": None}]
    cases: list[tuple[str, Callable[[], nn.Module]]] = [
        (f"widen x1.5 {m}", lambda m=m: widen(model, example, factor=1.5, method=m))
        for m in ("r2r", "net2net", "netmorph", "random")
    ] + [
        (f"deepen all stages {m}", lambda m=m: deepen(model, example, where=STAGES, method=m))
        for m in ("r2r", "net2net")
    ]
    for name, run in cases:
        seconds, grown = _median_time(run, repeats)
        rows.append({
            "transform": name, "seconds": seconds, "ratio": seconds / build,
            "params": sum(p.numel() for p in grown.parameters()),
            "max_change": _max_change(model, grown, (8, 3, size, size), draws),
        })
    rows.append({"transform": "widen x1.5 r2r, first call", "seconds": cold, "ratio": cold / build,
                 "params": None, "max_change": None})
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| transform | seconds (median) | x build | params | max abs change |",
             "|---|---:|---:|---:|---:|"]
    for r in rows:
        change = "" if r["max_change"] is None else f"{r['max_change']:.2e}"
        params = "" if r["params"] is None else f"{r['params'] / 1e6:.2f}M"
        lines.append(f"| {r['transform']} | {r['seconds']:.3f} | {r['ratio']:.2f} | {params} "
                     f"| {change} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per transform (median)")
    parser.add_argument("--size", type=int, default=32, help="input height = width")
    parser.add_argument("--draws", type=int, default=3, help="fresh input batches for max |change|")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = widen_timing(args.repeats, args.size, args.draws)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"input 1x3x{args.size}x{args.size}")
    print(_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
