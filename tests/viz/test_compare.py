import pytest
import torch
from torch import nn

from trainlab.errors import ModelError
from trainlab.viz import compare_filters


def test_identical_filters_have_no_change_and_a_widen_adds_filters():
    torch.manual_seed(0)
    a = nn.Sequential(nn.Conv2d(3, 4, 3))
    b = nn.Sequential(nn.Conv2d(3, 6, 3))
    with torch.no_grad():
        b[0].weight[:4] = a[0].weight
        b[0].weight[1] *= 2
    cmp = compare_filters(a, b, "0")
    assert cmp.shared == 4 and cmp.added == 2
    assert cmp.relative_change.tolist() == pytest.approx([0.0, 1.0, 0.0, 0.0], abs=1e-6)
    assert cmp.cosine.tolist() == pytest.approx([1.0] * 4, abs=1e-6)


def test_kernel_mismatch_is_refused():
    with pytest.raises(ModelError, match="kernel"):
        compare_filters(nn.Sequential(nn.Conv2d(1, 2, 3)), nn.Sequential(nn.Conv2d(1, 2, 5)), "0")
