import csv
import io
import json

import pytest
from PIL import Image

from trainlab.config import config_to_dict, parse_config
from trainlab.errors import ConfigError
from trainlab.experiments.plots import plot_folder
from trainlab.experiments.records import find_runs, load_runs, varying_keys
from trainlab.experiments.synthesize import synthesize


def fake_run(folder, *, lr, width, valid_acc, test_acc=None, trial=None, classes=3):
    """A run folder as trainlab train leaves it (history, resolved params), without training."""
    folder.mkdir(parents=True)
    cfg = config_to_dict(parse_config({"optim": {"lr": lr}, "model": {"args": {"width": width}}}))
    (folder / "params.resolved.json").write_text(json.dumps({**cfg, "_run": {"seed": 0}}))
    rows = [{"epoch": e + 1, "train.loss": 1.0 / (e + 1), "valid.loss": 1.2 - a, "train.accuracy": a,
             "valid.accuracy": a, "valid.f1": a - 0.01, "time": 1.5,
             "valid.per_class.accuracy": [a] * (classes - 1) + [a / 2]} for e, a in enumerate(valid_acc)]
    (folder / "history.json").write_text(json.dumps({"class_names": ["a", "b", "c"][:classes], "rows": rows}))
    if test_acc is not None:
        (folder / "metrics_test.json").write_text(json.dumps({"accuracy": test_acc, "loss": 0.5, "f1": test_acc}))
    if trial:
        (folder / "trial.json").write_text(json.dumps(trial))
    return folder


@pytest.fixture
def parent(tmp_path):
    fake_run(tmp_path / "p" / "lr=0.1", lr=0.1, width=8, valid_acc=[0.5, 0.7, 0.6], test_acc=0.65)
    fake_run(tmp_path / "p" / "lr=0.01", lr=0.01, width=8, valid_acc=[0.6, 0.9], test_acc=0.88)
    fake_run(tmp_path / "p" / "nested" / "lr=0.001", lr=0.001, width=16, valid_acc=[0.2])
    failed = tmp_path / "p" / "crashed"
    failed.mkdir()
    (failed / "params.json").write_text(json.dumps({"optim": {"lr": 5.0}}))
    (failed / "trial.json").write_text(json.dumps({"state": "failed", "error": "TrainingError: NaN | loss"}))
    archived = fake_run(tmp_path / "p" / "lr=0.1" / "archive" / "old", lr=0.1, width=8, valid_acc=[0.99])
    assert archived.is_dir()
    return tmp_path / "p"


def test_runs_are_found_recursively_but_not_in_archives(parent):
    names = [str(p.relative_to(parent)) for p in find_runs(parent)]
    assert names == ["crashed", "lr=0.01", "lr=0.1", "nested/lr=0.001"]
    assert varying_keys(load_runs(parent)) == ["model.args.width", "optim.lr"]


def test_results_are_sorted_by_the_best_epoch_and_written_as_md_and_csv(parent):
    table = synthesize(parent)
    assert [r["run"] for r in table.rows] == ["lr=0.01", "lr=0.1", "nested/lr=0.001", "crashed"]
    best = table.rows[0]
    assert best["best valid.accuracy"] == 0.9 and best["best epoch"] == 2 and best["test.accuracy"] == 0.88
    assert best["valid.loss"] == pytest.approx(1.2 - 0.9) and best["epochs"] == 2 and best["time (s)"] == "3.0"
    assert table.rows[1]["best epoch"] == 2  # 0.7 at epoch 2 beats the last epoch's 0.6
    assert table.rows[3]["best valid.accuracy"] is None and table.rows[3]["status"].startswith("failed: TrainingError")
    md = (parent / "results.md").read_text()
    lines = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(lines) == 1 + 4 and "optim.lr" in lines[0] and "test.accuracy" in lines[0]
    assert "NaN \\| loss" in md  # a pipe inside a cell does not break the table
    rows = list(csv.DictReader(io.StringIO((parent / "results.csv").read_text())))
    assert [r["run"] for r in rows] == [r["run"] for r in table.rows] and rows[0]["optim.lr"] == "0.01"


def test_sorting_by_a_loss_minimizes(parent, tmp_path):
    table = synthesize(parent, monitor="valid.loss", write=False)
    assert table.mode == "min" and table.rows[0]["run"] == "lr=0.01"
    assert table.rows[0]["best valid.loss"] == pytest.approx(1.2 - 0.9)
    assert not (parent / "results.md").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no runs"):
        synthesize(tmp_path / "empty")


def test_plot_a_parent_and_a_run(parent, tmp_path):
    paths = plot_folder(parent)
    assert [p.name for p in paths] == ["history_plots.png", "per_class_accuracy.png"]
    for p in paths:
        with Image.open(p) as im:
            assert im.size[0] > 300 and im.size[1] > 100
    single = plot_folder(parent / "lr=0.1")
    assert [p.name for p in single] == ["training_history.png"] and single[0].stat().st_size > 1000
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no runs"):
        plot_folder(tmp_path / "empty")
