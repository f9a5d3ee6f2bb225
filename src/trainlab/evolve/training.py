"""Training one member for a number of optimizer steps with the ordinary Learner, and reading its outputs.

A member is a normal experiment folder. Each round :func:`train_member` runs it through
:func:`trainlab.runs.run_experiment`, which continues ``checkpoints/last.pt`` (weights, optimizer state,
step counters, FLOPs so far) when there is one, with :class:`StopAfterSteps`: after N optimizer steps the
epoch is cut short, validated, recorded in the history and checkpointed, like any epoch. One round
is therefore one (possibly partial) epoch in the member's history.

Example:
    >>> summary = train_member("runs/evo/members/m001", steps=50)  # doctest: +SKIP
    >>> summary["step"], round(summary["valid.accuracy"], 3)  # doctest: +SKIP
    (50, 0.912)
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..config import Config, config_to_dict, load_config
from ..data import DataBundle
from ..engine import Callback
from ..engine.checkpoint import load_checkpoint
from ..files import atomic_write_bytes
from ..runs import run_experiment
from .state import Member

log = logging.getLogger(__name__)
VALID_LOGITS = "evolve_valid_logits.pt"


class StopAfterSteps(Callback):
    """Ends ``fit`` once ``steps`` optimizer steps were taken since it started (then validates and saves)."""

    def __init__(self, steps: int) -> None:
        self.steps, self._start = steps, 0

    def on_fit_start(self, learner) -> None:
        self._start = learner.loop.step

    def on_train_batch_end(self, learner) -> None:
        if learner.did_step and learner.loop.step - self._start >= self.steps:
            learner.should_stop = True
            learner.stop_reason = f"{self.steps} steps done"


def train_member(member_dir: str | Path, steps: int, num_threads: int | None = None) -> dict[str, Any]:
    """Train the member in ``member_dir`` for ``steps`` more optimizer steps; return its latest numbers.

    Writes the usual experiment files (checkpoints, history, metrics) and the validation logits
    (``evolve_valid_logits.pt``, (N, C) float) used for selection.

    Returns:
        {"step", "epoch", "valid.accuracy", "valid.loss", "flops_per_sample", "train_flops", "params"}.
    """
    member_dir = Path(member_dir)
    if num_threads:
        torch.set_num_threads(num_threads)
    cfg = load_config(member_dir)

    def epochs(learner) -> int:  # enough epochs for the steps; StopAfterSteps ends the last one early
        per_epoch = max(1, len(learner.data.train) // cfg.train.accumulate)
        return learner.loop.epoch + -(-steps // per_epoch) + 1

    learner = run_experiment(member_dir, cfg, existing="continue", callbacks=[StopAfterSteps(steps)], epochs=epochs,
                             extra={"evolve_member": True}).learner
    logits = learner.predict("valid").cpu()  # (N, C)
    _save_tensor(logits, member_dir / VALID_LOGITS)
    row = learner.history.rows[-1]
    return {"step": learner.loop.step, "epoch": learner.loop.epoch, "valid.accuracy": float(row["valid.accuracy"]),
            "valid.loss": float(row["valid.loss"]), "flops_per_sample": row.get("flops_per_sample"),
            "train_flops": float(row.get("train_flops", 0.0)),
            "params": sum(p.numel() for p in learner.model.parameters())}


def _save_tensor(t: Tensor, path: Path) -> None:
    import io

    buf = io.BytesIO()
    torch.save(t, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_valid_logits(member_dir: str | Path) -> Tensor:
    """The validation logits (N, C) saved by the member's last :func:`train_member`."""
    return torch.load(Path(member_dir) / VALID_LOGITS, weights_only=True)


@torch.no_grad()
def member_logits(member_dir: str | Path, data: DataBundle, split: str) -> Tensor:
    """Logits (N, C) of the member's latest weights (``checkpoints/last.pt``) on a split of ``data``."""
    from ..models import model_from_config

    member_dir = Path(member_dir)
    cfg = load_config(member_dir)
    model = model_from_config(cfg, num_classes=data.num_classes, input_shape=data.input_shape, base_dir=member_dir)
    model.load_state_dict(load_checkpoint(member_dir / "checkpoints" / "last.pt")["model"])
    model.eval()
    outs = []
    for x, _ in data.split(split).batches(0):  # x: (B, C, H, W) on the data's device
        outs.append(model.to(x.device)(x).float().cpu())
    return torch.cat(outs)


def correctness(parent: Path, members: list[Member], targets: torch.Tensor) -> np.ndarray:
    """(members, valid examples) 0/1 matrix from each member's saved validation logits."""
    rows = [(load_valid_logits(parent / m.dir).argmax(1) == targets.cpu()).numpy() for m in members]
    return np.stack(rows).astype(np.int8)


def base_config_dict(cfg: Config) -> dict:
    """The parent's params without the evolve block (what a plain experiment of the base would hold)."""
    d = config_to_dict(cfg)
    d["evolve"] = None
    return {k: v for k, v in d.items() if v is not None}
