"""Helpers shared by CLI verbs: the --set option and printing metrics."""
from __future__ import annotations

import argparse
from typing import Any


def add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set train.epochs=5 (repeatable)")


# scalar metrics shown after the loss, in this order, when a task records them
SHOWN = (("accuracy", "accuracy"), ("f1", "macro-F1"), ("cer", "CER"), ("wer", "WER"), ("seq_accuracy", "lines exact"),
         ("top5", "top-5"), ("map50", "mAP@0.5"), ("map", "mAP@0.5:0.95"), ("map75", "mAP@0.75"), ("mar100", "mAR@100"))
COUNTED = (("lines", "lines"), ("images", "images"))  # what a task counts when it has no per-class support


def format_metrics(split: str, metrics: dict[str, Any], class_names: list[str]) -> str:
    """The metrics of one split as text: a head line, then one row per class of the per-class values."""
    head = f"{split}: loss {metrics['loss']:.4f}"
    for key, name in SHOWN:
        if key in metrics:
            head += f"  {name} {metrics[key]:.4f}"
    pc = metrics.get("per_class", {})
    counted = next((f"{metrics[k]} {name}" for k, name in COUNTED if k in metrics), "? samples")
    lines = [head + f"  ({sum(pc['support'])} samples)" if "support" in pc else head + f"  ({counted})"]
    columns = ["accuracy", "loss", "support"] if "accuracy" in pc else [
        k for k, v in pc.items() if isinstance(v, list) and len(v) == len(class_names)]
    if pc and columns:
        width = max(len("class"), *(len(n) for n in class_names))
        lines.append(f"  {'class':<{width}}" + "".join(f"  {c:>8}" for c in columns))
        for i, name in enumerate(class_names):
            cells = (f"  {v:8.4f}" if isinstance(v, float) else f"  {v:8d}" for v in (pc[c][i] for c in columns))
            lines.append(f"  {name:<{width}}" + "".join(cells))
    return "\n".join(lines)
