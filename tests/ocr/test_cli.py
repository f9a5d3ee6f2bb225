"""`trainlab train` on an OCR experiment folder: files, sequence metrics in the history, resume; and the
shipped example's params build."""
from __future__ import annotations

import json
from pathlib import Path

from trainlab.cli import main
from trainlab.config import load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "experiments" / "digits-ocr-crnn"


def test_train_and_resume_an_ocr_experiment(tmp_path, capsys) -> None:
    exp = tmp_path / "ocr"
    exp.mkdir()
    (exp / "params.json").write_text(json.dumps({
        "data": {"name": "digit-strings", "batch_size": 16, "augment": "light",
                 "args": {"height": 16, "lines": [48, 16, 16], "max_length": 4}},
        "model": {"name": "crnn", "args": {"channels": 4, "hidden": 8, "layers": 1}},
        "train": {"epochs": 2, "seed": 0, "monitor": "valid.cer"},
        "ocr": {"decoder": "beam", "beam_width": 3, "lm_order": 3, "lm_weight": 0.3},
        "logging": {"tensorboard": False, "plot": False, "progress": "epoch"},
    }))
    assert main(["train", str(exp)]) == 0, capsys.readouterr().err
    assert "done: 2 epochs; best valid.cer" in capsys.readouterr().out
    rows = json.loads((exp / "history.json").read_text())["rows"]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert {"train.cer", "valid.cer", "valid.wer", "valid.seq_accuracy", "flops_per_sample"} <= set(rows[-1])
    assert rows[-1]["flops_per_sample"] > 0
    assert "valid.cer" in json.loads((exp / "metrics_val_best.json").read_text())
    assert json.loads((exp / "params.resolved.json").read_text())["_run"]["augmentation"].startswith("line:")
    code = main(["train", str(exp), "--resume", "--force", "--set", "train.epochs=3"])
    assert code == 0, capsys.readouterr().err
    rows = json.loads((exp / "history.json").read_text())["rows"]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    capsys.readouterr()
    assert main(["evaluate", str(exp)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "CER" in out and "(16 lines)" in out
    test = json.loads((exp / "metrics_test.json").read_text())
    assert {"cer", "wer", "seq_accuracy", "loss"} <= set(test) and 0.0 <= test["cer"] and test["lines"] == 16


def test_models_lists_the_ocr_models_and_unknown_datasets_list_the_ocr_ones(tmp_path, capsys) -> None:
    assert main(["models"]) == 0
    listed = capsys.readouterr().out
    assert "crnn" in listed and "attention_ocr" in listed
    exp = tmp_path / "typo"
    exp.mkdir()
    (exp / "params.json").write_text(json.dumps({"data": {"name": "digit-string"}, "model": {"name": "crnn"}}))
    assert main(["train", str(exp)]) == 2
    err = capsys.readouterr().err
    assert "Did you mean 'digit-strings'" in err and "text-lines" in err and "fashion-mnist" in err
    assert len(err.strip().splitlines()) == 1


def test_the_example_experiment_is_valid() -> None:
    cfg = load_config(EXAMPLE, [])
    assert cfg.data.name == "digit-strings" and cfg.model.name == "crnn" and cfg.ocr is not None
