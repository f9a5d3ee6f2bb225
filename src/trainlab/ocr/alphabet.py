"""Symbols of a text-line task and their integer ids.

Id 0 is reserved in every OCR tensor: it is the CTC blank, the attention decoder's end-of-sequence and
the padding of label tensors. The symbols of an alphabet of K characters have ids 1..K, so a model
built for ``num_classes=K`` (the DataBundle's class names are the symbols) outputs K + 1 scores.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch import Tensor

from ..errors import DataError

RESERVED = 0  # blank / end-of-sequence / padding


class Alphabet:
    """An ordered set of single-character symbols, mapped to ids 1..K (0 is reserved).

    Example:
        >>> a = Alphabet("0123456789")
        >>> a.encode("907"), a.decode([10, 1, 8])
        ([10, 1, 8], '907')
    """

    def __init__(self, symbols: Iterable[str]) -> None:
        self.symbols: list[str] = list(symbols)
        bad = [s for s in self.symbols if len(s) != 1]
        if bad:
            raise DataError(f"alphabet symbols must be single characters, got {bad[:5]!r}; "
                            "list each character once.")
        if len(set(self.symbols)) != len(self.symbols):
            dup = sorted({s for s in self.symbols if self.symbols.count(s) > 1})
            raise DataError(f"alphabet lists {dup!r} more than once; list each character once.")
        if not self.symbols:
            raise DataError("the alphabet is empty; give at least one symbol (or labels to infer it from).")
        self._ids = {s: i + 1 for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Alphabet) and other.symbols == self.symbols

    def __repr__(self) -> str:
        return f"Alphabet({''.join(self.symbols)!r})"

    @property
    def space_id(self) -> int | None:
        """The id of ' ' (the word separator for WER), or None when the alphabet has no space."""
        return self._ids.get(" ")

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Alphabet:
        """The sorted set of characters used in ``texts``.

        Example:
            >>> Alphabet.from_texts(["ba", "ab c"]).symbols
            [' ', 'a', 'b', 'c']
        """
        return cls(sorted(set("".join(texts))))

    @classmethod
    def from_file(cls, path: str | Path) -> Alphabet:
        """Every character of a UTF-8 file, in order, newlines excluded (a space counts as a symbol)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"cannot read the alphabet file {path}: {e}") from None
        return cls(dict.fromkeys(c for c in text if c not in "\r\n"))

    def unknown(self, text: str) -> set[str]:
        """Characters of ``text`` that are not in the alphabet."""
        return {c for c in text if c not in self._ids}

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text``; unknown characters raise DataError."""
        try:
            return [self._ids[c] for c in text]
        except KeyError:
            raise DataError(f"text {text!r} has characters outside the alphabet: {sorted(self.unknown(text))!r}; "
                            "add them to the alphabet file.") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text of symbol ids; the reserved id 0 and out-of-range ids are skipped."""
        k = len(self.symbols)
        return "".join(self.symbols[i - 1] for i in ids if 0 < i <= k)

    def encode_batch(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Padded ids (N, L) (0 after each text's end) and lengths (N,).

        Example:
            >>> labels, lengths = Alphabet("ab").encode_batch(["ab", "b"])
            >>> labels.tolist(), lengths.tolist()
            ([[1, 2], [2, 0]], [2, 1])
        """
        encoded = [self.encode(t) for t in texts]
        lengths = torch.tensor([len(e) for e in encoded], dtype=torch.long)
        labels = torch.zeros(len(encoded), max([1, *lengths.tolist()]), dtype=torch.long)
        for i, e in enumerate(encoded):
            labels[i, : len(e)] = torch.tensor(e, dtype=torch.long)
        return labels, lengths

    def decode_batch(self, ids: Tensor, lengths: Tensor) -> list[str]:
        """Texts of a padded (N, L) id tensor with lengths (N,)."""
        return [self.decode(row[:n]) for row, n in zip(ids.tolist(), lengths.tolist())]
