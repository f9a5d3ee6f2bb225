"""Fast pictures without matplotlib figures: feature maps as colour tiles, PNG bytes, animated GIFs (Pillow).

Used where speed matters (the live page answers in milliseconds) and for GIF frames.
"""
from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache

import numpy as np
import torch
from torch import Tensor


@cache
def _lut(name: str) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)  # (256, 3)


def colorize(values: Tensor | np.ndarray, lo: float | None = None, hi: float | None = None,
             cmap: str = "viridis") -> np.ndarray:
    """Map an array to RGB uint8 ``(..., 3)`` with ``cmap``, ``lo``→first colour, ``hi``→last (default min/max).

    Example:
        >>> colorize(np.array([[0.0, 1.0]])).shape
        (1, 2, 3)
    """
    a = values.detach().float().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values, dtype=np.float32)
    lo = float(a.min()) if lo is None else lo
    hi = float(a.max()) if hi is None else hi
    scaled = np.clip((a - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    return _lut(cmap)[(scaled * 255).round().astype(np.int64)]


def tile(images: Sequence[np.ndarray], cols: int, *, scale: int = 1, pad: int = 2,
         background: int = 255) -> np.ndarray:
    """Lay ``(H, W, 3)`` uint8 images (all the same size) in a grid of ``cols`` columns, each enlarged ``scale``×
    with nearest neighbours, ``pad`` pixels apart.

    Example:
        >>> tile([np.zeros((2, 2, 3), np.uint8)] * 3, cols=2, scale=2, pad=1).shape
        (9, 9, 3)
    """
    h, w = images[0].shape[:2]
    rows = -(-len(images) // cols)
    cell_h, cell_w = h * scale, w * scale
    out = np.full((rows * cell_h + (rows - 1) * pad, cols * cell_w + (cols - 1) * pad, 3), background, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        big = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
        out[r * (cell_h + pad): r * (cell_h + pad) + cell_h, c * (cell_w + pad): c * (cell_w + pad) + cell_w] = big
    return out


def png_bytes(rgb: np.ndarray) -> bytes:
    """PNG file bytes of an ``(H, W, 3)`` or ``(H, W)`` uint8 array (fast settings: small images, no optimizing).

    Example:
        >>> png_bytes(np.zeros((2, 2, 3), np.uint8))[:4]
        b'\\x89PNG'
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def grey(image: Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalized ``(C, H, W)`` model input as RGB uint8 ``(H, W, 3)`` pixels (un-normalized, clipped).

    Example:
        >>> grey(torch.zeros(1, 2, 2), [0.5], [0.5]).max()
        np.uint8(128)
    """
    x = image.detach().float().cpu() * torch.tensor(std).view(-1, 1, 1) + torch.tensor(mean).view(-1, 1, 1)
    x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    x = x.expand(3, -1, -1) if x.shape[0] == 1 else x[:3]
    return x.permute(1, 2, 0).numpy()


def save_gif(frames: Sequence[np.ndarray], path, *, duration_ms: int = 500) -> None:
    """An animated GIF that loops over ``frames`` (``(H, W, 3)`` uint8), ``duration_ms`` each.

    Example:
        >>> save_gif([np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 255, np.uint8)], tmp_path / "a.gif")  # doctest: +SKIP
    """
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    from ..files import atomic_write_bytes

    atomic_write_bytes(path, buf.getvalue())
