"""Train a config in an experiment folder the way ``trainlab train`` does, continuing an unfinished run.

Search trials and comparison seeds are ordinary experiment folders: this writes params.json and
params.resolved.json, logs to train.log, and calls ``Learner.from_config(cfg, folder, callbacks=...)``
(so checkpoints, history and plots follow the same contract as ``trainlab train``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Config, config_to_dict, diff_configs
from ..engine import Callback, Learner
from ..engine.checkpoint import atomic_write_text, load_checkpoint
from ..engine.signals import GracefulStop
from ..errors import CheckpointError

log = logging.getLogger("trainlab")


@dataclass
class RunOutcome:
    """What :func:`train_in_folder` did: the Learner after ``fit``, and whether a signal cut it short."""

    learner: Learner
    interrupted: bool
    resumed: bool


def write_params(folder: Path, raw: dict[str, Any]) -> Path:
    """Write ``folder/params.json`` (atomically), the file a user could train by hand."""
    path = Path(folder) / "params.json"
    atomic_write_text(path, json.dumps(raw, indent=1))
    return path


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Dotted keys that differ between two config dicts, ignoring how a run reports (``logging.*``)."""
    old = {k: v for k, v in old.items() if k != "_run"}
    new = {k: v for k, v in new.items() if k != "_run"}
    return [k for k in diff_configs(old, new) if not k.startswith("logging.")]


def _resumable_state(folder: Path, cfg: Config) -> dict[str, Any] | None:
    """The state of ``folder/checkpoints/last.pt`` when it was written with the same config, else None
    (a previous run with other settings is moved to ``folder/archive/<time>/``)."""
    from ..commands.train import archive_previous_run

    last = folder / "checkpoints" / "last.pt"
    state = None
    if last.exists():
        try:
            state = load_checkpoint(last)
        except CheckpointError as e:
            log.warning("%s; starting %s over", e, folder)
        if state is not None and not config_changes(state.get("config", {}), config_to_dict(cfg)):
            return state
    if last.exists() or (folder / "history.json").exists():
        moved = archive_previous_run(folder)
        log.info("previous run in %s does not match its params; moved to %s", folder, moved)
    return None


def train_in_folder(folder: Path, cfg: Config, *, callbacks: list[Callback] = (), resume: bool = True,
                    extra: dict[str, Any] | None = None) -> RunOutcome:
    """Train ``cfg`` in ``folder`` (which already holds its params.json) and return the outcome.

    With ``resume`` a ``checkpoints/last.pt`` of the same config is continued (a finished run is not
    trained again); SIGINT/SIGTERM stop after the current step and save ``last.pt``.

    Example:
        >>> from trainlab.config import parse_config
        >>> cfg = parse_config({"data": {"name": "synthetic", "args": {"samples": 128, "image_size": 8}},
        ...                     "model": {"name": "mlp"}, "train": {"epochs": 1},
        ...                     "logging": {"tensorboard": False, "plot": False, "progress": "none"}})
        >>> import tempfile; folder = Path(tempfile.mkdtemp())
        >>> train_in_folder(folder, cfg).learner.epoch
        1
    """
    from ..commands.common import log_to_file, write_resolved

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = _resumable_state(folder, cfg) if resume else None
    stopper = GracefulStop()
    with log_to_file(folder / "train.log"):
        learner = Learner.from_config(cfg, folder, callbacks=[stopper, *callbacks])
        write_resolved(folder, cfg, augmentation=learner.data.augmentation,
                       extra={"resumed": state is not None, **(extra or {})})
        if state is not None:
            learner.load_state_dict(state)
            log.info("resuming %s at epoch %d", folder, learner.epoch)
        learner.fit(cfg.train.epochs)
    return RunOutcome(learner, interrupted=stopper.received is not None, resumed=state is not None)
