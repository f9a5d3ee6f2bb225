"""Analytic receptive-field size, stride and offset, traced through the ops a forward pass calls.

The classic recurrence for a chain of convolutions and poolings (Araujo, Norris & Sim 2019,
"Computing Receptive Fields of Convolutional Neural Networks", Distill,
https://distill.pub/2019/computing-receptive-fields/): with ``j`` the distance in input pixels
between neighbouring units (the jump) and ``[L, R]`` the input interval seen by unit 0 of a layer,
a layer with kernel ``k``, stride ``s``, padding ``p`` and dilation ``d`` gives

    L' = L - p·j,    R' = R + (d·(k - 1) - p)·j,    j' = j·s,

so unit ``i`` sees ``[L' + i·j', R' + i·j']``, of size ``R' - L' + 1`` pixels.

Instead of walking ``named_modules()`` (which assumes a sequential model), a ``TorchFunctionMode``
watches every torch call of a real forward pass and attaches the interval to each tensor derived
from the input. Where paths meet (a residual ``add``, a channel ``cat``) the intervals are united,
so a ResNet's size is that of its longest path. Ops whose geometry is not a window (interpolation,
attention, flatten, norms over space, global context such as squeeze-excitation) mark their result
as not analytic, with the reason; the gradient-based :func:`trainlab.viz.receptive_field` is exact
for those.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from ..errors import UnsupportedLayerError
from .hooks import _first_tensor, _Stop, eval_mode, get_layer

# Ops that keep every position in place (elementwise, per-channel): the interval passes through.
_POINTWISE = {
    "relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "hardtanh", "hardswish", "hardsigmoid", "leaky_relu",
    "elu", "selu", "celu", "softplus", "mish", "prelu", "rrelu", "threshold", "logsigmoid", "softsign",
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout", "batch_norm",
    "add", "sub", "mul", "div", "true_divide", "neg", "abs", "exp", "log", "sqrt", "rsqrt", "pow", "square",
    "clamp", "clip", "clamp_min", "clamp_max", "maximum", "minimum", "where", "reciprocal", "erf", "sin", "cos",
    "clone", "contiguous", "detach", "to", "float", "double", "half", "bfloat16", "type_as", "requires_grad",
    "__add__", "__radd__", "__iadd__", "__sub__", "__rsub__", "__isub__", "__mul__", "__rmul__", "__imul__",
    "__truediv__", "__rtruediv__", "__itruediv__", "__neg__", "__pow__", "__rpow__", "channel_shuffle",
    "gt", "lt", "ge", "le", "eq", "ne", "__gt__", "__lt__", "__ge__", "__le__", "__eq__", "__ne__",
}
_SPLIT_ALONG_CHANNELS = {"cat", "concat", "concatenate", "chunk", "split", "tensor_split"}
_WINDOWED = {"conv1d", "conv2d", "conv3d", "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
             "max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d",
             "lp_pool1d", "lp_pool2d", "lp_pool3d"}
_ADAPTIVE = {"adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
             "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_max_pool1d_with_indices",
             "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices"}
_IGNORED = {"dim", "size", "numel", "__get__", "__len__", "__bool__", "__format__", "__repr__", "item", "tolist",
            "stride", "is_contiguous", "data_ptr", "element_size", "__setstate__", "__reduce_ex__", "register_hook"}

Interval = tuple[float, float, float]  # (jump, left of unit 0, right of unit 0), in input pixels


@dataclass(frozen=True)
class AnalyticRF:
    """Receptive field of a layer from its ops' geometry, per spatial dimension (rows, then columns).

    ``size``: pixels spanned by one unit's window; ``stride``: pixels between neighbouring units;
    ``start``: the first pixel of unit 0's window (negative where it begins in the padding);
    ``offset``: the centre of unit 0's window. Windows ignore the image border: clip them to the image.
    """

    size: tuple[int, ...]
    stride: tuple[int, ...]
    start: tuple[int, ...]

    @property
    def offset(self) -> tuple[float, ...]:
        return tuple(s + (n - 1) / 2 for s, n in zip(self.start, self.size))

    def window(self, position: Sequence[int]) -> tuple[tuple[int, int], ...]:
        """Half-open ``(first, stop)`` input pixels per dimension seen by the unit at ``position``, unclipped.

        Example:
            >>> AnalyticRF(size=(7, 7), stride=(1, 1), start=(-3, -3)).window((5, 0))
            ((2, 9), (-3, 4))
        """
        return tuple((b + i * j, b + i * j + n) for b, i, j, n in zip(self.start, position, self.stride, self.size))


def _arg(args: tuple, kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    if name in kwargs:
        return kwargs[name]
    return args[index] if len(args) > index else default


def _ntuple(value: Any, n: int) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(int(v) for v in value) if len(value) == n else tuple(int(value[0]) for _ in range(n))
    return (int(value),) * n


class _Tracer(TorchFunctionMode):
    """Attaches an interval per spatial dimension to every tensor computed from the traced input."""

    def __init__(self, spatial_dims: int) -> None:
        super().__init__()
        self.n = spatial_dims
        self.info: dict[int, tuple[Interval, ...] | str] = {}  # id(tensor) -> intervals, or why not analytic
        self._keep: list[Tensor] = []  # holds traced tensors so their ids are not reused

    def set(self, t: Tensor, value: tuple[Interval, ...] | str) -> None:
        self.info[id(t)] = value
        self._keep.append(t)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", str(func))
        if name in _IGNORED:
            return out
        flat = [a for a in (*args, *kwargs.values()) for a in (a if isinstance(a, (list, tuple)) else (a,))]
        traced = [a for a in flat if isinstance(a, Tensor) and id(a) in self.info]
        if not traced:
            return out
        outputs = [t for t in (out if isinstance(out, (list, tuple)) else (out,)) if isinstance(t, Tensor)]
        if not outputs:
            return out
        result = self._rule(name.rstrip("_") if not name.startswith("__") else name, args, kwargs, traced)
        targets = outputs[:1] if name in _WINDOWED | _ADAPTIVE else outputs  # pools may also return indices
        for t in targets:
            self.set(t, result)
        return out

    def _combine(self, traced: list[Tensor], name: str) -> tuple[Interval, ...] | str:
        values = [self.info[id(t)] for t in traced]
        reasons = [v for v in values if isinstance(v, str)]
        if reasons:
            return reasons[0]
        shapes = {tuple(t.shape[-self.n:]) for t in traced if t.dim() == self.n + 2}
        if any(t.dim() != self.n + 2 for t in traced) or len(shapes) > 1:
            return f"'{name}' mixes tensors of different spatial shapes (global context, e.g. squeeze-excitation)"
        merged = []
        for dim_values in zip(*values):
            jumps = {j for j, _, _ in dim_values}
            if len(jumps) > 1:
                return f"'{name}' joins paths whose units are {sorted(jumps)} pixels apart"
            merged.append((dim_values[0][0], min(v[1] for v in dim_values), max(v[2] for v in dim_values)))
        return tuple(merged)

    def _rule(self, name: str, args: tuple, kwargs: dict, traced: list[Tensor]) -> tuple[Interval, ...] | str:
        if name in _POINTWISE:
            return self._combine(traced, name)
        if name in _SPLIT_ALONG_CHANNELS:
            dim = _arg(args, kwargs, 2 if name in ("chunk", "split", "tensor_split") else 1, "dim", 0)
            if dim in (1, -(self.n + 1)):
                return self._combine(traced, name)
            return f"'{name}' along dimension {dim} (not the channel dimension)"
        x = args[0] if args else kwargs.get("input")
        if not (isinstance(x, Tensor) and id(x) in self.info and len(traced) == 1):
            return f"'{name}' combines the input in a way that is not a sliding window"
        current = self.info[id(x)]
        if isinstance(current, str):
            return current
        if x.dim() != self.n + 2:
            return f"'{name}' on a tensor of shape {tuple(x.shape)} (no longer (B, C, *spatial))"
        if name == "pad":
            pads = list(_arg(args, kwargs, 1, "pad"))
            left = [0] * self.n
            for i in range(min(len(pads) // 2, self.n)):  # F.pad lists the last dimension first
                left[self.n - 1 - i] = pads[2 * i]
            return tuple((j, lo - p * j, hi - p * j) for (j, lo, hi), p in zip(current, left))
        if name in _ADAPTIVE:
            out_size = _ntuple(_arg(args, kwargs, 1, "output_size"), self.n)
            in_size = x.shape[-self.n:]
            kernels = []
            for i, o in zip(in_size, out_size):
                o = i if o is None else o
                if i % o:
                    return f"'{name}' from {i} to {o} positions uses windows of unequal size"
                kernels.append(i // o)
            return self._window(current, kernels, kernels, [0] * self.n, [1] * self.n)
        if name in _WINDOWED:
            return self._windowed(name, args, kwargs, current)
        return f"'{name}' is not a sliding-window or pointwise op"

    def _windowed(self, name: str, args: tuple, kwargs: dict, current: tuple[Interval, ...]):
        n = self.n
        if name.startswith("conv"):
            kernel = tuple(_arg(args, kwargs, 1, "weight").shape[2:])
            stride = _ntuple(_arg(args, kwargs, 3, "stride", 1), n)
            dilation = _ntuple(_arg(args, kwargs, 5, "dilation", 1), n)
            padding = _arg(args, kwargs, 4, "padding", 0)
            if padding == "valid":
                padding = (0,) * n
            elif padding == "same":  # PyTorch puts the odd pixel of padding on the right
                padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
            return self._window(current, kernel, stride, _ntuple(padding, n), dilation)
        if name.startswith("lp_pool"):
            kernel = _ntuple(_arg(args, kwargs, 2, "kernel_size"), n)
            stride = _arg(args, kwargs, 3, "stride")
            return self._window(current, kernel, _ntuple(stride, n) if stride else kernel, (0,) * n, (1,) * n)
        kernel = _ntuple(_arg(args, kwargs, 1, "kernel_size"), n)
        stride = _arg(args, kwargs, 2, "stride")
        stride = _ntuple(stride, n) if stride not in (None, (), []) else kernel
        padding = _ntuple(_arg(args, kwargs, 3, "padding", 0), n)
        dilation = _ntuple(_arg(args, kwargs, 4, "dilation", 1), n) if name.startswith("max") else (1,) * n
        return self._window(current, kernel, stride, padding, dilation)

    @staticmethod
    def _window(current, kernel, stride, padding, dilation) -> tuple[Interval, ...]:
        return tuple((j * s, lo - p * j, hi + (d * (k - 1) - p) * j)
                     for (j, lo, hi), k, s, p, d in zip(current, kernel, stride, padding, dilation))


def analytic_receptive_field(model: nn.Module, layer: str, input_shape: Sequence[int]) -> AnalyticRF:
    """Size, stride and start of the receptive field of ``layer``'s units, from the geometry of its ops.

    Runs one forward pass of zeros (eval mode, no gradients) and stops after ``layer``. Raises
    :class:`trainlab.errors.UnsupportedLayerError` naming the first op whose geometry is not a
    window; :func:`trainlab.viz.receptive_field` (gradient support) covers every case.

    Args:
        input_shape: ``(C, H, W)`` (or ``(C, L)``, ``(C, D, H, W)``), without the batch dimension.

    Example:
        >>> net = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)], nn.MaxPool2d(2))
        >>> analytic_receptive_field(net, "2", (1, 16, 16))
        AnalyticRF(size=(7, 7), stride=(1, 1), start=(-3, -3))
        >>> analytic_receptive_field(net, "3", (1, 16, 16)).size
        (8, 8)
    """
    shape = tuple(input_shape)
    tracer = _Tracer(len(shape) - 1)
    param = next(iter(model.parameters()), None)
    x = torch.zeros(1, *shape, device=param.device if param is not None else "cpu",
                    dtype=param.dtype if param is not None and param.is_floating_point() else torch.float32)
    found: dict[str, tuple[Interval, ...] | str] = {}

    def hook(module: nn.Module, args: object, output: object) -> None:
        found["rf"] = tracer.info.get(id(_first_tensor(output, layer)), "the layer's output does not depend on "
                                      "the input through traced ops")
        raise _Stop

    handle = get_layer(model, layer).register_forward_hook(hook)
    try:
        with eval_mode(model), torch.no_grad(), tracer:
            tracer.set(x, tuple((1.0, 0.0, 0.0) for _ in shape[1:]))
            model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    rf = found.get("rf", f"layer {layer!r} did not run in the forward pass")
    if isinstance(rf, str):
        raise UnsupportedLayerError(f"no analytic receptive field for {layer!r}: {rf}. The gradient-based "
                                    "receptive_field() is exact for any architecture.")
    return AnalyticRF(size=tuple(int(round(hi - lo + 1)) for _, lo, hi in rf),
                      stride=tuple(int(round(j)) for j, _, _ in rf),
                      start=tuple(int(math.floor(lo)) for _, lo, _ in rf))
