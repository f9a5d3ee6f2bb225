"""FocusCallback: runs a focus strategy inside the Learner through its hooks and ``train_pass``.

Per epoch, with ``order="after"`` (the original method): the normal pass -> validation -> if it is time,
pick classes on that validation, run :meth:`Learner.train_pass` over their training samples, validate
again; the epoch's ``valid.*`` metrics are then the post-focus ones (the model the epoch ends with, which
``best.pt`` and early stopping judge). With ``order="before"`` (reversed) the focus pass opens the epoch,
ranking classes on the previous epoch's validation (a fresh one at epoch 1).

Focus ranks classes on a validation, so it decides only where one is: with ``train.eval_every`` N > 1,
``order="after"`` decides on the validated epochs (N, 2N, ... and the last) and ``order="before"`` at the
start of the epoch after each of them (and of epoch 1); the ``when`` policy is asked on those epochs only
(``always`` means every validated epoch). An epoch that ends the run early (``should_stop`` mid-epoch, e.g.
a FLOPs budget) gets no focus pass: it would train past the stop.

History keys, on every epoch that took a decision: ``focus.steps`` (0 = no focus), ``focus.classes``,
``focus.samples``, ``focus.loss`` (sample-weighted mean over the pass), ``focus.time``,
``focus.per_class.samples`` (C,), ``focus.pre.*`` (the validation that chose the classes) and ``focus.post.*``
(the validation right after the focus pass); the soft variant adds ``focus.per_class.probability``.

Selection-bias studies (Python only): ``FocusCallback(strategy, choose_on="test")`` ranks the classes on the
test split, as the original study did. Every test number of such a run is biased; no params file can ask
for it (``focus.split`` accepts only "valid"), and the run logs a warning. Benchmarks use it to measure how
much of a reported gain comes from choosing on the split that is reported.

Resume: the decision of the epoch in progress and the strategy's RNG are in the callback's state; no
checkpoint is written during a focus pass (``train_pass`` fires no per-batch hooks), so a run killed
mid-focus resumes from a checkpoint taken before the pass and repeats it exactly.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..engine.callback import Callback
from ..engine.history import History
from ..engine.learner import flatten_metrics
from ..engine.metrics import empty_compute
from ..engine.monitor import check_monitor
from ..errors import ConfigError
from .strategies import FocusLearning

log = logging.getLogger(__name__)

RECORDED = ("loss", "accuracy", "per_class.accuracy", "per_class.loss")  # kept as focus.pre.* / focus.post.*


def _count_labels(batches: Iterable[tuple[Tensor, Tensor]], counts: Tensor) -> Iterator[tuple[Tensor, Tensor]]:
    """Pass batches through, adding each batch's labels to ``counts`` (C,) on the device (no host sync)."""
    for x, y in batches:
        counts += torch.bincount(y, minlength=len(counts))
        yield x, y


class FocusCallback(Callback):
    """Adds a strategy's focus pass to every epoch it chooses (see the module docstring for the rules).

    Example:
        >>> from trainlab.focus import FocusLearning
        >>> cb = FocusCallback(FocusLearning(k=2, rank_by="loss"))
        >>> learner = Learner(model, data, optimizer=opt, callbacks=[cb]).fit(3)  # doctest: +SKIP
        >>> learner.history.rows[-1]["focus.classes"]  # doctest: +SKIP
        [6, 2]
    """

    def __init__(self, strategy: FocusLearning, *, plot_path: Path | None = None, choose_on: str = "valid") -> None:
        if choose_on not in ("valid", "test"):
            raise ConfigError(f"FocusCallback choose_on {choose_on!r}; allowed: 'valid' (or 'test', for "
                              "selection-bias studies only).")
        self.strategy = strategy
        self.plot_path = Path(plot_path) if plot_path else None
        self.choose_on = choose_on  # the split that ranks the classes
        self.done_epoch = 0  # the last epoch (1-based) whose focus decision was taken
        self.record: dict[str, Any] = {}  # that decision's history entries

    # ------------------------------------------------------------------ hooks
    def on_setup(self, learner) -> None:
        if learner.data.train.labels is None:  # detection boxes, text lines: no class to pick samples by
            raise ConfigError(f"focus needs one class per training sample to train on the worst classes' samples;"
                              f" this run's task ({type(learner.task).__name__}) has none. Remove the focus "
                              "section, or use a classification dataset.")
        per_class = empty_compute(learner.task.metrics()).get("per_class", {})
        if self.strategy.rank_by not in per_class:
            raise ConfigError(f"focus.rank_by {self.strategy.rank_by!r} is not a per-class metric of this task; "
                              f"allowed: {', '.join(k for k in per_class if k != 'support') or 'none'}.")
        watched = getattr(self.strategy.when, "monitor", None)  # the plateau policy watches a metric
        if watched is not None:
            check_monitor(learner, watched, "focus.when.plateau.monitor")
        if learner.eval_every > 1:
            log.info("focus decides on validated epochs only (train.eval_every=%d); see docs/focus.md",
                     learner.eval_every)
        if self.choose_on == "test":
            learner.data.split("test")  # raises when the data has no test split
            log.warning("focus chooses its classes on the TEST split: every test number of this run is biased "
                        "(for selection-bias studies only)")

    def on_validation_end(self, learner) -> None:
        if self.strategy.order != "after" or learner.should_stop:  # the run ends here: no pass past the stop
            return
        current = dict(learner.logs)  # this epoch's validation, before focusing
        history = History([*learner.history.rows, current], learner.history.class_names)
        self._decide(learner, history, (lambda: current) if self.choose_on == "valid" else
                     (lambda: flatten_metrics("test", learner.evaluate("test"))))

    def on_epoch_start(self, learner) -> None:
        if self.strategy.order != "before":
            return
        if self.done_epoch == learner.loop.epoch + 1:  # resumed mid-epoch, after this epoch's focus pass
            learner.logs.update(self.record)
            return
        if learner.loop.batch:  # resumed mid-epoch from a checkpoint without focus state: never focus twice
            log.warning("focus: resumed in the middle of epoch %d without its focus decision; no focus pass",
                        learner.loop.epoch + 1)
            return
        if learner.history.rows and not any(k.startswith("valid.") for k in learner.history.rows[-1]):
            return  # the previous epoch did not validate (train.eval_every): nothing to rank classes on
        self._decide(learner, learner.history, (lambda: self._latest_validation(learner)) if self.choose_on == "valid"
                     else (lambda: flatten_metrics("test", learner.evaluate("test"))))

    def on_fit_end(self, learner) -> None:
        if self.plot_path is not None and any("focus.steps" in r for r in learner.history.rows):
            from .plot import plot_focus

            plot_focus(learner.history, self.plot_path)

    # ------------------------------------------------------------------ the focus step
    def _decide(self, learner, history: History, validation) -> None:
        epoch = learner.loop.epoch + 1
        self.done_epoch = epoch
        if not self.strategy.time_to_focus(history, epoch=epoch):
            self.record = {"focus.steps": 0, "focus.classes": []}
        else:
            self.record = self._focus(learner, epoch, validation())
        learner.logs.update(self.record)

    def _focus(self, learner, epoch: int, pre: dict[str, Any]) -> dict[str, Any]:
        """Focus on the classes ``pre`` ranks worst (``pre``: flat metrics of the ``choose_on`` split)."""
        chosen = f"{self.choose_on}."
        per_class = {k.removeprefix(f"{chosen}per_class."): v for k, v in pre.items() if k.startswith(f"{chosen}per_class.")}
        classes = self.strategy.pick_classes(per_class)
        counts = torch.zeros(learner.data.num_classes, dtype=torch.long, device=learner.device)  # (C,)
        start = time.perf_counter()
        batches = self.strategy.focus_batches(classes, train=learner.data.train, epoch=epoch - 1)
        result = learner.train_pass(_count_labels(batches, counts), **self.strategy.train_pass_args())
        post = flatten_metrics("valid", learner.evaluate("valid"))
        if self.strategy.order == "after":
            learner.logs.update(post)  # the epoch ends with the focused model
        if learner.distributed:
            torch.distributed.all_reduce(counts)
        names = learner.data.class_names
        log.info("focus at epoch %d on %s (chosen on %s): %d steps, focus loss %.4f, accuracy before %.4f (%s), "
                 "after %.4f (valid)", epoch, " + ".join(names[c] for c in classes), self.choose_on, result["steps"],
                 result["loss"], pre.get(f"{chosen}accuracy", float("nan")), self.choose_on, post["valid.accuracy"])
        record = {"focus.classes": list(classes), "focus.steps": result["steps"], "focus.loss": result["loss"],
                  "focus.samples": int(counts.sum()), "focus.time": time.perf_counter() - start,
                  "focus.per_class.samples": counts.tolist()}
        monitored = f"per_class.{self.strategy.rank_by}"
        for key in dict.fromkeys([*RECORDED, monitored]):
            if f"{chosen}{key}" in pre:
                record[f"focus.pre.{key}"] = pre[f"{chosen}{key}"]
            if f"valid.{key}" in post:
                record[f"focus.post.{key}"] = post[f"valid.{key}"]
        if self.choose_on != "valid":
            record["focus.chosen_on"] = self.choose_on  # focus.pre.* are then that split's metrics
        record.update(self.strategy.describe())
        return record

    @staticmethod
    def _latest_validation(learner) -> dict[str, Any]:
        """The current model's validation: the last row if it validated these weights, else a fresh one."""
        last = learner.history.rows[-1] if learner.history.rows else {}
        if last.get("epoch") == learner.loop.epoch and "valid.per_class.accuracy" in last:
            return last
        return flatten_metrics("valid", learner.evaluate("valid"))

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"done_epoch": self.done_epoch, "record": self.record, "strategy": self.strategy.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done_epoch, self.record = state["done_epoch"], dict(state["record"])
        self.strategy.load_state_dict(state["strategy"])
