"""Helpers shared by CLI verbs: logging to train.log, the resolved params file, printing metrics."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..config import Config, config_to_dict
from ..engine.checkpoint import atomic_write_text


def add_set(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set train.epochs=5 (repeatable)")


@contextlib.contextmanager
def log_to_file(path: Path) -> Iterator[None]:
    """While inside, also send everything trainlab logs (and warnings) to ``path``, appending, with timestamps."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger("trainlab"), logging.getLogger("py.warnings")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > logging.INFO:  # called from Python, not the CLI: still log INFO here
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(handler)
            logger.setLevel(level)
        handler.close()


def git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_resolved(exp_dir: Path, cfg: Config, *, augmentation: str, extra: dict[str, Any] | None = None) -> Path:
    resolved = config_to_dict(cfg) | {"_run": {
        "trainlab": __version__, "torch": str(torch.__version__), "python": sys.version.split()[0],
        "seed": cfg.train.seed, "git_commit": git_commit(exp_dir), "augmentation": augmentation,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(sys.argv), **(extra or {}),
    }}
    path = exp_dir / "params.resolved.json"
    atomic_write_text(path, json.dumps(resolved, indent=1))
    return path


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
