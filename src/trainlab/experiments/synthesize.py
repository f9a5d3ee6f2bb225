"""``results.md`` and ``results.csv``: one row per run under a folder, the settings that vary, best-valid
and test metrics, epochs and time, sorted by a metric (the monitor).

Example:
    >>> table = synthesize(Path("experiments/search-lr"))  # doctest: +SKIP
    >>> table.rows[0]["run"]  # the best run  # doctest: +SKIP
    'lr=0.003_width=16'
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import find_params_file, parse_config, read_params
from ..errors import ConfigError, TrainlabError
from ..files import atomic_write_text
from .records import RunRecord, load_runs, mode_for, shared_split_note, sort_key, varying_keys

VALID_COLUMNS = ("valid.accuracy", "valid.loss", "valid.f1")
TEST_COLUMNS = ("accuracy", "loss", "f1")


@dataclass
class ResultsTable:
    """The synthesized table: column names, one dict per run (best first), the metric it is sorted by."""

    columns: list[str]
    rows: list[dict[str, Any]]
    monitor: str
    mode: str
    params: list[str]  # the columns that are settings (shown with up to 6 significant digits)
    splits: str = ""  # whether the runs share one validation split (records.shared_split_note)

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns)
        writer.writeheader()
        writer.writerows({c: _csv_value(r.get(c)) for c in self.columns} for r in self.rows)
        return buf.getvalue()

    def to_markdown(self, title: str = "") -> str:
        lines = [f"# Results: {title}", ""] if title else []
        lines.append(f"{len(self.rows)} runs, sorted by best {self.monitor} ({self.mode}); valid columns are "
                     f"taken at the epoch where {self.monitor} was best, test columns from metrics_test.json.")
        if self.splits:
            lines += ["", self.splits]
        lines += ["", "| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        for r in self.rows:
            lines.append("| " + " | ".join(_md_value(r.get(c), c in self.params) for c in self.columns) + " |")
        return "\n".join(lines) + "\n"


def _fmt(value: Any, setting: bool = False) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if setting:
            return f"{value:.6g}"
        return f"{value:.4f}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.3g}"
    if isinstance(value, list):
        return "[" + ", ".join(_fmt(v, setting) for v in value) + "]"
    return str(value)


def _md_value(value: Any, setting: bool = False) -> str:
    return _fmt(value, setting).replace("|", "\\|").replace("\n", " ")


def _csv_value(value: Any) -> Any:
    return _fmt(value) if isinstance(value, list | dict) else value


def default_monitor(root: Path) -> tuple[str, str]:
    """The metric to sort by and its mode: the ``search`` block's monitor when ``root`` holds one, else valid.accuracy."""
    try:
        cfg = parse_config(read_params(find_params_file(root)), source=str(root))
    except TrainlabError:
        cfg = None
    if cfg is not None and cfg.search is not None:
        return cfg.search.monitor, cfg.search.mode
    return "valid.accuracy", "max"


def results_table(runs: list[RunRecord], monitor: str, mode: str) -> ResultsTable:
    """Build the table from run records (see :func:`synthesize`)."""
    params = varying_keys(runs)
    best_col = f"best {monitor}"
    columns = ["run", *params, best_col, "best epoch",
               *[c for c in VALID_COLUMNS if c != monitor],
               *[f"test.{c}" for c in TEST_COLUMNS if any(r.test and c in r.test for r in runs)],
               "epochs", "time (s)", "status"]
    rows = []
    for r in runs:
        best = r.best(monitor, mode)
        row: dict[str, Any] = {"run": r.name, **{k: r.config.get(k) for k in params},
                               best_col: best.get(monitor) if best else None,
                               "best epoch": best.get("epoch") if best else None,
                               "epochs": len(r.history), "time (s)": f"{r.train_time:.1f}", "status": r.status}
        for c in VALID_COLUMNS:
            if c != monitor:
                row[c] = best.get(c) if best else None
        for c in TEST_COLUMNS:
            if r.test and c in r.test:
                row[f"test.{c}"] = r.test[c]
        rows.append(row)
    # ties (e.g. several runs at 100% accuracy) are broken by the validation loss at the best epoch
    rows.sort(key=lambda row: (sort_key(row[best_col], mode),
                               sort_key(row.get("valid.loss", math.nan), "min")))
    return ResultsTable(columns, rows, monitor, mode, params, shared_split_note(runs))


def synthesize(root: Path, *, monitor: str | None = None, mode: str | None = None,
               write: bool = True) -> ResultsTable:
    """Scan ``root`` recursively and write ``root/results.md`` and ``root/results.csv``.

    ``monitor`` defaults to the search block's in ``root``'s params (else ``valid.accuracy``); ``mode`` to the
    search block's, else min for losses and max otherwise.
    """
    root = Path(root)
    runs = load_runs(root)
    if not runs:
        raise ConfigError(f"no runs under {str(root)!r} (no history.json or trial.json found); train or search first.")
    if monitor is None:
        monitor, default_dir = default_monitor(root)
        mode = mode or default_dir
    mode = mode or mode_for(monitor)
    table = results_table(runs, monitor, mode)
    if write:
        atomic_write_text(root / "results.md", table.to_markdown(str(root)))
        atomic_write_text(root / "results.csv", table.to_csv())
    return table
