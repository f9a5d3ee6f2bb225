"""Writes checkpoints/last.pt every ``save_every`` epochs and best.pt when the monitored metric improves."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..callback import Callback
from ..monitor import check_monitor, improved, monitored
from .schedule import LRSchedule


def _position(learner) -> tuple[int, int, int]:
    return learner.loop.epoch, learner.loop.batch, learner.loop.step


def _summary(logs: dict[str, Any], notes: dict[str, str]) -> dict[str, Any]:
    """The epoch's validation metrics, counters and how validation was computed (e.g. "tta": "flip")."""
    return {k: v for k, v in logs.items() if k.startswith("valid.") or k in ("epoch", "step", *notes)}


def _json(summary: dict[str, Any]) -> bytes:
    return json.dumps(summary, indent=1).encode()


class Checkpoint(Callback):
    """Atomic best.pt / last.pt (and ``save_every_steps`` mid-epoch last.pt) plus metrics_val_{best,last}.json.

    No checkpoint is written from a state whose loss or weights went NaN/inf (:meth:`Learner.save` checks,
    one host sync per save).
    """

    run_after = (LRSchedule,)  # a step checkpoint holds the schedule after this step's update

    def __init__(self, exp_dir: Path, *, monitor: str = "valid.loss", mode: str = "min", save_every: int = 1,
                 save_every_steps: int | None = None) -> None:
        self.exp_dir, self.monitor, self.mode, self.save_every = Path(exp_dir), monitor, mode, save_every
        self.save_every_steps = save_every_steps
        self.best: float | None = None
        self.summaries: dict[str, dict] = {}  # what metrics_val_{best,last}.json hold, kept in every checkpoint
        self._saved_at: tuple[int, int, int] | None = None  # (epoch, batch, step) of the last last.pt queued

    @property
    def folder(self) -> Path:
        return self.exp_dir / "checkpoints"

    def on_setup(self, learner) -> None:
        check_monitor(learner, self.monitor, "train.monitor")

    def on_fit_start(self, learner) -> None:
        # A run killed between its checkpoint and these files resumes from that checkpoint, maybe with no
        # validation left to write them again: write what the checkpoint says they hold.
        if learner.loop.epoch or learner.loop.batch:
            for which, summary in self.summaries.items():
                learner.files.submit(self.exp_dir / f"metrics_val_{which}.json", _json(summary))

    def on_train_batch_end(self, learner) -> None:
        if (self.save_every_steps and learner.did_step and learner.loop.step % self.save_every_steps == 0
                and learner.loop.batch < learner.batches_per_epoch):  # the epoch's end saves on its own
            self._save_last(learner)  # refuses a non-finite loss or weights

    def on_fit_end(self, learner) -> None:
        # stopped by a signal (mid-epoch, or after an epoch that save_every skipped): resume from here
        if learner.stop_now and self._saved_at != _position(learner):
            learner.save(self.folder / "last.pt")

    def on_epoch_recorded(self, learner) -> None:
        targets = []  # the state is serialized once for best.pt and last.pt alike
        value = monitored(learner.logs, self.monitor)
        is_best = value is not None and improved(value, self.best, self.mode)
        summary = _summary(learner.logs, learner.eval_notes)
        if value is not None:
            self.summaries["last"] = summary
        if is_best:
            self.best, self.summaries["best"] = value, summary
            targets.append(self.folder / "best.pt")
        if learner.loop.epoch % self.save_every == 0 or learner.loop.epoch >= learner.epochs or learner.should_stop:
            targets.append(self.folder / "last.pt")
            self._saved_at = _position(learner)
        if targets:  # written in the background, in this order (see engine/file_queue.py)
            learner.save(*targets, background=True)  # refuses a non-finite state
        if value is not None:  # after the checkpoints
            learner.files.submit(self.exp_dir / "metrics_val_last.json", _json(summary))
        if is_best:  # after best.pt, so these metrics never describe a checkpoint not yet written
            learner.files.submit(self.exp_dir / "metrics_val_best.json", _json(summary))

    def _save_last(self, learner) -> None:
        learner.save(self.folder / "last.pt", background=True)
        self._saved_at = _position(learner)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "summaries": dict(self.summaries)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.summaries = dict(state.get("summaries") or {})  # older checkpoints kept none
