import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trainlab.errors import ConfigError, UnknownNameError
from trainlab.focus import (FOCUS_STRATEGIES, FocusLearning, ReversedFocusLearning, SoftFocusLearning,
                            focus_probabilities)

from .helpers import focus_data

PER_CLASS = {"loss": [0.2, 1.5, 0.1, 0.9, 0.4], "accuracy": [0.95, 0.55, 0.97, 0.80, 0.60],
             "f1": [0.9, 0.5, 0.99, 0.7, 0.65], "support": [10, 10, 10, 10, 10]}


@pytest.mark.parametrize("monitor,k,expected", [
    ("loss", 2, [1, 3]),        # highest loss is worst
    ("accuracy", 2, [1, 4]),    # lowest accuracy is worst
    ("f1", 3, [1, 4, 3]),
    ("valid.per_class.loss", 1, [1]),
])
def test_pick_the_k_worst_in_the_metric_direction(monitor, k, expected):
    assert FocusLearning(k=k, rank_by=monitor).pick_classes(PER_CLASS) == expected


@given(st.lists(st.floats(0, 5, allow_nan=False), min_size=2, max_size=12), st.integers(1, 12))
@settings(max_examples=60, deadline=None)
def test_picked_classes_are_never_better_than_the_rest(values, k):
    k = min(k, len(values))
    for monitor in ("loss", "accuracy"):
        picked = FocusLearning(k=k, rank_by=monitor).pick_classes({monitor: values})
        rest = [v for i, v in enumerate(values) if i not in picked]
        assert len(picked) == len(set(picked)) == k
        if rest:
            assert all((values[i] >= max(rest)) if monitor == "loss" else (values[i] <= min(rest)) for i in picked)


def test_classes_without_validation_samples_are_not_picked():
    per_class = {"accuracy": [0.0, 0.5, 0.9], "support": [0, 10, 10]}
    assert FocusLearning(k=1, rank_by="accuracy").pick_classes(per_class) == [1]


def test_bad_k_and_monitor_are_config_errors():
    with pytest.raises(ConfigError, match="focus.k is 6 but the data has 5 classes"):
        FocusLearning(k=6).pick_classes(PER_CLASS)
    with pytest.raises(ConfigError, match="'precision' is not a per-class validation metric; recorded: accuracy, f1, loss"):
        FocusLearning(rank_by="precision").pick_classes(PER_CLASS)
    with pytest.raises(ConfigError, match="lr_scale"):
        FocusLearning(penalty_mode="lr")


def test_registry_holds_the_three_strategies():
    assert FOCUS_STRATEGIES.list() == ["focus", "reversed", "soft"]
    assert FOCUS_STRATEGIES.get("reversed") is ReversedFocusLearning and ReversedFocusLearning().order == "before"
    with pytest.raises(UnknownNameError, match="Did you mean 'soft'"):
        FOCUS_STRATEGIES.get("sof")


def test_focus_indices_are_exactly_the_chosen_classes_training_samples():
    targets = torch.tensor([0, 1, 2, 1, 0, 3, 1, 2])
    idx = FocusLearning().focus_indices([1, 3], targets=targets)
    assert idx.tolist() == [1, 3, 5, 6]


def test_focus_batches_are_shuffled_across_classes_and_cover_the_subset_once():
    data = focus_data(batch_size=8)
    classes = [2, 5]
    batches = list(FocusLearning().focus_batches(classes, train=data.train, epoch=0))
    labels = torch.cat([y for _, y in batches])
    expected = int(torch.isin(data.train.labels, torch.tensor(classes)).sum())
    assert len(labels) == expected and set(labels.tolist()) == set(classes)
    # shuffled: the classes interleave (the original ran one class, then the other)
    switches = int((labels[1:] != labels[:-1]).sum())
    assert switches > len(labels) // 4
    again = torch.cat([y for _, y in FocusLearning().focus_batches(classes, train=data.train, epoch=0)])
    other_epoch = torch.cat([y for _, y in FocusLearning().focus_batches(classes, train=data.train, epoch=1)])
    assert torch.equal(labels, again) and not torch.equal(labels, other_epoch)  # seeded by epoch: resumable


def test_a_step_budget_repeats_the_subset_in_a_new_order():
    data = focus_data(batch_size=8)
    one_pass = len(list(FocusLearning().focus_batches([0], train=data.train, epoch=0)))
    stream = FocusLearning(steps=3 * one_pass).focus_batches([0], train=data.train, epoch=0)
    batches = [next(stream) for _ in range(2 * one_pass)]
    first, second = batches[:one_pass], batches[one_pass:]
    assert all(set(y.tolist()) == {0} for _, y in batches)
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, second))


def test_no_training_samples_gives_no_batches():
    data = focus_data()
    data.train.labels = data.train.labels.clamp(max=4)  # class 5 gone from training
    assert list(FocusLearning(steps=5).focus_batches([5], train=data.train, epoch=0)) == []


# ---------------------------------------------------------------------- soft focus


@given(st.lists(st.floats(0, 3, allow_nan=False), min_size=2, max_size=10), st.floats(0.01, 10))
@settings(max_examples=80, deadline=None)
def test_soft_probabilities_sum_to_one_and_rise_with_the_error(values, temperature):
    v = torch.tensor(values, dtype=torch.double)
    for monitor in ("loss", "accuracy"):
        p = focus_probabilities(v, rank_by=monitor, temperature=temperature)
        assert p.sum().item() == pytest.approx(1.0) and (p >= 0).all()
        error = v if monitor == "loss" else -v
        order = torch.argsort(error)
        assert (p[order].diff() >= -1e-12).all()  # monotone in the error


def test_soft_temperature_limits():
    acc = torch.tensor([0.9, 0.5, 0.8])
    cold = focus_probabilities(acc, rank_by="accuracy", temperature=1e-3)
    hot = focus_probabilities(acc, rank_by="accuracy", temperature=1e3)
    assert cold.argmax() == 1 and cold[1] > 0.999
    assert torch.allclose(hot, torch.full((3,), 1 / 3, dtype=torch.double), atol=1e-3)
    # closed form for two classes: p_worst = 1 / (1 + exp(-(e1 - e0) / T))
    two = focus_probabilities(torch.tensor([1.0, 0.4]), rank_by="loss", temperature=0.3)
    assert two[0].item() == pytest.approx(1 / (1 + torch.exp(torch.tensor(-0.6 / 0.3)).item()))


def test_soft_draws_follow_the_probabilities_with_the_hard_budget():
    targets = torch.arange(6000) % 3  # 2000 per class
    s = SoftFocusLearning(k=1, rank_by="loss", temperature=0.5, seed=1)
    picked = s.pick_classes({"loss": [0.2, 0.9, 0.5], "support": [5, 5, 5]})
    assert picked == [1]
    idx = s.focus_indices(picked, targets=targets)
    assert len(idx) == 2000  # as many samples as the hard pass on k=1 class
    share = torch.bincount(targets[idx], minlength=3).double() / len(idx)
    assert torch.allclose(share, torch.tensor(s.probabilities, dtype=torch.double), atol=0.04)
    assert len(set(idx[targets[idx] == 1].tolist())) == int((targets[idx] == 1).sum())  # no repeats while enough


def test_soft_classes_without_support_get_probability_zero():
    s = SoftFocusLearning(k=1, rank_by="accuracy")
    s.pick_classes({"accuracy": [0.0, 0.7, 0.9], "support": [0, 4, 4]})
    assert s.probabilities[0] == 0 and sum(s.probabilities) == pytest.approx(1)


def test_soft_draws_are_reproducible_from_the_saved_generator_state():
    targets = torch.arange(300) % 3
    s = SoftFocusLearning(k=1, rank_by="loss", seed=3)
    s.pick_classes({"loss": [0.5, 0.6, 0.55]})
    state = s.state_dict()
    first = s.focus_indices([1], targets=targets)
    s.load_state_dict(state)
    assert torch.equal(first, s.focus_indices([1], targets=targets))
    assert not torch.equal(first, s.focus_indices([1], targets=targets))  # the generator moves on
