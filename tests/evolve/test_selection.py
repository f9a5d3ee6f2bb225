import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainlab.errors import ConfigError
from trainlab.evolve.selection import select, select_best, select_diverse


def test_diverse_picks_the_complementary_member_over_a_more_accurate_clone():
    # member 0: best (60 %); member 1: 50 %, right only where 0 is right; member 2: 40 %, right where 0 is wrong
    correct = np.zeros((3, 10), dtype=int)
    correct[0, :6] = 1
    correct[1, :5] = 1
    correct[2, 6:10] = 1
    assert select_best(correct.mean(1), 2) == [0, 1]
    assert select_diverse(correct, 2) == [0, 2]
    assert select("diverse", correct, 3) == [0, 2, 1]


def test_diverse_weights_follow_the_inverse_square_rule():
    # member 0 (best) is right on examples 0-7. Member 1 is right on 6 of those (weight 1/4 each: 1.5);
    # member 2 on 2 examples nobody has (weight 1 each: 2.0). With (1 + n)^-2 member 2 wins; a 1/(1 + n)
    # weight would give member 1 3.0 and pick it.
    correct = np.zeros((3, 12), dtype=int)
    correct[0, :8] = 1
    correct[1, :6] = 1
    correct[2, 8:10] = 1
    assert select_diverse(correct, 2) == [0, 2]


def test_diverse_counts_every_picked_member():
    # after 0 and 1 (both right on 0-3), those examples weigh 1/9: member 2 (4 old) = 4/9 < member 3 (1 new) = 1
    correct = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 1, 0]])
    assert select_diverse(correct, 3)[2] == 3


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(1, 30), st.integers(1, 6), st.integers(0, 2**16))
def test_selection_returns_distinct_members_best_first(members, examples, k, seed):
    correct = np.random.default_rng(seed).integers(0, 2, size=(members, examples))
    for method in ("best", "diverse"):
        picked = select(method, correct, k)
        assert len(picked) == min(k, members) == len(set(picked))
        assert correct[picked[0]].mean() == correct.mean(1).max()


def test_unknown_selection_is_a_config_error():
    with pytest.raises(ConfigError, match="allowed: best, diverse"):
        select("random", np.ones((2, 2)), 1)
