import pytest
import torch

from trainlab.engine import Callback, Checkpoint
from trainlab.errors import TrainingError

from .helpers import tiny_learner


def weights(learner):
    return {k: v.clone() for k, v in learner.model.state_dict().items()}


def test_fit_learns_and_records_history():
    learner = tiny_learner().fit(4)
    assert learner.epoch == 4 and len(learner.history) == 4 and learner.step == 4 * len(learner.data.train)
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
    assert resumed.epoch == 2 and len(resumed.history) == 2
    resumed.fit(4)
    for k, v in weights(straight).items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert resumed.history.rows[-1]["valid.loss"] == straight.history.rows[-1]["valid.loss"]


def test_resume_mid_epoch_is_exact(tmp_path):
    class StopAt(Callback):
        def on_batch_end(self, learner):
            if learner.epoch == 1 and learner.batch_idx == 3:
                learner.should_stop = True
                learner.save(tmp_path / "mid.pt")

    straight = tiny_learner(dropout=0.3).fit(3)
    tiny_learner(dropout=0.3, callbacks=[StopAt()]).fit(3)
    resumed = tiny_learner(dropout=0.3).load(tmp_path / "mid.pt")
    assert (resumed.epoch, resumed.batch_idx) == (1, 3)
    resumed.fit(3)
    for k, v in weights(straight).items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k


def test_accumulation_matches_a_larger_batch():
    # 184 training samples = 4 × 46 = 8 × 23: every accumulated pair holds exactly one big batch's samples
    big = tiny_learner(batch_size=46, optimizer="sgd", lr=0.1)
    acc = tiny_learner(batch_size=23, optimizer="sgd", lr=0.1, accumulate=2)
    assert big.data.train.num_samples == 184
    big.fit(1), acc.fit(1)
    assert acc.step == big.step
    for k, v in weights(big).items():
        assert torch.allclose(v, acc.model.state_dict()[k], atol=1e-5), k


def test_nan_loss_stops_with_the_step_named():
    class Poison(Callback):
        def on_batch_start(self, learner):
            if learner.step == 5:
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
    assert learner.skipped_batches == 1 and learner.history.rows[-1]["skipped_batches"] == 1
    assert all(torch.isfinite(p).all() for p in learner.model.parameters())
    assert learner.step == 2 * len(learner.data.train) - 1


def test_mid_epoch_checkpoint_resumes_weights_and_history(tmp_path):
    straight = tiny_learner(dropout=0.2).fit(2)

    class Crash(Callback):
        order = 50  # after the checkpoint callback saved this step

        def on_batch_end(self, learner):
            if learner.step == 8:
                raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError):
        tiny_learner(dropout=0.2, callbacks=[Checkpoint(tmp_path, save_every_steps=4), Crash()]).fit(2)
    resumed = tiny_learner(dropout=0.2).load(tmp_path / "checkpoints" / "last.pt")
    assert (resumed.epoch, resumed.batch_idx, resumed.step) == (1, 2, 8)
    resumed.fit(2)
    for k, v in weights(straight).items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    for a, b in zip(straight.history.rows, resumed.history.rows):
        assert a["train.loss"] == b["train.loss"] and a["valid.per_class.loss"] == b["valid.per_class.loss"]


def test_sigterm_finishes_the_step_and_saves(tmp_path):
    import os
    import signal

    from trainlab.engine.signals import GracefulStop

    class SendTerm(Callback):
        def on_batch_end(self, learner):
            if learner.epoch == 1 and learner.batch_idx == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    stopper = GracefulStop()
    learner = tiny_learner(callbacks=[stopper, SendTerm(), Checkpoint(tmp_path)]).fit(3)
    assert stopper.received == signal.SIGTERM and "resume with --resume" in learner.stop_reason
    assert (learner.epoch, learner.batch_idx) == (1, 2)
    from trainlab.engine.checkpoint import load_checkpoint

    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert (state["epoch"], state["batch_idx"]) == (1, 2)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
