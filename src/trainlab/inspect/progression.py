"""How a channel's feature map develops from the random initialization to the trained network.

:func:`progression` reads the probe records (:mod:`trainlab.inspect.probes`) into one frame per recorded
epoch: a channel on every probe image, or, without a channel, the strongest channels on the first probe
image. :func:`plot_progression` draws epochs × columns as a PNG and :func:`progression_gif` animates it.
Each epoch's row has its own colour scale (a map's pattern matters here, and its magnitude grows while
training); the colour bar of the PNG gives each row's range.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor

from ..errors import ModelError
from .probes import ProbeRecord
from .render import colorize, grey, save_gif, tile


@dataclass(frozen=True)
class Progression:
    """Frames ``(epochs, columns, H, W)`` of ``layer``; ``columns`` are probe images (a ``channel``) or channels."""

    layer: str
    channel: int | None
    epochs: list[int]
    frames: Tensor
    columns: list[str]  # a caption per column
    inputs: list[np.ndarray]  # the probe image(s) shown above the columns, RGB uint8


def progression(record: ProbeRecord, layer: str, channel: int | None = None, k: int = 8) -> Progression:
    """Frames of ``layer``'s ``channel`` on every probe image, or of its ``k`` strongest channels on the first
    probe image: the highest mean output on that image at the last recorded epoch, leaving out channels that
    are zero on it at every epoch (they would draw blank columns).

    Example:
        >>> prog = progression(read_probes("experiments/digits-cnn"), "block2", channel=3)  # doctest: +SKIP
        >>> prog.frames.shape  # (epochs, probe images, H, W)  # doctest: +SKIP
        torch.Size([21, 8, 4, 4])
    """
    maps = record.maps(layer)  # (E, N, C, H, W)
    if maps.dim() != 5:
        raise ModelError(f"layer {layer!r} recorded shape {tuple(maps.shape[2:])} per image, not (C, H, W) feature "
                         "maps; choose a convolutional layer or block.")
    labels = [f"{record.split} #{i}" + (f", {record.class_names[int(t)]}" if record.targets is not None else "")
              for i, t in zip(record.indices, record.targets if record.targets is not None else record.indices)]
    pictures = [grey(x, record.mean, record.std) for x in record.inputs]
    if channel is not None:
        if not 0 <= channel < maps.shape[2]:
            raise ModelError(f"--channel {channel} is out of range: {layer} has {maps.shape[2]} channels "
                             f"(0-{maps.shape[2] - 1}).")
        return Progression(layer, channel, record.epochs, maps[:, :, channel], labels, pictures)
    # ranked on the image the columns show: a channel strong on the other probe images may be all zero on
    # this one (a dead ReLU region), which drew blank columns
    shown = maps[:, 0]  # (E, C, H, W)
    alive = shown.flatten(2).abs().amax(2).amax(0) > 0  # (C,) non-zero on the shown image at some epoch
    if not alive.any():
        raise ModelError(f"every channel of {layer!r} is zero on the first probe image at every recorded epoch; "
                         "choose a channel with --channel or another layer.")
    score = shown[-1].mean(dim=(1, 2)).masked_fill(~alive, float("-inf"))
    strongest = score.argsort(descending=True)[: min(k, int(alive.sum()))]  # (k,)
    return Progression(layer, None, record.epochs, shown[:, strongest],
                       [f"channel {int(c)}" for c in strongest], pictures[:1])


def _rows(prog: Progression, max_rows: int) -> list[int]:
    """Indices of the epochs to draw: all, or ``max_rows`` evenly spaced ones with the first and the last."""
    n = len(prog.epochs)
    if n <= max_rows:
        return list(range(n))
    return sorted({round(i * (n - 1) / (max_rows - 1)) for i in range(max_rows)})


def plot_progression(prog: Progression, path: Path, *, max_rows: int = 12) -> Path:
    """A PNG grid: the probe image(s) on top, then one row per recorded epoch (at most ``max_rows``)."""
    from ..viz.pictures import _figure, _save

    rows = _rows(prog, max_rows)
    cols = prog.frames.shape[1]
    what = f"channel {prog.channel}" if prog.channel is not None else "strongest channels"
    fig, axes = _figure(len(rows) + 1, cols, cell=1.1, extra_height=0.8)
    fig.suptitle(f"{prog.layer} {what}: from initialization (epoch 0) to epoch {prog.epochs[-1]}")
    for c in range(cols):
        if c < len(prog.inputs):
            axes[0, c].imshow(prog.inputs[c], interpolation="nearest")
        axes[0, c].set_title(prog.columns[c], fontsize=7)
    for r, e in enumerate(rows, start=1):
        row = prog.frames[e]
        lo, hi = float(row.min()), float(row.max())
        for c in range(cols):
            im = axes[r, c].imshow(row[c].numpy(), cmap="viridis", vmin=lo, vmax=max(hi, lo + 1e-12),
                                   interpolation="nearest")
        axes[r, 0].set_ylabel(f"epoch {prog.epochs[e]}", fontsize=8)
        fig.colorbar(im, ax=axes[r, :].tolist(), fraction=0.02, pad=0.01)
    return _save(fig, path)


def progression_frames(prog: Progression, *, scale: int | None = None) -> list[np.ndarray]:
    """One RGB uint8 picture per recorded epoch: the columns side by side under an "epoch N" caption.

    Example:
        >>> import torch
        >>> prog = Progression("conv", 0, [0, 1], torch.rand(2, 3, 4, 4), ["a", "b", "c"], [])
        >>> [f.shape for f in progression_frames(prog, scale=2)]  # 3 maps of 8x8 px, 2 px apart, a caption
        [(24, 28, 3), (24, 28, 3)]
    """
    from PIL import Image, ImageDraw

    h, w = prog.frames.shape[-2:]
    scale = scale or max(1, 96 // max(h, w))
    frames = []
    for e, epoch in enumerate(prog.epochs):
        row = prog.frames[e]
        strip = tile([colorize(m, float(row.min()), float(row.max())) for m in row], cols=row.shape[0], scale=scale)
        canvas = np.full((strip.shape[0] + 16, strip.shape[1], 3), 255, np.uint8)
        canvas[16:] = strip
        img = Image.fromarray(canvas)
        ImageDraw.Draw(img).text((2, 2), f"{prog.layer} epoch {epoch}", fill=(0, 0, 0))
        frames.append(np.asarray(img))
    return frames


def progression_gif(prog: Progression, path: Path, *, duration_ms: int = 400) -> Path:
    """An animated GIF of :func:`progression_frames`, looping."""
    save_gif(progression_frames(prog), path, duration_ms=duration_ms)
    return Path(path)


__all__ = ["Progression", "plot_progression", "progression", "progression_frames", "progression_gif"]
