"""``digit-strings``: lines of real handwritten digits composed from scikit-learn's bundled digits.

scikit-learn ships 1,797 handwritten digits (8×8, 16 grey levels; the UCI "Optical Recognition of
Handwritten Digits" set). Their source images are split once, stratified by digit, into train / valid /
test pools, and each split's lines are composed only from its own pool: a test line never shows a digit
image seen in training. Each character is cropped to its ink columns, scaled to a random fraction of the
line height (with a random aspect change), placed with a random vertical jitter and a random gap (which
may be slightly negative: touching digits), and merged by maximum. Line texts are uniform random
digits, or ``structured`` strings (years, dates, times, round amounts, counts) on which a character
LM has something to learn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.splits import stratified_split
from ..errors import DataError
from .alphabet import Alphabet
from .data import LineSplit, pad_lines

DIGITS = Alphabet("0123456789")


@dataclass(frozen=True)
class DigitStringOptions:
    """How lines are made (the ``data.args`` of the ``digit-strings`` dataset).

    height: line height in pixels (≥ 16); lines: (train, valid, test) line counts; min_length /
    max_length: digits per line; scale: (min, max) digit height as a fraction of the line height;
    gap: (min, max) pixels between digits; jitter: max vertical offset as a fraction of the height;
    text: ``uniform`` or ``structured``; bucket: batches per width-sorted chunk (0 = no bucketing).
    """

    height: int = 32
    lines: tuple[int, int, int] = (4000, 500, 1000)
    min_length: int = 1
    max_length: int = 8
    scale: tuple[float, float] = (0.55, 0.85)
    gap: tuple[int, int] = (-1, 4)
    jitter: float = 0.08
    text: str = "uniform"
    bucket: int = 8

    @classmethod
    def from_args(cls, args: dict) -> DigitStringOptions:
        """Validate ``data.args``; unknown keys and bad values raise DataError naming what is allowed."""
        allowed = cls.__dataclass_fields__
        unknown = sorted(set(args) - set(allowed))
        if unknown:
            raise DataError(f"digit-strings: unknown data.args {unknown}; allowed: {sorted(allowed)}.")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
        o = cls(**kw)
        if o.height < 16:
            raise DataError(f"digit-strings: height must be >= 16 pixels, got {o.height}.")
        if not 1 <= o.min_length <= o.max_length:
            raise DataError(f"digit-strings: need 1 <= min_length <= max_length, got {o.min_length}, {o.max_length}.")
        if len(o.lines) != 3 or any(int(n) < 1 for n in o.lines):
            raise DataError(f"digit-strings: lines must be [train, valid, test] positive counts, got {o.lines}.")
        if not 0 < o.scale[0] <= o.scale[1] <= 1:
            raise DataError(f"digit-strings: scale must be [min, max] with 0 < min <= max <= 1, got {o.scale}.")
        if o.gap[0] > o.gap[1] or o.gap[0] < -2:
            raise DataError(f"digit-strings: gap must be [min, max] pixels with -2 <= min <= max, got {o.gap}.")
        if o.text not in TEXTS:
            raise DataError(f"digit-strings: text {o.text!r} is unknown; allowed: {', '.join(TEXTS)}.")
        return o


def _uniform(rng: np.random.Generator, lo: int, hi: int) -> str:
    return "".join(map(str, rng.integers(0, 10, int(rng.integers(lo, hi + 1))).tolist()))


def make_texts(kind: str, rng: np.random.Generator, count: int, lo: int, hi: int) -> list[str]:
    """``count`` line texts of ``lo``..``hi`` digits: ``uniform`` random digits or ``structured`` formats.

    Example:
        >>> texts = make_texts("uniform", np.random.default_rng(0), 3, 2, 4)
        >>> len(texts), all(2 <= len(t) <= 4 and t.isdigit() for t in texts)
        (3, True)
    """
    if kind == "structured":
        return [_structured(rng, lo, hi) for _ in range(count)]
    lengths = rng.integers(lo, hi + 1, count).tolist()
    digits = "".join(map(str, rng.integers(0, 10, sum(lengths)).tolist()))
    ends = np.cumsum([0, *lengths]).tolist()
    return [digits[a:b] for a, b in zip(ends[:-1], ends[1:])]


def _structured(rng: np.random.Generator, lo: int, hi: int) -> str:
    """One of several everyday digit formats whose length fits [lo, hi] (uniform digits otherwise)."""
    for _ in range(20):
        kind = int(rng.integers(0, 6))
        day, month, year = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1950, 2030))
        if kind == 0:
            s = str(year)  # a year
        elif kind == 1:
            s = f"{day:02d}{month:02d}{year}"  # ddmmyyyy
        elif kind == 2:
            s = f"{day:02d}{month:02d}{year % 100:02d}"  # ddmmyy
        elif kind == 3:
            s = f"{int(rng.integers(0, 24)):02d}{int(rng.integers(0, 4)) * 15:02d}"  # hhmm, quarter hours
        elif kind == 4:
            s = str(int(rng.integers(1, 10))) + ("5" if rng.random() < 0.3 else "") + "0" * int(rng.integers(0, 5))
        else:
            s = str(int(rng.integers(1, 10 ** int(rng.integers(1, 4)))))  # a small count, no leading zero
        if lo <= len(s) <= hi:
            return s
    return _uniform(rng, lo, hi)


TEXTS = ("uniform", "structured")


def _ink_columns(images: np.ndarray) -> np.ndarray:
    """(N, 2) [first, last + 1) columns holding ink of each 8×8 digit (the whole width when blank)."""
    ink = images.max(1) > 0  # (N, 8)
    first = np.where(ink.any(1), ink.argmax(1), 0)
    last = np.where(ink.any(1), 8 - ink[:, ::-1].argmax(1), 8)
    return np.stack([first, last], 1)


def _render_glyphs(images: torch.Tensor, cols: np.ndarray, src: np.ndarray, gh: np.ndarray, gw: np.ndarray
                   ) -> np.ndarray:
    """Resize each source digit's ink columns to (gh, gw) with bilinear sampling, in batches.

    Returns (G, max gh, max gw) float32, valid in the top-left (gh, gw) of each glyph.
    """
    hmax, wmax = int(gh.max()), int(gw.max())
    out = np.zeros((len(src), hmax, wmax), dtype=np.float32)
    oy = torch.arange(hmax, dtype=torch.float32)[None, :, None]  # (1, Hm, 1) output rows
    ox = torch.arange(wmax, dtype=torch.float32)[None, None, :]
    for start in range(0, len(src), 4096):
        sl = slice(start, start + 4096)
        h = torch.from_numpy(gh[sl]).float()[:, None, None]
        w = torch.from_numpy(gw[sl]).float()[:, None, None]
        lo = torch.from_numpy(cols[src[sl], 0]).float()[:, None, None]
        width = torch.from_numpy(cols[src[sl], 1] - cols[src[sl], 0]).float()[:, None, None]
        sy = (oy + 0.5) * 8 / h - 0.5  # source pixel coordinates (pixel centres, as align_corners=False)
        sx = (ox + 0.5) * width / w - 0.5 + lo
        grid = torch.stack([((2 * sx + 1) / 8 - 1).expand(-1, hmax, -1),
                            ((2 * sy + 1) / 8 - 1).expand(-1, -1, wmax)], -1)  # (g, Hm, Wm, 2)
        part = F.grid_sample(images[src[sl]][:, None], grid, mode="bilinear", padding_mode="border",
                             align_corners=False)
        out[sl] = part[:, 0].numpy()
    return out


def compose_lines(texts: list[str], pools: dict[int, np.ndarray], images: np.ndarray, o: DigitStringOptions,
                  rng: np.random.Generator) -> tuple[list[torch.Tensor], list[list[int]]]:
    """Render each text with digit images (``images`` (N, 8, 8) in [0, 1]) drawn from ``pools``
    (digit -> source indices). Returns uint8 lines (1, H, w) and each character's source index.
    """
    h = o.height
    chars = np.array([int(c) for t in texts for c in t], dtype=np.int64)
    n = len(chars)
    src = np.empty(n, dtype=np.int64)
    for d, pool in pools.items():  # every character draws an image of its digit from the pool
        at = np.flatnonzero(chars == d)
        src[at] = pool[rng.integers(0, len(pool), len(at))]
    cols = _ink_columns(images)
    gh = np.maximum(4, np.round(rng.uniform(*o.scale, n) * h)).astype(np.int64)
    aspect = rng.uniform(0.85, 1.15, n)
    gw = np.maximum(2, np.round((cols[src, 1] - cols[src, 0]) / 8 * gh * aspect)).astype(np.int64)
    tops = np.clip(np.round((h - gh) / 2 + rng.uniform(-o.jitter, o.jitter, n) * h), 0, h - gh).astype(np.int64)
    gaps = rng.integers(o.gap[0], o.gap[1] + 1, n)
    margins = rng.integers(2, 7, (len(texts), 2))
    glyphs = _render_glyphs(torch.from_numpy(images.astype(np.float32)), cols, src, gh, gw)
    glyphs = np.round(np.clip(glyphs, 0, 1) * 255).astype(np.uint8)
    gh_l, gw_l, tops_l, gaps_l, src_l = gh.tolist(), gw.tolist(), tops.tolist(), gaps.tolist(), src.tolist()
    lines, sources, g = [], [], 0
    for (left, right), text in zip(margins.tolist(), texts):
        k = len(text)
        width = left + sum(gw_l[g : g + k]) + sum(gaps_l[g : g + k - 1]) + right
        canvas = np.zeros((h, max(width, 4)), dtype=np.uint8)
        x = left
        for j in range(g, g + k):
            region = canvas[tops_l[j] : tops_l[j] + gh_l[j], x : x + gw_l[j]]
            np.maximum(region, glyphs[j, : gh_l[j], : gw_l[j]], out=region)  # touching digits merge
            x += gw_l[j] + gaps_l[j]
        lines.append(torch.from_numpy(canvas)[None])
        sources.append(src_l[g : g + k])
        g += k
    return lines, sources


def digit_string_splits(*, seed: int, valid_fraction: float, test_fraction: float,
                        options: DigitStringOptions = DigitStringOptions()) -> dict[str, LineSplit]:
    """Train / valid / test :class:`LineSplit` of composed digit lines (symbols "0".."9", ids 1..10).

    Source images are split by ``seed`` (``test_fraction`` of each digit to test, then ``valid_fraction``
    of the rest to valid); lines are composed with generators seeded by (seed, split).

    Example:
        >>> o = DigitStringOptions(height=16, lines=(20, 5, 5))
        >>> s = digit_string_splits(seed=0, valid_fraction=0.1, test_fraction=0.2, options=o)
        >>> s["train"].images.shape[:3], len(s["valid"]), s["test"].images.dtype
        (torch.Size([20, 1, 16]), 5, torch.uint8)
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images / 16.0  # (1797, 8, 8) in [0, 1]
    targets = torch.from_numpy(digits.target).long()
    rest, test_idx = stratified_split(targets, test_fraction, seed=seed)
    keep, carved = stratified_split(targets[rest], valid_fraction, seed=seed + 1)
    pools_idx = {"train": rest[keep], "valid": rest[carved], "test": test_idx}
    out = {}
    for code, (name, count) in enumerate(zip(("train", "valid", "test"), options.lines)):
        idx = pools_idx[name].numpy()
        pools = {d: idx[digits.target[idx] == d] for d in range(10)}
        if any(len(p) == 0 for p in pools.values()):
            raise DataError(f"digit-strings: the {name} pool lacks some digit; use smaller valid/test fractions.")
        rng = np.random.default_rng([seed, code])
        texts = make_texts(options.text, rng, int(count), options.min_length, options.max_length)
        lines, sources = compose_lines(texts, pools, images, options, rng)
        out[name] = pad_lines(lines, texts, DIGITS, sources)
    return out
