import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from trainlab.errors import ConfigError
from trainlab.experiments.space import SearchSpace


def test_grid_covers_every_combination_and_names_differ():
    space = SearchSpace.parse({"optim.lr": [0.001, 0.01, 0.1], "model.args.width": [8, 16]}, sampler="grid")
    grid = space.grid()
    assert len(grid) == 6
    assert {(g["optim.lr"], g["model.args.width"]) for g in grid} == {(a, b) for a in (0.001, 0.01, 0.1) for b in (8, 16)}
    names = {space.folder_name(g) for g in grid}
    assert len(names) == 6 and "lr=0.01_width=16" in names
    assert space.folder_name(grid[0], number=7).startswith("trial-007_")


def test_labels_lengthen_only_where_keys_collide():
    space = SearchSpace.parse({"optim.lr": [1], "schedule.lr": [2], "train.epochs": [3]}, sampler="grid")
    assert space.folder_name({"optim.lr": 1, "schedule.lr": 2, "train.epochs": 3}) == \
        "optim.lr=1_schedule.lr=2_epochs=3"


def test_ranges_become_optuna_distributions_and_stepped_ranges_a_grid():
    space = SearchSpace.parse({"optim.lr": {"low": 1e-4, "high": 1e-1, "log": True},
                               "model.args.width": {"low": 8, "high": 32, "step": 8},
                               "model.dropout": [0.0, 0.5]}, sampler="random")
    d = space.distributions()
    assert isinstance(d["optim.lr"], FloatDistribution) and d["optim.lr"].log
    assert isinstance(d["model.args.width"], IntDistribution) and d["model.args.width"].step == 8
    assert isinstance(d["model.dropout"], CategoricalDistribution)
    assert space.params[1].grid_values() == [8, 16, 24, 32]
    with pytest.raises(ConfigError, match="needs a list of values or a range with a 'step'"):
        SearchSpace.parse({"optim.lr": {"low": 1e-4, "high": 1e-1}}, sampler="grid")


def test_list_choices_travel_as_json_and_come_back():
    space = SearchSpace.parse({"optim.lr": [[0.001, 0.01], [0.01, 0.1]]}, sampler="grid")
    encoded = space.grid_space()["optim.lr"]
    assert all(isinstance(v, str) for v in encoded)
    assert space.decode({"optim.lr": encoded[1]}) == {"optim.lr": [0.01, 0.1]}
    assert space.folder_name({"optim.lr": [0.01, 0.1]}) == "lr=0.01-0.1"


@pytest.mark.parametrize("spec, message", [
    ({"optim.lr": []}, "empty list"),
    ({"optim.lr": {"low": 1}}, "needs 'low' and 'high'"),
    ({"optim.lr": {"low": 0.1, "high": 0.01}}, "low < high"),
    ({"optim.lr": {"low": 0.0, "high": 1.0, "log": True}}, "low > 0 with log"),
    ({"optim.lr": 0.1}, "expected a list"),
])
def test_bad_spaces_say_what_is_wrong(spec, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.parse(spec, sampler="random")


def test_check_rejects_values_the_config_refuses(lab):
    base = {k: v for k, v in lab.tiny().items()}
    SearchSpace.parse({"optim.lr": [0.1, 0.01]}, sampler="grid").check(base, sampler="grid")
    with pytest.raises(ConfigError, match="optim.lr"):
        SearchSpace.parse({"optim.lr": [0.1, -1.0]}, sampler="grid").check(base, sampler="grid")
    with pytest.raises(ConfigError, match="unknown key 'optim.lrr'"):
        SearchSpace.parse({"optim.lrr": [0.1]}, sampler="grid").check(base, sampler="grid")
    with pytest.raises(ConfigError, match="train.epochs"):  # both ends of a range are checked
        SearchSpace.parse({"train.epochs": {"low": -2, "high": 3}}, sampler="tpe").check(base, sampler="tpe")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(-5, 50), min_size=1, max_size=4, unique=True), min_size=1, max_size=3))
def test_grid_size_is_the_product_and_names_are_unique(axes):
    space = SearchSpace.parse({f"model.args.k{i}": values for i, values in enumerate(axes)}, sampler="grid")
    grid = space.grid()
    assert len(grid) == math.prod(len(a) for a in axes)
    assert len({space.folder_name(g) for g in grid}) == len(grid)
