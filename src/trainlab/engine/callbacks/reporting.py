"""Callbacks that report a run: progress, history files, TensorBoard, the training plot, loss sanity."""
from __future__ import annotations

import logging
import math
import re
import sys
import warnings
from pathlib import Path

from ..callback import Callback
from .checkpoint import Checkpoint

log = logging.getLogger("trainlab")


def epoch_line(learner) -> str:
    """'epoch 3/10  train loss 0.312 acc 0.904 | valid loss 0.289 acc 0.913 | lr 1.0e-03 | 2.1s (data 0.2s)'."""
    logs = learner.logs
    parts = [f"epoch {learner.loop.epoch}/{learner.epochs}"]
    for split in ("train", "valid"):
        if f"{split}.loss" in logs:
            text = f"{split} loss {logs[f'{split}.loss']:.4f}"
            if f"{split}.accuracy" in logs:
                text += f" acc {logs[f'{split}.accuracy']:.4f}"
            parts.append(text)
    monitor = (learner.config.get("train") or {}).get("monitor")  # e.g. valid.map50, when it is not shown yet
    if monitor in logs and not monitor.endswith((".loss", ".accuracy")):
        parts.append(f"{monitor} {logs[monitor]:.4f}")
    parts.append(f"lr {logs.get('lr', float('nan')):.2e}")
    parts.append(f"{logs.get('time', 0):.1f}s (data {logs.get('data_time', 0):.1f}s)")
    return " | ".join(parts)


class Progress(Callback):
    """A tqdm bar per epoch on a terminal; otherwise one log line per epoch (CI logs stay short)."""

    def __init__(self, mode: str = "auto", log_every: int = 50) -> None:
        self.bar_mode = mode == "bar" or (mode == "auto" and sys.stderr.isatty())
        self.silent = mode == "none"
        self.log_every = log_every
        self.bar = None

    def on_epoch_start(self, learner) -> None:
        if self.bar_mode:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=learner.batches_per_epoch, initial=learner.loop.batch, leave=False,
                            desc=f"epoch {learner.loop.epoch + 1}/{learner.epochs}", dynamic_ncols=True)

    def on_train_batch_end(self, learner) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if learner.loop.batch % self.log_every == 0:  # the only per-step sync, every log_every steps
                self.bar.set_postfix(loss=f"{float(learner.loss):.4f}")

    def on_epoch_recorded(self, learner) -> None:
        self._close()
        if not self.silent:
            log.info(epoch_line(learner))

    def on_fit_end(self, learner) -> None:
        self._close()
        if learner.stop_reason and not learner.stop_now and not self.silent:  # the caller reports signals
            log.info(learner.stop_reason)

    def on_exception(self, learner, error: BaseException) -> None:
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class HistoryWriter(Callback):
    """history.json and history.csv in the experiment folder, rewritten atomically each epoch (in the
    background, after the epoch's checkpoint: see engine/files.py)."""

    run_after = (Checkpoint,)  # the files never describe an epoch whose checkpoint is not written yet

    def __init__(self, exp_dir: Path) -> None:
        self.exp_dir = Path(exp_dir)

    def on_fit_start(self, learner) -> None:
        if len(learner.history):  # resumed: the files describe the checkpoint's epochs, not a killed run's later ones
            self.on_epoch_recorded(learner)

    def on_epoch_recorded(self, learner) -> None:
        learner.files.submit(self.exp_dir / "history.json", learner.history.to_json().encode())
        learner.files.submit(self.exp_dir / "history.csv", learner.history.to_csv().encode())


class PlotHistory(Callback):
    """training_history.png when fit ends, also when it fails (loss, metrics, lr, per-class accuracy)."""

    def __init__(self, exp_dir: Path) -> None:
        self.exp_dir = Path(exp_dir)

    def on_fit_end(self, learner) -> None:
        if len(learner.history):
            from ..plot import plot_history

            plot_history(learner.history, self.exp_dir / "training_history.png")

    def on_exception(self, learner, error: BaseException) -> None:
        self.on_fit_end(learner)


class TensorBoard(Callback):
    """Scalars per epoch (and the training loss every ``log_every`` steps) under EXP/tensorboard/.

    Per-class lists (``valid.per_class.accuracy``, a detector's ``valid.per_class.ap``) become one tag per
    class in the same run, ``valid.per_class.accuracy/<class>``, plus a custom-scalars chart that draws them
    together (TensorBoard's *Custom Scalars* tab): ``add_scalars`` made a run per class, 20 runs for 10
    classes, which buried the real runs in the run list.
    """

    def __init__(self, log_dir: Path, log_every: int = 50) -> None:
        self.log_dir, self.log_every, self.writer = Path(log_dir), log_every, None
        self._layout = False

    def on_fit_start(self, learner) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.log_dir), purge_step=learner.loop.step or None)
        self._layout = False

    def on_train_batch_end(self, learner) -> None:
        if learner.did_step and learner.loop.step % self.log_every == 0:
            self.writer.add_scalar("train/loss_step", float(learner.loss), learner.loop.step)

    def on_epoch_recorded(self, learner) -> None:
        names, grouped = list(learner.data.class_names), []
        for key, value in learner.logs.items():
            if isinstance(value, float | int) and key not in ("epoch",):
                self.writer.add_scalar(key.replace(".", "/", 1), value, learner.loop.epoch)
            elif ".per_class." in key and isinstance(value, list) and len(value) == len(names):
                for name, v in zip(names, value):
                    self.writer.add_scalar(f"{key}/{name}", v, learner.loop.epoch)
                grouped.append(key)
            elif key == "lr_groups":
                for i, lr in enumerate(value):
                    self.writer.add_scalar(f"lr_groups/{i}", lr, learner.loop.epoch)
        if grouped and not self._layout:  # one chart per list, every class a line
            self.writer.add_custom_scalars({"per class": {k: ["Multiline", [re.escape(k) + "/.*"]] for k in grouped}})
            self._layout = True
        self.writer.flush()

    def on_fit_end(self, learner) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def on_exception(self, learner, error: BaseException) -> None:
        self.on_fit_end(learner)


class LossWatch(Callback):
    """Warns when the training loss is exactly the same two epochs in a row (nothing is learning)."""

    def on_epoch_recorded(self, learner) -> None:
        losses = learner.history.values("train.loss")
        # relative 1e-9: the same per-sample losses summed in another order are still "exactly" constant
        if len(losses) >= 2 and math.isclose(losses[-1], losses[-2], rel_tol=1e-9, abs_tol=0.0):
            warnings.warn(f"the training loss has been exactly {losses[-1]:.6g} for 2 epochs: is the learning "
                          "rate 0, every parameter frozen, or the data constant?", RuntimeWarning, stacklevel=2)
