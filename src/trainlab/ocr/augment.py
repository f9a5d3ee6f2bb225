"""Batched text-line augmentations: rotation, italic shear, scale, elastic and perspective warps, stroke
width, blur and noise.

Lines are float (B, C, H, W) in [0, 1] with ink high and background 0, zero-padded on the right; each
line is warped about the centre of its own (unpadded) width, so a short line in a wide batch does not
swing. All geometric changes are folded into one sampling grid (one ``grid_sample`` per batch). Every
random draw comes from the generator the loader seeds with (seed, epoch, batch): resumable runs see
exactly the same augmented batches. Elastic distortion after Simard, Steinkraus & Platt 2003, "Best
Practices for Convolutional Neural Networks Applied to Visual Document Analysis".
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError


@dataclass(frozen=True)
class LineAugment:
    """Magnitudes of each augmentation (0 disables it); each line draws its own values.

    rotation: max degrees; shear: max italic slant (x shift per unit of height); scale: max relative
    change of size; shift: max vertical shift as a fraction of the height; elastic: displacement in
    pixels of a smooth random field; perspective: max relative change of the line's width from top to
    bottom; stroke: probability of thickening and (separately) of thinning strokes by one pixel;
    blur: max Gaussian sigma in pixels; noise: max Gaussian noise std.

    Example:
        >>> aug = LineAugment.preset("standard")
        >>> x = torch.zeros(2, 1, 16, 40); x[:, :, 4:12, 5:30] = 1
        >>> y = aug(x, torch.tensor([40, 24]), torch.Generator().manual_seed(0))
        >>> y.shape == x.shape and 0 <= float(y.min()) and float(y.max()) <= 1
        True
    """

    rotation: float = 0.0
    shear: float = 0.0
    scale: float = 0.0
    shift: float = 0.0
    elastic: float = 0.0
    perspective: float = 0.0
    stroke: float = 0.0
    blur: float = 0.0
    noise: float = 0.0

    @classmethod
    def preset(cls, name: str) -> LineAugment | None:
        """``none`` (None), ``light`` or ``standard`` (the values of data.augment)."""
        presets = {
            "none": None,
            "light": cls(rotation=1.5, shear=0.15, scale=0.05, shift=0.04, stroke=0.1, blur=0.5, noise=0.03),
            "standard": cls(rotation=3.0, shear=0.3, scale=0.1, shift=0.06, elastic=1.0, perspective=0.1,
                            stroke=0.2, blur=0.8, noise=0.06),
        }
        if name not in presets:
            raise ConfigError(f"data.augment {name!r} is not a line augmentation preset; allowed: "
                              f"{', '.join(presets)}.")
        return presets[name]

    def describe(self) -> str:
        return "line: " + ", ".join(f"{k} {v:g}" for k, v in asdict(self).items() if v)

    def __call__(self, x: Tensor, widths: Tensor, gen: torch.Generator) -> Tensor:
        """Augment a batch (B, C, H, W) of lines whose real widths are ``widths`` (B,)."""
        b = x.shape[0]
        u = torch.rand(b, 12, generator=gen, device=gen.device).to(x.device) * 2 - 1  # (B, 12) in [-1, 1]
        x = self._warp(x, widths.to(x.device).float(), u, gen)
        if self.stroke:
            thick = (u[:, 6] > 1 - 2 * self.stroke)[:, None, None, None]
            thin = (u[:, 7] > 1 - 2 * self.stroke)[:, None, None, None]
            padded = F.pad(x, (0, 1, 0, 1))  # 2×2 windows: strokes grow or shrink by one pixel
            x = torch.where(thick, F.max_pool2d(padded, 2, 1), x)
            x = torch.where(thin & ~thick, -F.max_pool2d(-padded, 2, 1), x)
        if self.blur:
            x = _gaussian_blur(x, (u[:, 8] + 1) / 2 * self.blur)
        if self.noise:
            sigma = ((u[:, 9] + 1) / 2 * self.noise)[:, None, None, None]
            x = x + sigma * torch.randn(x.shape, generator=gen, device=gen.device).to(x.device)
        return x.clamp(0, 1)

    def _warp(self, x: Tensor, widths: Tensor, u: Tensor, gen: torch.Generator) -> Tensor:
        if not any((self.rotation, self.shear, self.scale, self.shift, self.elastic, self.perspective)):
            return x
        b, _, h, w = x.shape
        ys = torch.arange(h, device=x.device, dtype=torch.float32)[:, None].expand(h, w)  # (H, W) pixel rows
        xs = torch.arange(w, device=x.device, dtype=torch.float32)[None, :].expand(h, w)
        cx = ((widths - 1) / 2)[:, None, None]  # (B, 1, 1) the centre of each line's own width
        cy = (h - 1) / 2
        dx, dy = xs[None] - cx, (ys[None] - cy).expand(b, h, w)  # (B, H, W) relative to the centre
        angle = (u[:, 0] * self.rotation * math.pi / 180)[:, None, None]
        shear = (u[:, 1] * self.shear)[:, None, None]
        zoom = (1 + u[:, 2] * self.scale)[:, None, None]
        shift = (u[:, 3] * self.shift * h)[:, None, None]
        keystone = (u[:, 4] * self.perspective)[:, None, None]
        # output pixel -> source pixel: undo zoom, rotation, then the slant (x shifts with height)
        rx = (torch.cos(angle) * dx + torch.sin(angle) * dy) / zoom
        ry = (-torch.sin(angle) * dx + torch.cos(angle) * dy) / zoom - shift
        rx = rx * (1 + keystone * ry / h) + shear * ry
        src_x, src_y = rx + cx, ry + cy
        if self.elastic:
            coarse = torch.randn(b, 2, max(2, h // 8), max(2, w // 8), generator=gen, device=gen.device).to(x.device)
            field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)  # (B, 2, H, W)
            field = field / field.flatten(1).std(1).clamp_min(1e-6)[:, None, None, None] * self.elastic
            src_x, src_y = src_x + field[:, 0], src_y + field[:, 1]
        grid = torch.stack([(2 * src_x + 1) / w - 1, (2 * src_y + 1) / h - 1], -1)  # (B, H, W, 2), normalized
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _gaussian_blur(x: Tensor, sigma: Tensor) -> Tensor:
    """Separable Gaussian blur with one sigma per line (B,), kernel 5 taps; sigma 0 leaves a line as is."""
    b, c, h, w = x.shape
    taps = torch.arange(-2, 3, device=x.device, dtype=x.dtype)  # (5,)
    s = sigma.to(x.dtype).clamp_min(1e-3)[:, None]
    k = torch.exp(-(taps[None] ** 2) / (2 * s**2))
    k = k / k.sum(1, keepdim=True)  # (B, 5)
    k = k.repeat_interleave(c, 0)  # (B·C, 5): one kernel per channel of each line
    y = x.reshape(1, b * c, h, w)
    y = F.conv2d(F.pad(y, (2, 2, 0, 0), mode="replicate"), k[:, None, None, :], groups=b * c)
    y = F.conv2d(F.pad(y, (0, 0, 2, 2), mode="replicate"), k[:, None, :, None], groups=b * c)
    return y.reshape(b, c, h, w)
