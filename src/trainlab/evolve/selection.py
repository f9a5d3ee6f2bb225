"""Choosing members: the best by validation accuracy, or a diverse (complementary) set.

"Diverse" is the co-evolution rule of Painter's 2018 write-up ("Deep Neuroevolution with Shared
Parameters: Ensembling a Better Solution"): take the most accurate member first; then each
validation example gets the weight w = (1 + number of already-picked members that classify it
correctly)^-2, and the next pick maximises mean(correct × w). Examples nobody gets right yet count
fully, examples already covered count less, so the picks complement each other.

Example:
    >>> import numpy as np
    >>> correct = np.array([[1, 1, 1, 0, 0, 0],   # 50 %
    ...                     [1, 1, 0, 0, 0, 0],   # 33 %, same examples as member 0
    ...                     [0, 0, 0, 1, 1, 0]])  # 33 %, the examples member 0 misses
    >>> select_best(correct.mean(1), 2), select_diverse(correct, 2)
    ([0, 1], [0, 2])
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import ConfigError

SELECTIONS = ("best", "diverse")


def select_best(scores: Sequence[float] | np.ndarray, k: int) -> list[int]:
    """Indices of the ``k`` highest scores, best first (ties: lower index first).

    Example:
        >>> select_best([0.5, 0.9, 0.7], 2)
        [1, 2]
    """
    s = np.asarray(scores, dtype=float)
    order = np.argsort(-s, kind="stable")
    return [int(i) for i in order[:k]]


def select_diverse(correct: np.ndarray, k: int) -> list[int]:
    """Greedy complementary selection on a (members, examples) 0/1 correctness matrix.

    Returns ``min(k, members)`` distinct indices in the order picked (the first is the most accurate).

    Example:
        >>> select_diverse(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]]), 2)
        [0, 2]
    """
    c = np.asarray(correct, dtype=float)  # (M, N)
    if c.ndim != 2:
        raise ValueError(f"correct must be a (members, examples) matrix, got shape {c.shape}")
    picked = [int(np.argmax(c.mean(1)))]
    while len(picked) < min(k, len(c)):
        w = (1.0 + c[picked].sum(0)) ** -2.0  # (N,) how much each example still counts
        score = (c * w).mean(1)  # (M,)
        score[picked] = -np.inf
        picked.append(int(np.argmax(score)))
    return picked


def select(method: str, correct: np.ndarray, k: int) -> list[int]:
    """Pick ``k`` members with ``method`` ("best" | "diverse") from a (members, examples) correctness matrix.

    Example:
        >>> select("best", np.array([[1, 0], [1, 1]]), 1)
        [1]
    """
    if method == "best":
        return select_best(np.asarray(correct, dtype=float).mean(1), k)
    if method == "diverse":
        return select_diverse(correct, k)
    raise ConfigError(f"unknown selection {method!r}; allowed: {', '.join(SELECTIONS)}.")
