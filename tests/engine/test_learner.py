import pytest
import torch

from trainlab.engine import Callback, Checkpoint
from trainlab.errors import TrainingError

from .helpers import tiny_learner


def weights(learner):
    return {k: v.clone() for k, v in learner.model.state_dict().items()}


def test_fit_learns_and_records_history():
    learner = tiny_learner().fit(4)
    assert learner.loop.epoch == 4 and len(learner.history) == 4 and learner.loop.step == 4 * len(learner.data.train)
    rows = learner.history.rows
    assert rows[-1]["valid.accuracy"] > 0.9 and rows[-1]["train.loss"] < rows[0]["train.loss"]
    assert len(rows[-1]["valid.per_class.accuracy"]) == 4 and rows[-1]["lr"] == 0.01 and rows[-1]["time"] > 0
    assert learner.evaluate("test")["accuracy"] > 0.9
    assert learner.predict("test").shape == (learner.data.test.num_samples, 4)


def test_resume_from_last_checkpoint_continues_the_same_run(tmp_path):
    straight = tiny_learner(dropout=0.2).fit(4)
    first = tiny_learner(dropout=0.2, callbacks=[Checkpoint(tmp_path)]).fit(2)
    assert (tmp_path / "checkpoints" / "last.pt").is_file()
    del first
    torch.manual_seed(123)  # loading must restore the RNG, whatever happened in between
    resumed = tiny_learner(seed=0, dropout=0.2).load(tmp_path / "checkpoints" / "last.pt")
    assert resumed.loop.epoch == 2 and len(resumed.history) == 2
    resumed.fit(4)
    for k, v in weights(straight).items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert resumed.history.rows[-1]["valid.loss"] == straight.history.rows[-1]["valid.loss"]


def test_resume_mid_epoch_is_exact(tmp_path):
    class StopAt(Callback):
        def on_train_batch_end(self, learner):
            if learner.loop.epoch == 1 and learner.loop.batch == 3:
                learner.should_stop = True
                learner.save(tmp_path / "mid.pt")

    straight = tiny_learner(dropout=0.3).fit(3)
    tiny_learner(dropout=0.3, callbacks=[StopAt()]).fit(3)
    resumed = tiny_learner(dropout=0.3).load(tmp_path / "mid.pt")
    assert (resumed.loop.epoch, resumed.loop.batch) == (1, 3)
    resumed.fit(3)
    for k, v in weights(straight).items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_accumulation_matches_a_larger_batch():
    # 184 training samples = 4 × 46 = 8 × 23: every accumulated pair holds exactly one big batch's samples
    big = tiny_learner(batch_size=46, optimizer="sgd", lr=0.1)
    acc = tiny_learner(batch_size=23, optimizer="sgd", lr=0.1, accumulate=2)
    assert big.data.train.num_samples == 184
    big.fit(1), acc.fit(1)
    assert acc.loop.step == big.loop.step
    for k, v in weights(big).items():
        assert torch.allclose(v, acc.model.state_dict()[k], atol=1e-5), k


def test_nan_loss_stops_with_the_step_named():
    class Poison(Callback):
        def on_train_batch_start(self, learner):
            if learner.loop.step == 5:
                with torch.no_grad():
                    learner.model[1].weight.fill_(float("nan"))

    with pytest.raises(TrainingError, match=r"NaN or infinite at step 5 \(epoch 1,"):
        tiny_learner(callbacks=[Poison()]).fit(2)


def test_bf16_autocast_on_cpu_trains():
    learner = tiny_learner(precision="bf16").fit(3)
    assert learner.history.rows[-1]["valid.accuracy"] > 0.8


def test_evaluate_unknown_split():
    learner = tiny_learner()
    learner.data.test = None
    with pytest.raises(Exception, match="split 'test' is not available"):
        learner.evaluate("test")


class NaNOnce(torch.nn.Module):
    """Makes the output NaN on the ``at``-th training call only."""

    def __init__(self, at):
        super().__init__()
        self.at, self.calls = at, 0

    def forward(self, x):
        if self.training:
            self.calls += 1
            if self.calls == self.at:
                return x * float("nan")
        return x


def test_skip_nonfinite_counts_and_continues():
    learner = tiny_learner(skip_nonfinite=True)
    learner.model.append(NaNOnce(at=4))
    learner.fit(2)
    assert learner.loop.skipped_batches == 1 and learner.history.rows[-1]["skipped_batches"] == 1
    assert all(torch.isfinite(p).all() for p in learner.model.parameters())
    assert learner.loop.step == 2 * len(learner.data.train) - 1


def test_mid_epoch_checkpoint_resumes_weights_and_history(tmp_path):
    straight = tiny_learner(dropout=0.2).fit(2)

    class Crash(Callback):
        run_after = (Checkpoint,)  # the checkpoint callback saved this step first

        def on_train_batch_end(self, learner):
            if learner.loop.step == 8:
                raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        tiny_learner(dropout=0.2, callbacks=[Checkpoint(tmp_path, save_every_steps=4), Crash()]).fit(2)
    resumed = tiny_learner(dropout=0.2).load(tmp_path / "checkpoints" / "last.pt")
    assert (resumed.loop.epoch, resumed.loop.batch, resumed.loop.step) == (1, 2, 8)
    resumed.fit(2)
    for k, v in weights(straight).items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    for a, b in zip(straight.history.rows, resumed.history.rows):
        assert a["train.loss"] == b["train.loss"] and a["valid.per_class.loss"] == b["valid.per_class.loss"]


def test_sigterm_finishes_the_step_and_saves(tmp_path):
    import os
    import signal

    from trainlab.engine.callbacks.signals import GracefulStop

    class SendTerm(Callback):
        def on_train_batch_end(self, learner):
            if learner.loop.epoch == 1 and learner.loop.batch == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    stopper = GracefulStop()
    learner = tiny_learner(callbacks=[stopper, SendTerm(), Checkpoint(tmp_path)]).fit(3)
    # numbered as people count, the same way the resume message numbers it
    assert stopper.received == signal.SIGTERM and learner.stop_reason == "stopped by SIGTERM (epoch 2, after batch 2 of 6)"
    assert learner.loop.describe(learner.batches_per_epoch) == "epoch 2, after batch 2 of 6"
    assert (learner.loop.epoch, learner.loop.batch) == (1, 2)
    from trainlab.engine.checkpoint import load_checkpoint

    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert (state["loop"]["epoch"], state["loop"]["batch"]) == (1, 2)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


# ---------------------------------------------------------------------- train_pass (the extra-pass hook)


def test_train_pass_steps_without_touching_the_epochs_counters_or_per_batch_hooks():
    class Hooks(Callback):
        def __init__(self):
            self.calls = {"on_train_batch_start": 0, "on_before_optimizer_step": 0, "on_train_batch_end": 0}

        def on_train_batch_start(self, learner):
            self.calls["on_train_batch_start"] += 1

        def on_before_optimizer_step(self, learner):
            self.calls["on_before_optimizer_step"] += 1

        def on_train_batch_end(self, learner):
            self.calls["on_train_batch_end"] += 1

    hooks = Hooks()
    learner = tiny_learner(callbacks=[hooks], accumulate=2).fit(1)
    before = dict(hooks.calls)
    step, seen, metrics = learner.loop.step, learner.loop.samples, learner._metric_state()
    old = weights(learner)
    subset = learner.data.train.subset(torch.arange(100), train=True)  # 100 samples = 4 batches of 32 (last 4)
    result = learner.train_pass(subset, epoch=5)
    assert result["batches"] == 4 and result["samples"] == 100 and result["steps"] == 2  # accumulate 2
    assert learner.loop.step == step + 2 and learner.loop.samples == seen + 100 and learner.loop.batch == 0
    assert hooks.calls["on_before_optimizer_step"] == before["on_before_optimizer_step"] + 2  # e.g. gradient clipping
    assert hooks.calls["on_train_batch_start"] == before["on_train_batch_start"] and hooks.calls["on_train_batch_end"] == before["on_train_batch_end"]
    assert all(torch.equal(v, learner._metric_state()[k]) for k, v in metrics.items())
    assert any(not torch.equal(v, learner.model.state_dict()[k]) for k, v in old.items())
    assert learner.train_pass(subset, epoch=5, max_steps=1)["batches"] == 2  # 1 step × accumulate 2
    assert learner.train_pass(subset, epoch=5, max_steps=0) == {"steps": 0, "batches": 0, "samples": 0, "loss": 0.0}


def test_train_pass_loss_is_the_sample_weighted_mean():
    learner = tiny_learner(lr=1e-12, optimizer="sgd")  # weights stay (almost exactly) put
    subset = learner.data.train.subset(torch.arange(40), train=False)  # batches of 32 and 8
    expected = float(torch.nn.functional.cross_entropy(learner.predict(subset), subset.labels))
    assert learner.train_pass(subset)["loss"] == pytest.approx(expected, rel=1e-5)


def test_train_pass_lr_scale_restores_every_groups_lr_exactly_even_on_error():
    learner = tiny_learner(optimizer="sgd", lr=0.0123)
    learner.optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.7})
    seen = []

    class Capture(Callback):
        def on_before_optimizer_step(self, learner):
            seen.append([g["lr"] for g in learner.optimizer.param_groups])

    learner.callbacks = type(learner.callbacks)([Capture()])
    subset = learner.data.train.subset(torch.arange(64), train=True)
    learner.train_pass(subset, lr_scale=1e-2)
    assert seen == [[0.0123 * 1e-2, 0.7 * 1e-2]] * 2
    assert [g["lr"] for g in learner.optimizer.param_groups] == [0.0123, 0.7]

    def broken():
        yield next(iter(subset.batches(0)))
        raise RuntimeError("data died")

    with pytest.raises(RuntimeError, match="data died"):
        learner.train_pass(broken(), lr_scale=1e-3)
    assert [g["lr"] for g in learner.optimizer.param_groups] == [0.0123, 0.7]


def test_train_pass_grad_scale_equals_lr_scale_under_plain_sgd():
    def moved(**scale):
        learner = tiny_learner(optimizer="sgd", lr=0.1)
        start = weights(learner)
        learner.train_pass(learner.data.train.subset(torch.arange(64), train=True), **scale)
        return {k: learner.model.state_dict()[k] - v for k, v in start.items()}

    by_grad, by_lr = moved(grad_scale=0.25), moved(lr_scale=0.25)
    for k, v in by_grad.items():
        assert v.abs().max() > 0 and torch.allclose(v, by_lr[k], atol=1e-7), k


def test_train_pass_nan_raises_the_training_error():
    learner = tiny_learner()
    with torch.no_grad():
        learner.model[1].weight.fill_(float("nan"))
    with pytest.raises(TrainingError, match="NaN or infinite"):
        learner.train_pass(learner.data.train.subset(torch.arange(32), train=True))


def test_train_pass_freeze_norm_keeps_batchnorm_statistics():
    learner = tiny_learner()
    learner.model.insert(2, torch.nn.BatchNorm1d(32))  # (B, 32) after the first Linear
    learner.fit(1)
    stats = {k: v.clone() for k, v in learner.model[2].state_dict().items()}
    two_classes = learner.data.train.subset((learner.data.train.labels < 2).nonzero().squeeze(1), train=True)
    learner.train_pass(two_classes, freeze_norm=True)
    assert all(torch.equal(v, learner.model[2].state_dict()[k]) for k, v in stats.items())
    assert learner.model.training and learner.model[2].training  # modes restored
    learner.train_pass(two_classes)  # default: BatchNorm updates its statistics from the subset
    assert not torch.equal(stats["running_mean"], learner.model[2].running_mean)


def test_train_pass_restore_optimizer_state_leaves_adams_moments_untouched():
    learner = tiny_learner().fit(1)
    before = {id(p): {k: v.clone() for k, v in s.items()} for p, s in learner.optimizer.state.items()}
    old = weights(learner)
    subset = learner.data.train.subset(torch.arange(64), train=True)
    learner.train_pass(subset, lr_scale=0.1, restore_optimizer_state=True)
    assert any(not torch.equal(v, learner.model.state_dict()[k]) for k, v in old.items())  # the weights moved
    for p, s in learner.optimizer.state.items():
        assert all(torch.equal(v, before[id(p)][k]) for k, v in s.items())
    learner.train_pass(subset, lr_scale=0.1)  # shared: the moments carry the pass's gradients
    p, s = next(iter(learner.optimizer.state.items()))
    assert not torch.equal(s["exp_avg"], before[id(p)]["exp_avg"]) and s["step"] == before[id(p)]["step"] + 2


# ---------------------------------------------------------------------- one step path


def test_a_skipped_last_batch_leaves_no_gradient_behind():
    """skip_nonfinite with accumulate 2 and a NaN on the last of 6 batches: batch 5's gradient is stepped on
    (its group ends with the epoch), never carried into the next epoch."""
    learner = tiny_learner(skip_nonfinite=True, accumulate=2, batch_size=32)
    learner.model.append(NaNOnce(at=6))  # 184 samples = 6 batches of 32 (the last has 24)
    assert len(learner.data.train) == 6
    grads_at_epoch_start = []

    class Grads(Callback):
        def on_epoch_start(self, learner):
            grads_at_epoch_start.append([p.grad for p in learner.model.parameters()])

    learner.callbacks = type(learner.callbacks)([Grads()])
    learner.fit(2)
    assert learner.loop.skipped_batches == 1 and learner.loop.step == 3 + 3  # batch 5 stepped alone
    assert all(g is None for grads in grads_at_epoch_start for g in grads)
    assert all(p.grad is None for p in learner.model.parameters())


def test_epochs_and_extra_passes_share_one_step_function(monkeypatch):
    from trainlab.engine.learner import Learner

    calls = []
    original = Learner._step

    def spy(self, x, y, **kwargs):
        calls.append(kwargs.get("loss_scale", 1.0))
        return original(self, x, y, **kwargs)

    monkeypatch.setattr(Learner, "_step", spy)
    learner = tiny_learner().fit(1)
    learner.train_pass(learner.data.train.subset(torch.arange(64), train=True), grad_scale=0.5)
    assert calls == [1.0] * len(learner.data.train) + [0.5, 0.5]


def test_every_param_groups_lr_is_recorded(tmp_path):
    from trainlab.engine import HistoryWriter

    learner = tiny_learner(optimizer="sgd", lr=0.1, callbacks=[HistoryWriter(tmp_path)])
    learner.optimizer.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.01})
    learner.fit(1)
    row = learner.history.rows[-1]
    assert row["lr"] == 0.1 and row["lr_groups"] == [0.1, 0.01]
    assert "lr_groups.1" in (tmp_path / "history.csv").read_text().splitlines()[0]


def test_frozen_batchnorm_keeps_its_statistics_unless_asked():
    def learner_with_frozen_bn(**kwargs):
        learner = tiny_learner(**kwargs)
        learner.model.insert(2, torch.nn.BatchNorm1d(32))  # (B, 32) after the first Linear
        for p in learner.model[2].parameters():
            p.requires_grad_(False)  # what model.freeze does to the layers it names
        return learner

    frozen = learner_with_frozen_bn()
    stats = {k: v.clone() for k, v in frozen.model[2].state_dict().items()}
    frozen.fit(1)
    assert all(torch.equal(v, frozen.model[2].state_dict()[k]) for k, v in stats.items())
    assert frozen.model.training and not frozen.model[2].training  # eval mode while training

    updating = learner_with_frozen_bn(freeze_bn_stats=False).fit(1)
    assert not torch.equal(stats["running_mean"], updating.model[2].running_mean)


def test_objective_is_what_each_step_backpropagates():
    """Learner.objective: one SGD step on 2 x the per-sample losses moves the weights exactly twice as far."""
    def step(objective):
        learner = tiny_learner(optimizer="sgd", lr=0.05)
        learner.objective = objective
        start = weights(learner)
        learner.train_pass(learner.data.train.subset(torch.arange(32), train=False))  # one batch, one step
        return {k: learner.model.state_dict()[k] - v for k, v in start.items()}

    shapes = []

    def doubled(output, target, per_sample):
        shapes.append((output.shape, target.shape, per_sample.shape))
        return 2 * per_sample

    plain, twice = step(None), step(doubled)
    assert shapes == [((32, 4), (32,), (32,))]
    for k, v in plain.items():  # float rounding only
        assert v.abs().max() > 0 and torch.allclose(twice[k], 2 * v, atol=1e-7), k


def test_objective_applies_to_epochs_while_metrics_keep_the_tasks_loss():
    learner = tiny_learner()
    learner.objective = lambda output, target, per_sample: 0 * per_sample  # nothing to learn from
    start = weights(learner)
    untrained = learner.evaluate("valid")
    learner.fit(1)
    assert all(torch.equal(learner.model.state_dict()[k], v) for k, v in start.items())  # zero gradients throughout
    row = learner.history.rows[0]
    assert row["train.loss"] > 1.0  # the task's cross-entropy (about ln 4), not the objective's 0
    assert row["valid.loss"] == pytest.approx(untrained["loss"], rel=1e-6)  # same weights, same evaluation
