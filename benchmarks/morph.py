"""Benchmark trainlab.morph: widening resnet18 x1.5 (time, exactness) and a teacher -> student run.

Part 1 (``--part widen``): for each widen method, the median wall time of
``widen(resnet18, x, factor=1.5)`` on CPU (deep copy, fx trace, shape pass and weight surgery
included), its ratio to building a fresh ``resnet18(weights=None)`` in the same process (the
from-scratch alternative), and the max |output change| on fresh random inputs in eval mode. The
deepen rows do the same for one R2DeeperR / Net2DeeperNet block appended to every stage.
Target: widen < 1 s on CPU, max |change| < 1e-5 for the exact methods.

Part 2 (``--part student``): teacher -> student on Fashion-MNIST, through the CLI exactly as a user
would run it. A ``cnn_small`` of width W is trained for E1 epochs (``trainlab train``), widened x2 by
each method (``trainlab morph --widen 2 --method M``: r2r, net2net, netmorph, and random padding, which
does not preserve the function) and trained E2 more epochs; the wide net (width 2W) is trained from
scratch for E1 + E2 epochs. Every run uses the same recipe (Adam, one-cycle over its own epochs); a
student's lr is the teacher's scaled by old/new parameter count (``--lr-rule param_ratio``, default, as
Painter 2019) or the teacher's (``--lr-rule keep``).
Validation accuracy is read from each run's history after every epoch, with the cumulative training
FLOPs (a student's count includes its teacher's); test accuracy is measured at the end.
Writes a PNG (accuracy against epochs and against training FLOPs) and prints a Markdown table.

Run:
    python benchmarks/morph.py --part widen         # markdown table on stdout
    python benchmarks/morph.py --part widen --repeats 7 --threads 2 --json morph_widen.json
    TRAINLAB_DATA=../shared/data python benchmarks/morph.py --part student --out /tmp/morph_bench
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import nn

from trainlab.cli import main as trainlab
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


STUDENT_METHODS = ("r2r", "net2net", "netmorph", "random")


def _run(*argv: str) -> None:
    code = trainlab(list(argv))
    if code != 0:
        raise SystemExit(f"trainlab {' '.join(argv)} failed with exit code {code}")


def _curve(exp: Path, offset_epochs: int = 0, offset_flops: float = 0.0) -> dict[str, Any]:
    """(epoch, train FLOPs, valid accuracy) per epoch of a run, shifted by what came before; test accuracy."""
    rows = json.loads((exp / "history.json").read_text())["rows"]
    test = json.loads((exp / "metrics_test.json").read_text())
    return {"epochs": [offset_epochs + r["epoch"] for r in rows],
            "flops": [offset_flops + r["train_flops"] for r in rows],
            "valid": [r["valid.accuracy"] for r in rows], "test": test["accuracy"],
            "first_valid": rows[0]["valid.accuracy"]}


def teacher_student(out: Path, *, width: int, teacher_epochs: int, student_epochs: int, max_train: int | None,
                    seed: int, lr: float, lr_rule: str = "param_ratio",
                    methods: tuple[str, ...] = STUDENT_METHODS) -> dict[str, Any]:
    """Train teacher, students (one per method) and the wide net from scratch; return their curves."""
    out.mkdir(parents=True, exist_ok=True)

    def params(w: int, epochs: int) -> dict[str, Any]:
        return {"data": {"name": "fashion-mnist", "batch_size": 128, "eval_batch_size": 1000,
                         "max_train_samples": max_train},
                "model": {"name": "cnn_small", "args": {"width": w}},
                "optim": {"name": "adam", "lr": lr}, "schedule": {"name": "one_cycle", "pct_start": 0.25},
                "train": {"epochs": epochs, "seed": seed, "monitor": "valid.accuracy", "mode": "max"},
                "logging": {"tensorboard": False, "plot": False, "progress": "none"}}

    def fresh(name: str, p: dict[str, Any] | None) -> Path:
        exp = out / name
        if exp.exists():  # never delete: a rerun needs a new --out
            raise SystemExit(f"{exp} exists; pass a new --out")
        if p is not None:
            exp.mkdir()
            (exp / "params.json").write_text(json.dumps(p, indent=1))
        return exp

    curves: dict[str, Any] = {}
    teacher = fresh("teacher", params(width, teacher_epochs))
    _run("train", str(teacher))
    _run("evaluate", str(teacher))
    curves["teacher"] = _curve(teacher)
    t_flops = curves["teacher"]["flops"][-1]
    for method in methods:
        student = fresh(f"student-{method}", None)
        _run("morph", str(teacher), "--widen", "2", "--method", method, "--lr-rule", lr_rule,
             "--out", str(student))
        _run("train", str(student), "--set", f"train.epochs={student_epochs}")
        _run("evaluate", str(student))
        curves[f"widened {method}"] = _curve(student, teacher_epochs, t_flops)
    scratch = fresh("scratch", params(2 * width, teacher_epochs + student_epochs))
    _run("train", str(scratch))
    _run("evaluate", str(scratch))
    curves["wide from scratch"] = _curve(scratch)
    return curves


def _plot(curves: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, c in curves.items():
        style = "k-" if name == "teacher" else ("--" if name == "wide from scratch" else "-")
        axes[0].plot(c["epochs"], c["valid"], style, marker="o", ms=3, label=name)
        axes[1].plot([f / 1e12 for f in c["flops"]], c["valid"], style, marker="o", ms=3, label=name)
    axes[0].set_xlabel("epochs (a student's count includes its teacher's)")
    axes[1].set_xlabel("training FLOPs (10^12, forward + backward)")
    for ax in axes:
        ax.set_ylabel("valid accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _student_table(curves: dict[str, Any]) -> str:
    lines = ["| model | epochs | training FLOPs | valid acc after 1st epoch of the run | final valid acc | test acc |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, c in curves.items():
        lines.append(f"| {name} | {c['epochs'][-1]} | {c['flops'][-1] / 1e12:.2f}e12 | {c['first_valid']:.4f} "
                     f"| {c['valid'][-1]:.4f} | {c['test']:.4f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["widen", "student"], default="widen")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per transform (median)")
    parser.add_argument("--size", type=int, default=32, help="input height = width")
    parser.add_argument("--draws", type=int, default=3, help="fresh input batches for max |change|")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    student = parser.add_argument_group("--part student")
    student.add_argument("--out", type=Path, default=Path("morph_bench"), help="a new folder for the runs")
    student.add_argument("--width", type=int, default=8, help="teacher width (the student's is twice)")
    student.add_argument("--teacher-epochs", type=int, default=4)
    student.add_argument("--student-epochs", type=int, default=4)
    student.add_argument("--max-train", type=int, default=12000, help="training images (0: all 54000)")
    student.add_argument("--lr", type=float, default=3e-3)
    student.add_argument("--seed", type=int, default=0)
    student.add_argument("--lr-rule", choices=["param_ratio", "keep"], default="param_ratio",
                         help="students' lr: the teacher's x old/new parameter count, or the teacher's")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.part == "student":
        if not os.environ.get("TRAINLAB_DATA"):
            raise SystemExit("set TRAINLAB_DATA to the folder holding fashion-mnist (e.g. ../shared/data)")
        start = time.perf_counter()
        curves = teacher_student(args.out, width=args.width, teacher_epochs=args.teacher_epochs,
                                 student_epochs=args.student_epochs, max_train=args.max_train or None,
                                 seed=args.seed, lr=args.lr, lr_rule=args.lr_rule)
        title = (f"Fashion-MNIST, cnn_small width {args.width} -> {2 * args.width}, "
                 f"{args.max_train or 54000} training images, seed {args.seed}, student lr rule {args.lr_rule}")
        _plot(curves, args.out / "morph_student.png", title)
        print(f"{title}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
              f"{time.perf_counter() - start:.0f} s in all")
        print(_student_table(curves))
        print(f"plot: {args.out / 'morph_student.png'}")
        if args.json:
            Path(args.json).write_text(json.dumps(curves, indent=1))
        return
    rows = widen_timing(args.repeats, args.size, args.draws)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
          f"input 1x3x{args.size}x{args.size}")
    print(_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
