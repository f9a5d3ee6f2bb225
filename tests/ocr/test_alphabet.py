"""Alphabet: ids 1..K with 0 reserved, round trips, inference, files and clear errors."""
from __future__ import annotations

import pytest
import torch

from trainlab.errors import DataError
from trainlab.ocr.alphabet import Alphabet


def test_round_trip_and_reserved_zero() -> None:
    a = Alphabet("ab c")
    ids = a.encode("c ab")
    assert ids == [4, 3, 1, 2] and 0 not in ids
    assert a.decode(ids) == "c ab"
    assert a.decode([0, 1, 0, 99, 2]) == "ab"  # the reserved id and out-of-range ids are skipped
    assert a.space_id == 3 and Alphabet("xy").space_id is None


def test_encode_batch_pads_with_zero_and_decodes_back() -> None:
    a = Alphabet.from_texts(["hello", "world", ""])
    labels, lengths = a.encode_batch(["hello", "", "low"])
    assert labels.shape == (3, 5) and lengths.tolist() == [5, 0, 3]
    assert bool((labels[1] == 0).all()) and bool((labels[2, 3:] == 0).all())
    assert a.decode_batch(labels, lengths) == ["hello", "", "low"]


def test_from_file_keeps_spaces_and_order(tmp_path) -> None:
    path = tmp_path / "alphabet.txt"
    path.write_text("zy x\n0\n", encoding="utf-8")
    assert Alphabet.from_file(path).symbols == ["z", "y", " ", "x", "0"]


@pytest.mark.parametrize(("symbols", "words"), [(["ab"], "single"), ("aba", "more than once"), ("", "empty")])
def test_bad_alphabets_raise_with_a_hint(symbols, words) -> None:
    with pytest.raises(DataError, match=words):
        Alphabet(symbols)


def test_unknown_character_names_it() -> None:
    with pytest.raises(DataError, match=r"\['é'\]"):
        Alphabet("abc").encode("cé")
    assert Alphabet("abc").unknown("xa") == {"x"}
    assert Alphabet("ab") == Alphabet(["a", "b"]) and Alphabet("ab") != Alphabet("ba")
    assert torch.equal(Alphabet("ab").encode_batch(["b"])[0], torch.tensor([[2]]))
