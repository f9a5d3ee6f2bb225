"""Attention decoding: greedy with and without early stop, beam search scores, LM fusion, max length."""
from __future__ import annotations

import pytest
import torch

from trainlab.ocr.decoding import attention_beam_decode, attention_greedy_decode
from trainlab.ocr.lm import CharNGramLM
from trainlab.ocr.models import AttentionOCR


@pytest.fixture(scope="module")
def model() -> AttentionOCR:
    torch.manual_seed(1)
    m = AttentionOCR(num_classes=4, in_channels=1, height=16, channels=4, hidden=8, decoder_hidden=16,
                     max_length=6).eval()
    with torch.no_grad():  # sharper, more varied outputs than a fresh init
        for p in m.parameters():
            p.mul_(3)
    return m


def line_score(model: AttentionOCR, x: torch.Tensor, tokens: list[int]) -> float:
    """Total log-probability the model gives to ``tokens`` followed by the end."""
    with torch.no_grad():
        logits = model(x, torch.tensor([tokens or [0]])[:, : len(tokens)])
    logp = logits.log_softmax(-1)[0]
    wanted = tokens + [0]
    return float(sum(logp[j, w] for j, w in enumerate(wanted)))


def test_greedy_stopping_early_changes_nothing(model) -> None:
    x = torch.randn(5, 1, 16, 40)
    memory = model.encode(x)
    a = attention_greedy_decode(model, memory)
    b = attention_greedy_decode(model, memory, stop_early=False)
    assert a.lengths.tolist() == b.lengths.tolist()
    for i, n in enumerate(a.lengths.tolist()):
        assert a.tokens[i, :n].tolist() == b.tokens[i, :n].tolist()
        assert 0 not in a.tokens[i, :n].tolist()
        assert bool((b.tokens[i, n:] == 0).all()) and bool((b.confidence[i, n:] == 0).all())


@pytest.mark.parametrize("lm_weight", [0.0, 3.0])
def test_exhaustive_beam_finds_the_best_complete_line(lm_weight: float) -> None:
    torch.manual_seed(2)
    m = AttentionOCR(num_classes=3, in_channels=1, height=16, channels=4, hidden=8, decoder_hidden=16,
                     max_length=2).eval()
    lm = CharNGramLM.fit([[1, 2], [2, 1], [3, 3], [1, 3]] * 3, order=2, num_symbols=3)
    x = torch.randn(6, 1, 16, 40, generator=torch.Generator().manual_seed(0))
    lines = [[]] + [[a] for a in (1, 2, 3)] + [[a, b] for a in (1, 2, 3) for b in (1, 2, 3)]
    d = attention_beam_decode(m, m.encode(x), beam_width=16, lm=lm, lm_weight=lm_weight)  # nothing pruned
    found = set()
    for i in range(6):
        scores = [line_score(m, x[i : i + 1], line) + lm_weight * lm.score(line) for line in lines]
        best = lines[max(range(len(lines)), key=scores.__getitem__)]
        assert d.tokens[i, : d.lengths[i]].tolist() == best
        found.add(len(best))
    if lm_weight:
        assert found - {0}  # the LM makes non-empty lines win: the search had something to find


def test_beam_returns_an_ended_line_even_when_open_lines_score_higher() -> None:
    torch.manual_seed(2)
    m = AttentionOCR(num_classes=3, in_channels=1, height=16, channels=4, hidden=8, max_length=3).eval()
    with torch.no_grad():
        m.head.bias[0] -= 4.0  # ending is costly at every step: open lines always look better
    x = torch.randn(2, 1, 16, 40)
    d = attention_beam_decode(m, m.encode(x), beam_width=2)
    for i in range(2):
        line = d.tokens[i, : d.lengths[i]].tolist()
        assert line_score(m, x[i : i + 1], line) >= line_score(m, x[i : i + 1], [1, 1, 1]) - 1e-4


def test_strong_lm_fusion_makes_the_lm_line_win(model) -> None:
    lm = CharNGramLM.fit([[2, 4, 1]] * 50, order=4, num_symbols=4)
    memory = model.encode(torch.randn(3, 1, 16, 40))
    for decoded in (attention_greedy_decode(model, memory, lm=lm, lm_weight=50.0),
                    attention_beam_decode(model, memory, beam_width=4, lm=lm, lm_weight=50.0)):
        assert decoded.lengths.tolist() == [3, 3, 3]
        assert decoded.tokens[:, :3].tolist() == [[2, 4, 1]] * 3


def test_max_length_caps_lines(model) -> None:
    memory = model.encode(torch.randn(4, 1, 16, 40))
    d = attention_greedy_decode(model, memory, max_length=2)
    assert int(d.lengths.max()) <= 2
    with pytest.raises(ValueError, match="beam_width"):
        attention_beam_decode(model, memory, beam_width=0)


def test_length_bonus_lengthens_and_a_penalty_shortens_lines(model) -> None:
    memory = model.encode(torch.randn(4, 1, 16, 40))
    long = attention_greedy_decode(model, memory, length_bonus=50.0)
    short = attention_beam_decode(model, memory, beam_width=3, length_bonus=-50.0)
    assert long.lengths.tolist() == [model.max_length] * 4
    assert short.lengths.tolist() == [0] * 4
