"""Reading image files: one function every reader of user images shares, with no torch import.

:func:`read_image_file` decodes a file with PIL, applies its EXIF orientation (a phone photo stored sideways
is read upright), converts it to grayscale (``L``) or ``RGB`` and returns a ``uint8`` array; every fault
(missing, unreadable, corrupt, not an image, a decompression bomb) is a one-line :class:`DataError` naming
the file. :func:`resize` stretches an array to a size with PIL's antialiased bilinear filter, the one the
datasets use. ``trainlab predict`` reads files with these, with or without torch installed.

Example:
    >>> import tempfile
    >>> from PIL import Image
    >>> path = Path(tempfile.mkdtemp()) / "a.png"
    >>> Image.new("RGB", (6, 4), (255, 0, 0)).save(path)
    >>> a = read_image_file(path, channels=1)
    >>> a.shape, a.dtype, int(a[0, 0])
    ((4, 6), dtype('uint8'), 76)
    >>> resize(a, (2, 3)).shape
    (2, 3)
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .errors import DataError, echo

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
"""File extensions treated as images by default (compared case-insensitively)."""

_MODES = {1: "L", 3: "RGB"}

# The two normalizations of the batch pipelines, as a bundle's preprocess.json names them (x: uint8 pixels,
# mean and std per channel in [0, 1] units); evaluated in float32 in this order they give the pipelines' values
# bit for bit. Classification (trainlab.data.BatchPipeline) scales the mean; lines and detection scale x.
NORMALIZE_PIXELS = "(x - 255 * mean) / (255 * std)"
NORMALIZE_UNIT = "(x / 255 - mean) / std"


def to_mode(img, mode: str):
    """``img`` (a PIL image) converted to ``L`` or ``RGB``, 16/32-bit integer and float grayscale scaled to 0..255.

    PIL's own conversion clips such images to 255 instead of scaling them; integers are taken as 16-bit
    (16-bit PNG/TIFF decode as mode I or I;16) and floats as 0..1. Palette and alpha images go through RGBA
    (alpha dropped).
    """
    from PIL import Image

    if img.mode.startswith("I") or img.mode == "F":
        scale = 255.0 if img.mode == "F" else 255.0 / 65535.0
        array = np.asarray(img, dtype=np.float64) * scale
        img = Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8), mode="L")
    if img.mode == mode:
        return img
    if img.mode in ("P", "PA", "LA") and mode == "RGB":
        img = img.convert("RGBA")
    return img.convert(mode)


def read_image_file(path: Path | str, *, channels: int) -> np.ndarray:
    """Decode an image file to ``uint8`` (H, W) (``channels`` 1) or (H, W, 3) (``channels`` 3), upright.

    The EXIF orientation tag is applied (``PIL.ImageOps.exif_transpose``); animated files give their first
    frame. Raises :class:`DataError` (one line, naming the file) when the file is missing, unreadable,
    corrupt, not an image, or larger than PIL's decompression-bomb limit.

    Example:
        >>> read_image_file("no/such.png", channels=3)
        Traceback (most recent call last):
        ...
        trainlab.errors.DataError: cannot read image 'no/such.png': No such file or directory. Check the path, or replace or delete the file.
    """
    from PIL import Image, ImageOps

    if channels not in _MODES or isinstance(channels, bool):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB); got {echo(channels)}.")
    try:
        with warnings.catch_warnings():
            # PIL warns before it refuses: a file between the warning and the error limits is read
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                img = ImageOps.exif_transpose(img)
                array = np.array(to_mode(img, _MODES[channels]), dtype=np.uint8)  # a writable copy
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        # truncated or corrupt files raise OSError (UnidentifiedImageError is one), some broken headers
        # ValueError or SyntaxError
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DataError(f"cannot read image {echo(str(path), 120)}: {reason}. Check the path, or replace or "
                        "delete the file.") from None
    return array


def resize(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``array`` (H, W) or (H, W, 3) ``uint8`` stretched to ``size`` (H, W) with antialiased bilinear filtering
    (the aspect ratio is not kept); returned as is when it has that size already.

    Example:
        >>> resize(np.zeros((4, 4, 3), np.uint8), (8, 2)).shape
        (8, 2, 3)
    """
    from PIL import Image

    height, width = int(size[0]), int(size[1])
    if array.shape[:2] == (height, width):
        return array
    return np.asarray(Image.fromarray(array).resize((width, height), resample=Image.Resampling.BILINEAR))


def normalize(x: np.ndarray, mean: list[float], std: list[float], formula: str) -> np.ndarray:
    """uint8 images (B, C, H, W) as float32 by ``formula`` (:data:`NORMALIZE_PIXELS` or :data:`NORMALIZE_UNIT`),
    ``mean``/``std`` per channel in [0, 1] units.

    Example:
        >>> normalize(np.full((1, 1, 1, 1), 255, np.uint8), [0.5], [0.25], NORMALIZE_UNIT).item()
        2.0
    """
    m = np.asarray(mean, np.float32)[None, :, None, None]
    s = np.asarray(std, np.float32)[None, :, None, None]
    x = x.astype(np.float32)
    if formula == NORMALIZE_PIXELS:
        return (x - m * np.float32(255)) / (s * np.float32(255))
    if formula == NORMALIZE_UNIT:
        return (x / np.float32(255) - m) / s
    raise DataError(f"unknown normalization {echo(formula)}; allowed: {NORMALIZE_PIXELS!r}, {NORMALIZE_UNIT!r}.")
