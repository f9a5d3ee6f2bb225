import pytest

from trainlab.config import parse_config
from trainlab.engine import History
from trainlab.errors import ConfigError
from trainlab.focus import AfterEpoch, Always, Every, Plateau, policy_from_config


def test_always_every_after_epoch():
    h = History()
    assert all(Always()(h, e) for e in range(1, 6))
    assert [e for e in range(1, 10) if Every(3)(h, e)] == [3, 6, 9]
    assert [e for e in range(1, 6) if AfterEpoch(2)(h, e)] == [3, 4, 5]
    assert all(AfterEpoch(0)(h, e) for e in range(1, 4))


@pytest.mark.parametrize("values,patience,expected", [
    ([0.9, 0.8, 0.7], 1, False),          # still improving
    ([0.9, 0.5, 0.6], 1, True),           # one epoch without a new best
    ([0.9, 0.5, 0.6], 2, False),
    ([0.9, 0.5, 0.6, 0.5], 2, True),      # equal to the best is not an improvement
    ([0.9, 0.5, 0.6, 0.4], 1, False),     # improved again: focusing pauses
    ([0.5], 1, False),
])
def test_plateau_on_a_loss(values, patience, expected):
    h = History([{"epoch": i + 1, "valid.loss": v} for i, v in enumerate(values)])
    assert Plateau("valid.loss", patience)(h, len(values)) is expected


def test_plateau_direction_follows_the_metric_name_or_mode():
    rising = History([{"valid.accuracy": v} for v in (0.5, 0.6, 0.7)])
    assert not Plateau("valid.accuracy", 1)(rising, 3)  # accuracy: higher is better, still improving
    assert Plateau("valid.accuracy", 2, mode="min")(rising, 3)  # forced min: 0.5 was the best, 2 epochs ago


def test_plateau_unknown_metric_is_a_config_error_once_validation_exists():
    assert not Plateau("valid.los", 1)(History(), 1)  # nothing recorded yet: no decision possible
    with pytest.raises(ConfigError, match="'valid.los' is not recorded. Did you mean 'valid.loss'"):
        Plateau("valid.los", 1)(History([{"valid.loss": 0.3}]), 2)


@pytest.mark.parametrize("when,policy", [
    ("always", Always()), ({"every": 4}, Every(4)), ({"after_epoch": 2}, AfterEpoch(2)),
    ({"plateau": {"monitor": "valid.accuracy", "patience": 3}}, Plateau("valid.accuracy", 3, None)),
])
def test_policy_from_config(when, policy):
    assert policy_from_config(parse_config({"focus": {"when": when}}).focus.when) == policy
