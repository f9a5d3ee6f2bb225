"""``yolo``: a small single-stage, anchor-free detector in the style of YOLOv8 / YOLOX.

backbone   stem (stride 2) and four stages (stride 4, 8, 16, 32), each a strided conv and residual blocks
neck       top-down (FPN) then bottom-up (PAN): each output level mixes the strides above and below it
head       per level, decoupled branches: class logits (C) and box + objectness (4 + 1) per grid cell

Anchor-free: every cell of a level is one anchor point at the cell's centre; the box is predicted as the
distances (left, top, right, bottom) from that point, ``softplus(raw) × stride`` (positive, scaled to the
level). No anchor boxes to tune for a new dataset (why: YOLOX, Ge et al. 2021, arXiv 2107.08430, and
YOLOv8 dropped them too); which cells learn which object is decided by the task's assigner.

The forward returns one tensor (B, A, 5 + C), A the anchor points of all levels (finest first), so FLOPs
counting, Grad-CAM and torch.compile see a plain model; :meth:`YOLO.anchors` gives their centres and strides.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ModelError
from ..models.registry import take_options

SIZES = {"n": (16, 1), "s": (32, 1), "m": (48, 2)}  # size -> (base width, residual blocks per stage)


class ConvBN(nn.Sequential):
    """Conv (no bias) → BatchNorm → SiLU."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.SiLU())


class Residual(nn.Module):
    """x + conv3×3(conv3×3(x))."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = ConvBN(c, c), ConvBN(c, c)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv2(self.conv1(x))


def stage(cin: int, cout: int, blocks: int) -> nn.Sequential:
    """Halve the resolution with a strided conv, then ``blocks`` residual blocks."""
    return nn.Sequential(ConvBN(cin, cout, 3, 2), *[Residual(cout) for _ in range(blocks)])


class Backbone(nn.Module):
    """Feature maps at strides 8, 16, 32 with widths (2w, 4w, 8w), w the base width."""

    def __init__(self, in_channels: int, width: int, blocks: int) -> None:
        super().__init__()
        w = width
        self.stem = ConvBN(in_channels, w // 2, 3, 2)  # stride 2
        self.stage1 = stage(w // 2, w, blocks)  # 4
        self.stage2 = stage(w, 2 * w, blocks)  # 8
        self.stage3 = stage(2 * w, 4 * w, blocks)  # 16
        self.stage4 = stage(4 * w, 8 * w, blocks)  # 32
        self.channels = (2 * w, 4 * w, 8 * w)

    def forward(self, x: Tensor) -> list[Tensor]:
        c2 = self.stage2(self.stage1(self.stem(x)))
        c3 = self.stage3(c2)
        return [c2, c3, self.stage4(c3)]


class Neck(nn.Module):
    """FPN + PAN over the backbone levels: top-down (upsample, concatenate, fuse), then bottom-up
    (strided conv, concatenate, fuse). Output widths equal the input widths."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        n = len(channels)
        self.top_down = nn.ModuleList(ConvBN(channels[i] + channels[i + 1], channels[i]) for i in range(n - 1))
        self.down = nn.ModuleList(ConvBN(channels[i], channels[i], 3, 2) for i in range(n - 1))
        self.bottom_up = nn.ModuleList(ConvBN(channels[i] + channels[i + 1], channels[i + 1]) for i in range(n - 1))

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        out = list(feats)
        for i in range(len(out) - 2, -1, -1):  # coarse to fine: add context from the level above
            up = F.interpolate(out[i + 1], size=out[i].shape[-2:], mode="nearest")
            out[i] = self.top_down[i](torch.cat([out[i], up], 1))
        for i in range(len(out) - 1):  # fine to coarse: add detail from the level below
            out[i + 1] = self.bottom_up[i](torch.cat([self.down[i](out[i]), out[i + 1]], 1))
        return out


class Head(nn.Module):
    """One level's decoupled head: a class branch and a box + objectness branch (YOLOX)."""

    def __init__(self, cin: int, width: int, num_classes: int, prior: float = 0.01) -> None:
        super().__init__()
        self.stem = ConvBN(cin, width, 1)
        self.cls_branch = nn.Sequential(ConvBN(width, width), ConvBN(width, width))
        self.reg_branch = nn.Sequential(ConvBN(width, width), ConvBN(width, width))
        self.cls_pred = nn.Conv2d(width, num_classes, 1)
        self.box_pred = nn.Conv2d(width, 4, 1)
        self.obj_pred = nn.Conv2d(width, 1, 1)
        bias = -math.log((1 - prior) / prior)  # start predicting "nothing here" with probability 1 - prior
        nn.init.constant_(self.cls_pred.bias, bias)
        nn.init.constant_(self.obj_pred.bias, bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        reg = self.reg_branch(x)
        out = torch.cat([self.box_pred(reg), self.obj_pred(reg), self.cls_pred(self.cls_branch(x))], 1)
        return out.flatten(2).transpose(1, 2)  # (B, H·W, 5 + C)


class YOLO(nn.Module):
    """Backbone, neck and one head per level; ``forward`` gives raw outputs (B, A, 5 + C):
    [box distances (4, before softplus), objectness logit, class logits].

    Example:
        >>> model = YOLO(num_classes=3, in_channels=1, width=8)
        >>> out = model(torch.zeros(2, 1, 64, 64))
        >>> out.shape, model.anchors((64, 64))[0].shape  # 8×8 + 4×4 + 2×2 anchor points
        (torch.Size([2, 84, 8]), torch.Size([84, 2]))
    """

    strides = (8, 16, 32)
    default_layer = "backbone.stage4"  # what pictures and the live page show first: features, not the heads

    def __init__(self, *, num_classes: int, in_channels: int = 3, width: int = 16, blocks: int = 1,
                 head_width: int | None = None) -> None:
        super().__init__()
        if width < 4 or width % 2:
            raise ModelError(f"yolo: width must be an even number >= 4, got {width}.")
        self.num_classes = num_classes
        self.backbone = Backbone(in_channels, width, blocks)
        self.neck = Neck(self.backbone.channels)
        hw = head_width or max(16, self.backbone.channels[0])
        self.heads = nn.ModuleList(Head(c, hw, num_classes) for c in self.backbone.channels)

    def forward(self, x: Tensor) -> Tensor:
        feats = self.neck(self.backbone(x))
        return torch.cat([head(f) for head, f in zip(self.heads, feats)], 1)  # (B, A, 5 + C)

    def anchors(self, image_size: tuple[int, int], device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """Anchor points of an input of ``image_size`` (H, W): centres (A, 2) as (x, y) pixels and strides (A,),
        in the order of the forward's outputs."""
        centres, strides = [], []
        for s in self.strides:
            h, w = -(-image_size[0] // s), -(-image_size[1] // s)  # each stride-2 conv rounds up
            ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
            centres.append((torch.stack([xs, ys], -1).reshape(-1, 2).float() + 0.5) * s)
            strides.append(torch.full((h * w,), float(s), device=device))
        return torch.cat(centres), torch.cat(strides)

    @staticmethod
    def decode_boxes(raw: Tensor, centres: Tensor, strides: Tensor) -> Tensor:
        """Boxes (…, A, 4) xyxy pixels from raw distances (…, A, 4), anchor centres (A, 2) and strides (A,)."""
        d = F.softplus(raw.float()) * strides[:, None]  # (…, A, 4) left, top, right, bottom
        return torch.cat([centres - d[..., :2], centres + d[..., 2:]], -1)


def yolo(*, num_classes: int, in_channels: int, input_size: tuple[int, int], dropout: float = 0.0,
         small_stem: bool = False, **options: Any) -> YOLO:
    """The ``yolo`` detector; options: size ``n`` (base width 16, 1 block per stage), ``s`` (32, 1) or
    ``m`` (48, 2); width and blocks override the size's; head_width (default: the stride-8 width, >= 16)."""
    o = take_options("yolo", options, {"size": "n", "width": None, "blocks": None, "head_width": None})
    if o["size"] not in SIZES:
        raise ModelError(f"yolo: size {o['size']!r} is unknown; allowed: {', '.join(SIZES)}.")
    if any(int(s) % 32 for s in input_size):
        raise ModelError(f"yolo: the input size {tuple(input_size)} must be a multiple of 32 (the largest stride); "
                         "set data.image_size (or the scene size) to one.")
    width, blocks = SIZES[o["size"]]
    return YOLO(num_classes=num_classes, in_channels=in_channels, width=o["width"] or width,
                blocks=o["blocks"] if o["blocks"] is not None else blocks, head_width=o["head_width"])
