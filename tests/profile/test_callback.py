import pytest
import torch

from trainlab.profile.callback import FlopsCounter
from trainlab.profile import count

from tests.engine.helpers import tiny_learner


def test_history_has_per_sample_and_cumulative_training_flops():
    learner = tiny_learner(callbacks=[FlopsCounter()]).fit(2)
    per = count(learner.model, torch.zeros(2, 1, 8, 8))
    expected = (per.forward_flops + per.backward_flops) // 2
    rows = learner.history.rows
    assert rows[0]["flops_per_sample"] == expected
    assert rows[0]["train_flops"] == expected * 184 and rows[1]["train_flops"] == 2 * expected * 184


def test_budget_stops_training_and_recounts_after_a_shape_change():
    counter = FlopsCounter(budget=1.5 * 8960 * 184)
    learner = tiny_learner(callbacks=[counter]).fit(5)
    assert learner.loop.epoch == 2 and "FLOPs budget" in learner.stop_reason
    wider = tiny_learner(callbacks=[counter])
    wider.model[1] = torch.nn.Linear(64, 64)
    wider.model[4] = torch.nn.Linear(64, 4)
    counter.budget = None
    wider.fit(1)
    assert counter.per_sample > 8960


def test_resumed_total_is_kept(tmp_path):
    from trainlab.engine import Checkpoint

    tiny_learner(callbacks=[FlopsCounter(), Checkpoint(tmp_path)]).fit(1)
    resumed = tiny_learner(callbacks=[FlopsCounter()]).load(tmp_path / "checkpoints" / "last.pt").fit(2)
    assert resumed.history.rows[-1]["train_flops"] == pytest.approx(2 * 8960 * 184)
