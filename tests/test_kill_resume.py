"""Real `trainlab train` processes stopped from outside: SIGKILL at random moments (``-m slow``) and SIGTERM.

Resumed == uninterrupted is a property test of the default suite (tests/runs/test_resume_property.py: kills and
signals at drawn steps, epochs and file writes, deterministic, in-process or forked). What only whole processes
show stays here: a timer's SIGKILL through the CLI (slow: ~60 s) and what the CLI prints on SIGTERM.
"""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from trainlab.cli import main
from trainlab.engine.checkpoint import load_checkpoint

from .conftest import write_exp

PARAMS = {  # the weight EMA and mixup/cutmix on: their state and draws must survive a kill too
    "data": {"name": "digits", "batch_size": 64, "augment": "light", "mix": {"mixup_alpha": 0.4, "cutmix_alpha": 1.0}},
    "model": {"name": "cnn_tiny", "dropout": 0.2, "args": {"width": 8}},
    "optim": {"name": "adamw", "lr": 0.003},
    "schedule": {"name": "one_cycle"},
    "train": {"epochs": 6, "seed": 3, "num_threads": 1, "save_every_steps": 1,
              "early_stopping": {"patience": 50}, "ema": {"decay": 0.99}},
    "logging": {"tensorboard": False, "plot": False, "progress": "epoch"},
}


def start(exp, *extra):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "trainlab", "train", str(exp), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_is_bit_identical(tmp_path):
    straight = write_exp(tmp_path / "straight", PARAMS)
    assert start(straight).wait(timeout=300) == 0
    killed = write_exp(tmp_path / "killed", PARAMS)
    rng = random.Random(0)
    kills, extra, positions = 0, [], []
    for _ in range(10):  # the whole run trains for ~2.5 s: kills well inside it, so several land
        proc = start(killed, *extra)
        for line in proc.stdout:  # wait until it trains, then kill it at a random moment
            if line.startswith("training "):
                break
        time.sleep(rng.uniform(0.05, 0.6))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        extra = ["--resume"]
        state = load_checkpoint(killed / "checkpoints" / "last.pt")  # never a partial file
        positions.append((state["loop"]["epoch"], state["loop"]["batch"]))
    assert kills >= 2 and any(batch for _, batch in positions), positions  # some kills landed mid-epoch
    proc = start(killed, *extra)
    output = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, output
    a = load_checkpoint(straight / "checkpoints" / "last.pt")
    b = load_checkpoint(killed / "checkpoints" / "last.pt")
    assert a["loop"]["epoch"] == b["loop"]["epoch"] == 6 and a["loop"]["step"] == b["loop"]["step"]
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    for k, v in a["callbacks"]["ema"]["weights"].items():
        assert torch.equal(v, b["callbacks"]["ema"]["weights"][k]), k
    ha = json.loads((straight / "history.json").read_text())["rows"]
    hb = json.loads((killed / "history.json").read_text())["rows"]
    assert [r["valid.loss"] for r in ha] == [r["valid.loss"] for r in hb]
    assert [r["train.loss"] for r in ha] == [r["train.loss"] for r in hb]


def test_sigterm_says_once_where_it_stopped_and_resume_says_the_same(tmp_path, caplog):
    exp = write_exp(tmp_path / "exp", {**PARAMS, "train": {**PARAMS["train"], "epochs": 200}})
    proc = start(exp)
    for line in proc.stdout:
        if line.startswith("training "):
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 128 + signal.SIGTERM, output
    stops = [line for line in output.splitlines() if "stopped by SIGTERM" in line]
    assert len(stops) == 1 and "continue with: trainlab train" in stops[0], output
    where = stops[0].split("(")[1].split(")")[0]  # e.g. "epoch 2, after batch 7 of 23"
    # in this process (no second interpreter to start): 1 < the epoch reached, so it ends at once
    assert main(["train", str(exp), "--resume", "--set", "train.epochs=1", "--force"]) == 0
    assert f"at {where}" in caplog.text, caplog.text
