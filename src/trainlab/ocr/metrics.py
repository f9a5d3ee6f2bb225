"""Character and word error rates and sequence accuracy from the Levenshtein edit distance.

CER = character edits / reference characters, WER = word edits / reference words (words split on the
space symbol; a line without spaces is one word), sequence accuracy = exact matches / lines. The
:class:`SequenceMetrics` accumulator computes edit distances on the device for whole batches (no host
sync per step): the Wagner–Fischer recursion row by row, where the insertion term of a row is a running
minimum, ``d[i, j] = min_k<=j (c[k] + j - k) = cummin(c - j) + j``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..engine.metric import Metric


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance (insertions, deletions, substitutions, each costing 1) between two sequences.

    Example:
        >>> edit_distance("kitten", "sitting")
        3
    """
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def character_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Total character edits over total reference characters (can exceed 1 with many insertions).

    Example:
        >>> character_error_rate(["123", "45"], ["123", "456"])
        0.16666666666666666
    """
    _same_count(hypotheses, references)
    edits = sum(edit_distance(h, r) for h, r in zip(hypotheses, references))
    return edits / max(1, sum(len(r) for r in references))


def word_error_rate(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Total word edits over total reference words; words are split on spaces.

    Example:
        >>> word_error_rate(["the cat sat"], ["the cat sat down"])
        0.25
    """
    _same_count(hypotheses, references)
    edits = sum(edit_distance(h.split(), r.split()) for h, r in zip(hypotheses, references))
    return edits / max(1, sum(len(r.split()) for r in references))


def sequence_accuracy(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Fraction of lines recognized exactly.

    Example:
        >>> sequence_accuracy(["12", "3"], ["12", "4"])
        0.5
    """
    _same_count(hypotheses, references)
    return sum(h == r for h, r in zip(hypotheses, references)) / max(1, len(references))


def _same_count(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} references; pass one per line.")


def batched_edit_distance(hyp: Tensor, hyp_lengths: Tensor, ref: Tensor, ref_lengths: Tensor) -> Tensor:
    """Edit distances of B pairs of padded id sequences, on their device.

    Args:
        hyp: (B, Lh) ids; only the first ``hyp_lengths[b]`` of row b count.
        hyp_lengths: (B,).
        ref: (B, Lr) ids, with ``ref_lengths`` (B,).

    Returns:
        (B,) long edit distances.

    Example:
        >>> batched_edit_distance(torch.tensor([[1, 2, 3]]), torch.tensor([3]),
        ...                       torch.tensor([[1, 3, 0]]), torch.tensor([2])).tolist()
        [1]
    """
    if hyp.shape[1] > ref.shape[1]:  # symmetric: loop over the shorter padded side (rows are sequential)
        hyp, hyp_lengths, ref, ref_lengths = ref, ref_lengths, hyp, hyp_lengths
    b, lh = hyp.shape
    lr = ref.shape[1]
    cols = torch.arange(lr + 1, device=ref.device)  # (Lr+1,)
    row = cols.expand(b, lr + 1).clone()  # d[0, j] = j
    out = torch.where(hyp_lengths == 0, ref_lengths, 0)
    for i in range(1, lh + 1):
        sub = row[:, :-1] + (hyp[:, i - 1 : i] != ref).long()  # (B, Lr): diagonal step
        c = torch.cat([row.new_full((b, 1), i), torch.minimum(row[:, 1:] + 1, sub)], dim=1)  # (B, Lr+1)
        row = torch.cummin(c - cols, dim=1).values + cols  # insertions along the row
        done = hyp_lengths == i
        out = torch.where(done, row.gather(1, ref_lengths[:, None]).squeeze(1), out)
    return out


_HASH_WEIGHTS: dict[tuple[str, int], Tensor] = {}


def _weights(n: int, device: torch.device) -> Tensor:
    """Fixed random positional weights < 2**40 for word hashing (sums of ≤ 128 terms cannot overflow)."""
    key = (str(device), n)
    if key not in _HASH_WEIGHTS:
        gen = torch.Generator().manual_seed(20181130)
        _HASH_WEIGHTS[key] = torch.randint(1, 2**40, (n,), generator=gen).to(device)
    return _HASH_WEIGHTS[key]


def words_of(ids: Tensor, lengths: Tensor, space_id: int | None) -> tuple[Tensor, Tensor]:
    """Each line's words as hashed ids (B, W) (0-padded) and word counts (B,), splitting on ``space_id``.

    Runs of spaces and leading/trailing spaces make no empty words (like ``str.split()``). Two different
    words get the same hash with probability about 2**-40.
    """
    b, n = ids.shape
    pos = torch.arange(n, device=ids.device)
    valid = pos < lengths[:, None]  # (B, L)
    sep = valid & (ids == space_id) if space_id is not None else torch.zeros_like(valid)
    char = valid & ~sep
    word = torch.cumsum(sep.long(), 1)  # (B, L) raw word index (empty words included)
    last_sep = torch.cummax(torch.where(sep, pos, -1), 1).values
    in_word = (pos - last_sep - 1).clamp(0, n - 1)  # position inside the word
    h = torch.where(char, (ids.long() + 1) * _weights(max(n, 1), ids.device)[in_word], 0)
    hashes = torch.zeros(b, n + 1, dtype=torch.long, device=ids.device).scatter_add_(1, word, h)
    sizes = torch.zeros(b, n + 1, dtype=torch.long, device=ids.device).scatter_add_(1, word, char.long())
    keep = sizes > 0
    slot = torch.where(keep, torch.cumsum(keep.long(), 1) - 1, n + 1)  # empties go to a dump column
    words = torch.zeros(b, n + 2, dtype=torch.long, device=ids.device).scatter_(1, slot, hashes)
    return words[:, : n + 1], keep.sum(1)


class SequenceMetrics(Metric):
    """Loss, CER, WER, sequence accuracy of decoded lines, accumulated on the device.

    ``update(output, target, per_sample_loss)`` reads ``output.tokens``/``output.lengths`` (the decoded
    ids, 0-padded) and ``target.labels``/``target.lengths``. ``compute()`` returns ``loss``, ``cer``,
    ``wer``, ``seq_accuracy`` and ``accuracy`` (the same as seq_accuracy, so generic reports that show
    "accuracy" show the line accuracy).

    Example:
        >>> from types import SimpleNamespace as NS
        >>> m = SequenceMetrics(space_id=None)
        >>> out = NS(tokens=torch.tensor([[1, 2], [3, 0]]), lengths=torch.tensor([2, 1]))
        >>> y = NS(labels=torch.tensor([[1, 2], [4, 0]]), lengths=torch.tensor([2, 1]))
        >>> m.update(out, y, torch.tensor([0.5, 1.5]))
        >>> r = m.compute(); r["cer"], r["seq_accuracy"], r["loss"]
        (0.3333333333333333, 0.5, 1.0)
    """

    def __init__(self, space_id: int | None = None) -> None:
        super().__init__()
        self.space_id = space_id
        for name in ("char_edits", "chars", "word_edits", "words", "exact", "lines"):
            self.add_state(name, torch.zeros((), dtype=torch.long), "sum")
        self.add_state("loss_sum", torch.zeros((), dtype=torch.float64), "sum")

    def update(self, output, target, loss: Tensor) -> None:
        hyp, hyp_len = output.tokens, output.lengths
        ref, ref_len = target.labels, target.lengths
        d = batched_edit_distance(hyp, hyp_len, ref, ref_len)  # (B,)
        self.char_edits += d.sum()
        self.chars += ref_len.sum()
        self.exact += (d == 0).sum()
        self.lines += ref_len.numel()
        hw, hn = words_of(hyp, hyp_len, self.space_id)
        rw, rn = words_of(ref, ref_len, self.space_id)
        self.word_edits += batched_edit_distance(hw, hn, rw, rn).sum()
        self.words += rn.sum()
        self.loss_sum += loss.double().sum()

    def compute(self) -> dict:
        lines = self.lines.clamp_min(1).double()
        seq = float(self.exact / lines)
        return {
            "loss": float(self.loss_sum / lines),
            "cer": float(self.char_edits.double() / self.chars.clamp_min(1)),
            "wer": float(self.word_edits.double() / self.words.clamp_min(1)),
            "seq_accuracy": seq,
            "accuracy": seq,
            "lines": int(self.lines),
        }
