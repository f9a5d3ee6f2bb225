"""The Learner: the agent that owns a training session (model, data, optimizer, state, callbacks).

Example:
    >>> import torch
    >>> from trainlab.config import DataConfig
    >>> from trainlab.data import data_from_config
    >>> from trainlab.engine import Learner
    >>> data = data_from_config(DataConfig(name="synthetic", batch_size=32), seed=0)
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(256, 4))
    >>> learner = Learner(model, data, optimizer=torch.optim.Adam(model.parameters(), 1e-2))
    >>> learner.fit(2).loop.epoch
    2
"""
from __future__ import annotations

import contextlib
import copy
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..data import BatchLoader, DataBundle
from ..errors import TrainingError
from .callback import Callback, CallbackList
from .checkpoint import CHECKPOINT_HINT, load_checkpoint, save_checkpoint, serialize_checkpoint
from .distributed import broadcast_buffers
from .file_queue import FileQueue
from .history import History
from .loop_state import LoopState
from .metrics import empty_compute
from .restore import restore
from .rng import rng_state
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

    State a callback may read or change: ``loop`` (epoch, batch, step and sample counters), ``logs`` (this
    epoch's metrics), ``history``, ``loss`` (last batch loss, a tensor), ``did_step``, ``optimizer``,
    ``model``. Two flags end a run (``fit`` clears both when it starts):

    - ``should_stop = True`` ends the run: set during the training pass, the epoch stops at the next
      optimizer step (never inside an accumulation group) and counts as the run's last, short epoch; that
      epoch is validated (whatever ``eval_every`` says), recorded and checkpointed like any last epoch.
      Set later in the epoch (early stopping, in ``on_epoch_end``), the epoch completes as usual. A callback
      that ends runs sets it again in ``on_fit_start`` when its condition still holds, so a resumed run
      ends where the uninterrupted one did (a run resumed in a cut epoch finishes that epoch at once).
    - ``stop_now = True`` (with ``should_stop``; a signal sets both) leaves at once: the epoch in progress
      is neither validated nor counted, and the run resumes exactly there.

    ``objective``: None (train on the mean of the task's per-sample losses) or a function
    ``(output, target, per_sample_loss (B,)) -> (B,)`` whose mean every training step (epochs and
    :meth:`train_pass`) backpropagates instead, e.g. a focal or class-weighted loss set by a callback
    (:mod:`trainlab.losses`). Metrics and evaluation keep the task's own loss, so runs stay comparable.

    ``freeze_bn_stats``: BatchNorm layers whose affine parameters are all frozen run in eval mode while
    training, so they keep their running statistics (detectron2's frozen BatchNorm); False updates them.

    What validation, :meth:`evaluate` and :meth:`predict` run is :meth:`eval_module`: ``model``, unless a
    callback sets ``eval_model`` (weights it keeps apart, e.g. their moving average; ``eval_weights`` then names
    the callback whose checkpoint state holds them under "weights", so a checkpoint's reader evaluates those
    too) and ``eval_wrap`` (a function module -> module applied at each evaluation, e.g. test-time augmentation).
    Such callbacks say what they changed in ``eval_notes`` (e.g. {"weights": "ema", "tta": "flip"}): every
    validated epoch's history row and the metrics files record it.
    ``batch`` is the training batch (x, y) a step is about to run: ``on_train_batch_start`` may replace it.

    ``optimizer=None`` builds a Learner that evaluates and predicts only (checkpoint readers: ``evaluate``,
    ``viz``, ``predict``, ...; building an optimizer costs a second of imports): ``fit``, ``train_pass`` and
    ``state_dict`` refuse.
    """

    def __init__(self, model: nn.Module, data: DataBundle, *, optimizer: torch.optim.Optimizer | None,
                 task: Task | None = None, callbacks: Iterable[Callback] = (), device: str | torch.device = "cpu",
                 precision: str = "32", accumulate: int = 1, eval_every: int = 1, channels_last: bool = False,
                 skip_nonfinite: bool = False, distributed: bool = False, sync_batchnorm: bool = False,
                 compile: bool = False, freeze_bn_stats: bool = True, config: dict[str, Any] | None = None,
                 exp_dir: Path | None = None) -> None:
        self.device = torch.device(device)
        if distributed and sync_batchnorm:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.distributed, self.compile, self.channels_last = distributed, compile, channels_last
        self.set_model(model)
        self.data, self.optimizer = data, optimizer
        self.task = task or ClassificationTask(data.num_classes)
        self.precision, self.accumulate, self.eval_every = precision, accumulate, eval_every
        self.skip_nonfinite, self.freeze_bn_stats = skip_nonfinite, freeze_bn_stats
        self.config, self.exp_dir = config or {}, Path(exp_dir) if exp_dir else None
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "16")
        self.loop = LoopState()
        self.epochs = 0  # the epoch count the current fit runs to
        self.history = History(class_names=data.class_names)
        self.logs: dict[str, Any] = {}
        self.should_stop, self.stop_now, self.stop_reason = False, False, ""
        self.world_size = torch.distributed.get_world_size() if distributed else 1
        self.batches_per_epoch = len(data.train)
        self.loss: Tensor | None = None
        self.objective: Callable[[Any, Any, Tensor], Tensor] | None = None  # see the class docstring
        self.did_step = False
        self.batch: tuple[Tensor, Any] | None = None  # see the class docstring
        self.eval_model: nn.Module | None = None
        self.eval_weights: str | None = None
        self.eval_wrap: Callable[[nn.Module], nn.Module] | None = None
        self.eval_notes: dict[str, str] = {}
        self._micro = 0  # batches since the last optimizer step
        self._pending = False  # gradients accumulated and not stepped yet
        self.train_metrics = None  # this epoch's, built when it starts
        self._resumed_metrics: dict[str, Tensor] | None = None  # train metrics of a half-done epoch
        self._first_bad = torch.full((), -1, dtype=torch.long, device=self.device)  # first non-finite step
        self.files = FileQueue()  # checkpoints and epoch files, written in order off the training thread
        self.callbacks = CallbackList(list(callbacks))
        self.callbacks("on_setup", self)

    # ------------------------------------------------------------------ the loop
    def fit(self, epochs: int) -> Learner:
        """Train until ``epochs`` epochs are complete (counting epochs already done when resumed), or until a
        callback sets ``should_stop`` (see the class docstring)."""
        self._needs_optimizer("fit")
        self.epochs, self.should_stop, self.stop_now, self.stop_reason = epochs, False, False, ""
        self.files.reset()  # a write failure of an earlier fit was reported there
        if not any(p.requires_grad for p in self.model.parameters()):
            raise TrainingError("the model has no trainable parameters (every parameter is frozen); "
                                "change model.freeze.")
        try:
            self.callbacks("on_fit_start", self)
            # a stop request ends the run at an epoch boundary; a cut epoch (resumed mid-way) is finished first
            while self.loop.epoch < self.epochs and (self.loop.batch or not self.should_stop):
                self._train_epoch()
                if self.stop_now:
                    break
                if self._validates():
                    self.logs.update(flatten_metrics("valid", self.evaluate("valid")), **self.eval_notes)
                    self.callbacks("on_validation_end", self)
                self._end_epoch()
        except BaseException as error:
            self._fail(error)
            raise
        self.callbacks("on_fit_end", self)
        self.files.flush()  # fit returns once every file it queued is on disk
        return self

    def _validates(self) -> bool:
        """Whether the epoch just trained validates: every ``eval_every``-th, the last, and the one a
        ``should_stop`` ends (the run's final epoch)."""
        done = self.loop.epoch + 1
        return done % self.eval_every == 0 or done == self.epochs or self.should_stop

    def _fail(self, error: BaseException) -> None:
        """``fit`` is failing with ``error``: every callback's on_exception runs, then the files of the epochs
        that went well reach the disk; what fails on the way is logged, and ``error`` stays the one raised."""
        self.callbacks.run_all("on_exception", self, error)
        try:
            self.files.flush()
        except Exception as write_error:
            if write_error is not error:  # the queue's own failure is often the error being raised
                log.error("while stopping on %s, a file could not be written: %s", type(error).__name__,
                          write_error)

    def _train_epoch(self) -> None:
        self._train_mode()
        self.logs, self._epoch_start, self.data_time = {}, time.perf_counter(), 0.0
        self.train_metrics = self.task.metrics().to(self.device)
        if self._resumed_metrics is not None:  # resumed mid-epoch: keep counting where the run stopped
            self.train_metrics.load_states(self._resumed_metrics)
            self._resumed_metrics = None
        self.batches_per_epoch = len(self.data.train)
        self.callbacks("on_epoch_start", self)
        for x, y in self._timed(self.data.train.batches(self.loop.epoch, start=self.loop.batch)):
            if self.should_stop and self._micro == 0:  # stop between optimizer steps, never inside a group
                break
            self.train_step(x, y)
        self.check_finite()
        if self.stop_now:  # leaving at once: the epoch's metrics are computed when it is resumed and ends
            return
        self.logs.update(flatten_metrics("train", self.train_metrics.sync().compute()))
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.logs["lr"] = lrs[0]
        if len(lrs) > 1:
            self.logs["lr_groups"] = lrs
        self.logs["data_time"] = self.data_time
        if self.skip_nonfinite:
            self.logs["skipped_batches"] = self.loop.skipped_batches

    def _end_epoch(self) -> None:
        """Count the epoch, let callbacks add to its logs, freeze its history row, let callbacks write it out."""
        self.loop.epoch, self.loop.batch = self.loop.epoch + 1, 0
        self.logs.update(epoch=self.loop.epoch, step=self.loop.step, time=time.perf_counter() - self._epoch_start)
        self.callbacks("on_epoch_end", self)
        self.history.append({k: v for k, v in self.logs.items() if not k.endswith("confusion_matrix")})
        self.callbacks("on_epoch_recorded", self)

    def train_step(self, x: Tensor, y: Any) -> None:
        """One batch of the epoch's training pass: its hooks, :meth:`_step`, the epoch's train metrics.

        ``on_train_batch_start`` sees (x, y) as ``self.batch`` (``loop.batch`` is still this batch's index in
        the epoch) and may replace it, e.g. by a mixed batch with soft targets (B, C).
        """
        self.batch = x, y
        self.callbacks("on_train_batch_start", self)
        x, y = self.batch
        self.batch = None  # no reference to the batch's tensors outlives the step
        self.loop.batch += 1
        result = self._step(x, y, last=self.loop.batch == self.batches_per_epoch)
        if result is not None:
            out, per_sample = result
            with torch.no_grad():
                self.train_metrics.update(out, y, per_sample.detach())
        self.callbacks("on_train_batch_end", self)

    def _step(self, x: Tensor, y: Any, *, last: bool, loss_scale: float = 1.0) -> tuple[Any, Tensor] | None:
        """The one training step every pass uses (the epoch's and :meth:`train_pass`'s).

        Forward and per-sample loss under the run's precision, then the mean of :attr:`objective`'s
        per-sample terms (default: the losses themselves); a non-finite loss skips the batch
        (``skip_nonfinite``, one host sync) or sets the NaN flag (no sync); backward of
        ``loss × loss_scale / accumulate``; an optimizer step once ``accumulate`` batches are in, or on a
        pass's ``last`` batch, over whatever gradients the group holds. Skipped batches count toward the
        group, so a group of skipped batches steps on the others' gradients and none leak past a pass.
        Returns (output, per-sample loss), or None for a skipped batch.
        """
        out, per_sample = self._forward(x, y)
        loss = (per_sample if self.objective is None else self.objective(out, y, per_sample)).mean()
        result = None
        if self.skip_nonfinite and not bool(torch.isfinite(loss)):
            self.loop.skipped_batches += 1
            log.warning("skipped a batch at step %d (%s): non-finite loss", self.loop.step,
                        self.loop.describe(self.batches_per_epoch))
        else:
            self.scaler.scale(loss * loss_scale / self.accumulate).backward()
            self.loss = loss.detach()
            bad = (self._first_bad < 0) & ~torch.isfinite(self.loss)
            self._first_bad = torch.where(bad, self.loop.step, self._first_bad)  # no host sync
            self.loop.samples += x.shape[0]
            self._pending = True
            result = out, per_sample
        self._micro += 1
        self.did_step = False
        if self._micro == self.accumulate or last:
            self._flush()
        return result

    def _flush(self) -> None:
        """End the accumulation group: step on its gradients, if any (unscale, hooks, step, zero)."""
        self._micro = 0
        if not self._pending:
            return
        self.scaler.unscale_(self.optimizer)
        self.callbacks("on_before_optimizer_step", self)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.loop.step += 1
        self._pending, self.did_step = False, True
        self.callbacks("on_after_optimizer_step", self)

    def _forward(self, x: Tensor, y: Any) -> tuple[Any, Tensor]:
        """Outputs and per-sample losses (B,) of the training net under the run's precision."""
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast():
            out = self.task.forward(self.net, x, y)
            per_sample = self.task.loss(out, y)  # (B,)
        return out, per_sample

    def train_pass(self, batches: BatchLoader | Iterable[tuple[Tensor, Any]], *, epoch: int = 0,
                   max_steps: int | None = None, lr_scale: float = 1.0, grad_scale: float = 1.0,
                   freeze_norm: bool = False, restore_optimizer_state: bool = False) -> dict[str, float]:
        """An extra training pass beside the epoch's normal one (e.g. Focus Learning's pass on a few classes).

        ``batches`` is a loader (its order of ``epoch`` is used) or any iterable of (x, y) batches; the pass
        stops when it runs out or after ``max_steps`` optimizer steps. Its batches go through the same
        :meth:`_step` as the epoch's (precision, grad scaler, ``accumulate``, non-finite handling, a final
        step on leftover gradients), under these rules:

        - ``lr_scale`` multiplies every param group's lr for these steps only; the exact previous values are put
          back afterwards, also on error (under Adam this is the meaningful "smaller step").
          ``grad_scale`` multiplies the loss, hence every gradient before clipping (the original "penalty";
          under Adam a constant gradient scale is nearly a no-op).
        - ``freeze_norm`` runs BatchNorm layers in eval mode for the pass: they normalize with, and keep, their
          running statistics (a pass over a biased subset, e.g. two classes, would otherwise overwrite the
          statistics the whole data needs).
        - ``restore_optimizer_state`` puts the optimizer's state (momentum, Adam moments, step counts) back
          after the pass: its steps move the weights but leave no trace in the state the normal steps use.
        - Only ``on_before_optimizer_step`` hooks fire (gradient clipping applies). Per-batch hooks of the
          normal pass (progress bar, step checkpoints, per-step schedules, FLOPs budget) do not, so no
          checkpoint is written mid-pass and schedules keep their length; a stop request lets the pass finish.
        - ``loop.step`` and ``loop.samples`` grow (real steps, real compute); ``loop.batch``, the epoch's train
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
        self._needs_optimizer("train_pass")
        if isinstance(batches, BatchLoader):
            batches = batches.batches(epoch)
        saved_lrs = [group["lr"] for group in self.optimizer.param_groups]
        saved_state = ({param: {k: v.clone() if isinstance(v, Tensor) else copy.deepcopy(v) for k, v in state.items()}
                        for param, state in self.optimizer.state.items()} if restore_optimizer_state else None)
        was_training = self.model.training
        totals = torch.zeros(2, dtype=torch.float64, device=self.device)  # (loss sum, samples)
        n_batches, first_step = 0, self.loop.step
        try:
            for group, lr in zip(self.optimizer.param_groups, saved_lrs):
                group["lr"] = lr * lr_scale
            self._train_mode(freeze_norm=freeze_norm)
            for x, y in batches:
                if max_steps is not None and self.loop.step - first_step >= max_steps:
                    break
                result = self._step(x, y, last=False, loss_scale=grad_scale)
                if result is not None:
                    per_sample = result[1].detach()
                    totals += torch.stack([per_sample.double().sum(), totals.new_tensor(x.shape[0])])
                    n_batches += 1
            self._flush()
        finally:
            for group, lr in zip(self.optimizer.param_groups, saved_lrs):
                group["lr"] = lr
            if saved_state is not None:
                self.optimizer.state.clear()
                self.optimizer.state.update(saved_state)
            self._train_mode(was_training)
        self.check_finite()
        samples = int(totals[1])
        if self.distributed:
            torch.distributed.all_reduce(totals)
        return {"steps": self.loop.step - first_step, "batches": n_batches, "samples": samples,
                "loss": float(totals[0] / totals[1].clamp_min(1))}

    def _timed(self, batches: Iterator[tuple[Tensor, Any]]) -> Iterator[tuple[Tensor, Any]]:
        """Yield batches, adding the time spent waiting for each to ``self.data_time``."""
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            self.data_time += time.perf_counter() - t0
            yield batch

    def set_model(self, model: nn.Module) -> None:
        """Replace the model (e.g. after a function-preserving transform); rebuild the optimizer separately.

        ``model`` is the unwrapped module (saved, evaluated, transformed); ``net`` is what training calls: the
        model, in DistributedDataParallel when distributed, compiled when asked (evaluation and prediction
        run the plain model, so switching to eval mode never recompiles).
        """
        self.model = model.to(self.device)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        net = self.model
        if self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        self.net = torch.compile(net) if self.compile else net

    def _train_mode(self, training: bool = True, *, freeze_norm: bool = False) -> None:
        """``model.train(training)``, keeping BatchNorm layers in eval mode where they must not learn their
        statistics: all of them with ``freeze_norm``, the frozen ones with ``freeze_bn_stats``."""
        self.model.train(training)
        if not training:
            return
        for module in self.model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and (freeze_norm or (
                    self.freeze_bn_stats and module.affine and not any(p.requires_grad for p in module.parameters()))):
                module.eval()

    def check_finite(self, *, weights: bool = False) -> None:
        """Raise TrainingError if any loss so far was NaN or infinite, or (``weights``) the model's weights or
        buffers are (one host sync either way)."""
        flags = self._first_bad
        if weights:
            tensors = [t for t in self.model.state_dict().values() if t.is_floating_point()]
            finite = torch.stack([torch.isfinite(t).all() for t in tensors]).all() if tensors else True
            flags = torch.stack([self._first_bad, (~torch.as_tensor(finite, device=self.device)).long()])
        bad_step, *bad_weights = flags.view(-1).tolist()
        if bad_weights and bad_weights[0] and bad_step < 0:
            raise TrainingError(f"the model's weights became NaN or infinite by step {self.loop.step} "
                                f"({self.loop.describe(self.batches_per_epoch)}) although the loss was finite; no "
                                "checkpoint is written from them and the last good one is kept. Lower optim.lr, "
                                "set train.grad_clip, or check the data for bad values.")
        if bad_step >= 0:
            raise TrainingError(f"the training loss became NaN or infinite at step {bad_step} "
                                f"({self.loop.describe(self.batches_per_epoch)}, counting optimizer steps from 0);"
                                " the last good checkpoint is kept. Lower optim.lr, set train.grad_clip, or check"
                                " the data for bad values.")

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def metric_names(self) -> list[str]:
        """The scalar metrics a run records, e.g. ["train.accuracy", "train.loss", "valid.accuracy", ...]."""

        empty = empty_compute(self.task.metrics())
        scalars = [k for k, v in empty.items() if isinstance(v, float | int)]
        return sorted(f"{split}.{k}" for split in ("train", "valid") for k in scalars)

    # ------------------------------------------------------------------ evaluation
    def eval_module(self) -> nn.Module:
        """What validation, :meth:`evaluate` and :meth:`predict` run: ``eval_model`` when a callback set one,
        else ``model``; wrapped by ``eval_wrap`` when set.

        Example:
            >>> learner.eval_module() is learner.model  # no callback changes evaluation  # doctest: +SKIP
            True
        """
        module = self.eval_model if self.eval_model is not None else self.model
        return self.eval_wrap(module) if self.eval_wrap is not None else module

    @torch.no_grad()
    def evaluate(self, split: str | BatchLoader = "valid") -> dict[str, Any]:
        """Metrics of :meth:`eval_module` on a split ("train", "valid", "test") or any loader."""
        loader = self.data.split(split) if isinstance(split, str) else split
        module = self.eval_module()
        if self.distributed:  # every rank evaluates rank 0's BatchNorm statistics
            broadcast_buffers(module)
        was_training = self.model.training
        self.model.eval()
        module.eval()
        metrics = self.task.metrics().to(self.device)
        for x, y in loader.batches(0):
            with self.autocast():
                out = self.task.forward(module, x, y)
                per_sample = self.task.loss(out, y)
            metrics.update(out, y, per_sample)
        self._train_mode(was_training)
        return metrics.sync().compute()

    @torch.no_grad()
    def predict(self, inputs: Tensor | str | BatchLoader) -> Tensor:
        """Outputs (e.g. logits) of :meth:`eval_module` for a tensor of normalized inputs, a split name or a
        loader."""
        module = self.eval_module()
        self.model.eval()
        module.eval()
        if isinstance(inputs, Tensor):
            with self.autocast():
                return module(inputs.to(self.device)).float()
        loader = self.data.split(inputs) if isinstance(inputs, str) else inputs
        outs = []
        for x, _ in loader.batches(0):
            with self.autocast():
                outs.append(module(x).float())
        return torch.cat(outs)

    # ------------------------------------------------------------------ state
    def _needs_optimizer(self, what: str) -> None:
        if self.optimizer is None:
            raise TrainingError(f"Learner.{what} needs an optimizer; this Learner was built to evaluate only "
                                "(optimizer=None, e.g. by learner_for_checkpoint).")

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly; plain data and tensors only (weights_only-loadable)."""
        from .. import __version__

        self._needs_optimizer("state_dict")
        return {
            "format": 2, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(), "loop": self.loop.state_dict(), "rng": rng_state(),
            "history": self.history.rows, "train_metrics": self._metric_state() if self.loop.batch else None,
            "class_names": list(self.data.class_names), "splits": self.data.fingerprints,
            "callbacks": self.callbacks.state_dict(),
            "config": self.config, "versions": {"torch": str(torch.__version__), "trainlab": __version__},
            "eval_weights": self.eval_weights,
        }

    def load_state_dict(self, state: dict[str, Any], *, weights_only: bool = False, keep_settings: bool = False,
                        source: str = "the checkpoint") -> None:
        """Restore a checkpoint's state (``weights_only=True``: the model weights alone).

        Every part is checked against this Learner first (:mod:`trainlab.engine.restore`): a state that does
        not fit raises :class:`CheckpointError` naming ``source`` and leaves the Learner as it was.
        ``keep_settings``: the params changed since the checkpoint (``--resume --force``): the optimizer keeps
        this Learner's hyperparameters (lr, betas, ...), and callbacks that declare
        ``restarts_on_new_settings`` (the schedule, built for the new settings) move to the checkpoint's step
        instead of restoring their old state.
        """
        restore(self, state, weights_only=weights_only, keep_settings=keep_settings, source=source)

    def _metric_state(self) -> dict[str, Tensor] | None:
        """The half-done epoch's train metrics: still those a mid-epoch checkpoint restored, until it trains."""
        if self._resumed_metrics is not None:
            return {name: value.detach().clone() for name, value in self._resumed_metrics.items()}
        if self.train_metrics is None:
            return None
        return {name: value.detach().clone() for name, value in self.train_metrics.states().items()}

    def save(self, path: Path, *more: Path, background: bool = False) -> None:
        """Write the full training state to ``path`` (and the same bytes to each of ``more``), atomically.

        Never from a state that went bad: a NaN/inf loss so far or NaN/inf weights raise
        :class:`TrainingError` and the previous files stay (one host sync per save, none per step).
        ``background=True`` serializes the state now and leaves the writing to :attr:`files` (in order with
        the other files queued there; ``fit`` flushes them before it returns). Otherwise the files are on
        disk when ``save`` returns.
        """
        self.check_finite(weights=True)
        if background:
            data = serialize_checkpoint(self.state_dict())
            for target in (path, *more):
                self.files.submit(target, data, hint=CHECKPOINT_HINT)
            return
        self.files.flush()  # anything queued earlier must not land after (and over) this state
        save_checkpoint(self.state_dict(), path, *more)

    def load(self, path: Path, *, weights_only: bool = False) -> Learner:
        self.load_state_dict(load_checkpoint(path, map_location=self.device), weights_only=weights_only,
                             source=str(path))
        return self
