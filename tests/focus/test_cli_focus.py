"""`trainlab train` with a focus section: history keys, the focus plot, resume, the test-split refusal, DDP."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from trainlab.cli import main
from trainlab.engine import History
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.focus.plot import focus_table, plot_focus

from ..conftest import write_exp


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_with_focus_records_history_and_resumes(tmp_path, tiny_params, capsys):
    params = {**tiny_params, "focus": {"k": 1, "rank_by": "accuracy", "when": {"every": 2}, "pass": {"steps": 3}},
              "logging": {**tiny_params["logging"], "plot": True}}
    exp = write_exp(tmp_path / "exp", params)
    code, _, err = run(capsys, "train", exp, "--set", "train.epochs=2")
    assert code == 0, err
    rows = json.loads((exp / "history.json").read_text())["rows"]
    assert [r["focus.steps"] for r in rows] == [0, 3] and len(rows[1]["focus.classes"]) == 1
    assert (exp / "focus_history.png").stat().st_size > 1000
    assert "focus at epoch 2 on class" in (exp / "train.log").read_text()
    assert "focus.per_class.samples.class0" in (exp / "history.csv").read_text().splitlines()[0]
    resolved = json.loads((exp / "params.resolved.json").read_text())
    assert resolved["focus"]["pass"] == {"steps": 3}
    code, _, err = run(capsys, "train", exp, "--resume", "--force", "--set", "train.epochs=4")
    assert code == 0, err
    rows = json.loads((exp / "history.json").read_text())["rows"]
    assert [r["focus.steps"] for r in rows] == [0, 3, 0, 3]
    (exp / "focus_history.png").unlink()
    assert run(capsys, "plot", exp)[0] == 0  # trainlab plot shows which classes were focused when
    assert (exp / "focus_history.png").stat().st_size > 1000


def test_focus_on_the_test_split_is_refused_in_one_line(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", {**tiny_params, "focus": {"split": "test"}})
    code, _, err = run(capsys, "train", exp)
    assert code == 2 and err.count("\n") == 1
    assert "focus.split" in err and "use split: valid" in err and "Traceback" not in err
    assert not (exp / "checkpoints").exists()


def test_focus_table_and_plot(tmp_path):
    h = History([{"epoch": 1, "focus.steps": 0, "focus.classes": [], "valid.per_class.accuracy": [0.5, 0.9, 0.7]},
                 {"epoch": 2, "focus.steps": 4, "focus.classes": [0, 2], "focus.per_class.samples": [30, 0, 10],
                  "valid.per_class.accuracy": [0.6, 0.9, 0.8]},
                 {"epoch": 3, "valid.per_class.accuracy": [0.6, 0.9, 0.8]}],  # not validated/decided: skipped
                class_names=["a", "b", "c"])
    epochs, shares = focus_table(h)
    assert epochs == [1, 2] and shares[1] == [0.75, 0.0, 0.25]
    path = plot_focus(h, tmp_path / "f.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_focus_under_two_gloo_processes(tmp_path):
    params = {"data": {"name": "digits", "batch_size": 32}, "model": {"name": "cnn_tiny", "args": {"width": 8}},
              "optim": {"name": "adam", "lr": 0.003}, "train": {"epochs": 2, "seed": 0, "num_threads": 1},
              "logging": {"tensorboard": False, "plot": False, "progress": "epoch"},
              "focus": {"k": 2, "mode": "soft", "temperature": 0.2}}
    exp = write_exp(tmp_path / "ddp", params)
    proc = subprocess.run([sys.executable, "-m", "trainlab", "train", str(exp), "--nproc", "2"], capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    state = load_checkpoint(exp / "checkpoints" / "last.pt")
    rows = state["history"]
    train_per_rank = math.ceil(1295 / 2)  # 648 samples a rank, padded
    for row in rows:
        # all ranks drew the same samples' classes (same generator), counted over both ranks
        assert row["focus.samples"] == sum(row["focus.per_class.samples"]) > 0
        assert row["focus.steps"] == math.ceil(row["focus.samples"] / 2 / 32)  # each rank: half, batches of 32
    assert state["step"] == 2 * math.ceil(train_per_rank / 32) + sum(r["focus.steps"] for r in rows)
