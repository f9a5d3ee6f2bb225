"""How a channel responds when its input changes: pasted patches and augmentation sweeps.

Where trainlab's predecessor had an interactive widget with sliders (one setting at a time, nothing
recorded), these functions return numbers: the channel's response for every level of every
augmentation, and the before/after maps of a pasted patch, ready to plot or to test.
Augmentations are applied in pixel space (``[0, 1]``) when ``mean``/``std`` are given, then
re-normalized; otherwise directly to the tensor.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError, ModelError
from ..registry import Registry
from .activations import activations, channel_response
from .receptive_field import receptive_field


def paste_patch(src: Tensor, box: Sequence[int], dst: Tensor, at: Sequence[int]) -> Tensor:
    """A copy of ``dst`` with ``src[:, top:bottom, left:right]`` pasted so that its top-left lands at ``at``.

    Parts that would fall outside ``dst`` are cut off. Images are ``(C, H, W)``.

    Example:
        >>> out = paste_patch(torch.ones(1, 4, 4), (0, 0, 2, 2), torch.zeros(1, 4, 4), at=(3, 1))
        >>> out[0].tolist()
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]]
    """
    if src.dim() != 3 or dst.dim() != 3 or src.shape[0] != dst.shape[0]:
        raise ModelError(f"paste_patch takes (C, H, W) images with the same channels; got {tuple(src.shape)} and "
                         f"{tuple(dst.shape)}.")
    top, left, bottom, right = (int(v) for v in box)
    if not (0 <= top < bottom <= src.shape[1] and 0 <= left < right <= src.shape[2]):
        raise ModelError(f"box {tuple(box)} (top, left, bottom, right; bottom/right exclusive) is empty or outside "
                         f"the source image of size {tuple(src.shape[1:])}.")
    y, x = (int(v) for v in at)
    out = dst.clone()
    # Clip the destination window to dst, and the source window by the same amounts.
    y0, x0 = max(y, 0), max(x, 0)
    y1, x1 = min(y + bottom - top, dst.shape[1]), min(x + right - left, dst.shape[2])
    if y0 < y1 and x0 < x1:
        out[:, y0:y1, x0:x1] = src[:, top + y0 - y: top + y1 - y, left + x0 - x: left + x1 - x]
    return out


@dataclass(frozen=True)
class ActivationChange:
    """A channel's feature map before and after an edit of the input, and its max response."""

    before: Tensor  # (H', W')
    after: Tensor  # (H', W')
    before_value: float
    after_value: float

    @property
    def delta(self) -> Tensor:
        return self.after - self.before


def activation_change(model: nn.Module, layer: str, channel: int, before: Tensor, after: Tensor) -> ActivationChange:
    """How ``channel`` of ``layer`` responds to ``before`` versus ``after`` (two ``(C, H, W)`` images).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
        >>> change = activation_change(net, "1", 0, torch.zeros(1, 8, 8), torch.ones(1, 8, 8))
        >>> change.before.shape, change.delta.shape
        (torch.Size([8, 8]), torch.Size([8, 8]))
    """
    out = activations(model, torch.stack([before, after]), layer)[layer]  # (2, C, *spatial)
    values = channel_response(out, channel, "max")
    return ActivationChange(before=out[0, channel].cpu(), after=out[1, channel].cpu(),
                            before_value=float(values[0]), after_value=float(values[1]))


@dataclass(frozen=True)
class AugmentContext:
    """What an augmentation may use: the pixel to centre on, a background value per channel, a generator."""

    center: tuple[int, int]
    background: Tensor  # (C, 1, 1)
    generator: torch.Generator


Augmentation = Callable[[Tensor, float, AugmentContext], Tensor]  # (x (1, C, H, W), level, ctx) -> x
AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation")
DEFAULT_LEVELS: dict[str, tuple[float, ...]] = {
    "noise": (0.0, 0.05, 0.1, 0.2, 0.3, 0.5),  # std of Gaussian noise, in pixel units
    "blur": (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),  # Gaussian sigma, pixels
    "rotation": (-45.0, -30.0, -15.0, 0.0, 15.0, 30.0, 45.0),  # degrees
    "brightness": (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0),  # multiplier
    "occlusion": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),  # side of a background square / image side
}


@AUGMENTATIONS.register("noise")
def _noise(x: Tensor, level: float, ctx: AugmentContext) -> Tensor:
    noise = torch.randn(x.shape, generator=ctx.generator, dtype=x.dtype).to(x.device)
    return x + level * noise


@AUGMENTATIONS.register("blur")
def _blur(x: Tensor, level: float, ctx: AugmentContext) -> Tensor:
    from torchvision.transforms.v2 import functional as TF

    if level <= 0:
        return x
    size = min(2 * int(3 * level) + 1, (min(x.shape[-2:]) // 2) * 2 - 1)  # odd, at most the image
    return TF.gaussian_blur(x, kernel_size=[max(size, 3)] * 2, sigma=[level, level])


@AUGMENTATIONS.register("rotation")
def _rotation(x: Tensor, level: float, ctx: AugmentContext) -> Tensor:
    from torchvision.transforms.v2 import functional as TF

    fill = ctx.background.flatten().tolist()
    return TF.rotate(x, level, interpolation=TF.InterpolationMode.BILINEAR, fill=fill)


@AUGMENTATIONS.register("brightness")
def _brightness(x: Tensor, level: float, ctx: AugmentContext) -> Tensor:
    return x * level


@AUGMENTATIONS.register("occlusion")
def _occlusion(x: Tensor, level: float, ctx: AugmentContext) -> Tensor:
    h, w = x.shape[-2:]
    side = int(round(level * min(h, w)))
    if side == 0:
        return x
    top = min(max(ctx.center[0] - side // 2, 0), h - side)
    left = min(max(ctx.center[1] - side // 2, 0), w - side)
    out = x.clone()
    out[..., top:top + side, left:left + side] = ctx.background
    return out


def border_background(pixels: Tensor) -> Tensor:
    """The background of a ``(C, H, W)`` image: the median of its border pixels per channel, ``(C, 1, 1)``.

    Example:
        >>> border_background(torch.zeros(1, 4, 4)).shape
        torch.Size([1, 1, 1])
    """
    border = torch.cat([pixels[:, 0], pixels[:, -1], pixels[:, :, 0], pixels[:, :, -1]], dim=1)  # (C, 2H+2W)
    return border.median(dim=1).values.view(-1, 1, 1)


@dataclass(frozen=True)
class Sweep:
    """A channel's response at each level of one augmentation; ``baseline`` is the unchanged image's."""

    name: str
    levels: list[float]
    responses: list[float]
    baseline: float


def augment_and_watch(model: nn.Module, layer: str, channel: int, image: Tensor,
                      augmentations: Sequence[str] | Mapping[str, Sequence[float]] | None = None, *,
                      mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                      reduce: str = "max", seed: int = 0) -> dict[str, Sweep]:
    """Sweep noise, blur, rotation, brightness and occlusion over ``image`` and record ``channel``'s response.

    Args:
        image: ``(C, H, W)``, normalized as the model expects.
        augmentations: names (levels from ``DEFAULT_LEVELS``) or ``{name: levels}``; default: all five.
            Names are looked up in ``AUGMENTATIONS`` (register your own there).
        mean, std: the normalization of ``image``; augmentations then work on ``[0, 1]`` pixels and
            the result is clamped to ``[0, 1]`` before re-normalizing.
        reduce: ``"max"`` or ``"mean"`` of the channel's map.

    The occluder is centred on the receptive field of the channel's strongest unit in ``image`` and
    filled, like rotation's corners, with the median of the image border (the background).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU())
        >>> sweeps = augment_and_watch(net, "1", 0, torch.rand(1, 16, 16), {"brightness": [0.5, 1.0, 2.0]})
        >>> len(sweeps["brightness"].responses)
        3
    """
    if image.dim() != 3:
        raise ModelError(f"augment_and_watch takes one (C, H, W) image, got shape {tuple(image.shape)}.")
    if augmentations is None:
        augmentations = list(DEFAULT_LEVELS)
    plan = ({n: tuple(v) for n, v in augmentations.items()} if isinstance(augmentations, Mapping)
            else {n: DEFAULT_LEVELS.get(n, ()) for n in augmentations})
    for name, levels in plan.items():
        AUGMENTATIONS.get(name)
        if not levels:
            raise ConfigError(f"augmentation {name!r} has no levels; pass {{{name!r}: [levels...]}}.")
    shape = (-1, 1, 1)
    m = torch.tensor(mean, dtype=image.dtype, device=image.device).view(shape) if mean is not None else None
    s = torch.tensor(std, dtype=image.dtype, device=image.device).view(shape) if std is not None else None
    pixels = image * s + m if m is not None and s is not None else image  # (C, H, W)
    out = activations(model, image.unsqueeze(0), layer)[layer][0]  # (C', *spatial)
    if out.dim() < 1 or not 0 <= channel < out.shape[0]:
        raise ModelError(f"channel {channel} is out of range for layer {layer!r} with {out.shape[0]} channels.")
    center = (image.shape[1] // 2, image.shape[2] // 2)
    if out.dim() == 3:
        position = divmod(int(out[channel].argmax()), out.shape[2])
        rf = receptive_field(model, layer, tuple(image.shape), (channel, *position))
        if rf.box is not None:
            top, left, bottom, right = rf.box
            center = ((top + bottom) // 2, (left + right) // 2)
    ctx = AugmentContext(center=center, background=border_background(pixels),
                         generator=torch.Generator().manual_seed(seed))

    def to_model(x: Tensor) -> Tensor:
        if m is None or s is None:
            return x
        return (x.clamp(0, 1) - m) / s

    # The unchanged image after the same round trip (clamping to [0, 1]), so level 0 of a sweep equals it.
    baseline = float(channel_response(activations(model, to_model(pixels.unsqueeze(0)), layer)[layer], channel,
                                      reduce)[0])
    sweeps: dict[str, Sweep] = {}
    for name, levels in plan.items():
        fn = AUGMENTATIONS.get(name)
        batch = torch.cat([to_model(fn(pixels.unsqueeze(0), float(lv), ctx)) for lv in levels])  # (L, C, H, W)
        responses = channel_response(activations(model, batch, layer)[layer], channel, reduce)
        sweeps[name] = Sweep(name=name, levels=[float(v) for v in levels], responses=responses.tolist(),
                             baseline=baseline)
    return sweeps
