"""The experiment folder's files: params, the resolved params, train.log, and archiving a previous run."""
from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..config import Config, config_to_dict
from ..errors import TrainlabError
from ..files import atomic_write_text, writing
from ..registry import load_features

_OUTPUTS: dict[str, str] = {}  # glob pattern (relative to EXP) -> what writes it


def declare_outputs(owner: str, *patterns: str) -> None:
    """Declare the files or folders (glob patterns relative to the experiment folder) that ``owner`` writes
    into an experiment folder. ``--restart`` moves everything declared to ``EXP/archive/<time>/``, so no file
    describing the archived model stays beside the new run. A feature declares its own in its ``feature.py``.

    Example:
        >>> declare_outputs("my-feature", "my_report.md", "my_plots")  # doctest: +SKIP
    """
    for pattern in patterns:
        if _OUTPUTS.get(pattern, owner) != owner:
            raise TrainlabError(f"{pattern!r} is declared by {_OUTPUTS[pattern]} already; {owner} must write "
                                "under another name.")
        _OUTPUTS[pattern] = owner


def run_outputs() -> dict[str, str]:
    """Every declared output pattern of an experiment folder, features' included, with what writes it."""
    load_features()
    return dict(_OUTPUTS)


# what training writes (the engine's callbacks, train.log, the resolved params)
declare_outputs("train", "checkpoints", "tensorboard", "history.json", "history.csv", "metrics_val_best.json",
                "metrics_val_last.json", "training_history.png", "train.log", "params.resolved.json")


def has_run(folder: Path) -> bool:
    """Whether ``folder`` holds the outputs of a run (a checkpoint or a history)."""
    return (Path(folder) / "checkpoints" / "last.pt").exists() or (Path(folder) / "history.json").exists()


def archive_previous_run(folder: Path) -> Path | None:
    """Move a previous run's outputs into ``folder/archive/<time>/`` (never deletes); None if there were none."""
    folder = Path(folder)
    present = sorted({path for pattern in run_outputs() for path in folder.glob(pattern)})
    if not present:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = folder / "archive" / stamp
    n = 1
    while dest.exists():  # two restarts within a second
        n += 1
        dest = folder / "archive" / f"{stamp}-{n}"
    with writing(dest, doing="move the previous run into", hint="Make the folder writable, or free some space; "
                 "nothing was deleted."):
        dest.mkdir(parents=True)
        for path in present:
            shutil.move(str(path), dest / path.name)
    return dest


def write_params(folder: Path, raw: dict[str, Any]) -> Path:
    """Write ``folder/params.json`` (atomically), the file a user could train by hand."""
    path = Path(folder) / "params.json"
    atomic_write_text(path, json.dumps(raw, indent=1))
    return path


def git_commit(folder: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def write_resolved(folder: Path, cfg: Config, *, augmentation: str, extra: dict[str, Any] | None = None) -> Path:
    """``folder/params.resolved.json``: every setting, plus versions, seed, git commit, augmentation, command."""
    resolved = config_to_dict(cfg) | {"_run": {
        "trainlab": __version__, "torch": str(torch.__version__), "python": sys.version.split()[0],
        "seed": cfg.train.seed, "git_commit": git_commit(folder), "augmentation": augmentation,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "command": " ".join(sys.argv), **(extra or {}),
    }}
    path = Path(folder) / "params.resolved.json"
    atomic_write_text(path, json.dumps(resolved, indent=1))
    return path


class RunLog:
    """Everything trainlab logs (and warnings), also appended to a file with timestamps.

    Records are held in memory until :meth:`open` names the moment the file may be written (after a
    previous run's ``train.log`` was archived), then written there with everything that follows.
    """

    def __init__(self, path: Path, level: str = "INFO") -> None:
        self.path = Path(path)
        self.buffer = logging.handlers.MemoryHandler(capacity=100_000, flushLevel=logging.CRITICAL + 1)
        self.buffer.setLevel(level)
        self.file: logging.FileHandler | None = None

    def open(self) -> None:
        with writing(self.path, doing="append to"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = logging.FileHandler(self.path)
        self.file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.buffer.setTarget(self.file)
        self.buffer.flushLevel = logging.NOTSET  # from now on every record goes straight to the file
        self.buffer.flush()


@contextlib.contextmanager
def run_log(path: Path, *, level: str = "INFO", start: bool = True, enabled: bool = True) -> Iterator[RunLog]:
    """While inside, trainlab's log (and warnings) at ``level`` and above also go to ``path``; ``start=False``
    holds them until :meth:`RunLog.open`. ``enabled=False`` (a process that writes no files): nothing is
    attached (and nothing opens the file)."""
    log = RunLog(path, level)
    if not enabled:
        yield log
        return
    loggers = [logging.getLogger("trainlab"), logging.getLogger("py.warnings")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(log.buffer)
        if logger.getEffectiveLevel() > logging.getLevelName(level):
            logger.setLevel(level)
    if start:
        log.open()
    try:
        yield log
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(log.buffer)
            logger.setLevel(level)
        if log.file is not None:
            log.buffer.flush()
            log.file.close()
        log.buffer.close()
