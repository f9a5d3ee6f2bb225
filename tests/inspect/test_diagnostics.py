"""Layer diagnostics: the numbers against hand computations, the history and TensorBoard, the cadence."""
import pytest
import torch
from torch import nn

from trainlab.config import DataConfig, load_config
from trainlab.data import data_from_config
from trainlab.engine import Callback, Learner
from trainlab.inspect.diagnostics import LayerDiagnostics, activation_stats
from trainlab.runs import run_experiment

from ..conftest import write_exp
from .helpers import params


def test_dead_fraction_counts_units_off_for_every_input():
    lin = nn.Linear(2, 4)
    with torch.no_grad():
        lin.weight.zero_()
        lin.bias.copy_(torch.tensor([-1.0, -1.0, 1.0, 1.0]))  # two units always off, two always on
    stats = activation_stats(nn.Sequential(lin, nn.ReLU()), torch.randn(6, 2))
    assert stats["1"]["dead_fraction"] == pytest.approx(0.5)
    assert stats["1"]["act_mean"] == pytest.approx(0.5)  # (0 + 0 + 1 + 1) / 4, exactly representable
    assert "dead_fraction" not in stats["0"]


def test_update_ratio_and_grad_norm_match_sgd_by_hand():
    """Plain SGD moves w by lr * grad: the ratio of the epoch's last step must be lr * |grad| / |w|."""
    data = data_from_config(DataConfig(name="synthetic", batch_size=64, args={"samples": 128, "image_size": 4}),
                            seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4, bias=False))

    class Spy(Callback):  # sees the gradient of every step; the last one is the diagnosed step
        run_after = (LayerDiagnostics,)

        def on_before_optimizer_step(self, learner):
            self.grad, self.weight = model[1].weight.grad.clone(), model[1].weight.detach().clone()

    spy = Spy()
    learner = Learner(model, data, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                      callbacks=[LayerDiagnostics(images=8), spy]).fit(1)
    row = learner.history[-1]["diagnostics"]["1"]
    # the same quantities computed two ways (stacked per-tensor norms vs one norm): float tolerance
    assert row["grad_norm"] == pytest.approx(float(spy.grad.norm()), rel=1e-5)
    assert row["update_ratio"] == pytest.approx(0.1 * float(spy.grad.norm()) / float(spy.weight.norm()), rel=1e-4)
    assert row["weight_norm"] == pytest.approx(float(model[1].weight.detach().norm()), rel=1e-5)


def test_an_extra_pass_after_the_epoch_is_not_what_gets_diagnosed():
    """Focus passes step the optimizer after the epoch's pass: the diagnosed step stays the epoch's last own
    one, and nothing of the focus steps lingers into the next epoch (before: a focus step's gradients were
    recorded, and its weight copy leaked, which made a resumed run differ)."""
    from trainlab.focus import FocusCallback, FocusLearning

    data = data_from_config(DataConfig(name="synthetic", batch_size=64, args={"samples": 128, "image_size": 4}),
                            seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 4, bias=False))

    class Spy(Callback):  # the gradient of the epoch's last own step (focus steps fire no batch hooks)
        run_after = (LayerDiagnostics,)

        def on_train_batch_start(self, learner):
            self.own = True

        def on_before_optimizer_step(self, learner):
            if getattr(self, "own", False):
                self.grad = model[1].weight.grad.clone()

        def on_train_batch_end(self, learner):
            self.own = False

    spy, diag = Spy(), LayerDiagnostics(images=8)
    learner = Learner(model, data, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                      callbacks=[FocusCallback(FocusLearning(k=1)), diag, spy]).fit(1)
    assert learner.history[-1]["focus.steps"] > 0
    assert learner.history[-1]["diagnostics"]["1"]["grad_norm"] == pytest.approx(float(spy.grad.norm()), rel=1e-5)
    assert diag._before is None and diag.state_dict() == {"grads": {}, "updates": {}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    exp = write_exp(tmp_path_factory.mktemp("diag") / "digits",
                    params(probe=None, diagnostics={"every": 2, "images": 16}))
    run_experiment(exp, load_config(exp, ["train.epochs=4"]))
    return exp


def test_history_holds_the_summary_every_second_epoch(trained):
    import json

    rows = json.loads((trained / "history.json").read_text())["rows"]
    assert ["diagnostics" in r for r in rows] == [False, True, False, True]
    row = rows[1]
    assert {"stem.0", "block1.0.0", "block2.0", "head", "stem.2"} <= set(row["diagnostics"])
    conv = row["diagnostics"]["block2.0"]
    assert {"weight_norm", "grad_norm", "update_ratio", "act_mean", "act_std"} <= set(conv)
    assert 0 < conv["update_ratio"] < 1 and conv["grad_norm"] > 0
    assert 0 <= row["diag.dead_relu"] <= 1 and row["diag.update_ratio_max"] >= conv["update_ratio"]
    csv_header = (trained / "history.csv").read_text().splitlines()[0]
    assert "diag.dead_relu" in csv_header and "diagnostics" not in csv_header.replace("diag.", "")


def test_tensorboard_gets_histograms_and_scalars(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(trained / "tensorboard"), size_guidance={"histograms": 0, "scalars": 0})
    acc.Reload()
    hists, scalars = acc.Tags()["histograms"], acc.Tags()["scalars"]
    assert {"weights/block2.0.weight", "gradients/block2.0.weight", "updates/block2.0.weight"} <= set(hists)
    assert "diagnostics/block2.0/update_ratio" in scalars and "diag/dead_relu" in scalars
    assert [e.step for e in acc.Histograms("weights/head.weight")] == [2, 4]
