"""Focal loss, error reweighting and Group DRO: each gradient checked on a tiny case computed by hand."""
import math

import pytest
import torch
import torch.nn.functional as F

from trainlab.errors import ConfigError
from trainlab.losses import ErrorReweighting, FocalLoss, GroupDRO, error_weights, focal_loss

LN2 = math.log(2)


def grad_of(objective, logits, target):
    """(value, d value / d logits) of mean(objective(logits, target, cross-entropy per sample))."""
    z = torch.tensor(logits, requires_grad=True)
    y = torch.tensor(target)
    value = objective(z, y, F.cross_entropy(z, y, reduction="none")).mean()
    value.backward()
    return float(value.detach()), z.grad


def ready(cb, num_classes):
    """Give a callback what on_setup would (device, class count), without a Learner."""
    cb.num_classes, cb.device, cb.world_size, cb.distributed = num_classes, torch.device("cpu"), 1, False
    cb.setup(None) if not isinstance(cb, FocalLoss) else None
    return cb


# --------------------------------------------------------------------------- focal loss
def test_focal_loss_value_and_gradient_by_hand():
    # z = (0, 0), y = 0: p = 1/2, FL = (1/2)^2 ln 2; dFL/dz_j = [g (1-p)^(g-1) p ln p - (1-p)^g] (delta_jy - p_j)
    value, grad = grad_of(lambda z, y, ce: focal_loss(z, y, gamma=2.0), [[0.0, 0.0]], [0])
    assert value == pytest.approx(0.25 * LN2, rel=1e-6)
    by_hand = (2 * 0.5 * 0.5 * math.log(0.5) - 0.25) * 0.5  # -0.21164
    assert grad.flatten().tolist() == pytest.approx([by_hand, -by_hand], rel=1e-6)
    # not a detached weight (1-p)^g on cross-entropy, which would give 0.25 * (p - onehot) = (-0.125, 0.125)
    assert abs(by_hand + 0.125) > 0.05


def test_focal_loss_with_gamma_zero_is_cross_entropy_and_alpha_scales_it():
    logits, target = [[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]], [2, 0]
    value, grad = grad_of(lambda z, y, ce: focal_loss(z, y, gamma=0.0), logits, target)
    ce_value, ce_grad = grad_of(lambda z, y, ce: ce, logits, target)
    assert value == pytest.approx(ce_value, rel=1e-6)  # two formulas of the same quantity: float rounding only
    assert torch.allclose(grad, ce_grad, atol=1e-7)
    alpha = torch.tensor([3.0, 1.0, 0.5])
    scaled, _ = grad_of(lambda z, y, ce: focal_loss(z, y, gamma=0.0, alpha=alpha), logits, target)
    per_sample = F.cross_entropy(torch.tensor(logits), torch.tensor(target), reduction="none")
    assert scaled == pytest.approx(float((alpha[[2, 0]] * per_sample).mean()), rel=1e-6)


def test_focal_loss_down_weights_easy_samples():
    easy, hard = focal_loss(torch.tensor([[4.0, 0.0], [0.0, 0.5]]), torch.tensor([0, 0]), gamma=2.0).tolist()
    ce_easy, ce_hard = F.cross_entropy(torch.tensor([[4.0, 0.0], [0.0, 0.5]]), torch.tensor([0, 0]), reduction="none").tolist()
    assert easy / ce_easy < 0.001 < 0.3 < hard / ce_hard  # (1 - p)^2: 0.0003 for p = 0.98, 0.39 for p = 0.38


# --------------------------------------------------------------------------- reweighting by validation error
def test_error_weights_by_hand():
    assert error_weights(torch.tensor([0.1, 0.3]), strength=1.0).tolist() == pytest.approx([0.5, 1.5])
    assert error_weights(torch.tensor([0.1, 0.3]), strength=0.5).tolist() == pytest.approx([0.75, 1.25])
    assert error_weights(torch.tensor([0.1, 0.3]), strength=0.0).tolist() == [1.0, 1.0]
    assert error_weights(torch.zeros(3), strength=1.0).tolist() == [1.0, 1.0, 1.0]  # no error: uniform


def test_reweighted_gradient_by_hand():
    cb = ready(ErrorReweighting(strength=1.0), 2)
    cb.weights = error_weights(torch.tensor([0.1, 0.3]), strength=1.0)  # (0.5, 1.5)
    # z = 0, y = (0, 1): d/dz of mean_i w_yi CE_i = w_yi (p - onehot) / B with p = (1/2, 1/2)
    value, grad = grad_of(cb.objective, [[0.0, 0.0], [0.0, 0.0]], [0, 1])
    assert value == pytest.approx((0.5 + 1.5) * LN2 / 2, rel=1e-6)
    assert grad.flatten().tolist() == pytest.approx([-0.125, 0.125, 0.375, -0.375], rel=1e-6)


# --------------------------------------------------------------------------- Group DRO
def test_group_dro_weights_and_gradient_by_hand():
    cb = ready(GroupDRO(step_size=1.0), 2)
    # y = (0, 0, 1), logits such that CE = (ln 2, ln 2, ln 4): L_0 = ln 2, L_1 = ln 4
    logits, target = [[0.0, 0.0], [0.0, 0.0], [math.log(3), 0.0]], [0, 0, 1]
    value, grad = grad_of(cb.objective, logits, target)
    # q <- (1/2 e^{ln 2}, 1/2 e^{ln 4}) normalised = (1/3, 2/3); loss = 1/3 ln 2 + 2/3 ln 4
    assert cb.weights.tolist() == pytest.approx([1 / 3, 2 / 3], rel=1e-6)
    assert value == pytest.approx(LN2 / 3 + 2 / 3 * 2 * LN2, rel=1e-6)
    # gradient rows: q_y / n_y (p - onehot): class 0 rows 1/6 (-1/2, 1/2); class 1 row 2/3 (3/4, -3/4)
    assert grad.flatten().tolist() == pytest.approx([-1 / 12, 1 / 12, -1 / 12, 1 / 12, 0.5, -0.5], rel=1e-5)
    grad_of(cb.objective, logits, target)  # a second step on the same losses: q ∝ (1/3 * 2, 2/3 * 4)
    assert cb.weights.tolist() == pytest.approx([0.2, 0.8], rel=1e-5)


def test_group_dro_leaves_q_alone_for_absent_classes_and_survives_a_state_round_trip():
    cb = ready(GroupDRO(step_size=0.5), 3)
    grad_of(cb.objective, [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], [0, 0])  # only class 0 present
    q = cb.weights.tolist()
    assert q[0] > 1 / 3 and q[1] == pytest.approx(q[2])  # absent classes keep their (relative) weight
    other = ready(GroupDRO(step_size=0.5), 3)
    other.load_state_dict(cb.state_dict())
    assert other.weights.tolist() == pytest.approx(q)


# --------------------------------------------------------------------------- construction errors
def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="gamma must be >= 0"):
        FocalLoss(gamma=-1)
    with pytest.raises(ConfigError, match=r"strength must be in \[0, 1\]"):
        ErrorReweighting(strength=2)
    with pytest.raises(ConfigError, match="step_size must be > 0"):
        GroupDRO(step_size=0)
