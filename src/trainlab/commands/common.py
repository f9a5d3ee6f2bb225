"""Helpers shared by CLI verbs: the --set option and printing metrics."""
from __future__ import annotations

import argparse
from typing import Any


def add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set train.epochs=5 (repeatable)")


def format_metrics(split: str, metrics: dict[str, Any], class_names: list[str]) -> str:
    head = f"{split}: loss {metrics['loss']:.4f}  accuracy {metrics['accuracy']:.4f}"
    for key, name in (("f1", "macro-F1"), ("cer", "CER"), ("wer", "WER"), ("seq_accuracy", "lines exact")):
        if key in metrics:
            head += f"  {name} {metrics[key]:.4f}"
    if "top5" in metrics:
        head += f"  top-5 {metrics['top5']:.4f}"
    pc = metrics.get("per_class", {})
    count = f"{sum(pc['support'])} samples" if "support" in pc else f"{metrics.get('lines', '?')} lines"
    lines = [head + f"  ({count})"]
    if pc:
        width = max(len(n) for n in class_names)
        lines.append(f"  {'class':<{width}}  accuracy    loss  support")
        for name, acc, loss, n in zip(class_names, pc["accuracy"], pc["loss"], pc["support"]):
            lines.append(f"  {name:<{width}}  {acc:8.4f}  {loss:6.4f}  {n:7d}")
    return "\n".join(lines)
