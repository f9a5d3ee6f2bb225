"""CTC decoding on constructed posteriors: best path, prefix beam search (checked against brute force),
per-character confidence, sequence probability and LM fusion."""
from __future__ import annotations

import itertools
import math

import pytest
import torch

from trainlab.ocr.ctc import ctc_beam_decode, ctc_greedy_decode, ctc_sequence_probability
from trainlab.ocr.lm import CharNGramLM


def collapse(path) -> tuple[int, ...]:
    out, prev = [], None
    for c in path:
        if c != prev and c != 0:
            out.append(c)
        prev = c
    return tuple(out)


def labeling_probs(p: torch.Tensor) -> dict[tuple[int, ...], float]:
    """Every labeling's probability by summing all C^T frame paths (tiny T only)."""
    t, c = p.shape
    out: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(c), repeat=t):
        prob = math.prod(float(p[i, k]) for i, k in enumerate(path))
        key = collapse(path)
        out[key] = out.get(key, 0.0) + prob
    return out


def test_greedy_merges_repeats_drops_blanks_and_ignores_padding_frames() -> None:
    best = [[1, 1, 0, 1, 2, 2, 0, 3], [2, 0, 2, 2, 3, 3, 3, 1]]
    logp = torch.full((2, 8, 4), -5.0)
    for b, row in enumerate(best):
        for t, c in enumerate(row):
            logp[b, t, c] = 0.0
    d = ctc_greedy_decode(logp, torch.tensor([8, 6]))
    assert d.lengths.tolist() == [4, 3]
    assert d.tokens[0, :4].tolist() == [1, 1, 2, 3] and d.tokens[1, :3].tolist() == [2, 2, 3]
    assert bool((d.tokens[1, 3:] == 0).all())  # frame 7 of line 1 (a "1") lies past its length


def test_greedy_confidence_is_the_best_frame_of_each_run() -> None:
    p = torch.tensor([[[0.1, 0.6, 0.3], [0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.1, 0.7]]])
    d = ctc_greedy_decode(p.log())
    assert d.tokens[0, :2].tolist() == [1, 2]
    assert d.confidence[0, :2].tolist() == pytest.approx([0.9, 0.7], abs=1e-5)
    assert float(d.confidence[0, 2:].abs().sum()) == 0


def test_beam_finds_the_labeling_the_best_path_misses() -> None:
    p = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]])  # best path: blank blank -> "" (0.36); "1" has 0.64
    assert ctc_greedy_decode(p.log()).lengths.tolist() == [0]
    d = ctc_beam_decode(p.log(), beam_width=4)
    assert d.tokens[0, : d.lengths[0]].tolist() == [1]


@pytest.mark.parametrize("seed", range(6))
def test_wide_beam_is_exact_on_random_posteriors(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    p = torch.softmax(torch.randn(5, 3, generator=gen) * 2, -1)  # T=5 frames, blank + 2 symbols
    probs = labeling_probs(p)
    best = max(probs, key=probs.get)
    d = ctc_beam_decode(p.log()[None], beam_width=64, prune=1e-12)
    assert tuple(d.tokens[0, : d.lengths[0]].tolist()) == best
    tokens = torch.tensor([list(best) or [1]])
    got = ctc_sequence_probability(p.log()[None], None, tokens, torch.tensor([len(best)]))
    assert float(got) == pytest.approx(probs[best], rel=1e-4)


def test_beam_respects_frame_lengths() -> None:
    p = torch.tensor([[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.05, 0.05, 0.9]]).log()
    d = ctc_beam_decode(torch.stack([p, p]), torch.tensor([3, 2]), beam_width=3)
    assert d.tokens[0, : d.lengths[0]].tolist() == [1, 2]
    assert d.tokens[1, : d.lengths[1]].tolist() == [1]


def test_lm_fusion_flips_an_ambiguous_symbol() -> None:
    # frame 2 slightly prefers "3" over "2"; the LM has only ever seen "12"
    p = torch.tensor([[0.05, 0.9, 0.03, 0.02], [0.1, 0.02, 0.4, 0.48]])
    lm = CharNGramLM.fit([[1, 2]] * 20, order=2, num_symbols=3)
    plain = ctc_beam_decode(p.log()[None], beam_width=4)
    fused = ctc_beam_decode(p.log()[None], beam_width=4, lm=lm, lm_weight=1.0)
    assert plain.tokens[0, : plain.lengths[0]].tolist() == [1, 3]
    assert fused.tokens[0, : fused.lengths[0]].tolist() == [1, 2]
    with pytest.raises(ValueError, match="beam_width"):
        ctc_beam_decode(p.log()[None], beam_width=0)


def test_length_bonus_offsets_the_lms_cost_per_symbol() -> None:
    # two frames that clearly read "1 2" ... but "2" only just beats a blank in the second frame
    p = torch.tensor([[0.05, 0.9, 0.05], [0.45, 0.05, 0.5]])
    lm = CharNGramLM.fit([[1]] * 30 + [[1, 2]] * 3, order=2, num_symbols=2)  # lines are mostly "1"
    fused = ctc_beam_decode(p.log()[None], beam_width=4, lm=lm, lm_weight=1.0)
    bonus = ctc_beam_decode(p.log()[None], beam_width=4, lm=lm, lm_weight=1.0, length_bonus=3.0)
    assert fused.tokens[0, : fused.lengths[0]].tolist() == [1]
    assert bonus.tokens[0, : bonus.lengths[0]].tolist() == [1, 2]
