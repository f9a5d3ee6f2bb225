import hashlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainlab.errors import ConfigError
from trainlab.experiments.lr_find import LRRangeTest, lr_find, valley


def test_valley_picks_the_middle_of_the_deepest_descent():
    flat_then_drop = [2.3, 2.31, 2.29, 2.3, 2.28, 2.0, 1.6, 1.2, 0.9, 0.8, 1.5, 4.0]
    assert valley(flat_then_drop) == 4 + (9 - 4) // 2  # the drop runs from index 4 to 9
    assert valley([1.0]) == 0
    with pytest.raises(ValueError):
        valley([])


@settings(max_examples=50, deadline=None)
@given(st.integers(3, 40), st.integers(0, 30), st.floats(0.05, 5))
def test_valley_lies_inside_a_u_shaped_curve_descent(descent, flat, depth):
    curve = [3.0] * flat + [3.0 - depth * (i + 1) / descent for i in range(descent)]
    curve += [curve[-1] + 0.5 * (i + 1) for i in range(5)]
    i = valley(curve)
    assert flat - 1 <= i <= flat + descent - 1


def test_ramp_is_exponential_and_groups_keep_their_ratios():
    test = LRRangeTest(start=1e-5, end=1e-1, steps=5)
    assert [round(math.log10(test.lr_at(i)), 6) for i in range(5)] == [-5, -4, -3, -2, -1]
    with pytest.raises(ConfigError):
        LRRangeTest(start=1.0, end=0.1)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "checkpoints").iterdir())}


def test_range_test_stops_on_divergence_and_leaves_the_weights_alone(trained):
    before = digest(trained)
    result = lr_find(trained, start=1e-4, end=1e4, steps=60, overrides=["optim.name=sgd"], write=False)
    assert digest(trained) == before
    assert len(result.lrs) < 60 and ("exceeded" in result.stop_reason or "became" in result.stop_reason)
    assert 1e-4 <= result.suggestion <= result.lrs[-1]
    assert result.lrs == sorted(result.lrs) and len(result.smoothed) <= len(result.losses)


def test_lr_find_writes_a_plot_and_json(trained, tmp_path):
    import shutil

    exp = tmp_path / "exp"
    shutil.copytree(trained, exp)
    result = lr_find(exp, start=1e-5, end=1.0, steps=30)
    assert (exp / "lr_find.png").stat().st_size > 1000 and (exp / "lr_find.json").is_file()
    assert len(result.smoothed) == 30 and result.stop_reason.startswith("reached the last lr")
    assert result.lrs[0] == pytest.approx(1e-5) and result.lrs[-1] == pytest.approx(1.0)
