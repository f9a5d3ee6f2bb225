"""CER / WER / sequence accuracy: known pairs, and the batched device version against plain Python."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trainlab.ocr.alphabet import Alphabet
from trainlab.ocr.metrics import (SequenceMetrics, batched_edit_distance, character_error_rate, edit_distance,
                                  sequence_accuracy, word_error_rate, words_of)


@pytest.mark.parametrize(("a", "b", "d"), [
    ("", "", 0), ("abc", "", 3), ("", "ab", 2), ("kitten", "sitting", 3), ("flaw", "lawn", 2),
    ("1234", "1243", 2), ("intention", "execution", 5), ("aaa", "aaaa", 1),
])
def test_edit_distance_known_pairs(a, b, d) -> None:
    assert edit_distance(a, b) == d == edit_distance(b, a)


def test_rates_on_known_pairs() -> None:
    hyps, refs = ["12345", "99", "", "the cat"], ["12845", "9", "7", "the hat"]
    # char edits: 1 (sub) + 1 (insert) + 1 (delete) + 1 (sub) = 4 over 5 + 1 + 1 + 7 = 14 characters
    assert character_error_rate(hyps, refs) == pytest.approx(4 / 14)
    # word edits: 1 + 1 + 1 (empty hypothesis) + 1 ("cat" vs "hat") over 1 + 1 + 1 + 2 words
    assert word_error_rate(hyps, refs) == pytest.approx(4 / 5)
    assert sequence_accuracy(hyps, refs) == 0.0
    assert sequence_accuracy(["a", "b"], ["a", "c"]) == 0.5
    assert character_error_rate(["abcdef"], ["ab"]) == 2.0  # insertions can push CER past 1
    with pytest.raises(ValueError, match="one per line"):
        character_error_rate(["a"], ["a", "b"])


def _pad(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max([1, *(len(s) for s in seqs)])
    t = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        t[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return t, torch.tensor([len(s) for s in seqs])


seq = st.lists(st.integers(1, 4), max_size=9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(seq, seq), min_size=1, max_size=6))
def test_batched_edit_distance_matches_python(pairs) -> None:
    hyp, hl = _pad([p[0] for p in pairs])
    ref, rl = _pad([p[1] for p in pairs])
    hyp[hyp == 0] = 3  # garbage in the padding must not matter
    got = batched_edit_distance(hyp, hl, ref, rl).tolist()
    assert got == [edit_distance(a, b) for a, b in pairs]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="ab ", max_size=10), min_size=1, max_size=5),
       st.lists(st.text(alphabet="ab ", max_size=10), min_size=1, max_size=5))
def test_device_metrics_match_python_rates(hyps, refs) -> None:
    n = min(len(hyps), len(refs))
    hyps, refs = hyps[:n], refs[:n]
    a = Alphabet("ab ")
    m = SequenceMetrics(space_id=a.space_id)
    ht, hl = a.encode_batch(hyps)
    rt, rl = a.encode_batch(refs)
    m.update(NS(tokens=ht, lengths=hl), NS(labels=rt, lengths=rl), torch.ones(n))
    r = m.compute()
    total_chars, total_words = sum(map(len, refs)), sum(len(x.split()) for x in refs)
    assert r["cer"] == pytest.approx(sum(edit_distance(h, x) for h, x in zip(hyps, refs)) / max(1, total_chars))
    assert r["wer"] == pytest.approx(sum(edit_distance(h.split(), x.split()) for h, x in zip(hyps, refs))
                                     / max(1, total_words))
    assert r["seq_accuracy"] == pytest.approx(sequence_accuracy(hyps, refs)) == r["accuracy"]


def test_words_split_like_str_split() -> None:
    a = Alphabet("ab ")
    ids, lengths = a.encode_batch(["  ab  ba a ", "abab", ""])
    words, counts = words_of(ids, lengths, a.space_id)
    assert counts.tolist() == [3, 1, 0]
    w = words[0, :3].tolist()
    assert len(set(w)) == 3 and 0 not in w  # three different words, non-zero hashes
    same, _ = words_of(*a.encode_batch(["ba"]), a.space_id)
    assert same[0, 0] == words[0, 1]  # the same word hashes the same wherever it stands


def test_metrics_accumulate_over_batches_and_reset() -> None:
    m = SequenceMetrics()
    m.update(NS(tokens=torch.tensor([[1, 2]]), lengths=torch.tensor([2])),
             NS(labels=torch.tensor([[1, 2]]), lengths=torch.tensor([2])), torch.tensor([1.0]))
    m.update(NS(tokens=torch.tensor([[0, 0]]), lengths=torch.tensor([0])),
             NS(labels=torch.tensor([[3, 3]]), lengths=torch.tensor([2])), torch.tensor([3.0]))
    r = m.compute()
    assert (r["cer"], r["seq_accuracy"], r["loss"], r["wer"]) == (0.5, 0.5, 2.0, 0.5)
    m.reset()
    assert int(m.lines) == 0 and int(m.char_edits) == 0
