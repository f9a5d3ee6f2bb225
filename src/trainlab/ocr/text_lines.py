"""``text-lines``: a folder of line images with a ``labels.tsv`` (``filename<TAB>text`` per line).

Layouts (``data.root``):

* ``ROOT/labels.tsv`` and the images: one pool, split at random by the run's seed into train / valid /
  test (``data.test_fraction``, then ``data.valid_fraction`` of the rest);
* ``ROOT/train/labels.tsv`` (+ optional ``valid/``, ``test/``): the given splits (valid carved from
  train when absent).

The alphabet is ``ROOT/alphabet.txt`` (every character of the file, newlines excluded) when present,
else the characters of the training labels; a valid or test label with other characters is an error
(list them in ``alphabet.txt``). Images are read as greyscale, resized to ``height`` keeping the aspect
ratio (lines wider than ``max_width`` are squeezed to it), and inverted when their background is light,
so that ink is high and padding (0) is background, as in ``digit-strings``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import DataError
from .alphabet import Alphabet
from .data import LineSplit, pad_lines

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TextLineOptions:
    """``data.args`` of ``text-lines``: height (32), max_width (1024), invert ("auto" | true | false),
    bucket (8: batches per width-sorted chunk, 0 = none)."""

    height: int = 32
    max_width: int = 1024
    invert: str | bool = "auto"
    bucket: int = 8

    @classmethod
    def from_args(cls, args: dict) -> TextLineOptions:
        unknown = sorted(set(args) - set(cls.__dataclass_fields__))
        if unknown:
            raise DataError(f"text-lines: unknown data.args {unknown}; allowed: {sorted(cls.__dataclass_fields__)}.")
        o = cls(**args)
        if o.height < 16 or o.max_width < o.height:
            raise DataError(f"text-lines: need height >= 16 and max_width >= height, got {o.height}, {o.max_width}.")
        if o.invert not in ("auto", True, False):
            raise DataError(f"text-lines: invert must be 'auto', true or false, got {o.invert!r}.")
        return o


def read_labels(path: Path) -> list[tuple[Path, str]]:
    """(image path, text) pairs of a ``labels.tsv``; image paths are relative to its folder."""
    try:
        rows = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    pairs = []
    for n, row in enumerate(rows, 1):
        if not row.strip():
            continue
        name, sep, text = row.partition("\t")
        if not sep or not name:
            raise DataError(f"{path}:{n}: expected 'filename<TAB>text', got {row[:60]!r}.")
        if not (path.parent / name).is_file():
            raise DataError(f"{path}:{n}: image {name!r} does not exist in {path.parent}.")
        pairs.append((path.parent / name, text))
    if not pairs:
        raise DataError(f"{path} lists no lines; write one 'filename<TAB>text' per line.")
    return pairs


def load_line(path: Path, o: TextLineOptions) -> torch.Tensor:
    """One line image as uint8 (1, height, w), ink high."""
    from PIL import Image

    from ..images import read_image

    a = read_image(path, channels=1)[:, :, 0]  # EXIF orientation applied: a phone photo of a line stays level
    h, w = a.shape
    width = max(1, min(o.max_width, round(w * o.height / h)))
    a = np.asarray(Image.fromarray(a).resize((width, o.height), Image.Resampling.BILINEAR), dtype=np.uint8)
    invert = o.invert if o.invert != "auto" else bool(np.median(a) > 127)  # light background: dark ink
    if invert:
        a = 255 - a
    return torch.from_numpy(a.copy())[None]


def text_line_splits(root: str | None, *, seed: int, valid_fraction: float, test_fraction: float,
                     options: TextLineOptions = TextLineOptions()) -> tuple[dict[str, LineSplit | None], Alphabet]:
    """Read the splits and the alphabet of a ``text-lines`` folder (see the module docstring)."""
    if not root:
        raise DataError("dataset 'text-lines' needs data.root: a folder with labels.tsv (or train/labels.tsv).")
    base = Path(root).expanduser()
    if (base / "train" / "labels.tsv").is_file():
        pairs = {name: read_labels(base / name / "labels.tsv") if (base / name / "labels.tsv").is_file() else None
                 for name in ("train", "valid", "test")}
        if pairs["valid"] is None:
            pairs["train"], pairs["valid"] = _carve(pairs["train"], valid_fraction, seed)
    elif (base / "labels.tsv").is_file():
        rest, test = _carve(read_labels(base / "labels.tsv"), test_fraction, seed)
        train, valid = _carve(rest, valid_fraction, seed + 1)
        pairs = {"train": train, "valid": valid, "test": test}
    else:
        raise DataError(f"dataset 'text-lines': no labels.tsv in {str(base)!r} nor in its train/ folder.")
    if (base / "alphabet.txt").is_file():
        alphabet = Alphabet.from_file(base / "alphabet.txt")
    else:
        alphabet = Alphabet.from_texts(t for _, t in pairs["train"])
    for name, rows in pairs.items():
        bad = set().union(*(alphabet.unknown(t) for _, t in rows)) if rows else set()
        if bad:
            raise DataError(f"text-lines: {name} labels use characters outside the alphabet: {sorted(bad)!r}; "
                            f"list every symbol in {base / 'alphabet.txt'}.")
    splits = {name: None if rows is None else pad_lines([load_line(p, options) for p, _ in rows],
                                                        [t for _, t in rows], alphabet)
              for name, rows in pairs.items()}
    log.info("text-lines: %s lines, alphabet of %d symbols",
             {k: len(v) if v is not None else 0 for k, v in splits.items()}, len(alphabet))
    return splits, alphabet


def _carve(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """Split rows at random: (rest, round(len × fraction) carved); both non-empty when possible."""
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed)).tolist()
    k = min(max(1, round(len(rows) * fraction)), len(rows) - 1)
    if k < 1:
        raise DataError(f"text-lines: {len(rows)} line(s) cannot be split; give at least 2 (better hundreds).")
    carved = sorted(order[:k])
    rest = sorted(order[k:])
    return [rows[i] for i in rest], [rows[i] for i in carved]
