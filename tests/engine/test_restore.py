"""Checkpoints of every odd shape: restoring one gives a working Learner or one CheckpointError (ConfigError for a
bad stored config), never another exception; the default run draws ~60 files, ``-m slow`` a thousand."""
import copy
import json
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from trainlab.config import parse_config
from trainlab.engine.checkpoint import checkpoint_config, load_checkpoint
from trainlab.engine.factory import learner_from_config
from trainlab.engine.restore import fits
from trainlab.errors import MAX_LINE, CheckpointError, TrainlabError
from trainlab.runs import evaluate_checkpoint, learner_for_checkpoint, run_experiment

PARAMS = {"data": {"name": "synthetic", "batch_size": 16, "args": {"samples": 96, "image_size": 6}},
          "model": {"name": "mlp", "args": {"hidden_sizes": [8]}}, "optim": {"name": "adam", "lr": 0.01},
          "schedule": {"name": "one_cycle"},
          "train": {"epochs": 2, "early_stopping": {"patience": 3}},
          "logging": {"tensorboard": False, "plot": False, "progress": "none"}}


ES = "EarlyStopping(monitor=valid.loss, mode=min)"  # its state key


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A real checkpoint (2 epochs, one-cycle, early stopping: every kind of state) as the state dict."""
    folder = tmp_path_factory.mktemp("exp")
    run_experiment(folder, parse_config(PARAMS))
    return torch.load(folder / "checkpoints" / "last.pt", weights_only=True)


def check(error: TrainlabError) -> None:
    message = str(error)
    assert "\n" not in message and len(message) <= MAX_LINE and "weights_only" not in message


def resumed(path: Path):
    """What ``trainlab train --resume`` does: the Learner the checkpoint's config builds, its whole state restored."""
    state = load_checkpoint(path)
    learner = learner_from_config(parse_config(checkpoint_config(state, path), source=str(path)))
    learner.load_state_dict(state, source=str(path))
    return learner


def restore_or_refuse(state, *, evaluate: bool = False) -> str:
    """The property: the file loads into a Learner that trains (or evaluates) on, or fails in one line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "last.pt"
        torch.save(state, path)
        try:
            if evaluate:  # what trainlab evaluate does: weights only, metrics and predictions written
                result = evaluate_checkpoint(path, Path(tmp), split="valid")
                assert result.metrics["loss"] >= 0 and result.metrics_path.is_file()
            else:
                learner = resumed(path)
                start = learner.loop.epoch
                learner.fit(start + 1)
                assert learner.loop.epoch == start + 1
        except TrainlabError as e:
            check(e)
            return f"rejected: {type(e).__name__}"
    return "accepted"


def test_the_untouched_checkpoint_resumes_and_evaluates(saved):
    assert restore_or_refuse(saved) == "accepted"
    assert restore_or_refuse(saved, evaluate=True) == "accepted"


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("config"), "holds no params"),
    (lambda s: s.update(config="hello"), "its 'config' is 'hello'"),
    (lambda s: s.pop("optimizer"), "no optimizer state"),
    (lambda s: s.update(model={"fc.weight": torch.zeros(3, 3)}), "weights that do not fit MLP"),
    (lambda s: s["model"].update({k: torch.zeros(1) for k in list(s["model"])[:1]}), "shape mismatch"),
    (lambda s: s["model"].update({k: torch.full_like(v, float("nan")) for k, v in list(s["model"].items())[:1]}),
     "NaN or infinite weights"),
    (lambda s: s.update(loop={"epoch": "x"}), "loop counter 'epoch' is 'x'"),
    (lambda s: s.update(history=5), "history is 5"),
    (lambda s: s.update(rng=None), "rng is None"),
    (lambda s: s["rng"].update(torch=torch.zeros(3)), "random-number state is damaged"),
    (lambda s: s["optimizer"]["param_groups"][0].update(lr="fast"), "lr is 'fast'"),
    (lambda s: s["optimizer"]["state"][0].update(exp_avg=torch.zeros(2)), "optimizer state 'exp_avg' of parameter 0"),
    (lambda s: s["callbacks"]["LRSchedule"].update(total_steps="x"), "total_steps is 'x'"),
    (lambda s: s["callbacks"][ES].update(best="x"), "best is 'x'"),
    (lambda s: s["callbacks"][ES].pop("best"), "callback state this run cannot restore (KeyError"),
    (lambda s: s["callbacks"][ES].update(best_weights={"fc.weight": torch.zeros(2)}),
     "its best weights do not fit the model"),
    (lambda s: s.update(format=7), "checkpoint format 7"),
    (lambda s: s.update(format=torch.zeros(3)), "checkpoint format tensor"),
    (lambda s: s.update(scaler=torch.zeros(3)), None),  # float32 runs ignore a scaler state
])
def test_odd_checkpoints_fail_in_one_line(saved, change, message):
    state = copy.deepcopy(saved)
    change(state)
    if message is None:
        assert restore_or_refuse(state) == "accepted"
        return
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(state, Path(tmp) / "last.pt")
        with pytest.raises(TrainlabError) as info:
            resumed(Path(tmp) / "last.pt").fit(3)
    check(info.value)
    assert message in str(info.value)


def test_a_bare_tensor_and_another_architecture_through_evaluate(saved, tmp_path):
    torch.save(torch.zeros(3), tmp_path / "t.pt")
    with pytest.raises(CheckpointError, match="it holds a Tensor"):
        learner_for_checkpoint(tmp_path / "t.pt")
    other = copy.deepcopy(saved)
    other["config"]["model"]["args"] = {"hidden_sizes": [5]}  # builds another MLP than the weights are for
    torch.save(other, tmp_path / "o.pt")
    with pytest.raises(CheckpointError, match=r"do not fit MLP \(shape mismatch: layer1.0.weight: file \(8, 36\)"):
        learner_for_checkpoint(tmp_path / "o.pt")


def test_fits_compares_structure():
    assert fits({"a": 1.0, "b": [1, 2]}, {"a": 3, "b": [4, 5]}) == ""
    assert "expected 2" in fits({"b": [1, 2]}, {"b": [1]})
    assert "unknown entry" in fits({"a": 1}, {"a": 1, "optimizer": 0})
    assert "tensor" in fits(torch.zeros(2), torch.zeros(3))
    assert fits({}, {"anything": "x"}) == ""


# --------------------------------------------------------------------------- the property
tensors = st.builds(lambda shape, dtype, fill: torch.full(shape, fill).to(dtype),
                    st.lists(st.integers(0, 4), max_size=3).map(tuple),
                    st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool, torch.uint8]),
                    st.sampled_from([0.0, 1.0, -1.0, float("nan"), float("inf"), 1e30]))
plain = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
values = st.recursive(plain | tensors, lambda c: st.lists(c, max_size=3) | st.dictionaries(
    st.text(max_size=6) | st.integers(0, 3), c, max_size=3), max_leaves=8)


@st.composite
def mutated_checkpoints(draw, base):
    """A checkpoint with a few entries dropped or replaced, anywhere in its tree (weights, optimizer, config...)."""
    state = copy.deepcopy(base)
    if draw(st.integers(0, 30)) == 0:
        event("whole file replaced")
        return draw(values)
    for _ in range(draw(st.integers(1, 3))):
        node, key = state, None
        while True:  # walk down to a random entry: node[key]
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            child = node[key]
            if not isinstance(child, dict | list) or not child or draw(st.booleans()):
                break
            node, key = child, None
        if key is None:
            continue
        action = draw(st.sampled_from(["drop", "replace", "reshape"]))
        event(f"{action} {key}" if node is state else f"{action} (nested)")
        if action == "drop" and isinstance(node, dict):
            node.pop(key)
        elif action == "reshape" and isinstance(node[key], torch.Tensor):
            node[key] = torch.zeros(draw(st.lists(st.integers(0, 3), max_size=2)), dtype=node[key].dtype)
        else:
            node[key] = draw(values)
    return state


def the_property(saved, data, evaluate):
    state = data.draw(mutated_checkpoints(saved))
    event(restore_or_refuse(state, evaluate=evaluate))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data(), evaluate=st.booleans())
def test_any_checkpoint_dict_gives_a_learner_or_one_line_error(saved, data, evaluate):
    the_property(saved, data, evaluate)


@pytest.mark.slow
@settings(max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(data=st.data(), evaluate=st.booleans())
def test_any_checkpoint_dict_gives_a_learner_or_one_line_error_many(saved, data, evaluate):
    the_property(saved, data, evaluate)


def test_json_of_a_config_is_what_the_property_mutates(saved):
    assert json.loads(json.dumps(saved["config"])) == saved["config"]
