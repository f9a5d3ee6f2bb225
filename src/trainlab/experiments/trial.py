"""One search trial: a child experiment folder trained like ``trainlab train``, reported to optuna.

The child's ``params.json`` is the search folder's params (without the ``search`` block) with the
trial's values set, so ``trainlab train CHILD --resume`` works on it by hand. ``trial.json`` records the
trial's number, values, state (running, complete, pruned, failed, interrupted), value and error.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import parse_config
from ..engine import Callback
from ..engine.monitor import check_monitor, monitored
from ..files import atomic_write_text
from ..runs import evaluate_checkpoint, run_experiment, write_params
from .space import SearchSpace
from .storage import HEARTBEAT_S

log = logging.getLogger("trainlab")


class PruningReporter(Callback):
    """Reports ``metric`` to an optuna trial after every validation (step = epochs completed) and, when the
    study's pruner says the trial is unpromising, stops the run through ``learner.should_stop``.

    Example:
        >>> import optuna
        >>> study = optuna.create_study(direction="maximize")
        >>> reporter = PruningReporter(study.ask(), "valid.accuracy")  # Learner(..., callbacks=[reporter])
    """

    def __init__(self, trial, metric: str) -> None:
        self.trial, self.metric = trial, metric
        self.pruned_at: int | None = None
        self.reported: list[tuple[int, float]] = []

    def on_setup(self, learner) -> None:
        check_monitor(learner, self.metric, "search.monitor")

    def on_validation_end(self, learner) -> None:
        value = monitored(learner.logs, self.metric)
        if value is None:
            return
        step = learner.loop.epoch + 1  # loop.epoch counts epochs completed before this one
        self.trial.report(value, step)
        self.reported.append((step, value))
        if self.trial.should_prune():
            self.pruned_at = step
            learner.should_stop = True
            learner.stop_reason = f"pruned after epoch {step}: {self.metric} {value:.4f} is unpromising"


@contextlib.contextmanager
def heartbeat(trial, enabled: bool, interval: float = HEARTBEAT_S) -> Iterator[None]:
    """While inside, refresh the trial's ``heartbeat`` user attribute every ``interval`` seconds, so that
    workers on other machines can tell a running trial from one whose worker died."""
    if not enabled:
        yield
        return
    done = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat is harmless; the next one may succeed
                trial.set_user_attr("heartbeat", time.time())
            if done.wait(interval):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@dataclass
class SearchContext:
    """What every trial of one search needs (built by the coordinator, rebuilt in each worker)."""

    parent: Path
    base: dict[str, Any]  # the search folder's params without the search block
    space: SearchSpace
    sampler: str
    metric: str
    mode: str
    remote: bool = False
    test: bool = False


@dataclass
class TrialResult:
    number: int
    folder: str
    state: str  # complete | pruned | failed | interrupted
    value: float | None = None
    error: str | None = None


def _write_info(child: Path, info: dict[str, Any]) -> None:
    atomic_write_text(child / "trial.json", json.dumps(info, indent=1, default=str))


def run_trial(study, trial, ctx: SearchContext) -> TrialResult:
    """Train the child folder of ``trial`` and tell the study how it ended (complete, pruned or failed).

    A trial stopped by a signal is told FAIL with the user attribute ``interrupted`` (a later run of the
    search trains it again, resuming its ``last.pt``); any other exception is recorded as the trial's
    ``error`` and the search goes on.
    """
    from optuna.trial import TrialState

    values = ctx.space.decode(trial.params)
    numbered = ctx.sampler != "grid" or not ctx.space.name_is_unique(values)  # one folder per trial, always
    folder = trial.user_attrs.get("folder") or ctx.space.folder_name(values, trial.number if numbered else None)
    trial.set_user_attr("folder", folder)
    child = ctx.parent / folder
    raw = ctx.space.apply(ctx.base, values)
    write_params(child, raw)
    info: dict[str, Any] = {"number": trial.number, "params": values, "state": "running", "pid": os.getpid(),
                            "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "metric": ctx.metric}
    _write_info(child, info)
    t0 = time.perf_counter()
    log.info("trial %d (%s) started", trial.number, folder)

    def finish(state: str, value: float | None = None, error: str | None = None) -> TrialResult:
        info.update(state=state, value=value, error=error, seconds=round(time.perf_counter() - t0, 1),
                    finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        _write_info(child, info)
        shown = f"{ctx.metric} {value:.4f}" if value is not None else (error or "")
        log.info("trial %d (%s) %s %s", trial.number, folder, state, shown)
        return TrialResult(trial.number, folder, state, value, error)

    reporter = PruningReporter(trial, ctx.metric)
    try:
        cfg = parse_config(raw, source=str(child / "params.json"))
        with heartbeat(trial, ctx.remote):
            outcome = run_experiment(child, cfg, existing="continue", callbacks=[reporter],
                                     extra={"search": {"trial": trial.number, "params": values}})
        if outcome.interrupted:
            trial.set_user_attr("interrupted", True)
            study.tell(trial, state=TrialState.FAIL)
            return finish("interrupted", error="stopped by a signal; run the search again to finish it")
        best = outcome.learner.history.best(ctx.metric, "min" if ctx.mode == "min" else "max")
        value = float(best[ctx.metric])
        if ctx.test:
            evaluate_checkpoint(child / "checkpoints" / "best.pt", child, split="test")
    except Exception as e:  # the search goes on; the error stays in the study and in trial.json
        error = f"{type(e).__name__}: {e}"
        with contextlib.suppress(Exception):
            trial.set_user_attr("error", error[:1000])
        study.tell(trial, state=TrialState.FAIL)
        log.warning("trial %d (%s) failed: %s", trial.number, folder, error)
        return finish("failed", error=error)
    except BaseException:  # KeyboardInterrupt, SystemExit: leave the trial for the next run to finish
        with contextlib.suppress(Exception):
            trial.set_user_attr("interrupted", True)
            study.tell(trial, state=TrialState.FAIL)
        finish("interrupted", error="interrupted")
        raise
    if reporter.pruned_at is not None:
        study.tell(trial, state=TrialState.PRUNED)
        return finish("pruned", value)
    if math.isnan(value):
        study.tell(trial, state=TrialState.FAIL)
        return finish("failed", error=f"{ctx.metric} is NaN")
    study.tell(trial, value)
    return finish("complete", value)
