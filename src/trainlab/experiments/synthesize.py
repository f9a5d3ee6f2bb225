"""``results.md`` and ``results.csv``: one row per run under a folder, the settings that vary, best-valid
and test metrics, epochs and time, sorted by a metric.

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
from .records import RunRecord, direction_for, load_runs, shared_split_note, sort_key, varying_keys

VALID_COLUMNS = ("valid.accuracy", "valid.loss", "valid.f1")
TEST_COLUMNS = ("accuracy", "loss", "f1")


@dataclass
class ResultsTable:
    """The synthesized table: column names, one dict per run (best first), the sort metric."""

    columns: list[str]
    rows: list[dict[str, Any]]
    metric: str
    direction: str
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
        lines.append(f"{len(self.rows)} runs, sorted by best {self.metric} ({self.direction}); valid columns are "
                     f"taken at the epoch where {self.metric} was best, test columns from metrics_test.json.")
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


def default_metric(root: Path) -> tuple[str, str]:
    """The sort metric: the ``search`` block's metric when ``root`` holds one, else valid.accuracy."""
    try:
        cfg = parse_config(read_params(find_params_file(root)), source=str(root))
    except TrainlabError:
        cfg = None
    if cfg is not None and cfg.search is not None:
        return cfg.search.metric, cfg.search.direction
    return "valid.accuracy", "maximize"


def results_table(runs: list[RunRecord], metric: str, direction: str) -> ResultsTable:
    """Build the table from run records (see :func:`synthesize`)."""
    params = varying_keys(runs)
    best_col = f"best {metric}"
    columns = ["run", *params, best_col, "best epoch",
               *[c for c in VALID_COLUMNS if c != metric],
               *[f"test.{c}" for c in TEST_COLUMNS if any(r.test and c in r.test for r in runs)],
               "epochs", "time (s)", "status"]
    rows = []
    for r in runs:
        best = r.best(metric, direction)
        row: dict[str, Any] = {"run": r.name, **{k: r.config.get(k) for k in params},
                               best_col: best.get(metric) if best else None,
                               "best epoch": best.get("epoch") if best else None,
                               "epochs": len(r.history), "time (s)": f"{r.train_time:.1f}", "status": r.status}
        for c in VALID_COLUMNS:
            if c != metric:
                row[c] = best.get(c) if best else None
        for c in TEST_COLUMNS:
            if r.test and c in r.test:
                row[f"test.{c}"] = r.test[c]
        rows.append(row)
    # ties (e.g. several runs at 100% accuracy) are broken by the validation loss at the best epoch
    rows.sort(key=lambda row: (sort_key(row[best_col], direction),
                               sort_key(row.get("valid.loss", math.nan), "minimize")))
    return ResultsTable(columns, rows, metric, direction, params, shared_split_note(runs))


def synthesize(root: Path, *, metric: str | None = None, direction: str | None = None,
               write: bool = True) -> ResultsTable:
    """Scan ``root`` recursively and write ``root/results.md`` and ``root/results.csv``.

    ``metric`` defaults to the search block's metric in ``root``'s params (else ``valid.accuracy``);
    ``direction`` to the search block's, else minimize for losses and maximize otherwise.
    """
    root = Path(root)
    runs = load_runs(root)
    if not runs:
        raise ConfigError(f"no runs under {str(root)!r} (no history.json or trial.json found); train or search first.")
    if metric is None:
        metric, default_dir = default_metric(root)
        direction = direction or default_dir
    direction = direction or direction_for(metric)
    table = results_table(runs, metric, direction)
    if write:
        atomic_write_text(root / "results.md", table.to_markdown(str(root)))
        atomic_write_text(root / "results.csv", table.to_csv())
    return table
