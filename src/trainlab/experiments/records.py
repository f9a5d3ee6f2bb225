"""Finding and reading finished (or failed) runs under a folder: the input of tables, plots and comparisons.

A run folder holds ``history.json`` (it trained at least one epoch) or ``trial.json`` (a search trial,
possibly one that failed before its first epoch). ``archive/``, ``checkpoints/`` and ``tensorboard/``
are never searched.

Example:
    >>> runs = load_runs(Path("experiments"))  # doctest: +SKIP
    >>> [r.name for r in runs]  # doctest: +SKIP
    ['digits-cnn', 'fashion-mnist-cnn']
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config, config_to_dict, find_params_file, parse_config, read_params
from ..engine.history import History
from ..errors import ConfigError, TrainlabError

SKIP_DIRS = {"archive", "checkpoints", "tensorboard", "__pycache__"}


def is_run(folder: Path) -> bool:
    return (folder / "history.json").is_file() or (folder / "trial.json").is_file()


def find_runs(root: Path) -> list[Path]:
    """Every run folder under ``root`` (``root`` itself included), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{str(root)!r} is not a folder; give an experiment or a parent of experiments.")
    found = [root] if is_run(root) else []
    for path in sorted(root.rglob("*")):
        if path.is_dir() and not SKIP_DIRS & set(path.relative_to(root).parts) and is_run(path) \
                and not any(p.startswith(".") for p in path.relative_to(root).parts):
            found.append(path)
    return found


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"optim": {"lr": 0.1}} -> {"optim.lr": 0.1}; lists stay values, empty sections vanish."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (ValueError, RecursionError, OSError):  # damaged, not UTF-8, nested too deep, unreadable: no record
        return None


def _config_of(folder: Path) -> dict[str, Any]:
    resolved = read_json(folder / "params.resolved.json")
    if resolved is not None:
        return {k: v for k, v in resolved.items() if k != "_run"}
    try:
        return config_to_dict(parse_config(read_params(find_params_file(folder)), source=str(folder)))
    except TrainlabError:
        return {}


@dataclass
class RunRecord:
    """One run: its folder, settings (flattened), history, test metrics and search-trial status."""

    path: Path
    name: str
    config: dict[str, Any]
    history: History
    test: dict[str, Any] | None = None
    trial: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    splits: dict[str, str] = field(default_factory=dict)  # each split's fingerprint, from params.resolved.json

    def best(self, metric: str, mode: str) -> dict[str, Any] | None:
        """The history row where ``metric`` is best (None when it was never recorded)."""
        try:
            return self.history.best(metric, "min" if mode == "min" else "max")
        except TrainlabError:
            return None

    @property
    def status(self) -> str:
        if self.trial:
            state = self.trial.get("state", "")
            return f"{state}: {self.trial['error']}" if self.trial.get("error") else state
        return ""

    @property
    def train_time(self) -> float:
        return float(sum(r.get("time", 0.0) for r in self.history.rows))


def load_run(folder: Path, root: Path | None = None) -> RunRecord:
    folder = Path(folder)
    hist_path = folder / "history.json"
    history = History.read(hist_path) if hist_path.is_file() else History()
    name = str(folder.relative_to(root)) if root is not None and folder != Path(root) else folder.name
    run = (read_json(folder / "params.resolved.json") or {}).get("_run") or {}
    return RunRecord(folder, name, flatten(_config_of(folder)), history,
                     test=read_json(folder / "metrics_test.json"), trial=read_json(folder / "trial.json"),
                     splits=run.get("splits") or {})


def shared_split_note(runs: list[RunRecord], split: str = "valid") -> str:
    """Whether ``runs`` share one ``split`` (by fingerprint): their best-epoch numbers are comparable only
    when they were chosen on the same samples.

    Example:
        >>> ran = History([{"epoch": 1}])
        >>> shared_split_note([RunRecord(Path("a"), "a", {}, ran, splits={"valid": "f1"}),
        ...                    RunRecord(Path("b"), "b", {}, ran, splits={"valid": "f2"})])
        'Validation split: 2 different ones among 2 runs: their best epochs were chosen on different samples (data.split_seed gives every run the same one).'
    """
    trained = [r for r in runs if len(r.history)]
    found = {r.splits.get(split) for r in trained}
    if not trained or None in found:
        return "Validation split: not recorded for every run (trained before trainlab recorded split fingerprints)."
    if len(found) == 1:
        return f"Validation split: the same for all {len(trained)} runs (fingerprint {found.pop()})."
    return (f"Validation split: {len(found)} different ones among {len(trained)} runs: their best epochs were "
            "chosen on different samples (data.split_seed gives every run the same one).")


def load_runs(root: Path) -> list[RunRecord]:
    """A :class:`RunRecord` for every run under ``root``."""
    return [load_run(p, root) for p in find_runs(root)]


def varying_keys(runs: list[RunRecord], ignore: tuple[str, ...] = ("search.",)) -> list[str]:
    """Config keys whose values are not the same in every run (in first-seen order)."""
    keys = list(dict.fromkeys(k for r in runs for k in r.config))
    out = []
    for k in keys:
        if k.startswith(ignore):
            continue
        values = {json.dumps(r.config.get(k), sort_keys=True) for r in runs}
        if len(values) > 1:
            out.append(k)
    sections = list(Config.model_fields)  # data, model, optim, ... as in the params file
    return sorted(out, key=lambda k: sections.index(k.split(".")[0]) if k.split(".")[0] in sections else len(sections))


def sort_key(value: float | None, mode: str) -> float:
    """Sort best first, missing values last."""
    if value is None or math.isnan(value):
        return math.inf
    return value if mode == "min" else -value


def mode_for(metric: str) -> str:
    """Loss-like metrics are minimized, everything else maximized."""
    return "min" if metric.split(".")[-1] in ("loss", "error", "cer", "wer") else "max"
