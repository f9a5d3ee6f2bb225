"""Greedy and beam decoding of an attention OCR model, optionally fused with a character n-gram LM.

Both run batched on the model's device. With an LM, every step scores
``log P_model(w | x, y<j) + lm_weight · log P_lm(w | y<j)`` (shallow fusion, Gulcehre et al. 2015,
arXiv:1503.03535) plus ``length_bonus`` for every symbol that is not the end; the end-of-line symbol
(id 0) gets the LM's end probability, so the LM also judges line lengths, and the bonus offsets the LM's
cost per symbol, which otherwise favours short lines. Beam search keeps the ``beam_width`` best partial lines per input by total score; a line
that has ended keeps its score and competes with the open ones (no length normalization: OCR lines of
one task have similar lengths, and the end-of-line probability is learned).
"""
from __future__ import annotations

import torch
from torch import Tensor

from .ctc import Decoded
from .lm import CharNGramLM
from .models import AttentionOCR, Memory

END = 0


def _lm_tables(lm: CharNGramLM | None, weight: float, device: torch.device) -> tuple[Tensor, Tensor] | None:
    if lm is None or not weight:
        return None
    return lm.log_probs.to(device), lm.transitions.to(device)


def _fused(logp: Tensor, tables: tuple[Tensor, Tensor] | None, lm_state: Tensor, weight: float,
           bonus: float) -> Tensor:
    """Step scores (..., V): model log-probs + weight · LM log-probs + bonus for every symbol but the end."""
    score = logp + weight * tables[0][lm_state] if tables else logp
    if bonus:
        score = score + bonus
        score[..., END] -= bonus
    return score


def _first_end_lengths(tokens: Tensor) -> Tensor:
    """Symbols before the first end-of-line (0) in each row of (B, L) ids; L when there is none."""
    b, n = tokens.shape
    is_end = tokens == END
    first = torch.where(is_end, torch.arange(n, device=tokens.device), n).min(1).values if n else tokens.new_zeros(b)
    return first


@torch.no_grad()
def attention_greedy_decode(model: AttentionOCR, memory: Memory, *, max_length: int | None = None,
                            lm: CharNGramLM | None = None, lm_weight: float = 0.0, length_bonus: float = 0.0,
                            stop_early: bool = True) -> Decoded:
    """Pick the best symbol at every step until each line has emitted its end (or ``max_length`` symbols).

    ``stop_early`` checks after each step whether every line has ended (one host sync per step);
    without it the loop always runs ``max_length`` + 1 steps (no sync: for per-step training metrics).
    Confidence: the model's probability of each emitted symbol.

    Example:
        >>> m = AttentionOCR(num_classes=3, in_channels=1, height=16, channels=4, hidden=8, max_length=4).eval()
        >>> d = attention_greedy_decode(m, m.encode(torch.zeros(2, 1, 16, 32)))
        >>> d.tokens.shape[0], bool((d.lengths <= 4).all())
        (2, True)
    """
    limit = model.max_length if max_length is None else max_length
    tables = _lm_tables(lm, lm_weight, memory.values.device)
    b = memory.values.shape[0]
    device = memory.values.device
    state = model.initial_state(memory)
    prev = torch.full((b,), model.start_token, dtype=torch.long, device=device)
    lm_state = torch.full((b,), lm.start_state if tables else 0, dtype=torch.long, device=device)
    ended = torch.zeros(b, dtype=torch.bool, device=device)
    out, conf = [], []
    for _ in range(limit + 1):
        logits, state, _ = model.step(prev, state, memory)
        logp = logits.float().log_softmax(-1)  # (B, K+1)
        score = _fused(logp, tables, lm_state, lm_weight, length_bonus)
        token = torch.where(ended, END, score.argmax(-1))
        out.append(token)
        conf.append(logp.gather(1, token[:, None]).squeeze(1).exp())
        if tables:
            lm_state = tables[1][lm_state, token]
        ended = ended | (token == END)
        prev = token
        if stop_early and bool(ended.all()):
            break
    tokens = torch.stack(out, 1)  # (B, steps)
    lengths = _first_end_lengths(tokens).clamp_max(limit)
    keep = torch.arange(tokens.shape[1], device=device) < lengths[:, None]
    return Decoded(tokens * keep, lengths, torch.stack(conf, 1) * keep)


@torch.no_grad()
def attention_beam_decode(model: AttentionOCR, memory: Memory, *, beam_width: int = 8,
                          max_length: int | None = None, lm: CharNGramLM | None = None,
                          lm_weight: float = 0.0, length_bonus: float = 0.0) -> Decoded:
    """Beam search over lines; returns the best *ended* line per input.

    The ``beam_width`` best open lines are extended each step; every line that ends (emits id 0) is
    compared with the best ended line so far instead of competing for a place in the beam, so an early
    good ending is never pruned by longer open lines. Without a length bonus scores only decrease, so the
    search stops once no open line beats the best ended one; after ``max_length`` symbols a line must end.

    Example:
        >>> m = AttentionOCR(num_classes=3, in_channels=1, height=16, channels=4, hidden=8, max_length=4).eval()
        >>> mem = m.encode(torch.zeros(2, 1, 16, 32))
        >>> int(attention_beam_decode(m, mem, beam_width=3).lengths.max()) <= 4
        True
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}.")
    limit = model.max_length if max_length is None else max_length
    tables = _lm_tables(lm, lm_weight, memory.values.device)
    device = memory.values.device
    b, k = memory.values.shape[0], beam_width
    rows_b = torch.arange(b, device=device)
    mem = memory.repeat(k)
    state = model.initial_state(mem)  # (B·k, H)
    prev = torch.full((b * k,), model.start_token, dtype=torch.long, device=device)
    scores = torch.full((b, k), float("-inf"), device=device)
    scores[:, 0] = 0.0  # one live line at the start: the others are copies
    lm_state = torch.full((b, k), lm.start_state if tables else 0, dtype=torch.long, device=device)
    history = torch.zeros(b, k, 0, dtype=torch.long, device=device)  # symbols of each open line
    probs = torch.zeros(b, k, 0, device=device)  # the model's probability of each of them
    done_score = torch.full((b,), float("-inf"), device=device)
    done_tokens = torch.zeros(b, limit, dtype=torch.long, device=device)
    done_conf = torch.zeros(b, limit, device=device)
    done_len = torch.zeros(b, dtype=torch.long, device=device)
    for j in range(limit + 1):
        logits, state, _ = model.step(prev, state, mem)
        logp = logits.float().log_softmax(-1).view(b, k, -1)  # (B, k, V)
        v = logp.shape[-1]
        total = scores[..., None] + _fused(logp, tables, lm_state, lm_weight, length_bonus)  # (B, k, V)
        end_score, which = total[..., END].max(1)  # the best line ending now, per input
        better = end_score > done_score
        done_score = torch.where(better, end_score, done_score)
        done_len = torch.where(better, j, done_len)
        done_tokens[:, :j] = torch.where(better[:, None], history[rows_b, which], done_tokens[:, :j])
        done_conf[:, :j] = torch.where(better[:, None], probs[rows_b, which], done_conf[:, :j])
        if j == limit:
            break
        total[..., END] = float("-inf")
        scores, flat = total.view(b, k * v).topk(k, dim=1)  # (B, k) the best open lines
        origin, token = flat // v, flat % v
        history = torch.cat([history.gather(1, origin[..., None].expand(-1, -1, j)), token[..., None]], 2)
        p = logp.gather(1, origin[..., None].expand(-1, -1, v)).gather(2, token[..., None]).exp()
        probs = torch.cat([probs.gather(1, origin[..., None].expand(-1, -1, j)), p], 2)
        if tables:
            lm_state = tables[1][lm_state.gather(1, origin), token]
        rows = (origin + rows_b[:, None] * k).view(-1)
        state, prev = state[rows], token.view(-1)
        if length_bonus <= 0 and bool((scores[:, 0] <= done_score).all()):  # no open line can still win
            break
    return Decoded(done_tokens, done_len, done_conf)
