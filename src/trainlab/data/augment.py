"""Batched image augmentation and normalization on uint8 batches (no per-sample Python).

Every random draw comes from a ``torch.Generator`` the loader seeds from (seed, epoch, batch), so a run
resumed mid-epoch sees exactly the augmentations an uninterrupted run would.
"""
from __future__ import annotations

import torch
from torch import Tensor

PRESETS = ("none", "flip", "light", "standard")


def random_crop(x: Tensor, pad: int, gen: torch.Generator) -> Tensor:
    """Random crop of each image after zero padding by ``pad`` pixels (shift by up to ±pad). x: (B, C, H, W)."""
    b, _, h, w = x.shape
    xp = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=gen.device).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (b,), generator=gen, device=gen.device).to(x.device)
    rows = (oy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (B, H, 1)
    cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (B, 1, W)
    batch = torch.arange(b, device=x.device)[:, None, None]
    return xp.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)  # (B, C, H, W)


def random_hflip(x: Tensor, gen: torch.Generator, p: float = 0.5) -> Tensor:
    flip = (torch.rand(x.shape[0], generator=gen, device=gen.device) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def random_erase(x: Tensor, gen: torch.Generator, p: float = 0.5, max_frac: float = 0.4) -> Tensor:
    """Zero one random rectangle per image with probability p (Zhong et al. 2017, 'Random Erasing')."""
    b, _, h, w = x.shape
    r = torch.rand(b, 5, generator=gen, device=gen.device).to(x.device)
    eh = (r[:, 0] * max_frac * h).long() + 1
    ew = (r[:, 1] * max_frac * w).long() + 1
    y0 = (r[:, 2] * (h - eh + 1)).long()
    x0 = (r[:, 3] * (w - ew + 1)).long()
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = (ys >= y0[:, None]) & (ys < (y0 + eh)[:, None])  # (B, H)
    in_x = (xs >= x0[:, None]) & (xs < (x0 + ew)[:, None])  # (B, W)
    mask = (in_y[:, :, None] & in_x[:, None, :]) & (r[:, 4] < p)[:, None, None]  # (B, H, W)
    return x.masked_fill(mask[:, None], 0)


class Normalizing:
    """Base of the batch pipelines: per-channel ``mean``/``std`` (shaped (1, C, 1, 1), multiplied by ``scale``)
    and :meth:`normalize`; ``augment`` is None or an object with ``describe()``."""

    def __init__(self, mean: list[float], std: list[float], augment=None, scale: float = 1.0) -> None:
        self.augment = augment
        self.mean = torch.tensor(mean, dtype=torch.float32)[None, :, None, None] * scale
        self.std = torch.tensor(std, dtype=torch.float32)[None, :, None, None] * scale

    def describe(self) -> str:
        return self.augment.describe() if self.augment else "none"

    def normalize(self, x: Tensor) -> Tensor:
        if self.mean.device != x.device:  # moved once, on the first batch on the device
            self.mean, self.std = self.mean.to(x.device), self.std.to(x.device)
        return (x - self.mean) / self.std


class BatchPipeline(Normalizing):
    """uint8 (B, C, H, W) -> normalized float32, augmented when training.

    Presets: ``none``; ``flip`` = a random horizontal flip alone (for datasets that allow it); ``light`` =
    random crop with padding H/8 (+ horizontal flip when the dataset allows it); ``standard`` = light + random
    erasing.
    """

    def __init__(self, *, mean: list[float], std: list[float], augment: str = "none", flip: bool = True) -> None:
        if augment not in PRESETS:
            raise ValueError(f"augment {augment!r}; allowed: {PRESETS}")
        super().__init__(mean, std, augment, scale=255)
        self.flip = flip

    def describe(self) -> str:
        if self.augment == "none" or (self.augment == "flip" and not self.flip):
            return "none"
        if self.augment == "flip":
            return "horizontal flip"
        parts = ["random crop (pad H/8)"] + (["horizontal flip"] if self.flip else [])
        return ", ".join(parts + (["random erasing p=0.5"] if self.augment == "standard" else []))

    def __call__(self, x: Tensor, gen: torch.Generator | None) -> Tensor:
        x = x.float()
        if gen is not None and self.augment != "none":
            if self.augment != "flip":
                x = random_crop(x, max(1, x.shape[-2] // 8), gen)
            if self.flip:
                x = random_hflip(x, gen)
        x = self.normalize(x)
        if gen is not None and self.augment == "standard":
            x = random_erase(x, gen)
        return x


def channel_stats(images: Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] units of a uint8 (N, C, H, W) tensor, computed in chunks."""
    c = images.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    total_sq = torch.zeros(c, dtype=torch.float64)
    for chunk in images.split(4096):
        f = chunk.double() / 255
        total += f.sum((0, 2, 3))
        total_sq += (f * f).sum((0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / n
    std = (total_sq / n - mean**2).clamp_min(1e-12).sqrt()
    return mean.tolist(), std.tolist()
