"""Per-epoch history: one row per epoch with train/valid metrics, per-class values, lr and time."""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from ..errors import TrainlabError


class History:
    """Rows keyed like ``"valid.accuracy"``; per-class values under ``"valid.per_class.accuracy"`` (lists).

    Example:
        >>> h = History([{"epoch": 1, "valid.loss": 0.5}, {"epoch": 2, "valid.loss": 0.4}])
        >>> h.best("valid.loss", "min")["epoch"]
        2
    """

    def __init__(self, rows: list[dict[str, Any]] | None = None, class_names: list[str] | None = None) -> None:
        self.rows: list[dict[str, Any]] = list(rows or [])
        self.class_names = list(class_names or [])

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(dict(row))

    def values(self, metric: str) -> list[float]:
        return [r[metric] for r in self.rows if metric in r]

    def best(self, metric: str, mode: str = "min") -> dict[str, Any]:
        rows = [r for r in self.rows if isinstance(r.get(metric), float | int) and not math.isnan(r[metric])]
        if not rows:
            raise TrainlabError(f"no epoch recorded {metric!r}; recorded: {sorted(self.metric_names())}.")
        pick = min if mode == "min" else max
        return pick(rows, key=lambda r: r[metric])

    def metric_names(self) -> set[str]:
        return {k for r in self.rows for k, v in r.items() if isinstance(v, float | int)}

    def per_class(self, metric: str = "valid.per_class.accuracy") -> list[list[float]]:
        """A (epochs × classes) table of a per-class metric."""
        return [r[metric] for r in self.rows if metric in r]

    def worst_classes(self, metric: str = "valid.per_class.accuracy", k: int = 2, epoch: int = -1,
                      mode: str | None = None) -> list[int]:
        """Indices of the k worst classes at ``epoch``, worst first.

        ``mode`` says which way is better, as everywhere in trainlab ("max": the highest value is best, so the
        lowest is worst); by default "min" for losses and "max" for scores.
        """
        rows = [r for r in self.rows if metric in r]
        if not rows:
            raise TrainlabError(f"no epoch recorded {metric!r}.")
        values = rows[epoch][metric]
        higher_is_worse = (mode == "min") if mode else metric.endswith("loss")
        order = sorted(range(len(values)), key=lambda i: values[i], reverse=higher_is_worse)
        return order[:k]

    # ------------------------------------------------------------------ files
    def to_json(self) -> str:
        return json.dumps({"class_names": self.class_names, "rows": self.rows}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> History:
        d = json.loads(text)
        return cls(d.get("rows", []), d.get("class_names", []))

    @classmethod
    def read(cls, path: Path) -> History:
        return cls.from_json(Path(path).read_text())

    def to_csv(self) -> str:
        """Flat CSV: per-class lists become one column per class (``valid.per_class.accuracy.<name>``)."""
        flat_rows = []
        for r in self.rows:
            flat: dict[str, Any] = {}
            for k, v in r.items():
                if isinstance(v, list):
                    names = self.class_names if len(self.class_names) == len(v) else [str(i) for i in range(len(v))]
                    flat.update({f"{k}.{n}": x for n, x in zip(names, v)})
                elif not isinstance(v, dict):
                    flat[k] = v
            flat_rows.append(flat)
        columns = list(dict.fromkeys(k for r in flat_rows for k in r))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns)
        writer.writeheader()
        writer.writerows(flat_rows)
        return buf.getvalue()
