"""Character n-gram LM: the automaton gives exactly the interpolated Witten-Bell probabilities of the
full history, every row is a distribution, and in-domain text is more probable."""
from __future__ import annotations

import math
import random
from collections import Counter, defaultdict

import pytest
import torch

from trainlab.errors import ConfigError
from trainlab.ocr.lm import CharNGramLM


def reference_prob(seqs, order: int, k: int, history: tuple[int, ...], w: int) -> float:
    """Witten-Bell from the counts, recursing over the real history (no automaton)."""
    counts: dict[tuple, Counter] = defaultdict(Counter)
    for s in seqs:
        padded = [0] * (order - 1) + list(s)
        for i, nxt in enumerate(list(s) + [0]):
            h = tuple(padded[i : i + order - 1])
            for j in range(order):
                counts[h[len(h) - j :] if j else ()][nxt] += 1

    def p(h: tuple[int, ...]) -> float:
        lower = p(h[1:]) if h else 1.0 / (k + 1)
        c = counts.get(h)
        if not c:
            return lower
        total, distinct = sum(c.values()), len(c)
        return (c[w] + distinct * lower) / (total + distinct)

    full = ((0,) * (order - 1) + history)[-(order - 1):] if order > 1 else ()
    return p(full)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_automaton_matches_witten_bell_on_real_histories(order: int) -> None:
    rng = random.Random(order)
    seqs = [[rng.choice([1, 2, 3]) for _ in range(rng.randint(1, 6))] for _ in range(30)]
    lm = CharNGramLM.fit(seqs, order=order, num_symbols=4)  # symbol 4 never seen
    for _ in range(25):
        history = tuple(rng.choice([1, 2, 3, 4]) for _ in range(rng.randint(0, 5)))
        state = lm.start_state
        for w in history:
            state = int(lm.transitions[state, w])
        for w in range(5):
            got = math.exp(float(lm.log_probs[state, w]))
            assert got == pytest.approx(reference_prob(seqs, order, 4, history, w), rel=1e-5)


def test_rows_are_distributions_and_unseen_symbols_keep_mass() -> None:
    lm = CharNGramLM.fit([[1, 2, 1], [2, 2]], order=3, num_symbols=5)
    assert torch.allclose(lm.log_probs.exp().sum(1), torch.ones(len(lm.contexts)), atol=1e-5)
    assert bool((lm.log_probs[:, 5] > -math.inf).all())
    assert int(lm.transitions.max()) < len(lm.contexts)


def test_in_domain_text_is_more_probable() -> None:
    rng = random.Random(0)
    years = [[1, 10] + [rng.randint(1, 10) for _ in range(2)] for _ in range(200)]  # "09xx"-like strings
    lm = CharNGramLM.fit(years, order=3, num_symbols=10)
    assert lm.perplexity([[1, 10, 4, 5]]) < lm.perplexity([[7, 3, 4, 5]])
    assert lm.score([1, 10, 4, 5]) > lm.score([1, 10, 4, 5, 6])  # training lines end after 4 symbols
    again = CharNGramLM.from_state_dict(lm.state_dict())
    assert again.score([1, 10, 2, 2]) == pytest.approx(lm.score([1, 10, 2, 2]))


def test_bad_arguments_raise() -> None:
    with pytest.raises(ConfigError, match="order"):
        CharNGramLM.fit([[1]], order=0, num_symbols=2)
    with pytest.raises(ConfigError, match="1..2"):
        CharNGramLM.fit([[3]], order=2, num_symbols=2)
    empty = CharNGramLM.fit([], order=3, num_symbols=2)  # no text: uniform
    assert torch.allclose(empty.log_probs[empty.start_state].exp(), torch.full((3,), 1 / 3))
