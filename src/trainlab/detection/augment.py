"""Box-aware batched augmentation: horizontal flip, scale and translation (boxes follow), brightness and
contrast.

Images are float (B, C, H, W) in [0, 1]; boxes (B, K, 4) xyxy pixels with labels (B, K) (-1 = empty).
The geometric part is one affine map per image, applied to the pixels with one ``grid_sample`` per batch
and to the box corners exactly; a box pushed partly out of the image is clipped, and dropped (label -1)
when less than ``min_visible`` of its area stays inside. Every draw comes from the generator the loader
seeds with (seed, epoch, batch), so a resumed run sees exactly the same batches.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError


@dataclass(frozen=True)
class BoxAugment:
    """Magnitudes (0 disables): ``flip`` probability of a horizontal flip; ``scale`` max relative zoom in or
    out; ``translate`` max shift as a fraction of the image side; ``brightness`` max added offset;
    ``contrast`` max relative contrast change; ``min_visible`` the fraction of a box's area that must stay
    in the image for the box to be kept.

    Example:
        >>> aug = BoxAugment(flip=1.0)
        >>> x = torch.zeros(1, 1, 8, 10); boxes = torch.tensor([[[1., 2, 4, 6]]]); labels = torch.tensor([[0]])
        >>> _, b, l = aug(x, boxes, labels, torch.Generator().manual_seed(0))
        >>> b.tolist(), l.tolist()
        ([[[6.0, 2.0, 9.0, 6.0]]], [[0]])
    """

    flip: float = 0.0
    scale: float = 0.0
    translate: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    min_visible: float = 0.6

    @classmethod
    def preset(cls, name: str, *, flip: bool = False) -> BoxAugment | None:
        """``none`` (None), ``light`` or ``standard`` (the values of data.augment); ``flip``: whether a mirrored
        image keeps its labels' meaning (clothing yes, digits no)."""
        presets = {
            "none": None,
            "light": cls(flip=0.5 * flip, scale=0.1, translate=0.05, brightness=0.1, contrast=0.1),
            "standard": cls(flip=0.5 * flip, scale=0.25, translate=0.1, brightness=0.2, contrast=0.25),
        }
        if name not in presets:
            raise ConfigError(f"data.augment {name!r} is not a detection augmentation preset; allowed: "
                              f"{', '.join(presets)}.")
        return presets[name]

    def describe(self) -> str:
        return "boxes: " + ", ".join(f"{k} {v:g}" for k, v in asdict(self).items() if v and k != "min_visible")

    def __call__(self, x: Tensor, boxes: Tensor, labels: Tensor, gen: torch.Generator
                 ) -> tuple[Tensor, Tensor, Tensor]:
        """Augment images (B, C, H, W) with their boxes (B, K, 4) and labels (B, K)."""
        b, _, h, w = x.shape
        u = torch.rand(b, 6, generator=gen, device=gen.device).to(x.device)  # (B, 6) in [0, 1)
        zoom = 1 + (2 * u[:, 0] - 1) * self.scale  # (B,)
        shift = (2 * u[:, 1:3] - 1) * self.translate * torch.tensor([w, h], device=x.device)  # (B, 2) pixels
        flip = u[:, 3] < self.flip
        if self.scale or self.translate or self.flip:
            x = self._warp(x, zoom, shift, flip)
            boxes, labels = self._move_boxes(boxes, labels, zoom, shift, flip, h, w)
        if self.contrast:
            c = (1 + (2 * u[:, 4] - 1) * self.contrast)[:, None, None, None]
            mean = x.mean((1, 2, 3), keepdim=True)
            x = (x - mean) * c + mean
        if self.brightness:
            x = x + ((2 * u[:, 5] - 1) * self.brightness)[:, None, None, None]
        return x.clamp(0, 1), boxes, labels

    @staticmethod
    def _warp(x: Tensor, zoom: Tensor, shift: Tensor, flip: Tensor) -> Tensor:
        # output pixel p comes from source (p - centre - shift) / zoom + centre, mirrored first when flipped
        b, _, h, w = x.shape
        theta = torch.zeros(b, 2, 3, device=x.device)
        sign = torch.where(flip, -1.0, 1.0)
        theta[:, 0, 0] = sign / zoom
        theta[:, 1, 1] = 1 / zoom
        theta[:, 0, 2] = -sign * shift[:, 0] * 2 / w / zoom  # normalized coordinates span 2 per side
        theta[:, 1, 2] = -shift[:, 1] * 2 / h / zoom
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _move_boxes(self, boxes: Tensor, labels: Tensor, zoom: Tensor, shift: Tensor, flip: Tensor, h: int,
                    w: int) -> tuple[Tensor, Tensor]:
        x1, y1, x2, y2 = boxes.unbind(-1)  # (B, K) each
        f = flip[:, None]
        x1, x2 = torch.where(f, w - x2, x1), torch.where(f, w - x1, x2)
        z, cx, cy = zoom[:, None], w / 2, h / 2
        moved = torch.stack([(x1 - cx) * z + cx + shift[:, :1], (y1 - cy) * z + cy + shift[:, 1:],
                             (x2 - cx) * z + cx + shift[:, :1], (y2 - cy) * z + cy + shift[:, 1:]], -1)
        limit = torch.tensor([w, h, w, h], device=boxes.device, dtype=boxes.dtype)
        clipped = torch.minimum(moved.clamp_min(0), limit)
        area = lambda t: (t[..., 2] - t[..., 0]).clamp_min(0) * (t[..., 3] - t[..., 1]).clamp_min(0)  # noqa: E731
        keep = (labels >= 0) & (area(clipped) >= self.min_visible * area(moved).clamp_min(1e-6))
        return torch.where(keep[..., None], clipped, 0.0), torch.where(keep, labels, -1)
