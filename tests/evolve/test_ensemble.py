import pytest
import torch

from trainlab.errors import ConfigError
from trainlab.evolve.ensemble import StackingHead, combine, fit_stacking_head


def test_mean_softmax_and_vote_differ_where_they_should():
    # 3 members, 1 example: two members lean weakly to class 1, one is very sure of class 0
    logits = torch.tensor([[[0.0, 0.2]], [[0.0, 0.2]], [[9.0, 0.0]]])  # (E=3, N=1, C=2)
    assert combine(logits, "mean_softmax").argmax(1).item() == 0
    assert combine(logits, "vote").argmax(1).item() == 1
    assert torch.allclose(combine(logits, "mean_softmax").sum(1), torch.ones(1))


def test_vote_ties_are_broken_by_mean_probability():
    logits = torch.tensor([[[3.0, 0.0]], [[0.0, 0.5]]])  # one vote each; member 0 is surer
    assert combine(logits, "vote").argmax(1).item() == 0


def test_stacking_head_keeps_examples_apart():
    # the 2018 head concatenated along the batch dimension; here row i of the output depends on example i only
    torch.manual_seed(0)
    head = StackingHead(members=3, classes=4, hidden=8)
    x = torch.randn(5, 3, 4)  # (N, E, C)
    perm = torch.tensor([4, 2, 0, 1, 3])
    assert torch.allclose(head(x)[perm], head(x[perm]), atol=1e-6)
    assert torch.allclose(head(x[:1]), head(x)[:1], atol=1e-6)


def test_stacking_learns_which_member_to_trust():
    # member 1 is always right, members 0 and 2 are confidently wrong: averaging fails, the head learns it
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (200,), generator=g)
    good = torch.nn.functional.one_hot(y, 4).float() * 2
    bad = torch.nn.functional.one_hot((y + 1) % 4, 4).float() * 3
    logits = torch.stack([bad, good, bad])  # (E, N, C)
    assert (combine(logits, "mean_softmax").argmax(1) == y).float().mean() < 0.1
    head = fit_stacking_head(logits[:, :100], y[:100], steps=200, lr=0.05)
    assert (combine(logits[:, 100:], "stacking", head).argmax(1) == y[100:]).float().mean() == 1.0


def test_combine_errors():
    with pytest.raises(ConfigError, match="allowed"):
        combine(torch.zeros(2, 3, 4), "median")
    with pytest.raises(ValueError, match="members, examples, classes"):
        combine(torch.zeros(3, 4), "vote")
