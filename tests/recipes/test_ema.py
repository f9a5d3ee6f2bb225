"""The weight EMA: its arithmetic, where the Learner uses it, checkpoints, resume and several processes."""
import json
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from trainlab.cli import main
from trainlab.config import DataConfig, parse_config
from trainlab.data import data_from_config
from trainlab.engine import Callback, Checkpoint, Learner
from trainlab.engine.checkpoint import checkpoint_weights, load_checkpoint
from trainlab.errors import ConfigError
from trainlab.recipes import ModelEMA, ema_decay
from trainlab.runs import evaluate_checkpoint, learner_for_checkpoint

from ..conftest import write_exp


def bn_learner(callbacks=(), *, lr=0.1, seed=0):
    """A linear model after BatchNorm (buffers that move) on synthetic 8x8 images, plain SGD."""
    data = data_from_config(DataConfig(name="synthetic", batch_size=32, args={"samples": 256, "image_size": 8}),
                            seed=seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(64, 4))
    return Learner(model, data, optimizer=torch.optim.SGD(model.parameters(), lr=lr), callbacks=list(callbacks))


class Trajectory(Callback):
    """The model's state dict after each optimizer step (index 0: before the first)."""

    def __init__(self):
        self.states = []

    def on_setup(self, learner):
        self.states.append({k: v.clone() for k, v in learner.model.state_dict().items()})

    def on_after_optimizer_step(self, learner):
        self.states.append({k: v.clone() for k, v in learner.model.state_dict().items()})


class StopAfter(Callback):
    def __init__(self, steps):
        self.steps = steps

    def on_train_batch_end(self, learner):
        if learner.loop.step >= self.steps:
            learner.should_stop = True


def test_the_average_after_three_steps_is_the_hand_computed_one():
    ema, seen = ModelEMA(decay=0.9, warmup_steps=4), Trajectory()
    learner = bn_learner([seen, ema, StopAfter(3)])
    learner.fit(1)
    assert learner.loop.step == 3 and ema.updates == 3
    w = seen.states  # w[0] initial, w[t] after step t
    d1, d2, d3 = 2 / 5, 3 / 6, 4 / 7  # min(0.9, (1 + t) / (4 + t))
    for key, value in ema.module.state_dict().items():
        if key.endswith("num_batches_tracked"):  # an integer buffer: copied, not averaged
            assert int(value) == int(w[3][key]) == 3
            continue
        e1 = d1 * w[0][key] + (1 - d1) * w[1][key]
        e2 = d2 * e1 + (1 - d2) * w[2][key]
        e3 = d3 * e2 + (1 - d3) * w[3][key]
        torch.testing.assert_close(value, e3, rtol=1e-6, atol=1e-7, msg=key)
        assert not torch.allclose(value, w[3][key])  # really an average, not the last weights
    assert "0.running_mean" in ema.module.state_dict()  # BatchNorm statistics are averaged too


def test_decay_warmup_and_its_limits():
    assert ema_decay(1, decay=0.999, warmup_steps=10) == pytest.approx(2 / 11)
    assert ema_decay(10**6, decay=0.999, warmup_steps=10) == 0.999
    assert ema_decay(1, decay=0.5, warmup_steps=0) == 0.5
    with pytest.raises(ConfigError, match="decay"):
        ModelEMA(decay=1.0)
    with pytest.raises(Exception, match="decay"):
        parse_config({"train": {"ema": {"decay": 1.5}}})


def test_validation_and_predict_use_the_average_and_extra_passes_update_it():
    ema = ModelEMA(decay=0.9)
    learner = bn_learner([ema]).fit(2)
    assert learner.eval_module() is ema.module and learner.history.rows[-1]["weights"] == "ema"
    twin = bn_learner()
    twin.model.load_state_dict(ema.module.state_dict())
    assert learner.evaluate("valid") == twin.evaluate("valid")
    assert torch.equal(learner.predict("test"), twin.predict("test"))
    raw = bn_learner()
    raw.model.load_state_dict(learner.model.state_dict())
    assert learner.evaluate("valid")["loss"] != raw.evaluate("valid")["loss"]
    before = ema.updates
    learner.train_pass(learner.data.train, epoch=5, max_steps=2)
    assert ema.updates == before + 2  # every optimizer step moves the average, extra passes included


def test_a_replaced_model_restarts_the_average():
    ema = ModelEMA(decay=0.9)
    learner = bn_learner([ema]).fit(1)
    wider = nn.Sequential(nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 4))
    learner.set_model(wider)
    learner.optimizer = torch.optim.SGD(wider.parameters(), lr=0.1)
    learner.fit(2)
    assert learner.eval_model is ema.module and ema.module.state_dict().keys() == wider.state_dict().keys()


def test_an_average_added_on_resume_starts_from_the_resumed_weights(tmp_path):
    bn_learner([Checkpoint(tmp_path)]).fit(2)
    ema = ModelEMA(decay=0.999, warmup_steps=0)  # no warm-up: a wrong start would linger for ~1,000 steps
    learner = bn_learner([ema]).load(tmp_path / "checkpoints" / "last.pt")
    trained = {k: v.clone() for k, v in learner.model.state_dict().items()}
    learner.fit(3)
    for key, value in ema.module.state_dict().items():
        if value.is_floating_point():  # one epoch of 0.999-updates from the resumed weights stays close to them
            assert torch.allclose(value, trained[key], atol=0.05), key


def test_checkpoints_hold_the_average_and_evaluation_picks_it_or_the_raw_weights(tmp_path):
    learner = bn_learner([ModelEMA(decay=0.9), Checkpoint(tmp_path, monitor="valid.accuracy", mode="max")])
    learner.config = parse_config({"data": {"name": "synthetic", "batch_size": 32,
                                            "args": {"samples": 256, "image_size": 8}},
                                   "model": {"name": "mlp"}}).model_dump()
    learner.fit(2)
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["eval_weights"] == "ema" and state["callbacks"]["ema"]["updates"] == learner.loop.step
    weights, name = checkpoint_weights(state)
    assert name == "ema" and all(torch.equal(v, learner.eval_model.state_dict()[k]) for k, v in weights.items())
    assert checkpoint_weights(state, "raw")[0] is state["model"]
    with pytest.raises(ConfigError, match="choose ema or raw"):
        checkpoint_weights(state, "swa")


def test_evaluate_uses_the_average_unless_asked_for_raw_weights(tmp_path, tiny_params):
    from trainlab.runs import run_experiment

    params = {**tiny_params, "train": {**tiny_params["train"], "ema": {"decay": 0.9}}}
    exp = write_exp(tmp_path / "exp", params)
    learner = run_experiment(exp, parse_config(params)).learner
    ev = evaluate_checkpoint(exp / "checkpoints" / "last.pt", exp)
    assert ev.notes == {"weights": "ema"} and ev.metrics == learner.evaluate("test")
    assert json.loads((exp / "metrics_test.json").read_text())["weights"] == "ema"
    raw = evaluate_checkpoint(exp / "checkpoints" / "last.pt", exp, weights="raw")
    assert raw.notes == {"weights": "raw"} and raw.metrics["loss"] != ev.metrics["loss"]
    plain, _ = learner_for_checkpoint(exp / "checkpoints" / "last.pt", weights="raw")
    assert all(torch.equal(v, learner.model.state_dict()[k]) for k, v in plain.model.state_dict().items())
    assert json.loads((exp / "metrics_val_last.json").read_text())["weights"] == "ema"


def test_the_cli_refuses_weights_a_checkpoint_lacks_in_one_line(tmp_path, tiny_params, capsys):
    exp = write_exp(tmp_path / "exp", {**tiny_params, "train": {**tiny_params["train"], "epochs": 1}})
    assert main(["train", str(exp)]) == 0
    assert main(["evaluate", str(exp), "--weights", "ema"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds no 'ema' weights" in err and "train.ema" in err, err


DDP_SCRIPT = """
import sys, torch
from trainlab.config import parse_config
from trainlab.engine.factory import learner_from_config
cfg = parse_config({"data": {"name": "digits", "batch_size": 32}, "model": {"name": "cnn_tiny", "args": {"width": 8}},
                    "train": {"epochs": 1, "seed": 0, "num_threads": 1, "ema": {"decay": 0.9}},
                    "logging": {"tensorboard": False, "plot": False, "progress": "none"}})
learner = learner_from_config(cfg, None)
learner.fit(1)
torch.save(learner.eval_model.state_dict(), sys.argv[1] + f"/rank{torch.distributed.get_rank()}.pt")
torch.distributed.destroy_process_group()
"""


@pytest.mark.slow  # two processes importing torch: ~10 s on a quiet machine
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_two_processes_hold_the_same_average(tmp_path):
    script = tmp_path / "ddp_ema.py"
    script.write_text(DDP_SCRIPT)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(script), str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    a, b = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    assert any("running_mean" in k for k in a)
    for key in a:
        assert torch.equal(a[key], b[key]), key
