"""Reading one image file the way a viewer shows it: EXIF orientation applied, unreadable files as one-line errors.

Cameras and phones store a JPEG's pixels as the sensor saw them and an EXIF ``Orientation`` tag saying how to
turn them; viewers and labelling tools (CVAT, Label Studio, ultralytics) show and label the turned picture,
so a reader that ignores the tag puts every box on the wrong pixels. :func:`read_image` applies it.

PIL refuses images of more than 2 × ``Image.MAX_IMAGE_PIXELS`` pixels (178,956,970) as possible
decompression bombs; :func:`read_image` refuses them with a one-line error that names the file, its pixel
count and the limit, and the environment variable ``TRAINLAB_MAX_IMAGE_PIXELS`` raises the limit for files
you trust (PIL's own check, ``Image.MAX_IMAGE_PIXELS``, is then lifted for the process; this module's check
takes its place).
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import DataError

PIXEL_LIMIT_ENV = "TRAINLAB_MAX_IMAGE_PIXELS"
DEFAULT_PIXEL_LIMIT = 178_956_970  # PIL's own refusal threshold (2 × Image.MAX_IMAGE_PIXELS)
GRAYSCALE_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def pixel_limit() -> int:
    """The largest image (width × height) :func:`read_image` decodes: ``TRAINLAB_MAX_IMAGE_PIXELS`` or 178,956,970.

    Example:
        >>> pixel_limit() > 100_000_000
        True
    """
    text = os.environ.get(PIXEL_LIMIT_ENV, "").strip().replace("_", "")
    if not text:
        return DEFAULT_PIXEL_LIMIT
    if not text.isdigit() or int(text) < 1:
        raise DataError(f"{PIXEL_LIMIT_ENV}={os.environ[PIXEL_LIMIT_ENV]!r}: expected a positive whole number of "
                        f"pixels, e.g. {PIXEL_LIMIT_ENV}=400000000.")
    return int(text)


def _too_large(path: Path, pixels: int, limit: int) -> DataError:
    return DataError(f"image {path} has {pixels:,} pixels, more than the limit of {limit:,} (a guard against "
                     f"decompression bombs); if you trust the file, raise it: {PIXEL_LIMIT_ENV}={pixels}.")


def is_grayscale(path: Path) -> bool:
    """Whether the file stores one channel (reads the header only; unreadable files count as colour).

    Example:
        >>> is_grayscale(Path("scans/page1.png"))  # doctest: +SKIP
        True
    """
    try:
        with Image.open(path) as img:
            return img.mode in GRAYSCALE_MODES or (img.mode == "P" and _palette_is_grey(img))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return False


def image_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image as a viewer shows it (EXIF orientation 5-8 swaps the stored sides); header only.

    Example:
        >>> image_size("photos/IMG_0001.jpg")  # stored 4032 wide, shown upright  # doctest: +SKIP
        (4032, 3024)
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                turned = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # transpose or a quarter turn
                return (img.width, img.height) if turned else (img.height, img.width)
    except Image.DecompressionBombError:
        return read_image(path).shape[:2]  # raises the one-line error
    except (OSError, ValueError, SyntaxError):
        return read_image(path).shape[:2]  # raises the one-line error (or reads what the header hid)


def _palette_is_grey(img: Image.Image) -> bool:
    rgb = np.asarray(img.getpalette() or [], dtype=np.int16).reshape(-1, 3)
    return bool(len(rgb)) and bool((rgb == rgb[:, :1]).all())


def read_image(path: str | Path, *, channels: int | None = None,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """The pixels of one image file as uint8 ``(H, W, C)``, turned as its EXIF ``Orientation`` says.

    ``channels`` 1 gives grayscale (PIL's ``L``: ITU-R 601-2 luma), 3 gives RGB (grey repeated; alpha
    dropped), None keeps a grayscale file at 1 and anything else at 3. 16-bit and float grayscale are
    scaled to 0-255 (PIL's own conversion would clip them). ``size`` (H, W) resizes with bilinear
    filtering (aspect ratio not kept), after the orientation is applied.

    Raises:
        DataError: the file is missing, not an image, truncated or corrupt, or larger than
            :func:`pixel_limit`; one line naming the file.

    Example:
        >>> read_image("photos/IMG_0001.jpg", channels=3).shape  # a portrait photo stored sideways  # doctest: +SKIP
        (4032, 3024, 3)
    """
    path = Path(path)
    limit = pixel_limit()
    if limit > DEFAULT_PIXEL_LIMIT:
        Image.MAX_IMAGE_PIXELS = None  # the user raised the limit (TRAINLAB_MAX_IMAGE_PIXELS); checked below
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.width * img.height > limit:
                    raise _too_large(path, img.width * img.height, limit)
                img.load()
                img = ImageOps.exif_transpose(img)
                mode = {1: "L", 3: "RGB"}.get(channels) or ("L" if img.mode in GRAYSCALE_MODES else "RGB")
                img = _to_mode(img, mode)
                if size is not None and img.size != (size[1], size[0]):  # PIL sizes are (W, H)
                    img = img.resize((int(size[1]), int(size[0])), resample=Image.Resampling.BILINEAR)
                array = np.array(img, dtype=np.uint8)
    except Image.DecompressionBombError as exc:  # PIL refused it at open: its message holds the pixel count
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(path, int(found.group(1)) if found else limit + 1, limit) from None
    except FileNotFoundError:
        raise DataError(f"image {path} does not exist; check the path (or the list that names it).") from None
    except (OSError, ValueError, SyntaxError) as exc:
        # PIL reports truncated or corrupt files as OSError or UnidentifiedImageError (an OSError),
        # and some broken headers as ValueError or SyntaxError.
        raise DataError(f"cannot read image {path}: {exc}. Replace or delete this file and run again.") from None
    return array if array.ndim == 3 else array[:, :, None]


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    """Convert to ``L`` or ``RGB``, scaling 16/32-bit integer and float grayscale to 0..255."""
    if img.mode.startswith("I") or img.mode == "F":
        # assume a 16-bit range for integers (16-bit PNG/TIFF decode as mode I or I;16) and 0..1 for floats
        scale = 255.0 if img.mode == "F" else 255.0 / 65535.0
        array = np.asarray(img, dtype=np.float64) * scale
        img = Image.fromarray(np.clip(np.rint(array), 0, 255).astype(np.uint8))
    if img.mode == mode:
        return img
    if img.mode in ("P", "PA", "LA") and mode == "RGB":
        img = img.convert("RGBA")  # palette / alpha images go through RGBA; alpha is dropped below
    return img.convert(mode)
