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
