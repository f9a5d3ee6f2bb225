"""Statistics for honest comparisons: exact McNemar on paired predictions, paired tests across seeds."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class McNemar:
    only_a: int  # examples A gets right and B wrong
    only_b: int  # examples B gets right and A wrong
    p_value: float


def mcnemar_exact(correct_a, correct_b) -> McNemar:
    """Exact (binomial) McNemar test on two classifiers' per-example correctness over the same examples.

    Under H0 the discordant pairs split 50/50: p = P(X <= min(b, c)) * 2, X ~ Binomial(b + c, 1/2), capped at 1
    (McNemar 1947; exact form as in Edwards 1948 / Dietterich 1998 for comparing classifiers).

    Example:
        >>> mcnemar_exact([1, 1, 1, 0, 1, 1], [0, 0, 0, 0, 1, 1]).p_value
        0.25
    """
    from scipy.stats import binomtest

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired predictions differ in length: {a.shape} vs {b.shape}")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    p = 1.0 if n == 0 else float(binomtest(min(only_a, only_b), n, 0.5).pvalue)
    return McNemar(only_a, only_b, min(1.0, p))


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value)."""
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def paired_interval(a, b, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of the paired differences ``b - a`` and its Student-t confidence interval (n - 1 degrees of freedom).

    The interval is the one the paired t-test inverts: it excludes 0 exactly when that test's p < 1 - confidence.
    A single pair gives an unbounded interval.

    Example:
        >>> [round(v, 3) for v in paired_interval([0.80, 0.81, 0.82], [0.82, 0.84, 0.83])]
        [0.02, -0.005, 0.045]
    """
    from scipy.stats import t

    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if d.ndim != 1 or len(d) == 0:
        raise ValueError("paired values must be two equally long, non-empty lists")
    mean = float(d.mean())
    if len(d) < 2:
        return mean, -math.inf, math.inf
    half = float(t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d)))
    return mean, mean - half, mean + half


def paired_test(a, b, method: str = "t") -> float:
    """Two-sided p-value of a paired test across seeds: "t" (paired t-test) or "wilcoxon" (signed-rank).

    With fewer than 6 pairs the Wilcoxon test cannot reach p < 0.05; the t-test is the default for that reason.
    """
    from scipy.stats import ttest_rel, wilcoxon

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) != len(b) or len(a) < 2:
        raise ValueError("a paired test needs two equally long lists of at least 2 values")
    if np.allclose(a, b):
        return 1.0
    p = ttest_rel(a, b).pvalue if method == "t" else wilcoxon(a, b).pvalue
    return 1.0 if math.isnan(p) else float(p)


def holm(p_values) -> list[float]:
    """Holm's step-down adjustment of a family of p-values (Holm 1979): controls the chance of any false
    positive among the tests at the level the adjusted values are compared with, under any dependence.

    The i-th smallest p (from 0) is multiplied by (m - i); the adjusted values are made non-decreasing in that
    order and capped at 1. NaN (a test that could not run) stays NaN and is not counted in m.

    Example:
        >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03, 0.5])]
        [0.04, 0.09, 0.09, 0.5]
    """
    values = [float(p) for p in p_values]
    ranked = sorted((p, i) for i, p in enumerate(values) if not math.isnan(p))
    m, running = len(ranked), 0.0
    adjusted = list(values)
    for rank, (p, i) in enumerate(ranked):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted
