"""``digit-scenes``: canvases with a few real handwritten digits (or clothing items), boxes exact.

Objects come from scikit-learn's bundled digits (8×8, 1,797 images) or, with ``source: fashion-mnist``,
from Fashion-MNIST (28×28). Their source images are split once, stratified by class, into train / valid /
test pools (Fashion-MNIST: valid carved from its training set, test from its test set), and each split's
scenes use only their own pool: a test scene never shows an image seen in training. Each object is
cropped to its ink, scaled to a random height (with a random aspect change), placed where its box
overlaps every earlier box by at most ``max_overlap`` IoU, and merged by maximum. The box is the pasted
rectangle, which is exactly the object's ink extent.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.splits import stratified_split
from ..errors import DataError
from .data import DetectionSplit, make_split

DIGIT_NAMES = [str(i) for i in range(10)]
SOURCES = ("digits", "fashion-mnist")


@dataclass(frozen=True)
class SceneOptions:
    """How scenes are made (the ``data.args`` of ``digit-scenes``).

    size: canvas side in pixels (a multiple of 32); scenes: (train, valid, test) counts; objects: (min, max)
    per scene; object_size: (min, max) object height in pixels; max_overlap: the largest IoU between two
    boxes of a scene; noise: std of Gaussian background noise (0-1 units); source: ``digits`` or
    ``fashion-mnist`` (read from data.root / TRAINLAB_DATA; the default when data.root is set).
    """

    size: int = 96
    scenes: tuple[int, int, int] = (4000, 500, 1000)
    objects: tuple[int, int] = (1, 6)
    object_size: tuple[int, int] = (14, 32)
    max_overlap: float = 0.2
    noise: float = 0.0
    source: str | None = None

    @classmethod
    def from_args(cls, args: dict) -> SceneOptions:
        """Validate ``data.args``; unknown keys and bad values raise DataError naming what is allowed.

        Example:
            >>> SceneOptions.from_args({"size": 64, "scenes": [10, 5, 5]}).scenes
            (10, 5, 5)
        """
        allowed = cls.__dataclass_fields__
        unknown = sorted(set(args) - set(allowed))
        if unknown:
            raise DataError(f"digit-scenes: unknown data.args {unknown}; allowed: {sorted(allowed)}.")
        o = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})
        if o.size < 32 or o.size % 32:
            raise DataError(f"digit-scenes: size must be a multiple of 32 (the detector's largest stride), got {o.size}.")
        if len(o.scenes) != 3 or any(int(n) < 1 for n in o.scenes):
            raise DataError(f"digit-scenes: scenes must be [train, valid, test] positive counts, got {o.scenes}.")
        if not 0 <= o.objects[0] <= o.objects[1] or o.objects[1] < 1:
            raise DataError(f"digit-scenes: objects must be [min, max] with 0 <= min <= max, max >= 1; got {o.objects}.")
        if not 4 <= o.object_size[0] <= o.object_size[1] <= o.size:
            raise DataError(f"digit-scenes: object_size must be [min, max] pixels with 4 <= min <= max <= size, "
                            f"got {o.object_size}.")
        if not 0 <= o.max_overlap < 1:
            raise DataError(f"digit-scenes: max_overlap must be in [0, 1), got {o.max_overlap}.")
        if o.source is not None and o.source not in SOURCES:
            raise DataError(f"digit-scenes: source {o.source!r} is unknown; allowed: {', '.join(SOURCES)}.")
        return o


def _ink_boxes(images: np.ndarray) -> np.ndarray:
    """(N, 4) [top, left, bottom, right) of the ink of each image (N, h, w) (the whole image when blank)."""
    rows, cols = images.max(2) > 0, images.max(1) > 0  # (N, h), (N, w)
    h, w = images.shape[1:]

    def span(ink: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        any_ink = ink.any(1)
        return np.where(any_ink, ink.argmax(1), 0), np.where(any_ink, n - ink[:, ::-1].argmax(1), n)

    top, bottom = span(rows, h)
    left, right = span(cols, w)
    return np.stack([top, left, bottom, right], 1)


def _render(images: torch.Tensor, ink: np.ndarray, src: np.ndarray, oh: np.ndarray, ow: np.ndarray) -> np.ndarray:
    """Resize each object's ink box to (oh, ow) with bilinear sampling: (G, max oh, max ow) float in [0, 1],
    valid in the top-left (oh, ow) of each object."""
    n_src, h_src, w_src = images.shape
    hmax, wmax = int(oh.max()), int(ow.max())
    out = np.zeros((len(src), hmax, wmax), dtype=np.float32)
    oy = torch.arange(hmax, dtype=torch.float32)[None, :, None]
    ox = torch.arange(wmax, dtype=torch.float32)[None, None, :]
    for start in range(0, len(src), 2048):
        sl = slice(start, start + 2048)
        box = torch.from_numpy(ink[src[sl]]).float()  # (g, 4) top, left, bottom, right
        h = torch.from_numpy(oh[sl]).float()[:, None, None]
        w = torch.from_numpy(ow[sl]).float()[:, None, None]
        sy = (oy + 0.5) * (box[:, 2:3, None] - box[:, 0:1, None]) / h - 0.5 + box[:, 0:1, None]  # source rows
        sx = (ox + 0.5) * (box[:, 3:4, None] - box[:, 1:2, None]) / w - 0.5 + box[:, 1:2, None]
        grid = torch.stack([((2 * sx + 1) / w_src - 1).expand(-1, hmax, -1),
                            ((2 * sy + 1) / h_src - 1).expand(-1, -1, wmax)], -1)
        part = F.grid_sample(images[src[sl]][:, None], grid, mode="bilinear", padding_mode="border",
                             align_corners=False)
        out[sl] = part[:, 0].numpy()
    return out


def _max_iou(box: list[float], others: list[list[float]]) -> float:
    """The largest IoU between ``box`` and any of ``others`` (xyxy), in plain Python (a few boxes)."""
    x1, y1, x2, y2 = box
    area = (x2 - x1) * (y2 - y1)
    best = 0.0
    for a1, b1, a2, b2 in others:
        inter = max(0.0, min(x2, a2) - max(x1, a1)) * max(0.0, min(y2, b2) - max(y1, b1))
        best = max(best, inter / (area + (a2 - a1) * (b2 - b1) - inter))
    return best


def compose_scenes(count: int, pools: dict[int, np.ndarray], images: np.ndarray, o: SceneOptions,
                   rng: np.random.Generator) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """``count`` scenes of objects drawn from ``pools`` (class -> indices into ``images`` (N, h, w) in [0, 1]).

    Returns uint8 canvases (count, 1, size, size) and per scene its boxes (n, 4) xyxy and labels (n,).
    """
    s = o.size
    n_obj = rng.integers(o.objects[0], o.objects[1] + 1, count)
    total = int(n_obj.sum())
    classes = np.array(sorted(pools))
    cls = classes[rng.integers(0, len(classes), total)]
    src = np.empty(total, dtype=np.int64)
    for k, pool in pools.items():
        at = np.flatnonzero(cls == k)
        src[at] = pool[rng.integers(0, len(pool), len(at))]
    ink = _ink_boxes(images)
    oh = rng.integers(o.object_size[0], o.object_size[1] + 1, total)
    aspect = (ink[src, 3] - ink[src, 1]) / np.maximum(1, ink[src, 2] - ink[src, 0]) * rng.uniform(0.85, 1.15, total)
    ow = np.clip(np.round(oh * aspect), 2, s).astype(np.int64)
    glyphs = _render(torch.from_numpy(images.astype(np.float32)), ink, src, oh, ow)
    glyphs = np.round(np.clip(glyphs, 0, 1) * 255).astype(np.uint8)
    tries = rng.random((total, 20, 2))  # candidate positions (fractions of the free range)
    canvases = np.zeros((count, s, s), dtype=np.uint8)
    if o.noise:
        noise = np.abs(rng.normal(0, o.noise * 255, canvases.shape))
        canvases[:] = np.clip(noise, 0, 255).astype(np.uint8)
    boxes, labels, g = [], [], 0
    for i, n in enumerate(n_obj.tolist()):
        placed: list[list[float]] = []
        placed_labels: list[int] = []
        for j in range(g, g + n):
            h, w = int(oh[j]), int(ow[j])
            for ty, tx in tries[j]:
                top, left = int(ty * (s - h + 1)), int(tx * (s - w + 1))
                cand = [float(left), float(top), float(left + w), float(top + h)]
                if not placed or _max_iou(cand, placed) <= o.max_overlap:
                    region = canvases[i, top : top + h, left : left + w]
                    np.maximum(region, glyphs[j, :h, :w], out=region)
                    placed.append(cand)
                    placed_labels.append(int(cls[j]))
                    break  # no free place after 20 tries: the scene gets one object fewer
        boxes.append(torch.tensor(placed, dtype=torch.float32).reshape(-1, 4))
        labels.append(torch.tensor(placed_labels, dtype=torch.long))
        g += n
    return torch.from_numpy(canvases)[:, None], boxes, labels


def _digit_source() -> tuple[np.ndarray, np.ndarray, np.ndarray | None, list[str]]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images / 16.0, d.target, None, DIGIT_NAMES


def _fashion_source(root: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    from ..data.datasets import FASHION_CLASSES, read_idx, resolve_root

    folder = resolve_root(root, "fashion-mnist", "train-images-idx3-ubyte")

    def pick(stem: str):
        return next((folder / n for n in (stem + ".gz", stem) if (folder / n).is_file()), folder / stem)

    images = read_idx(pick("train-images-idx3-ubyte")).astype(np.float32) / 255
    targets = read_idx(pick("train-labels-idx1-ubyte")).astype(np.int64)
    test_images = read_idx(pick("t10k-images-idx3-ubyte")).astype(np.float32) / 255
    test_targets = read_idx(pick("t10k-labels-idx1-ubyte")).astype(np.int64)
    n = len(images)
    is_test = np.r_[np.zeros(n, dtype=bool), np.ones(len(test_images), dtype=bool)]
    return np.concatenate([images, test_images]), np.concatenate([targets, test_targets]), is_test, FASHION_CLASSES


def scene_splits(*, seed: int, valid_fraction: float, test_fraction: float, options: SceneOptions = SceneOptions(),
                 root: str | None = None) -> tuple[dict[str, DetectionSplit], list[str]]:
    """Train / valid / test :class:`DetectionSplit` of composed scenes, and the class names.

    Source images are split by ``seed`` (digits: ``test_fraction`` of each class to test, then
    ``valid_fraction`` of the rest to valid); scenes are composed with generators seeded by (seed, split).

    Example:
        >>> o = SceneOptions(size=64, scenes=(6, 2, 2), objects=(1, 3), object_size=(10, 20))
        >>> splits, names = scene_splits(seed=0, valid_fraction=0.1, test_fraction=0.2, options=o)
        >>> splits["train"].images.shape, len(splits["test"]), names[:3]
        (torch.Size([6, 1, 64, 64]), 2, ['0', '1', '2'])
    """
    source = options.source or ("fashion-mnist" if root else "digits")
    images, targets, is_test, names = _fashion_source(root) if source == "fashion-mnist" else _digit_source()
    t = torch.from_numpy(targets).long()
    if is_test is None:
        rest, test_idx = stratified_split(t, test_fraction, seed=seed)
    else:
        rest, test_idx = torch.from_numpy(np.flatnonzero(~is_test)), torch.from_numpy(np.flatnonzero(is_test))
    keep, carved = stratified_split(t[rest], valid_fraction, seed=seed + 1)
    pools_idx = {"train": rest[keep], "valid": rest[carved], "test": test_idx}
    out = {}
    for code, (name, count) in enumerate(zip(("train", "valid", "test"), options.scenes)):
        idx = pools_idx[name].numpy()
        pools = {k: idx[targets[idx] == k] for k in range(len(names))}
        if any(len(p) == 0 for p in pools.values()):
            raise DataError(f"digit-scenes: the {name} pool lacks some class; use smaller valid/test fractions.")
        rng = np.random.default_rng([seed, code, 7])
        canvases, boxes, labels = compose_scenes(int(count), pools, images, options, rng)
        out[name] = make_split(canvases, boxes, labels)
    return out, list(names)
