import math

import pytest

from trainlab.stats import mcnemar_exact, mean_sd, paired_test


def test_mcnemar_by_hand():
    # discordant: 3 only-A, 0 only-B -> p = 2 * 0.5**3 = 0.25
    r = mcnemar_exact([1, 1, 1, 0, 1, 1], [0, 0, 0, 0, 1, 1])
    assert (r.only_a, r.only_b, r.p_value) == (3, 0, 0.25)
    # 10 vs 2 discordant: p = 2 * sum_{k<=2} C(12,k) / 2**12 = 2 * 79 / 4096
    a = [1] * 10 + [0] * 2 + [1] * 5
    b = [0] * 10 + [1] * 2 + [1] * 5
    assert mcnemar_exact(a, b).p_value == pytest.approx(2 * 79 / 4096)
    assert mcnemar_exact([1, 0], [1, 0]).p_value == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact([1], [1, 0])


def test_mean_sd_and_paired():
    assert mean_sd([1, 2, 3]) == (2.0, 1.0) and mean_sd([5]) == (5.0, 0.0)
    assert paired_test([1, 2, 3], [1, 2, 3]) == 1.0
    assert paired_test([0.90, 0.91, 0.92, 0.90], [0.80, 0.815, 0.82, 0.80]) < 0.001


def test_paired_interval_matches_the_interval_scipys_paired_t_test_inverts():
    from scipy.stats import ttest_rel

    from trainlab.stats import paired_interval

    a, b = [0.80, 0.81, 0.82, 0.79, 0.80], [0.82, 0.84, 0.83, 0.80, 0.83]
    mean, low, high = paired_interval(a, b)
    ci = ttest_rel(b, a).confidence_interval(0.95)
    # two computations of the same interval: float rounding only
    assert mean == pytest.approx(0.02) and (low, high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert low > 0 and paired_test(a, b) < 0.05  # the interval excludes 0 exactly when p < 0.05
    assert paired_interval([0.5], [0.6])[1:] == (float("-inf"), float("inf"))


def test_holm_by_hand():
    from trainlab.stats import holm

    # sorted: 0.01 (x4 = 0.04), 0.03 (x3 = 0.09), 0.04 (x2 = 0.08 -> kept at 0.09: monotone), 0.5 (x1)
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.6, 0.6]) == [1.0, 1.0]  # capped
    out = holm([0.02, float("nan"), 0.02])
    assert out[0] == out[2] == pytest.approx(0.04) and math.isnan(out[1])  # a missing test is not counted
