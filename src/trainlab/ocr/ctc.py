"""Decoding CTC posteriors: greedy (best path) and prefix beam search, with an optional character LM.

Connectionist Temporal Classification (Graves et al., "Connectionist Temporal Classification: Labelling
Unsegmented Sequence Data with Recurrent Neural Networks", ICML 2006) scores every frame with K symbols
plus a blank (id 0). A labeling is read off a frame path by merging repeats, then dropping blanks.

- :func:`ctc_greedy_decode`: the best path, batched on the device, with a per-character confidence: the
  highest posterior of the character over the frames of its run.
- :func:`ctc_beam_decode`: prefix beam search (Graves 2012, "Supervised Sequence Labelling with RNNs",
  ch. 7; Hannun et al. 2014, arXiv:1408.2873, with shallow LM fusion): sums the probability of every
  path of a prefix, so "1 1" (two ones) and "11" (one) are told apart by probability mass, not one path.
- :func:`ctc_sequence_probability`: P(labeling | x), the forward-algorithm sum over all its paths.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .lm import CharNGramLM

BLANK = 0


@dataclass
class Decoded:
    """Decoded lines: ids (B, L) 0-padded, lengths (B,), optional per-character confidences (B, L)."""

    tokens: Tensor
    lengths: Tensor
    confidence: Tensor | None = None

    def texts(self, alphabet) -> list[str]:
        """The lines as strings of ``alphabet`` (a :class:`trainlab.ocr.Alphabet`)."""
        return alphabet.decode_batch(self.tokens, self.lengths)


def _frame_lengths(log_probs: Tensor, lengths: Tensor | None) -> Tensor:
    b, t = log_probs.shape[:2]
    if lengths is None:
        return torch.full((b,), t, dtype=torch.long, device=log_probs.device)
    return lengths.to(log_probs.device).long().clamp(0, t)


def ctc_greedy_decode(log_probs: Tensor, lengths: Tensor | None = None, *, blank: int = BLANK) -> Decoded:
    """Best-path decoding of (B, T, C) log-posteriors (or logits), frames ``t >= lengths[b]`` ignored.

    Returns ids 1..C-1 (B, T) 0-padded, lengths (B,) and per-character confidences (B, T): for each output
    character, the maximum softmax probability of that character over the consecutive frames it spans.
    Everything stays on the device (no host sync).

    Example:
        >>> p = torch.tensor([[[.1, .8, .1], [.1, .8, .1], [.9, .05, .05], [.2, .7, .1], [.1, .1, .8]]])
        >>> d = ctc_greedy_decode(p.log())
        >>> d.tokens[0, :d.lengths[0]].tolist(), [round(c, 2) for c in d.confidence[0, :3].tolist()]
        ([1, 1, 2], [0.8, 0.7, 0.8])
    """
    b, t, _ = log_probs.shape
    probs = log_probs.float().softmax(-1)  # normalizes logits and log-posteriors alike
    conf, best = probs.max(-1)  # (B, T)
    frame_ok = torch.arange(t, device=best.device) < _frame_lengths(log_probs, lengths)[:, None]
    prev = torch.cat([best.new_full((b, 1), blank), best[:, :-1]], dim=1)
    keep = frame_ok & (best != blank) & (best != prev)  # a new character starts at this frame
    run = torch.cumsum(keep.long(), 1) - 1  # (B, T) index of the character a frame belongs to
    in_run = frame_ok & (best != blank) & (run >= 0)
    slot = torch.where(keep, run, t)  # non-starting frames write into a dump column
    tokens = torch.zeros(b, t + 1, dtype=torch.long, device=best.device).scatter_(1, slot, best)[:, :t]
    confidence = torch.zeros(b, t + 1, device=best.device).scatter_reduce_(
        1, torch.where(in_run, run, t), torch.where(in_run, conf, 0.0), reduce="amax")[:, :t]
    return Decoded(tokens, keep.sum(1), confidence)


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


def ctc_beam_decode(log_probs: Tensor, lengths: Tensor | None = None, *, beam_width: int = 8,
                    blank: int = BLANK, lm: CharNGramLM | None = None, lm_weight: float = 0.0,
                    length_bonus: float = 0.0, prune: float = 1e-3) -> Decoded:
    """Prefix beam search over (B, T, C) log-posteriors, optionally fused with a character LM.

    A prefix scores ``log P_ctc(prefix) + lm_weight * log P_lm(prefix) + length_bonus * len(prefix)``; at
    the end each prefix also gets ``lm_weight * log P_lm(end | prefix)``. The bonus offsets the LM's cost per
    symbol, which otherwise favours dropping symbols. Per frame only symbols with posterior ≥ ``prune`` (and the
    best one) are tried. Runs per line in Python on the CPU: an evaluation-time decoder.

    Example:
        >>> p = torch.tensor([[[.4, .6], [.4, .6]]])  # blank 0.4, "1" 0.6 per frame: "" has 0.16 ...
        >>> ctc_beam_decode(p.log()).tokens.tolist()  # ... and "1" has 0.36 + 0.24 + 0.24 = 0.84
        [[1]]
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}.")
    lp = log_probs.detach().float().log_softmax(-1).cpu()
    frames = _frame_lengths(log_probs, lengths).cpu().tolist()
    table = lm.log_probs.cpu().tolist() if lm is not None and lm_weight else None
    moves = lm.transitions.cpu().tolist() if table is not None else None
    start = lm.start_state if table is not None else 0
    results = []
    for i, n in enumerate(frames):
        results.append(_beam_one(lp[i, :n], beam_width, blank, table, moves, start, lm_weight, length_bonus,
                                 math.log(prune)))
    b = len(results)
    width = max([1, *(len(r) for r in results)])
    tokens = torch.zeros(b, width, dtype=torch.long)
    for i, r in enumerate(results):
        tokens[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    lens = torch.tensor([len(r) for r in results], dtype=torch.long)
    return Decoded(tokens.to(log_probs.device), lens.to(log_probs.device))


def _beam_one(lp: Tensor, beam_width: int, blank: int, table, moves, start: int, weight: float, bonus: float,
              log_prune: float) -> tuple[int, ...]:
    """Prefix beam search of one line: ``lp`` (T, C) log-posteriors. Returns the best prefix."""
    neg = -math.inf
    # prefix -> [log P(paths ending in blank), log P(paths ending in its last symbol)], LM state, LM score
    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, neg]}
    lm_state: dict[tuple[int, ...], int] = {(): start}
    lm_score: dict[tuple[int, ...], float] = {(): 0.0}
    rows = lp.tolist()
    for t, row in enumerate(rows):
        best = max(range(len(row)), key=row.__getitem__)
        symbols = [c for c, v in enumerate(row) if c != blank and (v >= log_prune or c == best)]
        nxt: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = _logaddexp(pb, pnb)
            entry = nxt.setdefault(prefix, [neg, neg])
            entry[0] = _logaddexp(entry[0], total + row[blank])
            for c in symbols:
                new = prefix + (c,)
                if new not in lm_score:
                    state = lm_state[prefix]
                    lm_score[new] = lm_score[prefix] + (table[state][c] if table is not None else 0.0)
                    lm_state[new] = moves[state][c] if moves is not None else 0
                e = nxt.setdefault(new, [neg, neg])
                if prefix and c == prefix[-1]:  # a repeat needs a blank in between to be a new symbol
                    e[1] = _logaddexp(e[1], pb + row[c])
                    entry[1] = _logaddexp(entry[1], pnb + row[c])
                else:
                    e[1] = _logaddexp(e[1], total + row[c])
        ranked = sorted(nxt.items(), key=lambda kv: _logaddexp(*kv[1]) + weight * lm_score[kv[0]] + bonus * len(kv[0]),
                        reverse=True)
        beams = dict(ranked[:beam_width])

    def final(prefix: tuple[int, ...]) -> float:
        end = table[lm_state[prefix]][0] if table is not None else 0.0
        return _logaddexp(*beams[prefix]) + weight * (lm_score[prefix] + end) + bonus * len(prefix)

    return max(beams, key=final)


def ctc_sequence_probability(log_probs: Tensor, lengths: Tensor | None, tokens: Tensor,
                             token_lengths: Tensor, *, blank: int = BLANK) -> Tensor:
    """P(labeling | x) for each line: exp(−CTC loss), the sum over every frame path of the labeling.

    Args:
        log_probs: (B, T, C) log-posteriors (or logits; normalized here).
        lengths: (B,) frames per line, or None for all T.
        tokens: (B, L) labelings (ids ≥ 1, 0-padded) with ``token_lengths`` (B,).

    Example:
        >>> p = torch.tensor([[[.4, .6], [.4, .6]]]).log()
        >>> round(float(ctc_sequence_probability(p, None, torch.tensor([[1]]), torch.tensor([1]))), 4)
        0.84
    """
    lp = log_probs.float().log_softmax(-1).transpose(0, 1)  # (T, B, C)
    nll = F.ctc_loss(lp, tokens, _frame_lengths(log_probs, lengths), token_lengths, blank=blank,
                     reduction="none", zero_infinity=False)
    return torch.exp(-nll)
