import json
import logging

import pytest
import torch

from trainlab.engine import (Callback, CallbackList, Checkpoint, EarlyStopping, GradClip, HistoryWriter, LossWatch,
                             LRSchedule, PlotHistory, Progress, TensorBoard)
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.errors import ConfigError

from .helpers import tiny_learner


def test_callback_list_calls_only_overridden_hooks_in_declared_order():
    calls = []

    class A(Callback):
        def on_epoch_end(self, learner):
            calls.append("A")

    class B(Callback):
        run_before = (A,)

        def on_epoch_end(self, learner):
            calls.append("B")

    class C(Callback):
        run_after = (B,)

        def on_epoch_end(self, learner):
            calls.append("C")

    cl = CallbackList([C(), A(), B()])
    assert cl._hooks["on_train_batch_end"] == [] and len(cl._hooks["on_epoch_end"]) == 3
    cl("on_epoch_end", None)
    assert calls.index("B") < calls.index("A") and calls.index("B") < calls.index("C")
    assert [type(cb).__name__ for cb in CallbackList([A(), C()])] == ["A", "C"]  # no constraint: given order


def test_contradictory_order_and_unknown_hooks_are_clear_errors():
    from trainlab.errors import TrainlabError

    class A(Callback):
        pass

    class B(Callback):
        run_after, run_before = (A,), (A,)

    with pytest.raises(TrainlabError, match="contradictory"):
        CallbackList([A(), B()])

    class Old(Callback):
        def on_batch_end(self, learner):  # the hook's old name: it would never run
            pass

    with pytest.raises(TrainlabError, match="on_batch_end is not a callback hook.*on_train_batch_end"):
        CallbackList([Old()])


def test_early_stopping_stops_after_patience_and_restores_best():
    class Scripted(Callback):  # a fixed validation curve: best at epoch 2
        values = [1.0, 0.5, 0.6, 0.7, 0.8, 0.9]

        def on_validation_end(self, learner):
            learner.logs["valid.loss"] = self.values[learner.loop.epoch]

    snapshots = {}

    class Snap(Callback):
        def on_epoch_end(self, learner):
            snapshots[learner.loop.epoch] = {k: v.clone() for k, v in learner.model.state_dict().items()}

    es = EarlyStopping(monitor="valid.loss", patience=2)
    learner = tiny_learner(callbacks=[Scripted(), es, Snap()]).fit(10)
    assert learner.loop.epoch == 4 and learner.should_stop and "did not improve for 2" in learner.stop_reason
    assert es.best == 0.5 and es.best_epoch == 2
    for k, v in snapshots[2].items():
        assert torch.equal(learner.model.state_dict()[k], v)


def test_checkpoint_best_and_last(tmp_path):
    learner = tiny_learner(callbacks=[Checkpoint(tmp_path, monitor="valid.accuracy", mode="max", save_every=2)])
    learner.fit(3)
    last = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert last["loop"]["epoch"] == 3 and best["loop"]["epoch"] == learner.history.best("valid.accuracy", "max")["epoch"]
    assert json.loads((tmp_path / "metrics_val_best.json").read_text())["epoch"] == best["loop"]["epoch"]
    assert json.loads((tmp_path / "metrics_val_last.json").read_text())["epoch"] == 3



@pytest.mark.parametrize("make", [lambda d: Checkpoint(d, monitor="valid.acc"),
                                  lambda d: EarlyStopping(monitor="valid.acc"),
                                  lambda d: LRSchedule(None, "plateau", monitor="valid.acc")])
def test_a_misspelled_monitor_is_refused_before_anything_trains(tmp_path, make):
    with pytest.raises(ConfigError, match=r"'valid.acc', which this run does not record. Did you mean 'valid.accuracy'"):
        tiny_learner(callbacks=[make(tmp_path)])  # refused when the Learner is built, not after epoch 1
    assert not any(tmp_path.iterdir())


def test_one_cycle_steps_per_batch_and_plateau_reduces():
    learner = tiny_learner()
    sched = torch.optim.lr_scheduler.OneCycleLR(learner.optimizer, max_lr=0.01, total_steps=2 * len(learner.data.train))
    lrs = []

    class Record(Callback):  # the lr each batch trains with
        def on_train_batch_start(self, learner):
            lrs.append(learner.optimizer.param_groups[0]["lr"])

    learner.callbacks = CallbackList([LRSchedule(sched, "step"), Record()])
    learner.fit(2)
    assert max(lrs) == pytest.approx(0.01, rel=0.1) and lrs[-1] < 1e-6 and lrs[0] < 0.002
    assert lrs.index(max(lrs)) == 3  # the peak at pct_start=0.3 of 12 steps

    learner = tiny_learner(lr=0.1)

    class Flat(Callback):
        def on_validation_end(self, learner):
            learner.logs["valid.loss"] = 1.0

    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(learner.optimizer, patience=0, factor=0.5)
    learner.callbacks = CallbackList([Flat(), LRSchedule(plateau, "plateau")])
    learner.fit(3)
    assert learner.optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)


def test_grad_clip_limits_the_norm():
    norms = []

    class Measure(Callback):
        run_after = (GradClip,)

        def on_before_optimizer_step(self, learner):
            norms.append(float(torch.nn.utils.get_total_norm([p.grad for p in learner.model.parameters()])))

    tiny_learner(callbacks=[GradClip(0.01), Measure()]).fit(1)
    assert max(norms) <= 0.01 + 1e-6


def test_reporting_callbacks_write_their_files(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="trainlab"):
        tiny_learner(callbacks=[Progress("epoch"), HistoryWriter(tmp_path), PlotHistory(tmp_path),
                                TensorBoard(tmp_path / "tb", log_every=2)]).fit(2)
    lines = [r.message for r in caplog.records if r.message.startswith("epoch ")]
    assert len(lines) == 2 and "valid loss" in lines[0]
    assert len(json.loads((tmp_path / "history.json").read_text())["rows"]) == 2
    assert (tmp_path / "history.csv").read_text().count("\n") == 3
    assert (tmp_path / "training_history.png").stat().st_size > 10_000
    assert any(p.name.startswith("events.out.tfevents") for p in (tmp_path / "tb").iterdir())
    # per-class values are tags of the one run (add_scalars made a run, i.e. a folder, per class)
    assert not [p for p in (tmp_path / "tb").iterdir() if p.is_dir()]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    per_class = sorted(t for t in tags if t.startswith("valid.per_class.accuracy/"))
    rows = json.loads((tmp_path / "history.json").read_text())["rows"]
    assert len(per_class) == len(rows[0]["valid.per_class.accuracy"]) > 1
    assert [e.step for e in acc.Scalars(per_class[0])] == [1, 2] and "valid/loss" in tags
    layout = (tmp_path / "tb").glob("events.out.tfevents*")
    assert any(b"valid\\.per_class\\.accuracy/.*" in p.read_bytes() for p in layout)  # the custom-scalars chart


def test_loss_watch_warns_when_nothing_learns():
    learner = tiny_learner(optimizer="sgd", lr=0.0, callbacks=[LossWatch()])
    with pytest.warns(RuntimeWarning, match="exactly"):
        learner.fit(2)
    learning = tiny_learner(callbacks=[LossWatch()])
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        learning.fit(2)


def test_frozen_model_is_a_clear_error():
    from trainlab.errors import TrainingError

    learner = tiny_learner()
    for p in learner.model.parameters():
        p.requires_grad_(False)
    with pytest.raises(TrainingError, match="no trainable parameters"):
        learner.fit(1)
