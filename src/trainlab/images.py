"""Reading image files the way a viewer shows them: one reader every dataset and ``trainlab predict`` share,
with no torch import.

Cameras and phones store a JPEG's pixels as the sensor saw them and an EXIF ``Orientation`` tag saying how to
turn them; viewers and labelling tools (CVAT, Label Studio, ultralytics) show and label the turned picture,
so a reader that ignores the tag puts every box on the wrong pixels. :func:`read_image_file` applies it,
converts to grayscale (``L``) or ``RGB`` and returns a ``uint8`` array; every fault (missing, unreadable,
corrupt, not an image, too large) is a one-line :class:`DataError` naming the file. :func:`read_image` adds
the resize to a dataset's size and a channel axis; :func:`resize` is PIL's antialiased bilinear filter.

PIL refuses images of more than 2 × ``Image.MAX_IMAGE_PIXELS`` pixels (178,956,970) as possible
decompression bombs; so does this module, with a one-line error that names the file, its pixel count and the
limit. The environment variable ``TRAINLAB_MAX_IMAGE_PIXELS`` raises the limit for files you trust (PIL's own
check is then lifted for the process; this module's check takes its place).

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

import os
import re
import warnings
from pathlib import Path

import numpy as np

from .errors import DataError, echo

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
"""File extensions treated as images by default (compared case-insensitively)."""

_MODES = {1: "L", 3: "RGB"}
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
PIXEL_LIMIT_ENV = "TRAINLAB_MAX_IMAGE_PIXELS"
DEFAULT_PIXEL_LIMIT = 178_956_970  # PIL's own refusal threshold (2 × Image.MAX_IMAGE_PIXELS)

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


def pixel_limit() -> int:
    """The largest image (width × height) the readers decode: ``TRAINLAB_MAX_IMAGE_PIXELS`` or 178,956,970.

    Example:
        >>> pixel_limit() > 100_000_000
        True
    """
    text = os.environ.get(PIXEL_LIMIT_ENV, "").strip().replace("_", "")
    if not text:
        return DEFAULT_PIXEL_LIMIT
    if not text.isdigit() or int(text) < 1:
        raise DataError(f"{PIXEL_LIMIT_ENV}={echo(os.environ[PIXEL_LIMIT_ENV])}: expected a positive whole number "
                        f"of pixels, e.g. {PIXEL_LIMIT_ENV}=400000000.")
    return int(text)


def _too_large(path: Path | str, pixels: int, limit: int) -> DataError:
    return DataError(f"image {echo(str(path), 120)} has {pixels:,} pixels, more than the limit of {limit:,} (a "
                     f"guard against decompression bombs); if you trust the file, raise it: "
                     f"{PIXEL_LIMIT_ENV}={pixels}.")


def read_image_file(path: Path | str, *, channels: int | None) -> np.ndarray:
    """Decode an image file to ``uint8`` (H, W) (``channels`` 1) or (H, W, 3) (``channels`` 3), upright;
    ``channels`` None keeps a grayscale file at 1 channel and anything else at 3.

    The EXIF orientation tag is applied (``PIL.ImageOps.exif_transpose``); animated files give their first
    frame; 16-bit and float grayscale are scaled to 0-255 (:func:`to_mode`). Raises :class:`DataError` (one
    line, naming the file) when the file is missing, unreadable, corrupt, not an image, or larger than
    :func:`pixel_limit`.

    Example:
        >>> read_image_file("no/such.png", channels=3)
        Traceback (most recent call last):
        ...
        trainlab.errors.DataError: image 'no/such.png' does not exist; check the path (or the list that names it).
    """
    from PIL import Image, ImageOps

    if channels is not None and (channels not in _MODES or isinstance(channels, bool)):
        raise DataError(f"channels must be 1 (grayscale) or 3 (RGB); got {echo(channels)}.")
    limit = pixel_limit()
    if limit > DEFAULT_PIXEL_LIMIT:
        Image.MAX_IMAGE_PIXELS = None  # the user raised the limit (TRAINLAB_MAX_IMAGE_PIXELS): checked below
    try:
        with warnings.catch_warnings():
            # PIL warns before it refuses: a file between the warning and the error limits is read
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > limit:
                    raise _too_large(path, img.width * img.height, limit)
                img.load()
                img = ImageOps.exif_transpose(img)
                mode = _MODES[channels] if channels else ("L" if img.mode in GRAYSCALE_MODES else "RGB")
                array = np.array(to_mode(img, mode), dtype=np.uint8)  # a writable copy
    except Image.DecompressionBombError as exc:  # PIL refused it at open: its message holds the pixel count
        found = re.search(r"\((\d+) pixels\)", str(exc))
        limit = min(limit, 2 * Image.MAX_IMAGE_PIXELS) if Image.MAX_IMAGE_PIXELS else limit  # PIL's own, if lower
        raise _too_large(path, int(found.group(1)) if found else limit + 1, limit) from None
    except FileNotFoundError:
        raise DataError(f"image {echo(str(path), 120)} does not exist; check the path (or the list that names "
                        "it).") from None
    except (OSError, ValueError, SyntaxError) as exc:
        # truncated or corrupt files raise OSError (UnidentifiedImageError is one), some broken headers
        # ValueError or SyntaxError
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise DataError(f"cannot read image {echo(str(path), 120)}: {reason}. Check the path, or replace or "
                        "delete the file.") from None
    return array


def read_image(path: Path | str, *, channels: int | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """:func:`read_image_file` as uint8 ``(H, W, C)``, resized to ``size`` (H, W) with :func:`resize` when given.

    Example:
        >>> read_image("photos/IMG_0001.jpg", channels=3).shape  # a portrait photo stored sideways  # doctest: +SKIP
        (4032, 3024, 3)
    """
    array = read_image_file(path, channels=channels)
    if size is not None:
        array = resize(array, size)
    return array if array.ndim == 3 else array[:, :, None]


def is_grayscale(path: Path | str) -> bool:
    """Whether the file stores one channel (reads the header only; unreadable files count as colour).

    Example:
        >>> is_grayscale("scans/page1.png")  # doctest: +SKIP
        True
    """
    from PIL import Image

    try:
        with Image.open(path) as img:
            if img.mode == "P":
                rgb = np.asarray(img.getpalette() or [], dtype=np.int16).reshape(-1, 3)
                return bool(len(rgb)) and bool((rgb == rgb[:, :1]).all())
            return img.mode in GRAYSCALE_MODES
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def image_size(path: Path | str) -> tuple[int, int]:
    """(H, W) of an image as a viewer shows it (EXIF orientation 5-8 swaps the stored sides); header only.

    Example:
        >>> image_size("photos/IMG_0001.jpg")  # stored 4032 wide, shown upright  # doctest: +SKIP
        (4032, 3024)
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                turned = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # transpose or a quarter turn
                return (img.width, img.height) if turned else (img.height, img.width)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return read_image_file(path, channels=None).shape[:2]  # raises the one-line error (or reads the file)


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
    return np.array(Image.fromarray(array).resize((width, height), resample=Image.Resampling.BILINEAR))  # writable


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
