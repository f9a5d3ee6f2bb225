"""init: the scale rules for new weights."""
from __future__ import annotations

import math

import pytest
import torch

from trainlab.errors import ConfigError
from trainlab.morph.init import check_init, draw, init_std, weight_std


def test_weight_std_matches_torch():
    w = torch.randn(64, 32, 3, 3) * 0.3 + 0.1
    assert weight_std(w) == pytest.approx(w.std(unbiased=False).item(), rel=1e-4)
    assert weight_std(torch.ones(1)) == 0.0


def test_rules():
    assert init_std("match_std", 0.2, fan_in=10) == 0.2
    assert init_std(0.1, 0.2, fan_in=10) == pytest.approx(0.02)
    assert init_std("he", 0.2, fan_in=8) == 0.5
    assert init_std("match_std", 0.0, fan_in=8) == 0.5  # all-equal weights: fall back to He


@pytest.mark.parametrize("bad", ["xavier", 0, -0.5, True, None])
def test_bad_init(bad):
    with pytest.raises(ConfigError, match="match_std"):
        check_init(bad)


def test_draw_follows_device_dtype_and_generator():
    like = torch.zeros(1, dtype=torch.float64)
    a = draw((1000,), 2.0, like, torch.Generator().manual_seed(0))
    b = draw((1000,), 2.0, like, torch.Generator().manual_seed(0))
    assert a.dtype == torch.float64 and torch.equal(a, b)
    assert math.isclose(a.std().item(), 2.0, rel_tol=0.1)
