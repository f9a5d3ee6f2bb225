"""Every fault of issue 20, through the CLI: exit code 2 and one line ``trainlab: error: ...`` of at most 300
characters, no traceback; where a fault now has a right answer (a YAML date is text, ``--resume --force``
applies the new settings) the test checks that answer."""
import gzip
import json
import os
import pickle

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from trainlab.cli import main
from trainlab.engine.checkpoint import load_checkpoint

from .conftest import write_exp
from .faults import full_disk_for, read_only_at

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error(capsys, *argv) -> str:
    """Run the CLI and return its error line, checking exit 2, one line, no traceback, ≤ 300 characters."""
    code, _, err = run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.startswith("trainlab: error: ")]
    assert code == 2, err
    assert len(lines) == 1 and len(lines[0]) <= 300, err
    assert "Traceback" not in err
    return lines[0]


def merged(tiny, **changes):
    params = json.loads(json.dumps(tiny))
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        params.setdefault(section, {})[key] = value
    return params


# --------------------------------------------------------------------------- params files

DEEP = "[" * 5000 + "]" * 5000
BOMB = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))


@pytest.mark.parametrize("name, content, message", [
    ("params.json", '{"model": {"name": "caf\xe9"}}'.encode("latin-1"), "is not UTF-8 text (byte 0xe9"),
    ("params.json", DEEP.encode(), "nested more than"),
    ("params.yaml", b"train: {epochs: 2020-01-01}\n", 'train.epochs: Input should be a valid integer'),
    ("params.yaml", b"data: &a\n  name: synthetic\n  args: {x: *a}\n", "an alias refers to a value that contains it"),
    ("params.yaml", b"data: !!python/object/apply:os.system [ls]\n", "the tag '!!python/object/apply:os.system'"),
    ("params.yaml", b"data: {name: [\n  x: y\n", "not valid YAML: while parsing a flow sequence"),
    ("params.yaml", BOMB.encode(), "expands to more than 20,000 values through its aliases"),
    ("params.json", json.dumps({"num_epochs": 1, "scheduler": [1]}).encode(), "legacy params: scheduler [1]"),
    ("params.json", json.dumps({"num_epochs": 1, "hyper_search": [1, 2]}).encode(), "hyper_search [1, 2]"),
])
def test_broken_params_files(tmp_path, capsys, name, content, message):
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / name).write_bytes(content)
    assert message in one_error(capsys, "train", exp)


@pytest.mark.parametrize("changes, message", [
    ({"train__seed": 2**70}, "train.seed: 1.18e+21 is beyond 64 bits"),
    ({"data__batch_size": 2**64}, "data.batch_size: 1.84e+19 is beyond 64 bits"),
    ({"train__device": "1"}, "train.device: allowed: auto, cpu, cuda, cuda:N"),
    ({"train__device": "bogus"}, "(got \"bogus\")"),
    ({"train__device": "meta"}, "(got \"meta\")"),
    ({"optim__betas": [1.5, 2.0]}, "optim.betas: both betas must be in [0, 1)"),
    ({"optim__name": "sgd", "optim__momentum": 0, "optim__nesterov": True}, "optim.nesterov needs optim.momentum > 0"),
    ({"optim__lr": 1e40}, "optim.lr: 1e+40 is beyond float32"),
    ({"model__name": "x" * 10_000}, "(10000 characters)"),
    ({"train__epochs": "x" * 10_000}, "(10002 characters)"),
    ({"data__image_size": [0, 5]}, "height and width must be positive"),
])
def test_bad_values(tmp_path, tiny_params, capsys, changes, message):
    exp = write_exp(tmp_path / "exp", merged(tiny_params, **changes))
    assert message in one_error(capsys, "train", exp)


def test_a_yaml_date_is_text(tmp_path, tiny_params, capsys):
    """The date that once broke params.resolved.json is read as YAML 1.2 and JSON read it: text."""
    exp = tmp_path / "exp"
    exp.mkdir()
    text = yaml.safe_dump(merged(tiny_params, train__epochs=1, data__root="ROOT"))
    (exp / "params.yaml").write_text(text.replace("root: ROOT", "root: 2020-01-01"))
    code, _, err = run(capsys, "train", exp)
    assert code == 0, err
    assert json.loads((exp / "params.resolved.json").read_text())["data"]["root"] == "2020-01-01"


# --------------------------------------------------------------------------- resuming with changed settings

def test_resume_force_rebuilds_the_schedule_for_the_new_length_and_lr(tmp_path, tiny_params, capsys):
    params = merged(tiny_params, schedule__name="one_cycle", train__epochs=2)
    exp = write_exp(tmp_path / "exp", params)
    assert run(capsys, "train", exp)[0] == 0
    code, _, err = run(capsys, "train", exp, "--resume", "--force", "--set", "optim.lr=0.05", "--set", "train.epochs=4")
    assert code == 0, err
    # the lr the resumed epochs used is the one a fresh 4-epoch run at 0.05 uses at the same steps
    fresh = write_exp(tmp_path / "fresh", merged(params, optim__lr=0.05, train__epochs=4))
    assert run(capsys, "train", fresh)[0] == 0
    resumed_rows = json.loads((exp / "history.json").read_text())["rows"]
    fresh_rows = json.loads((fresh / "history.json").read_text())["rows"]
    assert [r["epoch"] for r in resumed_rows] == [1, 2, 3, 4]
    assert resumed_rows[2]["lr"] == pytest.approx(fresh_rows[2]["lr"], rel=1e-6) and resumed_rows[2]["lr"] > 1e-3
    assert json.loads((exp / "params.resolved.json").read_text())["optim"]["lr"] == 0.05


def test_resume_force_refuses_a_changed_architecture(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", merged(tiny_params, train__epochs=1))
    assert run(capsys, "train", exp)[0] == 0
    line = one_error(capsys, "train", exp, "--resume", "--force", "--set", "model.args={hidden_sizes: [7]}")
    assert "cannot resume" in line and "model.args" in line and "--restart" in line


# --------------------------------------------------------------------------- checkpoints

@pytest.fixture
def trained(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", merged(tiny_params, train__epochs=1))
    assert run(capsys, "train", exp)[0] == 0
    return exp


class Payload:
    def __reduce__(self):
        return (os.system, ("echo owned > /dev/null",))


def without(key):
    return lambda s: {k: v for k, v in s.items() if k != key}


@pytest.mark.parametrize("change, message", [
    (without("config"), "holds no params"),
    (without("optimizer"), "no optimizer state"),
    (lambda s: {**s, "config": "hello"}, "its 'config' is 'hello'"),
    (lambda s: torch.zeros(3), "it holds a Tensor"),
    (lambda s: {**s, "model": {"conv.weight": torch.zeros(2, 2)}}, "holds weights that do not fit MLP"),
    (lambda s: {"model": Payload()}, "cannot be read safely"),
])
def test_odd_checkpoints_through_evaluate_and_resume(trained, capsys, change, message):
    new = change(torch.load(trained / "checkpoints" / "last.pt", weights_only=True))
    odd = trained / "odd.pt"
    if isinstance(new, dict) and isinstance(new["model"], Payload):
        with open(odd, "wb") as f:
            pickle.dump(new, f)
    else:
        torch.save(new, odd)
    if message == "no optimizer state":  # evaluating needs the weights only
        assert run(capsys, "evaluate", trained, "--checkpoint", odd)[0] == 0
    else:
        line = one_error(capsys, "evaluate", trained, "--checkpoint", odd)
        assert message in line and "weights_only" not in line
    odd.replace(trained / "checkpoints" / "last.pt")
    line = one_error(capsys, "train", trained, "--resume", "--force")
    assert message in line and "weights_only" not in line


# --------------------------------------------------------------------------- data

def write_idx(path, array, ndim=None):
    array = np.asarray(array, dtype=np.uint8)
    ndim = array.ndim if ndim is None else ndim
    head = bytes([0, 0, 8, ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape[:ndim])
    with gzip.open(path, "wb") as f:
        f.write(head + array.tobytes())


def fashion(root, *, swap=False, zero_dims=False, label=None):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        images, labels = rng.integers(0, 255, (n, 28, 28)), rng.integers(0, 10, n)
        if label is not None:
            labels[3] = label
        names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
        if swap:
            names.reverse()
        write_idx(root / names[0], images, ndim=0 if zero_dims else None)
        write_idx(root / names[1], labels)
    return root


@pytest.mark.parametrize("corruption, message", [
    ({"swap": True}, "are the images and labels files swapped?"),
    ({"zero_dims": True}, "its IDX header declares 0 dimensions"),
    ({"label": 99}, "holds the label 99 at index 3; Fashion-MNIST labels are 0-9"),
])
def test_corrupt_fashion_mnist(tmp_path, tiny_params, capsys, corruption, message):
    (tmp_path / "fm").mkdir()
    root = fashion(tmp_path / "fm", **corruption)
    exp = write_exp(tmp_path / "exp", merged(tiny_params, data__name="fashion-mnist", data__root=str(root),
                                             data__args={}))
    assert message in one_error(capsys, "train", exp)


def test_an_image_size_beyond_memory_is_refused_with_the_numbers(tmp_path, tiny_params, capsys, monkeypatch):
    # a machine with more memory than the test assumes must not start allocating 168 GB
    monkeypatch.setattr("trainlab.data.memory.available_memory", lambda: 16 * 2**30)
    for name in ("a", "b"):
        (tmp_path / "img" / "train" / name).mkdir(parents=True)
        for i in range(10):  # one per class is carved for validation
            Image.new("RGB", (6, 6), (i * 20, 0, 0)).save(tmp_path / "img" / "train" / name / f"{i}.png")
    exp = write_exp(tmp_path / "exp", merged(tiny_params, data__name="folder", data__root=str(tmp_path / "img"),
                                             data__image_size=[100000, 100000], data__args={}))
    line = one_error(capsys, "train", exp)
    assert "(18 images of 3×100000×100000) would need 502.9 GB of memory, but 16.0 GB are available" in line
    assert "Lower data.image_size" in line


# --------------------------------------------------------------------------- disks and paths

@pytest.mark.parametrize("argv", [["train", "--restart"], ["train", "--resume"], ["evaluate"]])
def test_a_read_only_experiment_folder(trained, capsys, monkeypatch, argv):
    before = (trained / "checkpoints" / "last.pt").read_bytes()
    read_only_at(monkeypatch, trained)
    line = one_error(capsys, argv[0], trained, *argv[1:])
    assert "the file system is read-only (EROFS)" in line
    assert (trained / "checkpoints" / "last.pt").read_bytes() == before and not (trained / "archive").exists()


def test_a_read_only_folder_for_a_fresh_run(tmp_path, tiny_params, capsys, monkeypatch):
    exp = write_exp(tmp_path / "exp", tiny_params)
    read_only_at(monkeypatch, exp)
    assert "read-only" in one_error(capsys, "train", exp)


def test_a_full_disk_keeps_the_old_checkpoint_and_says_so(tmp_path, tiny_params, capsys, monkeypatch):
    exp = write_exp(tmp_path / "exp", merged(tiny_params, train__epochs=2))
    full_disk_for(monkeypatch, "last.pt", after=1)  # epoch 1 saves, epoch 2 finds the disk full
    line = one_error(capsys, "train", exp)
    assert "last.pt: the disk is full (ENOSPC); the previous file is intact" in line and "--resume" in line
    assert load_checkpoint(exp / "checkpoints" / "last.pt")["loop"]["epoch"] == 1
    assert not [p for p in (exp / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    full_disk_for(monkeypatch, "last.pt")  # still full when resuming
    assert "the previous file is intact" in one_error(capsys, "train", exp, "--resume")
    assert load_checkpoint(exp / "checkpoints" / "last.pt")["loop"]["epoch"] == 1


def test_checkpoints_being_a_file_and_exp_being_the_params_file(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", tiny_params)
    (exp / "checkpoints").write_text("a file")
    assert "checkpoints is a file, but trainlab needs a folder there" in one_error(capsys, "train", exp)
    line = one_error(capsys, "train", exp / "params.json")
    assert "params.json is a file; pass the experiment folder" in line and f"trainlab train {exp}" in line
    assert "params.json is a file; pass the experiment folder" in one_error(capsys, "evaluate", exp / "params.json")


def test_rejig_refuses_a_destination_inside_the_source(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a_Ha_.png").write_bytes(b"x")
    line = one_error(capsys, "rejig", tmp_path / "src", tmp_path / "src" / "out", "--class", "happy=_Ha_")
    assert "is inside the source" in line and not (tmp_path / "src" / "out").exists()


# --------------------------------------------------------------------------- non-finite training

@pytest.mark.parametrize("model, optim", [("mlp", "sgd"), ("cnn_tiny", "sgd")])
def test_no_checkpoint_is_written_from_non_finite_weights(tmp_path, tiny_params, capsys, model, optim):
    """cnn_tiny under SGD at lr 1e6 keeps a finite loss while its weights overflow: the loss flag alone missed it."""
    exp = write_exp(tmp_path / "exp", merged(tiny_params, model__name=model, optim__name=optim))
    line = one_error(capsys, "train", exp, "--set", "train.epochs=2", "--set", "optim.lr=1e6", "--set",
                     "schedule.name=none", "--set", "train.save_every_steps=1")
    assert "NaN or infinite" in line and "last good" in line
    if model == "cnn_tiny":
        assert "weights became NaN or infinite" in line and "although the loss was finite" in line
    last = exp / "checkpoints" / "last.pt"
    if last.exists():  # the last good step's weights, if one was good
        assert all(torch.isfinite(v).all() for v in load_checkpoint(last)["model"].values() if v.is_floating_point())


# --------------------------------------------------------------------------- search folders

def test_grid_values_that_print_alike_get_their_own_trial_folders(tmp_path, tiny_params, capsys):
    parent = write_exp(tmp_path / "search", merged(tiny_params, train__epochs=1,
                                                   search__space={"optim.lr": [0.001, 0.0010001]}))
    code, out, err = run(capsys, "search", parent, "--no-plot")
    assert code == 0, err
    trials = [p for p in parent.iterdir() if (p / "trial.json").is_file()]
    assert len(trials) == 2 and not (parent / "archive").exists()
    assert sorted(json.loads((p / "trial.json").read_text())["params"]["optim.lr"] for p in trials) == [0.001, 0.0010001]
    rows = [line for line in (parent / "results.md").read_text().splitlines() if line.startswith("| ") and "0.001" in line]
    assert len(rows) == 2


# --------------------------------------------------------------------------- the CLI's last net

@pytest.mark.parametrize("fault, message", [
    (OSError(28, "No space left on device", "exp/tensorboard/events"), "cannot write exp/tensorboard/events: the disk is full"),
    (MemoryError(), "out of memory (MemoryError)"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: can't allocate memory: you tried to "
                  "allocate 1099511627776 bytes"), "out of memory (RuntimeError: [enforce fail"),
])
def test_faults_of_the_machine_anywhere_are_one_line(tmp_path, tiny_params, capsys, monkeypatch, fault, message):
    def broken(*args, **kwargs):
        raise fault

    monkeypatch.setattr("trainlab.runs.run_experiment", broken)
    assert message in one_error(capsys, "train", write_exp(tmp_path / "exp", tiny_params))


def test_a_bug_still_shows_its_traceback(tmp_path, tiny_params, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr("trainlab.runs.run_experiment", broken)
    with pytest.raises(KeyError):
        main(["train", str(write_exp(tmp_path / "exp", tiny_params))])
