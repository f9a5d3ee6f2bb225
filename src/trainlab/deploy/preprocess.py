"""From image files to model inputs, as the run's evaluation loaders make them (numpy and Pillow, no torch).

A :class:`Preprocess` is built from the plain data a Task gives (:meth:`trainlab.engine.Task.preprocessing`,
the bundle's ``preprocess.json``). Two resize modes cover the tasks:

- ``stretch`` (classifiers, the detector): every image to one (H, W), aspect ratio not kept, antialiased
  bilinear, as :func:`trainlab.data.folder.read_image` and the ``yolo-folder`` reader do;
- ``height`` (text lines): to the line height keeping the aspect ratio (wider than ``max_width`` squeezed to
  it), inverted when ``invert`` says so (``auto``: when the median pixel is light, i.e. dark ink), then a batch
  padded on the right with 0 to its widest line rounded up to ``width_multiple``, as ``text-lines`` and the
  line loaders do.

Then the normalization named by ``normalize`` (see :data:`trainlab.images.NORMALIZE_PIXELS`), bit for bit the
pipelines' float32 values.

Example:
    >>> import tempfile
    >>> from PIL import Image
    >>> path = Path(tempfile.mkdtemp()) / "a.png"; Image.new("L", (20, 10), 200).save(path)
    >>> p = Preprocess({"resize": "stretch", "size": [8, 8], "channels": 1, "mean": [0.5], "std": [0.25],
    ...                 "normalize": "(x / 255 - mean) / std"})
    >>> item = p.load(path)
    >>> item.pixels.shape, item.original
    ((1, 8, 8), (10, 20))
    >>> x, widths = p.batch([item, item])
    >>> x.shape, x.dtype, widths
    ((2, 1, 8, 8), dtype('float32'), None)
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, echo
from ..images import NORMALIZE_PIXELS, NORMALIZE_UNIT, normalize, read_image_file, resize


@dataclass
class Loaded:
    """One image ready to batch: ``pixels`` uint8 (C, H, W) as the model sees them (before normalizing),
    ``original`` the file's (H, W) (EXIF orientation applied) and ``path``."""

    path: Path
    pixels: np.ndarray
    original: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y) factors from model-input pixels to the original image's pixels."""
        return self.original[1] / self.pixels.shape[2], self.original[0] / self.pixels.shape[1]


class Preprocess:
    """Reads image files into model inputs as described by a ``preprocess.json`` mapping (see the module
    docstring); an invalid mapping raises :class:`DataError` naming the key."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = dict(spec)
        get = self._get
        self.mode = get("resize", ("stretch", "height"))
        self.channels = get("channels", (1, 3))
        self.mean, self.std = [float(v) for v in get("mean")], [float(v) for v in get("std")]
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise DataError(f"preprocess: mean and std need {self.channels} values each, got {echo(self.mean)} "
                            f"and {echo(self.std)}.")
        self.formula = get("normalize", (NORMALIZE_PIXELS, NORMALIZE_UNIT))
        if self.mode == "stretch":
            self.size = tuple(int(v) for v in get("size"))
        else:
            self.height, self.max_width = int(get("height")), int(spec.get("max_width", 1024))
            self.multiple = int(spec.get("width_multiple", 4))
            self.invert = spec.get("invert", "auto")
            if self.invert not in ("auto", True, False):
                raise DataError(f"preprocess: invert must be 'auto', true or false, got {echo(self.invert)}.")

    def _get(self, key: str, allowed: tuple | None = None) -> Any:
        if key not in self.spec:
            raise DataError(f"preprocess: the key {key!r} is missing; export the bundle again with trainlab export.")
        value = self.spec[key]
        if allowed is not None and value not in allowed:
            raise DataError(f"preprocess: {key} is {echo(value)}; allowed: {', '.join(map(repr, allowed))}.")
        return value

    def load(self, path: Path | str) -> Loaded:
        """Read one file (raises :class:`DataError` when it cannot be read)."""
        array = read_image_file(path, channels=self.channels)
        original = array.shape[:2]
        if self.mode == "stretch":
            array = resize(array, self.size)
        else:
            h, w = original
            width = max(1, min(self.max_width, round(w * self.height / h)))
            array = resize(array, (self.height, width))
            invert = self.invert if self.invert != "auto" else bool(np.median(array) > 127)  # dark ink
            if invert:
                array = 255 - array
        pixels = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)  # (C, H, W)
        return Loaded(Path(path), np.ascontiguousarray(pixels), (int(original[0]), int(original[1])))

    def batch(self, items: list[Loaded]) -> tuple[np.ndarray, np.ndarray | None]:
        """Normalized float32 inputs (B, C, H, W) and, for lines, their real widths (B,) int64 (else None)."""
        if self.mode == "stretch":
            return normalize(np.stack([i.pixels for i in items]), self.mean, self.std, self.formula), None
        widths = np.array([i.pixels.shape[2] for i in items], dtype=np.int64)
        width = math.ceil(int(widths.max()) / self.multiple) * self.multiple
        x = np.zeros((len(items), self.channels, self.height, width), dtype=np.uint8)
        for i, item in enumerate(items):
            x[i, :, :, : item.pixels.shape[2]] = item.pixels
        return normalize(x, self.mean, self.std, self.formula), widths
