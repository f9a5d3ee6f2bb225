"""Combining the chosen members' predictions: mean of softmax, majority vote, or a stacking head.

The stacking head follows the 2018 neuroevolution code (members' logits -> FC -> ReLU -> FC), with
its defect fixed: each example's E members' logits are concatenated along the *class* dimension,
(N, E, C) -> (N, E·C), so one input row holds one example; the original joined along the batch
dimension and mixed several examples into a row. The head is trained on the validation split only
and then applied to the test split.

Example:
    >>> import torch
    >>> logits = torch.tensor([[[2.0, 0.0]], [[0.0, 1.0]], [[3.0, 0.0]]])  # (E=3, N=1, C=2)
    >>> combine(logits, "vote").argmax(1).item(), combine(logits, "mean_softmax").shape
    (0, torch.Size([1, 2]))
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError

COMBINES = ("mean_softmax", "vote", "stacking")


def combine(logits: Tensor, how: str, head: nn.Module | None = None) -> Tensor:
    """Class scores (N, C) of an ensemble from its members' logits (E, N, C).

    - "mean_softmax": the mean of the members' probabilities.
    - "vote": each member's argmax is one vote; ties are broken by the mean probability
      (added scaled below one vote).
    - "stacking": ``head`` (a trained :class:`StackingHead`) applied to the logits; softmax of its output.

    Example:
        >>> combine(torch.zeros(2, 5, 3), "mean_softmax").sum(1)
        tensor([1., 1., 1., 1., 1.])
    """
    if logits.dim() != 3:
        raise ValueError(f"logits must be (members, examples, classes), got shape {tuple(logits.shape)}")
    probs = logits.float().softmax(-1)  # (E, N, C)
    if how == "mean_softmax":
        return probs.mean(0)
    if how == "vote":
        votes = F.one_hot(probs.argmax(-1), probs.shape[-1]).sum(0).float()  # (N, C)
        return (votes + 0.5 * probs.mean(0)) / (len(probs) + 0.5)
    if how == "stacking":
        if head is None:
            raise ValueError("combine(..., 'stacking') needs the trained head (fit_stacking_head)")
        with torch.no_grad():
            return head(logits.transpose(0, 1)).softmax(-1)
    raise ConfigError(f"unknown ensemble combine {how!r}; allowed: {', '.join(COMBINES)}.")


class StackingHead(nn.Module):
    """(N, E, C) members' logits -> (N, C) logits: Linear(E·C, hidden) -> ReLU -> Linear(hidden, C).

    Example:
        >>> StackingHead(members=4, classes=10)(torch.zeros(7, 4, 10)).shape
        torch.Size([7, 10])
    """

    def __init__(self, *, members: int, classes: int, hidden: int = 64) -> None:
        super().__init__()
        self.members, self.classes = members, classes
        self.net = nn.Sequential(nn.Linear(members * classes, hidden), nn.ReLU(), nn.Linear(hidden, classes))

    def forward(self, logits: Tensor) -> Tensor:  # (N, E, C) -> (N, C)
        return self.net(logits.flatten(1))  # one row per example: (N, E·C)


def fit_stacking_head(valid_logits: Tensor, valid_targets: Tensor, *, hidden: int = 64, steps: int = 300,
                      lr: float = 1e-2, weight_decay: float = 1e-4, seed: int = 0) -> StackingHead:
    """Train a :class:`StackingHead` on the members' validation logits (E, N, C) and labels (N,).

    Full-batch Adam; the logits are the frozen members' outputs, so only the head learns. Only
    validation data goes in: evaluate the returned head on the test split.

    Example:
        >>> logits = torch.randn(3, 50, 4)
        >>> head = fit_stacking_head(logits, logits[0].argmax(1), steps=200)
        >>> float((combine(logits, "stacking", head).argmax(1) == logits[0].argmax(1)).float().mean()) > 0.9
        True
    """
    e, n, c = valid_logits.shape
    if valid_targets.shape != (n,):
        raise ValueError(f"valid_targets must have shape ({n},), got {tuple(valid_targets.shape)}")
    gen = torch.Generator().manual_seed(seed)
    head = StackingHead(members=e, classes=c, hidden=hidden)
    with torch.no_grad():  # reproducible init independent of the global RNG
        for p in head.parameters():
            p.copy_((torch.rand(p.shape, generator=gen) * 2 - 1) / (p.shape[-1] ** 0.5))
    x = valid_logits.detach().float().transpose(0, 1)  # (N, E, C)
    y = valid_targets.long()
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    head.train()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(head(x), y).backward()
        opt.step()
    return head.eval()
