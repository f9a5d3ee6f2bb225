"""The exact input region that can affect a unit, from the support of its gradient.

A unit ``u`` of some layer depends on input pixel ``p`` when ``∂u/∂p`` can be non-zero. The gradient
of one unit with respect to the input answers this for any graph — padding, stride, dilation,
pooling, residual paths, attention — where walking the layers by hand (the approach of Zeiler &
Fergus 2014, "Visualizing and Understanding Convolutional Networks", https://arxiv.org/abs/1311.2901,
and of trainlab's predecessor) only handles sequential conv/pool chains.

A trained model's gradient at one image is sparse for reasons that have nothing to do with
connectivity: dead ReLUs, the one winner of each max-pool window, exactly cancelling weights, a
zero-initialised residual branch. The structural receptive field therefore comes from a copy of the
model in float64 whose weights are all positive (scaled by ``1/fan_in``, so values stay near 1) and
whose batch-norm statistics are neutral, fed a positive input, with max pooling (and max/min
reductions) given a dense backward over the same windows. Then every path carries a positive
gradient, and the support is exactly the connectivity. Pass ``image=`` instead to get the pixels that
influence the unit for that image under the trained weights.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from ..errors import ModelError, UnsupportedLayerError
from .geometry import AnalyticRF, analytic_receptive_field
from .hooks import capture, eval_mode


@dataclass(frozen=True)
class ReceptiveField:
    """Where one unit of ``layer`` looks in the input.

    ``mask`` ``(H, W)`` (the input's spatial shape) is True at every pixel that can change the unit;
    ``bounds`` are half-open ``(first, stop)`` pixel ranges per spatial dimension around the mask
    (None when no pixel can); ``analytic`` is the size/stride/start from the ops' geometry, or None
    with the reason in ``analytic_note``.
    """

    layer: str
    unit: tuple[int, ...]
    mask: Tensor
    bounds: tuple[tuple[int, int], ...] | None
    analytic: AnalyticRF | None
    analytic_note: str = ""

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        """``(top, left, bottom, right)`` of a 2-D field, bottom/right exclusive (slice with ``[top:bottom]``)."""
        if self.bounds is None:
            return None
        if len(self.bounds) != 2:
            raise ModelError(f"box is defined for 2-D images; this field has {len(self.bounds)} spatial dimensions.")
        (top, bottom), (left, right) = self.bounds
        return top, left, bottom, right

    @property
    def size(self) -> tuple[int, ...]:
        """Pixels spanned per spatial dimension (0 when nothing can affect the unit)."""
        if self.bounds is None:
            return (0,) * self.mask.dim()
        return tuple(stop - first for first, stop in self.bounds)


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for t in (*model.parameters(), *model.buffers()):
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), torch.float32


def structural_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A float64 eval-mode copy of ``model`` whose every path passes a positive gradient (see the module doc).

    Example:
        >>> net = structural_copy(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))
        >>> bool((net[0].weight > 0).all()), float(net[1].running_var[0])
        (True, 1.0)
    """
    twin = copy.deepcopy(model).double().eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in (*twin.named_parameters(), *twin.named_buffers()):
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.fill_(1.0)
            elif name.endswith("running_mean"):
                t.zero_()
            else:
                noise = torch.rand(t.shape, generator=gen, dtype=t.dtype).to(t.device)
                if t.dim() >= 2:  # weights: a positive average over fan-in keeps activations near 1
                    t.copy_((0.5 + noise) / max(1, t.numel() // t.shape[0]))
                elif name.endswith("bias"):
                    t.copy_(0.01 + 0.01 * noise)
                else:  # norm scales, layer scales
                    t.copy_(0.5 + noise)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


def _window_mean(x: Tensor, kernel, stride, padding, dilation, ceil_mode: bool) -> Tensor:
    """Mean over the windows a max pool with these settings would take: same output shape, dense gradient."""
    n = x.dim() - 2
    tup = lambda v, d: tuple(v) if isinstance(v, (list, tuple)) and len(v) == n else (  # noqa: E731
        (v[0] if isinstance(v, (list, tuple)) else v if v is not None else d),) * n
    k = tup(kernel, 1)
    s = tup(stride if stride not in (None, (), []) else kernel, 1)
    p, d = tup(padding, 0), tup(dilation, 1)
    pads, outs = [], []
    for size, k_, s_, p_, d_ in zip(x.shape[2:], k, s, p, d):
        span = d_ * (k_ - 1) + 1
        out = (math.ceil if ceil_mode else math.floor)((size + 2 * p_ - span) / s_) + 1
        if ceil_mode and (out - 1) * s_ >= size + p_:  # PyTorch drops a last window that starts in the padding
            out -= 1
        outs.append(out)
        pads.append((p_, max(0, (out - 1) * s_ + span - size - p_)))
    flat_pads = [v for pair in reversed(pads) for v in pair]  # F.pad wants the last dimension first
    x = F.pad(x, flat_pads)
    channels = x.shape[1]
    weight = torch.full((channels, 1, *k), 1.0 / math.prod(k), dtype=x.dtype, device=x.device)
    y = (F.conv1d, F.conv2d, F.conv3d)[n - 1](x, weight, stride=s, dilation=d, groups=channels)
    return y[(..., *[slice(0, o) for o in outs])]


class _DenseBackward(TorchFunctionMode):
    """Replaces ops whose gradient reaches only one element of a window (max pooling, max/min) by means."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name.startswith("max_pool") or name.startswith("adaptive_max_pool"):
            return self._pool(func, name, args, kwargs)
        if name in ("amax", "amin") or (name in ("max", "min") and (len(args) > 1 or "dim" in kwargs)):
            return self._reduce(func, name, args, kwargs)
        if name in ("maximum", "minimum", "fmax", "fmin"):
            return (args[0] + args[1]) / 2
        return func(*args, **kwargs)

    @staticmethod
    def _pool(func, name: str, args: tuple, kwargs: dict):
        x = args[0]
        if name.startswith("adaptive"):
            n = int(name[len("adaptive_max_pool")])
            out = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[n - 1](
                x, args[1] if len(args) > 1 else kwargs["output_size"])
        else:
            get = lambda i, key, d: kwargs.get(key, args[i] if len(args) > i else d)  # noqa: E731
            out = _window_mean(x, get(1, "kernel_size", 1), get(2, "stride", None), get(3, "padding", 0),
                               get(4, "dilation", 1), bool(get(5, "ceil_mode", False)))
        if "with_indices" in name or kwargs.get("return_indices") or (len(args) > 6 and args[6]):
            return out, func(*args, **kwargs)[1]
        return out

    @staticmethod
    def _reduce(func, name: str, args: tuple, kwargs: dict):
        x = args[0]
        if name in ("max", "min") and len(args) > 1 and isinstance(args[1], Tensor):  # elementwise max(a, b)
            return (x + args[1]) / 2
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        keepdim = kwargs.get("keepdim", args[2] if len(args) > 2 else False)
        dense = x.mean(dim=dim, keepdim=keepdim) if dim is not None else x.mean()
        real = func(*args, **kwargs)
        if name in ("max", "min"):
            return type(real)((dense, real.indices))
        return dense


def _default_unit(shape: Sequence[int]) -> tuple[int, ...]:
    return (0, *[s // 2 for s in shape[1:]])


def _check_unit(unit: Sequence[int], shape: Sequence[int], layer: str) -> tuple[int, ...]:
    unit = tuple(int(u) for u in unit)
    if len(unit) != len(shape) or any(not 0 <= u < s for u, s in zip(unit, shape)):
        raise ModelError(f"unit {unit} is outside layer {layer!r}'s output of shape {tuple(shape)} per image; "
                         f"give one index per dimension, e.g. (channel, y, x) with 0 <= index < size.")
    return unit


def gradient_support(model: nn.Module, layer: str, inputs: Tensor, units: Sequence[Sequence[int]]) -> Tensor:
    """Which input pixels the gradient of ``units[i]`` of ``layer`` reaches, for each sample ``inputs[i]``.

    One backward pass for the whole batch (samples are independent in eval mode). Returns a bool
    ``(B, *spatial)`` mask, true where any channel's gradient is non-zero. The model is used as
    given (see :func:`structural_copy` for the weight-independent version).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
        >>> int(gradient_support(net, "1", torch.randn(1, 1, 9, 9), [(0, 0, 0)]).sum())
        25
    """
    x = inputs.detach().clone().requires_grad_(True)
    with eval_mode(model):
        out = capture(model, x, [layer], grad=True)[layer]  # (B, *unit_shape)
    if len(units) != out.shape[0]:
        raise ModelError(f"gradient_support needs one unit per sample: {len(units)} units for {out.shape[0]} samples.")
    units = [_check_unit(u, out.shape[1:], layer) for u in units]
    objective = torch.stack([out[(i, *u)] for i, u in enumerate(units)]).sum()
    if not objective.requires_grad:
        return torch.zeros(x.shape[:1] + x.shape[2:], dtype=torch.bool, device=x.device)
    (grad,) = torch.autograd.grad(objective, x)
    return (grad != 0).any(dim=1)  # (B, *spatial)


def _bounds(mask: Tensor) -> tuple[tuple[int, int], ...] | None:
    if not bool(mask.any()):
        return None
    bounds = []
    for d in range(mask.dim()):
        along = mask.any(dim=tuple(i for i in range(mask.dim()) if i != d)) if mask.dim() > 1 else mask
        idx = torch.nonzero(along).flatten()
        bounds.append((int(idx[0]), int(idx[-1]) + 1))
    return tuple(bounds)


def receptive_fields(model: nn.Module, layer: str, input_shape: Sequence[int], units: Sequence[Sequence[int]],
                     *, image: Tensor | None = None) -> list[ReceptiveField]:
    """:func:`receptive_field` for several units of one layer, in one backward pass."""
    shape = tuple(input_shape)
    if len(shape) < 2:
        raise ModelError(f"input_shape must be (C, H, W) (or (C, L)), without the batch dimension; got {shape}.")
    try:
        analytic, note = analytic_receptive_field(model, layer, shape), ""
    except UnsupportedLayerError as e:
        analytic, note = None, str(e)
    if image is None:
        twin = structural_copy(model)
        device, _ = _device_dtype(model)
        gen = torch.Generator().manual_seed(0)
        x = (0.5 + torch.rand((len(units), *shape), generator=gen, dtype=torch.float64)).to(device)
        with _DenseBackward():
            masks = gradient_support(twin, layer, x, units)
    else:
        img = image.unsqueeze(0) if image.dim() == len(shape) else image
        if tuple(img.shape[1:]) != shape:
            raise ModelError(f"image of shape {tuple(img.shape[1:])} does not match input_shape {shape}.")
        masks = gradient_support(model, layer, img.expand(len(units), *shape), units)
    masks = masks.cpu()
    return [ReceptiveField(layer=layer, unit=tuple(int(v) for v in u), mask=m, bounds=_bounds(m), analytic=analytic,
                           analytic_note=note) for u, m in zip(units, masks)]


def receptive_field(model: nn.Module, layer: str, input_shape: Sequence[int], unit: Sequence[int] | None = None,
                    *, image: Tensor | None = None) -> ReceptiveField:
    """The exact input region that can affect one unit of ``layer``, plus the analytic size/stride/start.

    Args:
        model: any ``nn.Module``; it is not changed (a copy is analysed).
        layer: qualified module name (``""``: the model's output).
        input_shape: ``(C, H, W)`` without the batch dimension.
        unit: index into the layer's output for one image, e.g. ``(channel, y, x)``; default: channel 0
            at the centre.
        image: optional ``(C, H, W)`` input; then the mask shows the pixels that influence the unit
            for this image under the trained weights (a subset of the structural field).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1))
        >>> rf = receptive_field(net, "2", (1, 16, 16), unit=(0, 4, 4))
        >>> rf.box, rf.size, rf.analytic.size
        ((6, 6, 11, 11), (5, 5), (5, 5))
    """
    if unit is None:
        device, dtype = _device_dtype(model)
        with torch.no_grad(), eval_mode(model):
            out_shape = capture(model, torch.zeros(1, *input_shape, device=device, dtype=dtype), [layer])[layer].shape
        unit = _default_unit(out_shape[1:])
    return receptive_fields(model, layer, input_shape, [unit], image=image)[0]
