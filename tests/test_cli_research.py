"""`trainlab morph` and `trainlab flops` end to end."""
import json
import re

import torch

from trainlab.cli import main
from trainlab.config import load_config
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.engine.factory import learner_from_config

from .conftest import write_exp

PARAMS = {
    "data": {"name": "digits", "batch_size": 64},
    "model": {"name": "cnn_tiny", "args": {"width": 8}},
    "optim": {"name": "adam", "lr": 0.01},
    "train": {"epochs": 2, "seed": 0},
    "logging": {"tensorboard": False, "plot": False, "progress": "epoch"},
}


def test_morph_widen_keeps_accuracy_and_the_new_folder_trains(tmp_path, capsys):
    exp = write_exp(tmp_path / "small", PARAMS)
    assert main(["train", str(exp)]) == 0
    out_dir = tmp_path / "wide"
    assert main(["morph", str(exp), "--widen", "2", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    before, after = re.search(r"valid accuracy ([0-9.]+) -> ([0-9.]+)", out).groups()
    assert before == after
    params = json.loads((out_dir / "params.json").read_text())
    assert params["model"]["morph"][0]["op"] == "widen" and params["model"]["pretrained"] == "init.pt"
    assert params["optim"]["lr"] < PARAMS["optim"]["lr"]  # lr × old/new parameter count
    assert main(["train", str(out_dir), "--set", "train.epochs=1"]) == 0
    small = load_checkpoint(exp / "checkpoints" / "best.pt")["model"]
    wide = load_checkpoint(out_dir / "checkpoints" / "last.pt")["model"]
    assert wide["stem.0.weight"].shape[0] == 2 * small["stem.0.weight"].shape[0]
    learner = learner_from_config(load_config(out_dir), out_dir, default_callbacks_on=False)
    assert sum(p.numel() for p in learner.model.parameters()) > sum(v.numel() for v in small.values())
    assert main(["morph", str(exp), "--widen", "2", "--out", str(out_dir)]) == 2  # never overwrites


def test_morph_list_and_deepen(tmp_path, capsys):
    exp = write_exp(tmp_path / "small", PARAMS)
    assert main(["train", str(exp), "--set", "train.epochs=1"]) == 0
    capsys.readouterr()
    assert main(["morph", str(exp), "--list"]) == 0
    assert "stem.0" in capsys.readouterr().out
    assert main(["morph", str(exp), "--deepen", "block2", "--method", "net2net", "--out", str(tmp_path / "deep")]) == 0
    assert "max |Δ output|" in capsys.readouterr().out
    code = main(["morph", str(exp), "--widen", "1.5", "--where", "nonexistent", "--out", str(tmp_path / "x")])
    assert code == 2 and "nonexistent" in capsys.readouterr().err


def test_morph_deepen_kernel_size_is_recorded_and_reapplied(tmp_path, capsys):
    from trainlab.runs import model_for_folder

    exp = write_exp(tmp_path / "small", PARAMS)
    assert main(["train", str(exp), "--set", "train.epochs=1"]) == 0
    out = tmp_path / "deep1"
    assert main(["morph", str(exp), "--deepen", "block2", "--kernel-size", "1", "--out", str(out)]) == 0
    params = json.loads((out / "params.json").read_text())
    assert params["model"]["morph"][0]["kernel_size"] == 1
    _, _, model = model_for_folder(out)  # rebuilt from the params: the step is applied again
    new = [m for name, m in model.named_modules() if name.startswith("block2.3.") and isinstance(m, torch.nn.Conv2d)]
    assert new and all(m.kernel_size == (1, 1) for m in new)
    assert main(["morph", str(exp), "--deepen", "block2", "--kernel-size", "2", "--out", str(tmp_path / "x")]) == 2


def test_flops_cli(tmp_path, capsys):
    assert main(["flops", "--arch", "resnet18", "--input-shape", "1,3,224,224", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert 1.7e9 < data["forward_macs"] < 1.9e9  # resnet18: 1.82 GMACs at 224×224
    exp = write_exp(tmp_path / "e", PARAMS)
    assert main(["flops", str(exp), "--backward", "--by-module"]) == 0
    out = capsys.readouterr().out
    assert "Conv2d" in out and "backward" in out
    assert main(["flops"]) == 2


def test_morph_with_a_bad_factor_is_one_line_exit_2_before_loading_anything(tmp_path, capsys):
    for factor in ("0.5", "1.0"):
        assert main(["morph", str(tmp_path / "never-trained"), "--widen", factor, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("trainlab: error: trainlab morph: factor: Input should be greater than 1")
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_summary_and_flops_of_a_morphed_folder_from_another_directory(tmp_path, capsys, monkeypatch):
    exp = write_exp(tmp_path / "small", PARAMS)
    assert main(["train", str(exp), "--set", "train.epochs=1"]) == 0
    assert main(["morph", str(exp), "--widen", "2", "--out", str(tmp_path / "wide")]) == 0
    capsys.readouterr()
    monkeypatch.chdir(tmp_path.parent)  # init.pt is found in the folder, wherever the command runs from
    assert main(["summary", str(tmp_path / "wide")]) == 0
    assert "Total params" in capsys.readouterr().out
