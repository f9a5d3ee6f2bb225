"""FocusCallback inside real (tiny) Learners: what the focus pass trains on, when, in which order, records."""
import pytest
import torch

from trainlab.engine import Callback
from trainlab.errors import ConfigError
from trainlab.focus import AfterEpoch, Every, FocusLearning, ReversedFocusLearning, SoftFocusLearning

from .helpers import focus_learner, spy_on


def phases(spy, epoch):
    """The run of phases in one epoch, collapsed: e.g. ["normal", "focus"]."""
    out = []
    for phase, e, _ in spy.calls:
        if e == epoch and (not out or out[-1] != phase):
            out.append(phase)
    return out


def test_the_focus_pass_touches_only_samples_of_the_chosen_classes():
    learner = focus_learner(FocusLearning(k=2, rank_by="loss"))
    spy = spy_on(learner)
    learner.fit(3)
    targets = learner.data.train.labels
    for epoch, row in enumerate(learner.history.rows):
        classes = row["focus.classes"]
        seen = torch.cat([y for phase, e, y in spy.calls if phase == "focus" and e == epoch])
        assert len(classes) == 2 and set(seen.tolist()) == set(classes)
        expected = torch.bincount(targets[torch.isin(targets, torch.tensor(classes))], minlength=6)
        assert torch.equal(torch.bincount(seen, minlength=6), expected)  # one full pass, nothing else
        assert row["focus.per_class.samples"] == expected.tolist() and row["focus.samples"] == len(seen)
        normal = torch.cat([y for phase, e, y in spy.calls if phase == "normal" and e == epoch])
        assert len(normal) == len(targets)  # the normal pass is untouched


def test_classes_are_the_worst_on_the_validation_taken_just_before_focusing():
    learner = focus_learner(FocusLearning(k=2, rank_by="accuracy")).fit(3)
    for row in learner.history.rows:
        pre = row["focus.pre.per_class.accuracy"]
        worst = sorted(range(6), key=lambda c: pre[c])[:2]
        assert row["focus.classes"] == worst
        # after-order: the epoch ends with the focused model, and valid.* describe it
        assert row["valid.per_class.accuracy"] == row["focus.post.per_class.accuracy"]
        assert row["valid.loss"] == row["focus.post.loss"]


def test_focus_losses_stay_out_of_the_epochs_train_metrics():
    plain = focus_learner().fit(2)
    focused = focus_learner(FocusLearning(k=2)).fit(2)
    a, b = plain.history.rows[0], focused.history.rows[0]
    assert a["train.loss"] == b["train.loss"]  # epoch 1's normal pass precedes any focus
    assert sum(b["train.per_class.support"]) == focused.data.train.num_samples
    assert b["focus.loss"] > 0 and b["focus.steps"] == -(-b["focus.samples"] // 32)
    assert focused.loop.step == plain.loop.step + sum(r["focus.steps"] for r in focused.history.rows)


def test_after_order_focuses_after_the_normal_pass_and_reversed_before_it():
    after = focus_learner(FocusLearning(k=2))
    spy_a = spy_on(after)
    after.fit(2)
    reversed_ = focus_learner(ReversedFocusLearning(k=2))
    spy_r = spy_on(reversed_)
    reversed_.fit(2)
    for epoch in (0, 1):
        assert phases(spy_a, epoch) == ["normal", "focus"]
        assert phases(spy_r, epoch) == ["focus", "normal"]
    first = reversed_.history.rows[0]
    # epoch 1 of the reversed variant ranks classes on the untrained model, then its valid.* are end-of-epoch
    assert first["focus.pre.accuracy"] < first["valid.accuracy"]
    second = reversed_.history.rows[1]
    assert second["focus.pre.per_class.loss"] == first["valid.per_class.loss"]  # the previous epoch's validation


@pytest.mark.parametrize("policy,focused_epochs", [(Every(2), [2, 4]), (AfterEpoch(3), [4])])
def test_when_policies_decide_the_epochs(policy, focused_epochs):
    learner = focus_learner(FocusLearning(k=1, when=policy))
    spy = spy_on(learner)
    learner.fit(4)
    rows = learner.history.rows
    assert [r["epoch"] for r in rows if r["focus.steps"] > 0] == focused_epochs
    assert all(r["focus.classes"] == [] for r in rows if r["epoch"] not in focused_epochs)
    assert sorted({e + 1 for phase, e, _ in spy.calls if phase == "focus"}) == focused_epochs


def test_lr_scale_applies_to_focus_steps_only_and_the_lr_comes_back_exactly():
    class LRs(Callback):
        def __init__(self):
            self.seen = []

        def on_before_optimizer_step(self, learner):
            self.seen.append(learner.optimizer.param_groups[0]["lr"])

    lrs = LRs()
    learner = focus_learner(FocusLearning(k=2, penalty=0.01), callbacks=[lrs], lr=0.0123).fit(2)
    assert learner.optimizer.param_groups[0]["lr"] == 0.0123 and learner.history.rows[-1]["lr"] == 0.0123
    focus_steps = sum(r["focus.steps"] for r in learner.history.rows)
    assert sorted(set(lrs.seen)) == [0.0123 * 0.01, 0.0123]
    assert lrs.seen.count(0.0123 * 0.01) == focus_steps


def test_grad_scale_under_adam_is_nearly_a_no_op_unlike_lr_scale():
    """The original study's penalty scaled gradients; Adam normalizes that away (the defect we report)."""
    def update(**penalty):
        learner = focus_learner(FocusLearning(k=2, steps=1, **penalty))
        before = [p.detach().clone() for p in learner.model.parameters()]
        cb = learner.callbacks.callbacks[0]
        cb._focus(learner, 1, {"valid.per_class.loss": [1.0, 0.0, 0.0, 0.0, 0.0, 2.0]})
        return torch.cat([(p.detach() - b).flatten() for p, b in zip(learner.model.parameters(), before)])

    plain = update(penalty_mode="grad_scale", penalty=1.0)
    graded = update(penalty_mode="grad_scale", penalty=0.01)
    scaled = update(penalty_mode="lr_scale", penalty=0.01)
    assert plain.abs().max() > 0
    assert (graded - plain).norm() < 0.02 * plain.norm()  # about the same step despite ×0.01 gradients
    assert (scaled - 0.01 * plain).norm() < 1e-3 * (0.01 * plain).norm()  # a real ×0.01 step


def test_soft_focus_records_probabilities_and_draws_mostly_the_worst():
    learner = focus_learner(SoftFocusLearning(k=2, rank_by="loss", temperature=0.05)).fit(2)
    row = learner.history.rows[-1]
    p = row["focus.per_class.probability"]
    assert sum(p) == pytest.approx(1) and len(p) == 6
    worst = max(range(6), key=lambda c: row["focus.pre.per_class.loss"][c])
    assert max(range(6), key=lambda c: p[c]) == worst
    counts = row["focus.per_class.samples"]
    assert sum(counts) == row["focus.samples"] > 0 and counts[worst] == max(counts)


def test_an_unknown_monitor_fails_before_training():
    with pytest.raises(ConfigError, match="focus.rank_by 'precision' is not a per-class metric.*accuracy, loss, f1"):
        focus_learner(FocusLearning(rank_by="precision"))  # refused when the Learner is built


@pytest.mark.parametrize("strategy", [FocusLearning, ReversedFocusLearning])
def test_choose_on_test_ranks_classes_on_the_test_split(strategy):
    """The selection-bias control (Python only): the classes come from the test split's per-class losses."""
    from trainlab.focus import FocusCallback

    cb = FocusCallback(strategy(k=2, rank_by="loss"), choose_on="test")
    learner = focus_learner(callbacks=[cb])
    test_losses = []
    original = learner.evaluate

    def evaluate(split="valid"):
        out = original(split)
        if split == "test":
            test_losses.append(out["per_class"]["loss"])
        return out

    learner.evaluate = evaluate
    learner.fit(2)
    assert len(test_losses) == 2  # one test evaluation per focus decision
    for row, losses in zip(learner.history.rows, test_losses):
        assert row["focus.chosen_on"] == "test" and row["focus.pre.per_class.loss"] == losses
        assert row["focus.classes"] == sorted(range(6), key=lambda c: -losses[c])[:2]
        assert row["focus.pre.per_class.loss"] != row.get("valid.per_class.loss")  # not the validation's


def test_choose_on_accepts_only_valid_or_test():
    from trainlab.focus import FocusCallback

    with pytest.raises(ConfigError, match="choose_on 'train'"):
        FocusCallback(FocusLearning(), choose_on="train")


@pytest.mark.parametrize("strategy, focused_epochs", [
    (FocusLearning, [2, 4, 5]),  # after: on the validated epochs (every 2nd and the last)
    (ReversedFocusLearning, [1, 3, 5]),  # before: epoch 1, then after each validated epoch
])
def test_with_eval_every_focus_decides_where_a_validation_is(strategy, focused_epochs):
    learner = focus_learner(strategy(k=1), eval_every=2)  # when: always = every validated epoch (docs/focus.md)
    spy = spy_on(learner)
    learner.fit(5)
    rows = learner.history.rows
    assert [r["epoch"] for r in rows if r.get("focus.steps", 0) > 0] == focused_epochs
    assert sorted({e + 1 for phase, e, _ in spy.calls if phase == "focus"}) == focused_epochs
    assert [r["epoch"] for r in rows if "valid.loss" in r] == [2, 4, 5]


def test_an_epoch_that_a_stop_cuts_short_gets_no_focus_pass():
    class Budget(Callback):  # like train.flops_budget: stops in the middle of epoch 2
        def on_train_batch_end(self, learner):
            if learner.loop.epoch == 1 and learner.loop.batch == 2:
                learner.should_stop = True

    learner = focus_learner(FocusLearning(k=1), callbacks=[Budget()]).fit(4)
    assert [r["epoch"] for r in learner.history.rows] == [1, 2] and "valid.loss" in learner.history.rows[-1]
    assert learner.history.rows[0]["focus.steps"] > 0 and "focus.steps" not in learner.history.rows[-1]


def test_focus_on_a_task_without_a_class_per_sample_is_refused_at_setup():
    from trainlab.config import parse_config
    from trainlab.engine.factory import learner_from_config

    from ..detection.helpers import scene_params

    ocr = {"data": {"name": "digit-strings", "batch_size": 16, "args": {"height": 16, "lines": [24, 8, 8],
                                                                         "max_length": 3}},
           "model": {"name": "crnn", "args": {"channels": 4, "hidden": 16}}, "train": {"count_flops": False},
           "logging": {"progress": "none", "tensorboard": False, "plot": False}}
    for params in (scene_params(), ocr):
        cfg = parse_config({**params, "focus": {"k": 1}})
        with pytest.raises(ConfigError, match=r"^focus needs one class per training sample .* this run's task "
                                              r"\((DetectionTask|CTCTask)\) has none") as info:
            learner_from_config(cfg, None)
        assert "\n" not in str(info.value)
