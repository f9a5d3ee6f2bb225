"""A character n-gram language model, stored as an automaton for batched decoding on the device.

Smoothing is interpolated Witten–Bell (Witten & Bell 1991; the form in Chen & Goodman 1999, "An
Empirical Study of Smoothing Techniques for Language Modeling", eq. 17):

    P(w | h) = (c(h, w) + N1+(h •) · P(w | h')) / (c(h) + N1+(h •)),

where h' drops the oldest symbol of h, N1+(h •) is the number of distinct symbols seen after h, and the
recursion ends in the uniform distribution. Every context h seen in training (any length up to n − 1)
is a *state*; ``log_probs[s]`` holds log P(· | h_s) over the end-of-line (column 0) and the K symbols, and
``transitions[s, w]`` is the state of the longest seen suffix of h_s·w. A context never seen backs off
entirely to its longest seen suffix under this smoothing, so the automaton is exact, and beam decoders
score a whole batch of hypotheses with two tensor lookups. Shallow fusion (Gulcehre et al. 2015, "On
Using Monolingual Corpora in Neural Machine Translation") adds ``λ · log P_lm`` to the model's score.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

from ..errors import ConfigError

END = 0  # end of line as a predicted symbol; as a context symbol 0 means "before the start"


class CharNGramLM:
    """Character n-gram LM over symbol ids 1..K (0: end of line / start padding).

    Build with :meth:`fit`. ``log_probs`` (S, K+1) and ``transitions`` (S, K+1) are tensors (move them
    with :meth:`to`); ``start_state`` is the state before the first symbol.

    Example:
        >>> lm = CharNGramLM.fit([[1, 2], [1, 2], [1, 2, 2]], order=2, num_symbols=2)
        >>> s = lm.transitions[lm.start_state, 1]  # after "1"
        >>> lm.log_probs[s].exp().argmax().item()  # "2" is the most likely next symbol
        2
        >>> round(lm.log_probs.exp().sum(1).min().item(), 6)  # every row is a distribution
        1.0
    """

    def __init__(self, order: int, num_symbols: int, contexts: list[tuple[int, ...]], log_probs: Tensor,
                 transitions: Tensor) -> None:
        self.order, self.num_symbols = order, num_symbols
        self.contexts = contexts  # state -> context (oldest symbol first)
        self.log_probs = log_probs  # (S, K+1) float32
        self.transitions = transitions  # (S, K+1) long; column 0 (end) maps to the start state
        start = (0,) * (order - 1)
        while start not in contexts and start:  # no training text: back off to the empty context
            start = start[1:]
        self.start_state = contexts.index(start) if start in contexts else 0

    @classmethod
    def fit(cls, sequences: Iterable[Sequence[int]], *, order: int, num_symbols: int) -> CharNGramLM:
        """Count n-grams of ``sequences`` (lists of ids 1..K) and build the smoothed automaton.

        The table has one row per seen context, (S, K+1) floats: S grows with the training text and the
        order (at most the number of training characters × order).
        """
        if order < 1:
            raise ConfigError(f"the LM order must be >= 1 (1 = unigram), got {order}; use 2-5 for characters.")
        if num_symbols < 1:
            raise ConfigError(f"the LM needs at least one symbol, got num_symbols={num_symbols}.")
        v = num_symbols + 1
        counts: dict[tuple[int, ...], Counter] = defaultdict(Counter)
        pad = (0,) * (order - 1)
        for seq in sequences:
            seq = [int(s) for s in seq]
            if any(s < 1 or s > num_symbols for s in seq):
                raise ConfigError(f"LM training ids must lie in 1..{num_symbols}, got {seq}.")
            padded = list(pad) + seq
            for i, nxt in enumerate(seq + [END]):
                history = tuple(padded[i : i + order - 1])  # the order-1 symbols before position i
                for k in range(order):
                    counts[history[len(history) - k :] if k else ()][nxt] += 1
        contexts = sorted(counts, key=lambda h: (len(h), h))
        if not contexts:
            contexts = [()]
        index = {h: i for i, h in enumerate(contexts)}
        probs = torch.zeros(len(contexts), v, dtype=torch.float64)
        uniform = torch.full((v,), 1.0 / v, dtype=torch.float64)
        for i, h in enumerate(contexts):  # shorter contexts first: the lower order is always ready
            lower = probs[index[h[1:]]] if h else uniform
            c = torch.zeros(v, dtype=torch.float64)
            for w, n in counts[h].items():
                c[w] = n
            total, distinct = float(c.sum()), int((c > 0).sum())
            probs[i] = (c + distinct * lower) / (total + distinct) if total else lower
        moves = torch.zeros(len(contexts), v, dtype=torch.long)
        for i, h in enumerate(contexts):
            for w in range(1, v):
                nxt = (h + (w,))[len(h) + 1 - (order - 1) :] if order > 1 else ()
                while nxt not in index:  # the longest suffix seen in training (() always is)
                    nxt = nxt[1:]
                moves[i, w] = index[nxt]
        lm = cls(order, num_symbols, contexts, probs.log().float(), moves)
        moves[:, END] = lm.start_state
        return lm

    def to(self, device: str | torch.device) -> CharNGramLM:
        """Move the tables to ``device`` (in place); returns self."""
        self.log_probs, self.transitions = self.log_probs.to(device), self.transitions.to(device)
        return self

    def score(self, seq: Sequence[int], *, end: bool = True) -> float:
        """log P(seq) in nats (with the end-of-line probability when ``end``).

        Example:
            >>> lm = CharNGramLM.fit([[1, 1]], order=2, num_symbols=1)
            >>> lm.score([1, 1]) > lm.score([1, 1, 1])
            True
        """
        state, total = self.start_state, 0.0
        for w in seq:
            total += float(self.log_probs[state, int(w)])
            state = int(self.transitions[state, int(w)])
        return total + (float(self.log_probs[state, END]) if end else 0.0)

    def perplexity(self, sequences: Iterable[Sequence[int]]) -> float:
        """Per-symbol perplexity (end-of-line counted as a symbol) of ``sequences``."""
        total, n = 0.0, 0
        for seq in sequences:
            total += self.score(seq)
            n += len(seq) + 1
        return float(torch.tensor(-total / max(n, 1)).exp())

    def state_dict(self) -> dict:
        """Plain tensors and ints (weights_only-loadable)."""
        return {"order": self.order, "num_symbols": self.num_symbols, "log_probs": self.log_probs.cpu(),
                "transitions": self.transitions.cpu(), "contexts": [list(c) for c in self.contexts]}

    @classmethod
    def from_state_dict(cls, state: dict) -> CharNGramLM:
        return cls(state["order"], state["num_symbols"], [tuple(c) for c in state["contexts"]],
                   state["log_probs"], state["transitions"])
