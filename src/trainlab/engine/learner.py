"""The Learner: the agent that owns a training session (model, data, optimizer, state, callbacks).

Example:
    >>> import torch
    >>> from trainlab.config import DataConfig
    >>> from trainlab.data import data_from_config
    >>> from trainlab.engine import Learner
    >>> data = data_from_config(DataConfig(name="synthetic", batch_size=32), seed=0)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 4))
    >>> learner = Learner(model, data, optimizer=torch.optim.Adam(model.parameters(), 1e-2))
    >>> learner.fit(2).epoch
    2
"""
from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..data import BatchLoader, DataBundle
from ..errors import TrainingError
from .callback import Callback, CallbackList
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .distributed import broadcast_buffers
from .history import History
from .task import ClassificationTask, Task

log = logging.getLogger(__name__)


def flatten_metrics(prefix: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """{"loss": .., "per_class": {"accuracy": [..]}} -> {"valid.loss": .., "valid.per_class.accuracy": [..]}."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.update(flatten_metrics(f"{prefix}.{k}", v))
        else:
            out[f"{prefix}.{k}"] = v
    return out


class Learner:
    """Trains, evaluates, predicts, saves and resumes one model on one :class:`DataBundle`.

    State a callback may read or change: ``epoch`` (epochs completed), ``batch_idx`` (batches done in the
    current epoch), ``step`` (optimizer steps), ``logs`` (this epoch's metrics), ``history``, ``loss``
    (last batch loss, a tensor), ``optimizer``, ``model``; ``should_stop = True`` ends the run once the
    current epoch is validated and recorded, ``interrupted = True`` (with should_stop) leaves it at once.
    """

    def __init__(self, model: nn.Module, data: DataBundle, *, optimizer: torch.optim.Optimizer,
                 task: Task | None = None, callbacks: Iterable[Callback] = (), device: str | torch.device = "cpu",
                 precision: str = "32", accumulate: int = 1, eval_every: int = 1, channels_last: bool = False,
                 skip_nonfinite: bool = False, distributed: bool = False, sync_batchnorm: bool = False,
                 compile: bool = False, config: dict[str, Any] | None = None, exp_dir: Path | None = None) -> None:
        self.device = torch.device(device)
        if distributed and sync_batchnorm:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(self.device)  # the unwrapped model: saved, evaluated, transformed
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.distributed, self.compile = distributed, compile
        self.net = self._wrap(self.model)  # what training calls: the model, maybe in DDP and/or compiled
        self.data, self.optimizer = data, optimizer
        self.task = task or ClassificationTask(data.num_classes)
        self.callbacks = CallbackList(list(callbacks))
        self.precision, self.accumulate, self.eval_every = precision, accumulate, eval_every
        self.channels_last, self.skip_nonfinite = channels_last, skip_nonfinite
        self.config, self.exp_dir = config or {}, Path(exp_dir) if exp_dir else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "16")
        self.epoch = self.batch_idx = self.step = 0
        self.epochs = 0
        self.history = History(class_names=data.class_names)
        self.logs: dict[str, Any] = {}
        # should_stop ends the run after this epoch's validation; interrupted (a signal) leaves the epoch
        # half done, to be resumed from a mid-epoch checkpoint
        self.should_stop, self.interrupted, self.stop_reason, self.failed = False, False, "", False
        self.skipped_batches = 0
        self.samples_seen = 0  # training samples this process has stepped over
        self.world_size = torch.distributed.get_world_size() if distributed else 1
        self._resumed_metrics: dict[str, Tensor] | None = None  # train metrics of a half-done epoch
        self.loss: Tensor | None = None
        self.did_step = False
        self._first_bad = torch.full((), -1, dtype=torch.long, device=self.device)  # first non-finite step

    # ------------------------------------------------------------------ the loop
    def fit(self, epochs: int) -> Learner:
        """Train until ``epochs`` epochs are complete (counting epochs already done when resumed)."""
        self.epochs, self.should_stop = epochs, False
        if not any(p.requires_grad for p in self.model.parameters()):
            raise TrainingError("the model has no trainable parameters (every parameter is frozen); "
                                "change model.freeze.")
        self.callbacks("on_fit_start", self)
        try:
            while self.epoch < self.epochs and not self.should_stop:
                self._train_epoch()
                if self.interrupted:
                    break
                if (self.epoch + 1) % self.eval_every == 0 or self.epoch + 1 == self.epochs:
                    self.logs.update(flatten_metrics("valid", self.evaluate("valid")))
                    self.callbacks("on_validation_end", self)
                self.epoch, self.batch_idx = self.epoch + 1, 0
                self.logs.update(epoch=self.epoch, step=self.step, time=time.perf_counter() - self._epoch_start)
                self.history.append({k: v for k, v in self.logs.items() if not k.endswith("confusion_matrix")})
                self.callbacks("on_epoch_end", self)
        except BaseException:
            self.failed = True  # tells on_fit_end hooks (e.g. checkpointing) not to save this state
            raise
        finally:
            self.callbacks("on_fit_end", self)
        return self

    def _train_epoch(self) -> None:
        self.model.train()
        self.logs, self._epoch_start, self.data_time = {}, time.perf_counter(), 0.0
        self.train_metrics = self.task.metrics().to(self.device)
        if self._resumed_metrics is not None:  # resumed mid-epoch: keep counting where the run stopped
            for name, value in self._resumed_metrics.items():
                setattr(self.train_metrics, name, value.to(self.device))
            self.train_metrics._update_count = 1
            self._resumed_metrics = None
        self.batches_per_epoch = len(self.data.train)
        self.callbacks("on_epoch_start", self)
        for x, y in self._timed(self.data.train.batches(self.epoch, start=self.batch_idx)):
            self.train_step(x, y)
            if self.should_stop:
                break
        self.check_finite()
        self.logs.update(flatten_metrics("train", self.train_metrics.compute()))
        self.logs["lr"] = self.optimizer.param_groups[0]["lr"]
        self.logs["data_time"] = self.data_time
        if self.skip_nonfinite:
            self.logs["skipped_batches"] = self.skipped_batches

    def train_step(self, x: Tensor, y: Tensor) -> None:
        """Forward, backward and (every ``accumulate`` batches) an optimizer step on one batch."""
        self.callbacks("on_batch_start", self)
        out, per_sample = self._forward(x, y)
        loss = per_sample.mean()
        step = self.step  # optimizer steps completed before this batch
        if self.skip_nonfinite and not bool(torch.isfinite(loss)):  # opt-in: costs one host sync per step
            self.skipped_batches += 1
            self.batch_idx += 1
            log.warning("skipped batch %d of epoch %d: non-finite loss", self.batch_idx, self.epoch + 1)
            return
        self.scaler.scale(loss / self.accumulate).backward()
        self.batch_idx += 1
        self.samples_seen += x.shape[0]
        self.did_step = self.batch_idx % self.accumulate == 0 or self.batch_idx == self.batches_per_epoch
        if self.did_step:
            self._optimizer_step()
        self.loss = loss.detach()
        bad = (self._first_bad < 0) & ~torch.isfinite(self.loss)
        self._first_bad = torch.where(bad, step, self._first_bad)  # no host sync
        with torch.no_grad():
            self.train_metrics.update(out, y, per_sample.detach())
        self.callbacks("on_batch_end", self)

    def _forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Outputs (B, C) and per-sample losses (B,) of the training net under the run's precision."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            out = self.task.forward(self.net, x, y)
            per_sample = self.task.loss(out, y)  # (B,)
        return out, per_sample

    def _optimizer_step(self) -> None:
        """Unscale, run on_after_backward hooks (e.g. gradient clipping), step, zero the gradients."""
        self.scaler.unscale_(self.optimizer)
        self.callbacks("on_after_backward", self)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1

    def train_pass(self, batches: BatchLoader | Iterable[tuple[Tensor, Tensor]], *, epoch: int = 0,
                   max_steps: int | None = None, lr_scale: float = 1.0, grad_scale: float = 1.0,
                   freeze_norm: bool = False, restore_optimizer_state: bool = False) -> dict[str, float]:
        """An extra training pass beside the epoch's normal one (e.g. Focus Learning's pass on a few classes).

        ``batches`` is a loader (its order of ``epoch`` is used) or any iterable of (x, y) batches; the pass
        stops when it runs out or after ``max_steps`` optimizer steps. It reuses the step machinery (autocast,
        grad scaler, ``accumulate``, a final step on leftover gradients) under these rules:

        - ``lr_scale`` multiplies every param group's lr for these steps only; the exact previous values are put
          back afterwards, also on error (under Adam this is the meaningful "smaller step").
          ``grad_scale`` multiplies the loss, hence every gradient before clipping (the original "penalty";
          under Adam a constant gradient scale is nearly a no-op).
        - ``freeze_norm`` runs BatchNorm layers in eval mode for the pass: they normalize with, and keep, their
          running statistics (a pass over a biased subset, e.g. two classes, would otherwise overwrite the
          statistics the whole data needs: on digits 4 steps at lr ~0 cost 2 points of accuracy).
        - ``restore_optimizer_state`` puts the optimizer's state (momentum, Adam moments, step counts) back
          after the pass: its steps move the weights but leave no trace in the state the normal steps use.
          Shared, Adam's first moment carries the pass's last gradients into the next ~10 normal steps at full
          lr (in a small Fashion-MNIST run, 2-class passes at lr × 0.01 then cost 20 points of accuracy).
        - Only ``on_after_backward`` hooks fire (gradient clipping applies). Per-batch hooks of the normal pass
          (progress bar, step checkpoints, per-step schedules, FLOPs budget) do not, so no checkpoint is
          written mid-pass and schedules keep their length; a stop request lets the pass finish.
        - ``step`` and ``samples_seen`` grow (real steps, real compute); ``batch_idx``, the epoch's train
          metrics and ``logs`` are untouched: the loss is returned, not mixed into ``train.loss``.
        - A NaN or infinite loss raises :class:`TrainingError` at the end of the pass (``skip_nonfinite``
          skips such batches instead).

        Returns {"steps", "batches", "samples", "loss"}: samples and batches of this process; loss is the
        sample-weighted mean over the pass (over all processes under DDP).

        Example:
            >>> learner = Learner(model, data, optimizer=opt)  # doctest: +SKIP
            >>> learner.train_pass(data.train.subset(idx, train=True), epoch=0, lr_scale=0.01)  # doctest: +SKIP
            {'steps': 5, 'batches': 5, 'samples': 160, 'loss': 0.41}
        """
        if isinstance(batches, BatchLoader):
            batches = batches.batches(epoch)
        if max_steps is not None and max_steps <= 0:
            batches = ()
        saved_lrs = [group["lr"] for group in self.optimizer.param_groups]
        saved_state = ({param: {k: v.clone() if isinstance(v, Tensor) else copy.deepcopy(v) for k, v in state.items()}
                        for param, state in self.optimizer.state.items()} if restore_optimizer_state else None)
        was_training = self.model.training
        totals = torch.zeros(2, dtype=torch.float64, device=self.device)  # (loss sum, samples)
        n_batches = steps = 0
        pending = False  # gradients accumulated but not stepped yet
        try:
            for group, lr in zip(self.optimizer.param_groups, saved_lrs):
                group["lr"] = lr * lr_scale
            self.model.train()
            if freeze_norm:
                for module in self.model.modules():
                    if isinstance(module, nn.modules.batchnorm._BatchNorm):
                        module.eval()
            for x, y in batches:
                _, per_sample = self._forward(x, y)
                loss = per_sample.mean()
                if self.skip_nonfinite and not bool(torch.isfinite(loss)):
                    self.skipped_batches += 1
                    continue
                self.scaler.scale(loss * grad_scale / self.accumulate).backward()
                bad = (self._first_bad < 0) & ~torch.isfinite(loss.detach())
                self._first_bad = torch.where(bad, self.step, self._first_bad)  # no host sync
                totals += torch.stack([per_sample.detach().double().sum(), totals.new_tensor(x.shape[0])])
                n_batches, pending = n_batches + 1, True
                self.samples_seen += x.shape[0]
                if n_batches % self.accumulate == 0:
                    self._optimizer_step()
                    steps, pending = steps + 1, False
                    if max_steps is not None and steps >= max_steps:
                        break
            if pending:
                self._optimizer_step()
                steps += 1
        finally:
            for group, lr in zip(self.optimizer.param_groups, saved_lrs):
                group["lr"] = lr
            if saved_state is not None:
                self.optimizer.state.clear()
                self.optimizer.state.update(saved_state)
            self.model.train(was_training)
        self.check_finite()
        samples = int(totals[1])
        if self.distributed:
            torch.distributed.all_reduce(totals)
        return {"steps": steps, "batches": n_batches, "samples": samples,
                "loss": float(totals[0] / totals[1].clamp_min(1))}

    def _timed(self, batches: Iterator[tuple[Tensor, Tensor]]) -> Iterator[tuple[Tensor, Tensor]]:
        """Yield batches, adding the time spent waiting for each to ``self.data_time``."""
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            self.data_time += time.perf_counter() - t0
            yield batch

    def _wrap(self, model: nn.Module) -> nn.Module:
        """What training calls: the model, in DDP when distributed, compiled when asked (evaluation and
        prediction run the plain model, so switching to eval mode never recompiles)."""
        net = model
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        return torch.compile(net) if self.compile else net

    def set_model(self, model: nn.Module) -> None:
        """Replace the model (e.g. after a function-preserving transform); rebuild the optimizer separately."""
        self.model = model.to(self.device)
        self.net = self._wrap(self.model)

    def check_finite(self) -> None:
        """Raise TrainingError if any loss so far was NaN or infinite (one host sync)."""
        bad_step = int(self._first_bad)
        if bad_step >= 0:
            raise TrainingError(f"the training loss became NaN or infinite at step {bad_step} (epoch {self.epoch + 1}, counting optimizer steps from 0);"
                                " the last good checkpoint is kept. Lower optim.lr, set train.grad_clip, or check"
                                " the data for bad values.")

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, split: str | BatchLoader = "valid") -> dict[str, Any]:
        """Metrics of the current model on a split ("train", "valid", "test") or any loader."""
        loader = self.data.split(split) if isinstance(split, str) else split
        if self.distributed:
            broadcast_buffers(self.model)
        was_training = self.model.training
        self.model.eval()
        metrics = self.task.metrics().to(self.device)
        for x, y in loader.batches(0):
            with self.autocast():
                out = self.task.forward(self.model, x, y)
                per_sample = self.task.loss(out, y)
            metrics.update(out, y, per_sample)
        self.model.train(was_training)
        return metrics.compute()

    @torch.no_grad()
    def predict(self, inputs: Tensor | str | BatchLoader) -> Tensor:
        """Model outputs (e.g. logits) for a tensor of normalized inputs, a split name or a loader."""
        self.model.eval()
        if isinstance(inputs, Tensor):
            with self.autocast():
                return self.model(inputs.to(self.device)).float()
        loader = self.data.split(inputs) if isinstance(inputs, str) else inputs
        outs = []
        for x, _ in loader.batches(0):
            with self.autocast():
                outs.append(self.model(x).float())
        return torch.cat(outs)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly; plain data and tensors only (weights_only-loadable)."""
        from .. import __version__

        return {
            "format": 1, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(), "epoch": self.epoch, "batch_idx": self.batch_idx,
            "step": self.step, "rng": rng_state(), "history": self.history.rows,
            "train_metrics": self._metric_state() if self.batch_idx else None,
            "skipped_batches": self.skipped_batches, "samples_seen": self.samples_seen,
            "class_names": list(self.data.class_names), "callbacks": self.callbacks.state_dict(),
            "config": self.config, "versions": {"torch": str(torch.__version__), "trainlab": __version__},
        }

    def load_state_dict(self, state: dict[str, Any], *, weights_only: bool = False) -> None:
        """Restore a checkpoint's state (``weights_only=True``: the model weights alone)."""
        self.model.load_state_dict(state["model"])
        if weights_only:
            return
        self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.batch_idx, self.step = state["epoch"], state["batch_idx"], state["step"]
        self.history = History(state["history"], state.get("class_names"))
        self._resumed_metrics = state.get("train_metrics")
        self.skipped_batches = state.get("skipped_batches", 0)
        self.samples_seen = state.get("samples_seen", 0)
        self.callbacks.load_state_dict(state.get("callbacks", {}))
        set_rng_state(state["rng"])

    def _metric_state(self) -> dict[str, Tensor]:
        return {name: getattr(self.train_metrics, name).detach().clone() for name in self.train_metrics._defaults}

    def save(self, path: Path, *more: Path) -> None:
        """Write the full training state to ``path`` (and the same bytes to each of ``more``), atomically."""
        save_checkpoint(self.state_dict(), path, *more)

    def load(self, path: Path, *, weights_only: bool = False) -> Learner:
        self.load_state_dict(load_checkpoint(path, map_location=self.device), weights_only=weights_only)
        return self

    @classmethod
    def from_config(cls, cfg, exp_dir: Path | None = None, **kwargs: Any) -> Learner:
        """Wire data, model, optimizer, schedule and default callbacks from a :class:`Config`."""
        from .factory import learner_from_config

        return learner_from_config(cfg, exp_dir, **kwargs)

    @classmethod
    def from_checkpoint(cls, path: Path, exp_dir: Path | None = None, **kwargs: Any) -> Learner:
        """Rebuild a Learner from the config stored in a checkpoint and restore its full state."""
        from ..config import parse_config

        state = load_checkpoint(path)
        learner = cls.from_config(parse_config(state["config"], source=str(path)), exp_dir, **kwargs)
        learner.load_state_dict(state)
        return learner
