"""How a run stops and resumes: should_stop / stop_now, early stopping's best weights, the checkpoint a
signal leaves, callbacks' state keys, and failing hooks (each test fails on the code before issue 26)."""
import logging
import os
import signal

import pytest
import torch

from trainlab.engine import Callback, CallbackList, Checkpoint, EarlyStopping, HistoryWriter
from trainlab.engine.callbacks.signals import GracefulStop
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.errors import TrainlabError

from .helpers import tiny_learner


def weights(learner):
    return {k: v.clone() for k, v in learner.model.state_dict().items()}


def assert_same_weights(a, b):
    for k, v in a.items():
        assert torch.equal(v, b[k]), k


class StopAtStep(Callback):
    """Sets ``should_stop`` (and ``stop_now``, as a signal does) right after optimizer step ``step``."""

    def __init__(self, step, now=False):
        self.step, self.now = step, now

    def on_train_batch_end(self, learner):
        if learner.did_step and learner.loop.step == self.step:
            learner.should_stop, learner.stop_now = True, self.now
            learner.stop_reason = f"stopped at step {self.step}"


def test_early_stopping_best_weights_survive_a_resume(tmp_path):
    # valid.loss watched with mode max: its "best" is epoch 1, so an uninterrupted run ends with epoch 1's weights
    def make(*extra):
        return tiny_learner(dropout=0.2, callbacks=[EarlyStopping(monitor="valid.loss", mode="max", patience=10),
                                                    *extra])

    straight = make().fit(3)
    make(Checkpoint(tmp_path)).fit(2)  # stopped after its best epoch (1)
    resumed = make().load(tmp_path / "checkpoints" / "last.pt").fit(3)
    assert resumed.callbacks.find(EarlyStopping).best_epoch == 1
    assert_same_weights(weights(straight), weights(resumed))  # before: the resumed run ended with epoch 3's


def test_a_mid_epoch_checkpoint_loads_and_saves_again(tmp_path):
    learner = tiny_learner(callbacks=[StopAtStep(3, now=True), Checkpoint(tmp_path)]).fit(2)
    assert (learner.loop.epoch, learner.loop.batch) == (0, 3)
    first = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    again = tiny_learner().load(tmp_path / "checkpoints" / "last.pt")
    again.save(tmp_path / "again.pt")  # before: AttributeError (train_metrics exists only inside an epoch)
    second = load_checkpoint(tmp_path / "again.pt")
    assert second["loop"] == first["loop"]
    for name, value in first["train_metrics"].items():
        assert torch.equal(value, second["train_metrics"][name]), name


def test_fit_clears_the_stop_flags_of_the_previous_fit():
    learner = tiny_learner(callbacks=[StopAtStep(3, now=True)]).fit(2)
    assert learner.stop_now and (learner.loop.epoch, learner.loop.batch) == (0, 3)
    learner.fit(2)  # before: one epoch trained, left without validating or counting it
    assert not learner.stop_now and not learner.should_stop and learner.stop_reason == ""
    assert learner.loop.epoch == 2 and [r["epoch"] for r in learner.history.rows] == [1, 2]
    assert all("valid.loss" in r for r in learner.history.rows)


class TermAfterEpoch(Callback):
    """SIGTERM to this process once epoch ``epoch`` is recorded, after every other callback's hook."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_recorded(self, learner):
        if learner.loop.epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_after_an_epoch_that_save_every_skipped_leaves_its_last_pt(tmp_path):
    stopper = GracefulStop()
    learner = tiny_learner(callbacks=[stopper, Checkpoint(tmp_path, save_every=3), HistoryWriter(tmp_path),
                                      TermAfterEpoch(1)]).fit(6)
    assert stopper.received == signal.SIGTERM and learner.loop.epoch == 1
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")  # before: none (save_every=3 skipped epoch 1)
    assert (state["loop"]["epoch"], state["loop"]["batch"]) == (1, 0) and len(state["history"]) == 1


def test_should_stop_mid_epoch_ends_the_run_with_a_validated_recorded_saved_epoch(tmp_path):
    learner = tiny_learner(eval_every=3, callbacks=[StopAtStep(2), Checkpoint(tmp_path, save_every=5)]).fit(6)
    assert learner.loop.epoch == 1 and learner.loop.batch == 0 and learner.loop.step == 2  # a short last epoch
    row = learner.history.rows[-1]
    assert row["epoch"] == 1 and "valid.loss" in row  # before: not validated (eval_every 3)
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert state["loop"]["epoch"] == 1 and state["history"][-1]["valid.loss"] == row["valid.loss"]


def test_should_stop_waits_for_the_end_of_an_accumulation_group():
    learner = tiny_learner(accumulate=3, callbacks=[StopAtStep(1)]).fit(2)
    assert learner.loop.step == 1 and learner._micro == 0 and learner.loop.epoch == 1


# ---------------------------------------------------------------------- state keys


def test_two_early_stoppings_keep_their_own_states(tmp_path):
    def make():
        return [EarlyStopping(monitor="valid.loss", mode="min", patience=10),
                EarlyStopping(monitor="valid.accuracy", mode="max", patience=10)]

    loss, accuracy = make()
    tiny_learner(callbacks=[loss, accuracy, Checkpoint(tmp_path)]).fit(2)
    fresh = make()
    tiny_learner(callbacks=fresh).load(tmp_path / "checkpoints" / "last.pt")
    assert fresh[0].best == loss.best and fresh[1].best == accuracy.best  # before: both held one of them
    assert fresh[0].best != fresh[1].best


def test_two_stateful_callbacks_under_one_key_are_refused(tmp_path):
    with pytest.raises(TrainlabError, match="two Checkpoint callbacks keep their state under the same key"):
        CallbackList([Checkpoint(tmp_path), Checkpoint(tmp_path / "b")])
    a, b = Checkpoint(tmp_path), Checkpoint(tmp_path / "b")
    b.state_key = "second"
    assert [cb.state_key for cb in CallbackList([a, b])] == ["Checkpoint", "second"]


def test_a_checkpoint_from_before_state_keys_still_restores_early_stopping(tmp_path):
    es = EarlyStopping(patience=10)
    tiny_learner(callbacks=[es, Checkpoint(tmp_path)]).fit(2)
    state = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    state["callbacks"] = {"EarlyStopping": {k: v for k, v in state["callbacks"][es.state_key].items()
                                            if k != "best_weights"}}  # as written before
    fresh = EarlyStopping(patience=10)
    tiny_learner(callbacks=[fresh]).load_state_dict(state)
    assert fresh.best == es.best and fresh.best_weights is None


# ---------------------------------------------------------------------- failing paths


def test_every_on_exception_hook_runs_and_the_first_error_is_raised(tmp_path, caplog):
    calls = []

    class Fails(Callback):
        def on_epoch_start(self, learner):
            if learner.loop.epoch == 1:
                raise RuntimeError("the original error")

    class Broken(Callback):  # e.g. a plot whose savefig meets a full disk
        def on_exception(self, learner, error):
            calls.append("broken")
            raise OSError("disk full while plotting")

    class Releases(Callback):
        def on_exception(self, learner, error):
            calls.append(("releases", str(error)))

    stopper = GracefulStop()
    learner = tiny_learner(callbacks=[Checkpoint(tmp_path), HistoryWriter(tmp_path), Fails(), Broken(), Releases(),
                                      stopper])
    with caplog.at_level(logging.ERROR, logger="trainlab"), pytest.raises(RuntimeError, match="the original error"):
        learner.fit(3)
    assert calls == ["broken", ("releases", "the original error")]  # before: OSError, Releases never ran
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # GracefulStop's on_exception ran too
    assert "Broken.on_exception failed too: OSError: disk full while plotting" in caplog.text
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["loop"]["epoch"] == 1  # files flushed
    assert (tmp_path / "history.json").is_file()
