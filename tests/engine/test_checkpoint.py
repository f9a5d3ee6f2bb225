import errno
import json
import os
import random

import numpy as np
import pytest
import torch

from trainlab.engine.checkpoint import load_checkpoint, save_checkpoint
from trainlab.engine.rng import rng_state, set_rng_state
from trainlab.errors import CheckpointError, StorageError
from trainlab.files import atomic_write_text


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint({"model": {"w": torch.ones(2)}}, path)

    def boom(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(StorageError, match=r"disk is full \(ENOSPC\); the previous file is intact"):
        save_checkpoint({"model": {"w": torch.zeros(2)}}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_corrupt_missing_and_foreign_files(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.ones(1)}, foreign)
    with pytest.raises(CheckpointError, match="not a trainlab checkpoint"):
        load_checkpoint(foreign)
    atomic_write_text(tmp_path / "x.json", "{}")
    assert (tmp_path / "x.json").read_text() == "{}"


def test_rng_state_roundtrip_through_weights_only_file(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    save_checkpoint({"model": {}, "rng": rng_state()}, tmp_path / "c.pt")
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_best_and_last_written_in_one_epoch_are_the_same_bytes(tmp_path):
    from trainlab.engine import Checkpoint

    from .helpers import tiny_learner

    tiny_learner(callbacks=[Checkpoint(tmp_path, monitor="valid.accuracy", mode="max")]).fit(1)  # the first is best
    best, last = tmp_path / "checkpoints" / "best.pt", tmp_path / "checkpoints" / "last.pt"
    assert best.read_bytes() == last.read_bytes()
    assert load_checkpoint(best)["loop"]["epoch"] == 1
    assert json.loads((tmp_path / "metrics_val_best.json").read_text())["epoch"] == 1
