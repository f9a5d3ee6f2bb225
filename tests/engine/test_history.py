import csv
import io

import pytest

from trainlab.engine.history import History
from trainlab.errors import TrainlabError

ROWS = [
    {"epoch": 1, "valid.loss": 0.9, "valid.accuracy": 0.5, "valid.per_class.accuracy": [0.9, 0.2, 0.4],
     "valid.per_class.loss": [0.1, 2.0, 1.0]},
    {"epoch": 2, "valid.loss": 0.7, "valid.accuracy": 0.6, "valid.per_class.accuracy": [0.95, 0.3, 0.2],
     "valid.per_class.loss": [0.1, 1.5, 1.7]},
    {"epoch": 3, "train.loss": 0.1},
]


def test_best_and_worst_classes():
    h = History(ROWS, ["a", "b", "c"])
    assert h.best("valid.loss", "min")["epoch"] == 2
    assert h.best("valid.accuracy", "max")["epoch"] == 2
    assert h.worst_classes("valid.per_class.accuracy", k=2) == [2, 1]  # lowest accuracy, last validated epoch
    assert h.worst_classes("valid.per_class.loss", k=1) == [2]  # highest loss
    assert h.worst_classes("valid.per_class.accuracy", k=1, epoch=0) == [1]
    # mode says which way is better, as everywhere else: "max" is best, so the lowest values are the worst
    assert h.worst_classes("valid.per_class.accuracy", k=2, mode="max") == [2, 1]
    assert h.worst_classes("valid.per_class.loss", k=1, mode="min") == [2]
    assert h.per_class("valid.per_class.accuracy") == [[0.9, 0.2, 0.4], [0.95, 0.3, 0.2]]
    with pytest.raises(TrainlabError, match="no epoch recorded"):
        h.best("valid.f1")


def test_json_roundtrip_and_csv_columns():
    h = History(ROWS, ["a", "b", "c"])
    assert History.from_json(h.to_json()).rows == ROWS
    table = list(csv.DictReader(io.StringIO(h.to_csv())))
    assert len(table) == 3
    assert table[1]["valid.per_class.accuracy.b"] == "0.3"
    assert table[2]["train.loss"] == "0.1" and table[2]["valid.loss"] == ""
