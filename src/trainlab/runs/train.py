"""The one way to run an experiment folder, for ``trainlab train``, search trials, compare seeds and evolve members.

:func:`run_experiment` resolves what to do with a previous run, builds the Learner from the config (data,
model, optimizer, callbacks: every setting is checked here), only then archives the previous run when
starting over, logs to ``train.log``, writes ``params.resolved.json``, restores the checkpoint it resumes,
and fits. SIGINT/SIGTERM stop after the current optimizer step with ``last.pt`` written.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..config import Config, config_to_dict, diff_configs, fixed_keys
from ..engine import Callback, Learner
from ..engine.callbacks.signals import GracefulStop
from ..engine.checkpoint import checkpoint_config, load_checkpoint
from ..engine.distributed import shutdown_distributed
from ..engine.factory import learner_from_config
from ..errors import CheckpointError, ConfigError, TrainingError, listing
from ..files import check_writable, remove_temporaries
from .folder import archive_previous_run, has_run, run_log, write_resolved
from .lock import folder_lock

log = logging.getLogger("trainlab")
Existing = Literal["refuse", "resume", "restart", "continue"]


@dataclass
class RunOutcome:
    """What :func:`run_experiment` did: the Learner after ``fit``, the signal that stopped it (or None), and
    whether it continued a checkpoint."""

    learner: Learner
    signal: int | None
    resumed: bool

    @property
    def interrupted(self) -> bool:
        return self.signal is not None


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys that differ between two config dicts, ignoring how a run reports (``logging.*``)."""
    old = {k: v for k, v in old.items() if k != "_run"}
    new = {k: v for k, v in new.items() if k != "_run"}
    return [k for k in diff_configs(old, new) if not k.startswith("logging.")]


def _previous(folder: Path, cfg: Config, existing: Existing, force: bool) -> tuple[dict | None, bool, bool]:
    """(checkpoint state to resume or None, whether a previous run must be archived first, whether the state
    is resumed with changed settings)."""
    last = folder / "checkpoints" / "last.pt"
    if existing == "restart":
        return None, has_run(folder), False
    if existing == "refuse":
        if has_run(folder):
            raise ConfigError(f"{folder} already holds a run; pass --resume to continue it or --restart to start over "
                              "(the old files are moved to EXP/archive/).")
        return None, False, False
    if existing == "resume":
        if not last.exists():
            log.info("%s has no checkpoint to resume; starting a new run", folder)
            return None, has_run(folder), False
        state = load_checkpoint(last)
        changed = diff_configs(checkpoint_config(state, last), config_to_dict(cfg))
        if changed and not force:
            raise ConfigError(f"params changed since {last}: {listing(changed)}. Restore them, or pass --force "
                              "to resume with the new values.")
        fixed = [key for key in changed if key.startswith(tuple(fixed_keys()))]  # declared by each field
        if "train.seed" in changed and cfg.data.split_seed is None:
            fixed.append("train.seed (it carves the splits while data.split_seed is unset)")
        loop = state.get("loop")
        if "data.batch_size" in changed and isinstance(loop, dict) and loop.get("batch"):
            fixed.append(f"data.batch_size (the run stopped inside an epoch, after batch {loop['batch']})")
        if fixed:
            raise ConfigError(f"cannot resume {last} with changed {listing(fixed)}: its weights, optimizer state "
                              "and splits belong to the old values. Restore them, or start over with --restart.")
        if changed:
            log.info("resuming with changed %s: the optimizer takes the new settings and the schedule is rebuilt "
                     "for them", listing(changed))
        return state, False, bool(config_changes(state["config"], config_to_dict(cfg)))
    # continue: the same config resumes; anything else starts over
    if last.exists():
        try:
            state = load_checkpoint(last)
            old = checkpoint_config(state, last)
        except CheckpointError as e:
            log.warning("%s; starting %s over", e, folder)
        else:
            if not config_changes(old, config_to_dict(cfg)):
                return state, False, False
            log.info("the previous run in %s does not match its params; starting over", folder)
    return None, has_run(folder), False


def run_experiment(folder: str | Path, cfg: Config, *, existing: Existing = "refuse", force: bool = False,
                   callbacks: list[Callback] = (), overfit_batches: int = 0,
                   epochs: int | Callable[[Learner], int] | None = None,
                   extra: dict[str, Any] | None = None) -> RunOutcome:
    """Train ``cfg`` in ``folder`` (which holds its params file) and return the outcome.

    Args:
        folder: the experiment folder; its outputs follow the folder contract (checkpoints, history, ...).
        cfg: the validated config to train.
        existing: what to do with a previous run in ``folder``: "refuse" it (an error), "resume" its
            ``last.pt`` (params must match unless ``force``; no checkpoint starts a new run), "restart"
            (the old files move to ``folder/archive/<time>/`` once the new run is built), or "continue"
            (resume when the params match, else restart: what search trials and compare seeds do).
        force: with "resume", accept changed params.
        callbacks: more callbacks for the Learner.
        overfit_batches: train and validate on the same N batches; the run then fails unless it reached
            99% accuracy on them (a model that cannot overfit a few batches has a bug).
        epochs: the epoch count to reach (default ``cfg.train.epochs``), or a function of the built and
            restored Learner (e.g. "N more optimizer steps" for evolve members).
        extra: more entries for ``params.resolved.json``'s ``_run``.

    Example:
        >>> from trainlab.config import parse_config
        >>> cfg = parse_config({"data": {"name": "synthetic", "args": {"samples": 128, "image_size": 8}},
        ...                     "model": {"name": "mlp"}, "train": {"epochs": 1},
        ...                     "logging": {"tensorboard": False, "plot": False, "progress": "none"}})
        >>> import tempfile; folder = Path(tempfile.mkdtemp())
        >>> run_experiment(folder, cfg).learner.loop.epoch
        1
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file; pass the experiment folder that holds the params file "
                          f"(e.g. trainlab train {folder.parent}).")
    main = int(os.environ.get("RANK", "0")) == 0
    trainlab_log = logging.getLogger("trainlab")
    level = trainlab_log.level
    if not main:
        trainlab_log.setLevel(logging.WARNING)  # one process reports; the others only warn
    try:
        if main:  # before anything is built or trained: a read-only folder fails now, in one line
            check_writable(folder, folder / "checkpoints")
        with folder_lock(folder) if main else contextlib.nullcontext():  # one process per folder, all run long
            return _run(folder, cfg, main=main, existing=existing, force=force, callbacks=callbacks,
                        overfit_batches=overfit_batches, epochs=epochs, extra=extra)
    finally:
        trainlab_log.setLevel(level)


def _run(folder: Path, cfg: Config, *, main: bool, existing: Existing, force: bool, callbacks: list[Callback],
         overfit_batches: int, epochs: int | Callable[[Learner], int] | None,
         extra: dict[str, Any] | None) -> RunOutcome:
    """:func:`run_experiment` once the folder is this process's (``main``: the process that writes files)."""
    if main:
        _remove_temporaries(folder)
    state, archive, changed = _previous(folder, cfg, existing, force) if main else _rank_state(folder, cfg, existing)
    with run_log(folder / "train.log", level=cfg.logging.level, start=False, enabled=main) as file_log:
        stopper = GracefulStop()
        learner = learner_from_config(cfg, folder, overfit_batches=overfit_batches, callbacks=[stopper, *callbacks])
        if main:
            moved = archive_previous_run(folder) if archive else None
            file_log.open()
            if moved:
                log.info("previous run moved to %s", moved)
            write_resolved(folder, cfg, augmentation=learner.data.augmentation,
                           extra={"resumed": state is not None, "overfit_batches": overfit_batches,
                                  "world_size": learner.world_size, "splits": learner.data.fingerprints,
                                  **(extra or {})})
        if state is not None:
            learner.load_state_dict(state, keep_settings=changed, source=str(folder / "checkpoints" / "last.pt"))
            log.info("resuming %s at %s", folder, learner.loop.describe(learner.batches_per_epoch))
        _log_header(folder, cfg, learner)
        target = epochs(learner) if callable(epochs) else epochs or cfg.train.epochs
        finished = False
        try:
            learner.fit(target)
            finished = True
        finally:
            shutdown_distributed(wait=finished)
        if overfit_batches and stopper.received is None:
            _check_overfit(learner, overfit_batches)
    return RunOutcome(learner, signal=stopper.received, resumed=state is not None)


def _remove_temporaries(folder: Path) -> None:
    """Temporary files of atomic writes that a killed run left behind (this process holds the folder's lock)."""
    removed = [*remove_temporaries(folder), *remove_temporaries(folder / "checkpoints")]
    if removed:
        log.info("removed %d temporary file(s) a killed run left in %s (%s)", len(removed), folder,
                 ", ".join(p.name for p in removed[:3]) + (", ..." if len(removed) > 3 else ""))


def _rank_state(folder: Path, cfg: Config, existing: Existing) -> tuple[dict | None, bool, bool]:
    """What a process other than rank 0 resumes: the same checkpoint rank 0 checked, with the same verdict on
    changed settings."""
    last = folder / "checkpoints" / "last.pt"
    if existing not in ("resume", "continue") or not last.exists():
        return None, False, False
    state = load_checkpoint(last)
    return state, False, bool(config_changes(checkpoint_config(state, last), config_to_dict(cfg)))


def _log_header(folder: Path, cfg: Config, learner: Learner) -> None:
    n_params = sum(p.numel() for p in learner.model.parameters())
    log.info("training %s: %s (%s params) on %s, %d train / %d valid samples, device %s%s", folder, cfg.model.name,
             f"{n_params:,}", cfg.data.name, learner.data.train.num_samples, learner.data.valid.num_samples,
             learner.device, f", {learner.world_size} processes" if learner.world_size > 1 else "")


def _check_overfit(learner: Learner, batches: int, wanted: float = 0.99) -> None:
    accuracy = learner.history.rows[-1].get("valid.accuracy") if learner.history.rows else None
    if accuracy is None:
        log.info("overfit check: the task records no accuracy; judge the loss curve in history.json")
    elif accuracy < wanted:
        raise TrainingError(f"did not overfit {batches} batches: accuracy {accuracy:.4f} < {wanted} after "
                            f"{learner.loop.epoch} epochs on the same batches; look for a bug (labels, loss, "
                            "learning rate, frozen layers), or train longer with --set train.epochs=N.")
