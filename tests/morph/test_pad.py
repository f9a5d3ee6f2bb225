"""pad: the per-method rows, columns and per-channel entries, checked on plain tensors."""
from __future__ import annotations

import torch

from trainlab.morph.layout import Segment
from trainlab.morph.pad import grow_vector, grow_weight, make_plan


def grow(method, weight, bias, layout, plans, out_plan=None, std=1.0):
    g = torch.Generator().manual_seed(0)
    return grow_weight(weight, bias, layout, plans.get, out_plan, method, std, 0.0, g)


def test_r2r_columns_cancel_per_block_and_rows_repeat():
    weight, bias = torch.randn(3, 2 * 4), torch.randn(3)  # 2 channels x 4 spatial positions
    plan = make_plan(2, 4, "r2r", None)
    grown, _ = grow("r2r", weight, bias, (Segment(0, 2, 4),), {0: plan})
    assert grown.shape == (3, 6 * 4)
    assert torch.equal(grown[:, :8], weight)
    assert torch.equal(grown[:, 8:16], -grown[:, 16:24])  # channels 2,3 vs 4,5
    out_plan = make_plan(3, 2, "r2r", None)
    rows, new_bias = grow("r2r", weight, bias, None, {}, out_plan)
    assert torch.equal(rows[3], rows[4]) and torch.equal(new_bias[3:], torch.zeros(2))


def test_net2net_divides_columns_by_copies():
    weight = torch.randn(2, 3, 1, 1)
    plan = make_plan(3, 5, "net2net", torch.Generator().manual_seed(1))
    grown, _ = grow("net2net", weight, None, (Segment(0, 3),), {0: plan})
    x = torch.randn(3)
    wide_x = torch.cat([x, x[plan.mapping]])
    assert torch.allclose(grown[:, :, 0, 0] @ wide_x, weight[:, :, 0, 0] @ x, atol=1e-6)
    assert plan.counts.tolist() == [1 + (plan.mapping == i).sum().item() for i in range(3)]


def test_columns_of_a_concatenation_grow_inside_their_own_slice():
    weight = torch.arange(2.0 * 5).reshape(2, 5)  # slices: volume 0 (2 ch), volume 1 (3 ch)
    layout = (Segment(0, 2), Segment(1, 3))
    grown, _ = grow("netmorph", weight, None, layout, {1: make_plan(3, 2, "netmorph", None)})
    assert torch.equal(grown[:, :5], weight) and torch.equal(grown[:, 5:], torch.zeros(2, 2))
    grown, _ = grow("netmorph", weight, None, layout, {0: make_plan(2, 2, "netmorph", None)})
    assert torch.equal(grown[:, :2], weight[:, :2]) and torch.equal(grown[:, 4:], weight[:, 2:])


def test_vectors_get_mean_or_neutral_statistics():
    gamma = torch.tensor([1.0, 3.0])
    layout = (Segment(0, 2),)
    plans = {0: make_plan(2, 2, "r2r", None)}.get
    assert grow_vector(gamma, layout, plans, "r2r", "scale").tolist() == [1.0, 3.0, 2.0, 2.0]
    assert grow_vector(gamma, layout, plans, "r2r", "var").tolist() == [1.0, 3.0, 1.0, 1.0]
    assert grow_vector(gamma, layout, plans, "r2r", "mean").tolist() == [1.0, 3.0, 0.0, 0.0]
    plan = make_plan(2, 3, "net2net", torch.Generator().manual_seed(0))
    grown = grow_vector(gamma, layout, {0: plan}.get, "net2net", "mean")
    assert torch.equal(grown[2:], gamma[plan.mapping])
