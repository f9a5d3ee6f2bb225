import pytest

from trainlab.config import config_to_dict, parse_config
from trainlab.engine.factory import default_callbacks
from trainlab.errors import ConfigError
from trainlab.focus import FocusCallback, ReversedFocusLearning, SoftFocusLearning, strategy_from_config


def test_defaults_match_the_issue():
    f = parse_config({"focus": {}}).focus
    assert (f.k, f.rank_by, f.split, f.when, f.order, f.mode) == (2, "loss", "valid", "always", "after", "hard")
    assert (f.penalty.mode, f.penalty.value, f.pass_) == ("lr_scale", 1e-2, "full")


def test_the_test_split_is_refused_with_a_clear_error():
    with pytest.raises(ConfigError, match=r"focus.split: .*test split must never choose what to train on.*use split: valid"):
        parse_config({"focus": {"split": "test"}})
    with pytest.raises(ConfigError, match="focus.split"):
        parse_config({}, ["focus.split=test"])


@pytest.mark.parametrize("bad,match", [
    ({"when": {"evry": 2}}, "unknown focus policy"), ({"when": "sometimes"}, "unknown focus policy"),
    ({"pass": "half"}, "unknown focus pass"), ({"penalty": {"mode": "lr"}}, "lr_scale"),
    ({"k": 0}, "focus.k"), ({"temperature": 0}, "focus.temperature"), ({"order": "reversed"}, "focus.order"),
])
def test_bad_values_name_what_is_allowed(bad, match):
    with pytest.raises(ConfigError, match=match):
        parse_config({"focus": bad})


def test_pass_alias_round_trips_through_the_saved_config():
    cfg = parse_config({}, ["focus.pass.steps=7", "focus.when.every=2", "focus.rank_by=valid.per_class.f1"])
    saved = config_to_dict(cfg)["focus"]
    assert saved["pass"] == {"steps": 7} and "pass_" not in saved and saved["rank_by"] == "f1"
    assert parse_config(config_to_dict(cfg)).focus == cfg.focus


def test_adapter_picks_the_strategy_and_its_arguments():
    s = strategy_from_config(parse_config({"focus": {"order": "before", "pass": {"steps": 5},
                                                     "penalty": {"mode": "grad_scale", "value": 0.5}}}).focus)
    assert isinstance(s, ReversedFocusLearning) and s.order == "before"
    assert s.train_pass_args() == {"max_steps": 5, "grad_scale": 0.5, "freeze_norm": True,
                                   "restore_optimizer_state": True}
    soft = strategy_from_config(parse_config({"focus": {"mode": "soft", "order": "before", "temperature": 0.3}}).focus)
    assert isinstance(soft, SoftFocusLearning) and soft.order == "before" and soft.temperature == 0.3


def test_factory_adds_the_callback_only_when_focus_is_set(tmp_path):
    plain = default_callbacks(parse_config({}), None)
    assert not any(isinstance(cb, FocusCallback) for cb in plain)
    cbs = default_callbacks(parse_config({"focus": {"k": 3}}), tmp_path)
    focus = [cb for cb in cbs if isinstance(cb, FocusCallback)]
    assert len(focus) == 1 and focus[0].strategy.k == 3 and focus[0].plot_path == tmp_path / "focus_history.png"
