import torch

from trainlab.config import parse_config
from trainlab.engine import Callback
from trainlab.engine.callbacks.adaptive_threads import AdaptiveThreads, configure_threads
from trainlab.engine.factory import learner_from_config
from trainlab.threads import ThreadPolicy

from .helpers import tiny_learner


class Busy:
    """A meter that says other processes keep ``others`` cores busy (every call is a new second)."""

    def __init__(self, others):
        self.others_value = others

    def elapsed(self):
        return 99.0

    def others(self):
        return self.others_value


class ThreadsSeen(Callback):
    def __init__(self):
        self.seen = []

    def on_train_batch_end(self, learner):
        self.seen.append(torch.get_num_threads())


def test_a_busy_machine_shrinks_the_pool_during_training_and_a_quiet_one_grows_it():
    meter = Busy(3.0)
    adaptive, seen = AdaptiveThreads(ThreadPolicy(cap=3, usable=4, meter=meter)), ThreadsSeen()
    torch.set_num_threads(3)
    learner = tiny_learner(callbacks=[adaptive, seen])
    assert torch.get_num_threads() == 1  # measured once when the Learner was built
    meter.others_value = 0.0
    adaptive._next = 0.0  # next batch: measure again
    learner.fit(1)
    adaptive._next = 0.0
    learner.fit(2)
    assert seen.seen[0] == 1 and seen.seen[-1] == 3 and adaptive.policy.threads == 3
    assert max(seen.seen) == 3  # never above train.num_threads


def test_fixed_threads_when_adaptation_is_off():
    assert configure_threads(3, adaptive=False) is None and torch.get_num_threads() == 3
    torch.set_num_threads(1)
    assert configure_threads(None, adaptive=False) is None and torch.get_num_threads() == 1


def test_the_config_factory_adds_the_adaptive_callback_unless_turned_off(monkeypatch):
    monkeypatch.setenv("TRAINLAB_WORKERS", "64")  # 64 workers share the cores: each starts with one thread
    params = {"data": {"name": "synthetic", "args": {"samples": 64, "image_size": 8}}, "model": {"name": "mlp"},
              "train": {"epochs": 1, "num_threads": 2}, "logging": {"progress": "none"}}
    learner = learner_from_config(parse_config(params))
    found = learner.callbacks.find(AdaptiveThreads)
    assert found is not None and found.policy.cap == 2 and torch.get_num_threads() == 1
    params["train"]["adaptive_threads"] = False
    learner = learner_from_config(parse_config(params))
    assert learner.callbacks.find(AdaptiveThreads) is None and torch.get_num_threads() == 2
