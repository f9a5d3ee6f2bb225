"""Focus decisions and their RNG survive checkpoints: crashed or stopped runs resume bit-identically."""
import pytest
import torch

from trainlab.engine import Callback, Checkpoint
from trainlab.focus import FocusCallback, ReversedFocusLearning, SoftFocusLearning

from .helpers import focus_learner, spy_on, weights

FOCUS_KEYS = ("focus.classes", "focus.steps", "focus.loss", "focus.per_class.samples", "focus.per_class.probability")


class CrashingSoft(SoftFocusLearning):
    """Dies in the middle of epoch 3's focus pass (after 2 focus batches), like a SIGKILL would."""

    def focus_batches(self, classes, *, train, epoch):
        for i, batch in enumerate(super().focus_batches(classes, train=train, epoch=epoch)):
            if epoch == 2 and i == 2:
                raise RuntimeError("killed mid-focus")
            yield batch


def soft(cls=SoftFocusLearning):
    return cls(k=2, rank_by="loss", temperature=0.2, seed=7)


def assert_same_run(a, b):
    for k, v in weights(a).items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert a.loop.step == b.loop.step
    for ra, rb in zip(a.history.rows, b.history.rows, strict=True):
        assert ra["valid.loss"] == rb["valid.loss"] and ra["train.loss"] == rb["train.loss"]
        assert {k: ra.get(k) for k in FOCUS_KEYS} == {k: rb.get(k) for k in FOCUS_KEYS}


def test_a_run_killed_mid_focus_resumes_exactly(tmp_path):
    straight = focus_learner(soft(), dropout=0.3, augment="light").fit(4)
    crashed = focus_learner(soft(CrashingSoft), dropout=0.3, augment="light", callbacks=[Checkpoint(tmp_path)])
    with pytest.raises(RuntimeError, match="killed mid-focus"):
        crashed.fit(4)
    assert crashed.loop.step > 0 and crashed.loop.epoch == 2  # two focus steps of epoch 3 happened, then death
    torch.manual_seed(99)  # whatever happened in between
    resumed = focus_learner(soft(), dropout=0.3, augment="light").load(tmp_path / "checkpoints" / "last.pt")
    assert resumed.loop.epoch == 2 and resumed.callbacks.callbacks[0].done_epoch == 2
    resumed.fit(4)
    assert_same_run(straight, resumed)


def test_reversed_order_stopped_after_its_focus_pass_resumes_without_repeating_it(tmp_path):
    class StopMidEpoch(Callback):
        def on_train_batch_end(self, learner):
            if learner.loop.epoch == 1 and learner.loop.batch == 3:
                learner.should_stop = learner.stop_now = True

    strategy = lambda: ReversedFocusLearning(k=2, seed=1)  # noqa: E731
    straight = focus_learner(strategy(), dropout=0.3).fit(3)
    first = focus_learner(strategy(), dropout=0.3, callbacks=[StopMidEpoch(), Checkpoint(tmp_path)]).fit(3)
    assert (first.loop.epoch, first.loop.batch) == (1, 3)  # saved mid-epoch 2, its focus pass already done
    resumed = focus_learner(strategy(), dropout=0.3).load(tmp_path / "checkpoints" / "last.pt")
    spy = spy_on(resumed)
    resumed.fit(3)
    assert [e for phase, e, _ in spy.calls if phase == "focus"].count(1) == 0  # epoch 2 not focused again
    assert any(phase == "focus" and e == 2 for phase, e, _ in spy.calls)
    assert_same_run(straight, resumed)


def test_callback_state_round_trips():
    cb = FocusCallback(soft())
    learner = focus_learner(callbacks=[cb]).fit(2)
    state = learner.state_dict()["callbacks"]["FocusCallback"]
    assert state["done_epoch"] == 2 and state["record"]["focus.classes"] == learner.history.rows[-1]["focus.classes"]
    other = FocusCallback(soft())
    other.load_state_dict(state)
    assert other.record == cb.record
    assert torch.equal(other.strategy.generator.get_state(), cb.strategy.generator.get_state())
