import json

import pytest
import torch

from trainlab.engine import Callback, Checkpoint, HistoryWriter
from trainlab.engine import file_queue as files_module
from trainlab.engine.checkpoint import load_checkpoint
from trainlab.engine.file_queue import FileQueue

from .helpers import tiny_learner


def test_files_are_written_in_order_and_a_failure_stops_the_later_ones(tmp_path, monkeypatch):
    real = files_module.atomic_write_bytes
    written = []

    def write(path, data, hint=""):
        if path.name == "bad":
            raise OSError("disk full")
        written.append(path.name)
        real(path, data, hint=hint)

    monkeypatch.setattr(files_module, "atomic_write_bytes", write)
    queue = FileQueue(max_pending=2)
    for name in ("a", "b", "a"):
        queue.submit(tmp_path / name, name.encode() * 3)
    queue.flush()
    assert written == ["a", "b", "a"] and (tmp_path / "a").read_bytes() == b"aaa"
    queue.submit(tmp_path / "bad", b"x")
    queue.submit(tmp_path / "after", b"y")  # describes a later state than the file that failed: dropped
    with pytest.raises(OSError, match="disk full"):
        queue.flush()
    assert not (tmp_path / "after").exists()
    for _ in range(2):  # once reported, the failure stays: no later file of this run is ever written
        with pytest.raises(OSError, match="disk full"):
            queue.submit(tmp_path / "c", b"c")
        with pytest.raises(OSError, match="disk full"):
            queue.flush()
    assert not (tmp_path / "c").exists() and queue._thread is None
    queue.reset()  # a new run of writes (Learner.fit calls it)
    queue.submit(tmp_path / "c", b"c")
    queue.flush()
    assert (tmp_path / "c").read_bytes() == b"c"


def test_a_failure_not_reported_yet_is_raised_by_reset(tmp_path, monkeypatch):
    monkeypatch.setattr(files_module, "atomic_write_bytes", lambda path, data, hint="": (_ for _ in ()).throw(
        OSError("disk full")))
    queue = FileQueue()
    queue.submit(tmp_path / "a", b"a")
    with pytest.raises(OSError, match="disk full"):
        queue.reset()
    queue.reset()  # reported now: forgotten


class FailAtEpoch(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_start(self, learner):
        if learner.loop.epoch + 1 == self.epoch:
            raise RuntimeError("boom")


def test_fit_returns_or_fails_with_the_files_of_its_finished_epochs_on_disk(tmp_path):
    learner = tiny_learner(callbacks=[Checkpoint(tmp_path), HistoryWriter(tmp_path), FailAtEpoch(3)])
    with pytest.raises(RuntimeError, match="boom"):
        learner.fit(4)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["loop"]["epoch"] == 2
    assert len(json.loads((tmp_path / "history.json").read_text())["rows"]) == 2
    learner = tiny_learner(callbacks=[Checkpoint(tmp_path / "ok"), HistoryWriter(tmp_path / "ok")])
    learner.fit(2)
    assert load_checkpoint(tmp_path / "ok" / "checkpoints" / "last.pt")["loop"]["epoch"] == 2
    assert len(json.loads((tmp_path / "ok" / "history.json").read_text())["rows"]) == 2


def test_a_synchronous_save_lands_after_the_queued_ones(tmp_path):
    learner = tiny_learner()
    path, weight = tmp_path / "state.pt", next(learner.model.parameters())
    learner.save(path, background=True)  # queued: the weights as they are now
    with torch.no_grad():
        weight.add_(1.0)
    learner.save(path)  # waits for the queued write, then writes over it
    assert torch.equal(load_checkpoint(path)["model"]["1.weight"], weight)
    learner.save(path, background=True)
    queued = weight.detach().clone()
    with torch.no_grad():
        weight.add_(1.0)  # a queued checkpoint holds the state of when it was queued
    learner.files.flush()
    assert torch.equal(load_checkpoint(path)["model"]["1.weight"], queued)
