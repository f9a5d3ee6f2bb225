import json
import subprocess
import sys

import pytest
import torch
from PIL import Image

from trainlab.cli import main
from trainlab.engine.checkpoint import load_checkpoint

from .conftest import write_exp


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_train_evaluate_and_files(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", tiny_params)
    code, out, err = run(capsys, "train", exp, "--set", "train.epochs=2")
    assert code == 0, err
    assert "done: 2 epochs" in out
    for name in ("params.resolved.json", "history.json", "history.csv", "metrics_val_best.json",
                 "metrics_val_last.json", "train.log", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (exp / name).exists(), name
    resolved = json.loads((exp / "params.resolved.json").read_text())
    assert resolved["train"]["epochs"] == 2 and resolved["_run"]["torch"] == torch.__version__
    assert resolved["_run"]["augmentation"] == "none"
    assert "epoch 2/2" in (exp / "train.log").read_text()
    code, out, err = run(capsys, "evaluate", exp, "--split", "test")
    assert code == 0, err
    metrics = json.loads((exp / "metrics_test.json").read_text())
    assert metrics["accuracy"] > 0.5 and f"accuracy {metrics['accuracy']:.4f}" in out
    assert len(metrics["per_class"]["accuracy"]) == 4


def test_resume_continues_and_refuses_changed_params(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", tiny_params)
    assert run(capsys, "train", exp, "--set", "train.epochs=2")[0] == 0
    code, _, err = run(capsys, "train", exp)
    assert code == 2 and "already holds a run" in err and "--resume" in err
    code, _, err = run(capsys, "train", exp, "--resume", "--set", "optim.lr=0.5")
    assert code == 2 and "params changed" in err and "optim.lr" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "train", exp, "--resume", "--force", "--set", "train.epochs=3")
    assert code == 0, err
    assert load_checkpoint(exp / "checkpoints" / "last.pt")["loop"]["epoch"] == 3
    assert len(json.loads((exp / "history.json").read_text())["rows"]) == 3
    code, _, err = run(capsys, "train", exp, "--restart", "--set", "train.epochs=1")
    assert code == 0, err
    archived = list((exp / "archive").iterdir())
    assert len(archived) == 1 and (archived[0] / "checkpoints" / "last.pt").is_file()
    assert load_checkpoint(exp / "checkpoints" / "last.pt")["loop"]["epoch"] == 1


@pytest.mark.parametrize("params, overrides, message", [
    ({"train": {"epoch": 3}}, [], "unknown key 'train.epoch'. Did you mean 'epochs'"),
    ({}, ["train.epochs=zero"], "train.epochs"),
    ({"data": {"name": "fashion-mnist", "root": "/nonexistent", "args": {}}}, [], "no train-images-idx3-ubyte"),
    ({"model": {"name": "resnet1"}}, [], "unknown model 'resnet1'"),
    ({"model": {"num_classes": 3}}, [], "class count"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, tiny_params, capsys, params, overrides, message):
    merged = {k: {**tiny_params.get(k, {}), **v} for k, v in {**tiny_params, **params}.items()}
    exp = write_exp(tmp_path / "exp", merged)
    code, _, err = run(capsys, "train", exp, *sum((["--set", o] for o in overrides), []))
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.startswith("trainlab: error")]
    assert len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


def test_missing_folder_and_checkpoint(tmp_path, capsys):
    code, _, err = run(capsys, "train", tmp_path / "nope")
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "evaluate", tmp_path)
    assert code == 2 and "best.pt" in err and "train first" in err


def test_console_script_exit_code_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "trainlab", "train", str(tmp_path / "missing")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("trainlab: error:") and "Traceback" not in proc.stderr


def test_nan_loss_exit_2(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", tiny_params)
    code, _, err = run(capsys, "train", exp, "--set", "optim.lr=1e30", "--set", "optim.name=sgd")
    assert code == 2 and "NaN or infinite" in err


def test_overfit_batches_reaches_full_accuracy(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", tiny_params)
    code, _, err = run(capsys, "train", exp, "--overfit-batches", "1", "--set", "train.epochs=30")
    assert code == 0, err
    last = json.loads((exp / "history.json").read_text())["rows"][-1]
    assert last["train.accuracy"] == 1.0 and last["valid.accuracy"] == 1.0
    assert sum(last["valid.per_class.support"]) == 32


def test_migrate_keeps_the_original(tmp_path, capsys):
    legacy = {"arch": "mlp", "num_epochs": 2, "learning_rate": 0.01, "batch_size": 8, "im_sz": 8}
    path = tmp_path / "params.json"
    path.write_text(json.dumps(legacy))
    code, out, err = run(capsys, "migrate", path)
    assert code == 0, err
    assert json.loads((tmp_path / "params.legacy.json").read_text()) == legacy
    new = json.loads(path.read_text())
    assert new["model"]["name"] == "mlp" and new["train"]["epochs"] == 2 and new["data"]["image_size"] == [8, 8]
    code, _, err = run(capsys, "migrate", path)
    assert code == 2 and "not in the legacy" in err


def test_rejig_cli(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        Image.new("L", (4, 4), color=i).save(src / f"img{i}_{'_Ha_' if i % 2 else '_Sa_'}.png")
    (src / "other.png").write_bytes((src / "img0__Sa_.png").read_bytes())
    code, out, _ = run(capsys, "rejig", src, tmp_path / "dst", "--class", "happy=_Ha_", "--class", "sad=_Sa_",
                       "--dry-run")
    assert code == 0 and not (tmp_path / "dst").exists()
    code, out, _ = run(capsys, "rejig", src, tmp_path / "dst", "--class", "happy=_Ha_", "--class", "sad=_Sa_")
    assert code == 0
    assert len(list((tmp_path / "dst" / "valid" / "happy").iterdir())) == 1
    assert len(list((tmp_path / "dst" / "train" / "sad").iterdir())) == 9
    assert "unmatched" in out and len(list(src.iterdir())) == 21
    code, _, err = run(capsys, "rejig", src, tmp_path / "dst", "--class", "happy=_Ha_", "--class", "sad=_Sa_")
    assert code == 2 and "exist" in err


def test_summary_and_models(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", tiny_params)
    code, out, _ = run(capsys, "summary", exp)
    assert code == 0 and "Linear" in out
    code, out, _ = run(capsys, "models")
    assert code == 0 and {"mlp", "cnn_tiny", "cnn_small", "resnet18"} <= set(out.split())


def test_every_verb_is_listed_with_a_line_and_its_help_ends_with_an_example(capsys):
    from trainlab.cli import build_parser

    verbs = build_parser()._subparsers._group_actions[0]
    listed = {action.dest: action.help for action in verbs._choices_actions}
    assert set(listed) == set(verbs.choices) and all(listed.values())
    for name, sub in verbs.choices.items():
        text = sub.format_help().rstrip()
        assert "example:" in text and text.splitlines()[-1].strip().startswith("trainlab "), name
