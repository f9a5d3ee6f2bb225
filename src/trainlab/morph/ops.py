"""Which torch operations keep channels apart, and which mix them.

A widening transform is only exact when every operation between a producer (conv/linear) and its
consumers treats channels independently. This module sorts the modules, functions and tensor methods
a traced graph can contain into a few kinds; :mod:`trainlab.morph.graph` uses the kinds to follow
channel volumes through the graph. Anything not listed here is treated as unsupported.

Example:
    >>> from torch import nn
    >>> from trainlab.morph.ops import module_kind
    >>> module_kind(nn.ReLU()), module_kind(nn.Conv2d(3, 8, 3)), module_kind(nn.GroupNorm(2, 8))[0]
    (('pointwise', ''), ('producer', ''), 'unsupported')
"""
from __future__ import annotations

import operator
import sys
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

Kind = Literal[
    "producer",  # conv/linear: reads a channel layout, writes a fresh volume
    "follower",  # per-channel parameters (BatchNorm, InstanceNorm, PReLU): layout in = layout out
    "grouped",  # grouped/depthwise conv whose groups keep their width: group i in -> group i out
    "pointwise",  # acts on each element or each channel alone: layout in = layout out
    "spatial",  # pooling, padding, resizing over the spatial dims only (needs >= 3 dims)
    "softmax",  # keeps channels apart unless it normalises over dim 1
    "layernorm",  # keeps channels apart unless its normalised shape reaches dim 1
    "flatten",  # reshape-like: judged from the input and output shapes
    "unsupported",
]

_POINTWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus,
    nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.Threshold, nn.Hardshrink, nn.Softshrink,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout,
)
_SPATIAL_MODULES: tuple[type[nn.Module], ...] = (
    nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
    nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d, nn.LPPool1d, nn.LPPool2d, nn.Upsample,
    nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d, nn.ZeroPad1d, nn.ZeroPad2d, nn.ZeroPad3d,
    nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d, nn.ReflectionPad1d, nn.ReflectionPad2d,
    nn.ReflectionPad3d, nn.ReplicationPad1d, nn.ReplicationPad2d, nn.ReplicationPad3d,
)
_SOFTMAX_MODULES = (nn.Softmax, nn.LogSoftmax, nn.Softmin)
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm)

POINTWISE_FUNCTIONS: frozenset[object] = frozenset({
    F.relu, F.relu_, torch.relu, torch.relu_, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu,
    F.gelu, F.silu, F.mish, F.hardtanh, F.hardswish, F.hardsigmoid, F.softplus, F.softsign,
    F.tanhshrink, F.logsigmoid, F.sigmoid, torch.sigmoid, F.tanh, torch.tanh, F.dropout,
    F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout, torch.abs,
    torch.neg, operator.neg, operator.pos, torch.exp, torch.clamp, torch.clip, torch.square,
})
POINTWISE_METHODS: frozenset[str] = frozenset({
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "clip", "clip_",
    "abs", "neg", "exp", "square", "contiguous", "clone", "float", "double", "half", "bfloat16",
    "to", "type_as", "detach",
})
SPATIAL_FUNCTIONS: frozenset[object] = frozenset({
    F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.adaptive_max_pool1d,
    F.adaptive_max_pool2d, F.adaptive_max_pool3d, F.lp_pool1d, F.lp_pool2d, F.interpolate,
})
SOFTMAX_FUNCTIONS: frozenset[object] = frozenset(
    {F.softmax, F.log_softmax, F.softmin, torch.softmax, torch.log_softmax}
)
SOFTMAX_METHODS: frozenset[str] = frozenset({"softmax", "log_softmax"})
BINARY_FUNCTIONS: frozenset[object] = frozenset({
    operator.add, operator.iadd, operator.sub, operator.isub, operator.mul, operator.imul,
    operator.truediv, operator.itruediv, torch.add, torch.sub, torch.mul, torch.div,
    torch.maximum, torch.minimum,
})
BINARY_METHODS: frozenset[str] = frozenset(
    {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "maximum", "minimum"}
)
RESHAPE_FUNCTIONS: frozenset[object] = frozenset(
    {torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze}
)
RESHAPE_METHODS: frozenset[str] = frozenset({"view", "reshape", "flatten", "squeeze", "unsqueeze"})
REDUCE_FUNCTIONS: frozenset[object] = frozenset({torch.mean, torch.sum, torch.amax, torch.amin})
REDUCE_METHODS: frozenset[str] = frozenset({"mean", "sum", "amax", "amin"})
# Reorder dimensions: channel-wise only while the batch and channel dimensions stay in place.
PERMUTE_FUNCTIONS: frozenset[object] = frozenset({torch.permute, torch.transpose, torch.swapaxes,
                                                  torch.movedim})
PERMUTE_METHODS: frozenset[str] = frozenset({"permute", "transpose", "swapaxes", "movedim"})
# Normalise over groups of channels or over trailing dimensions (which may reach the channels).
NORM_FUNCTIONS: frozenset[object] = frozenset({F.layer_norm, F.group_norm})
CAT_FUNCTIONS: frozenset[object] = frozenset({torch.cat, torch.concat, torch.concatenate})
# Read sizes or metadata only; harmless because reshapes are judged by their shapes.
META_METHODS: frozenset[str] = frozenset({"size", "dim", "numel", "ndimension"})


def module_kind(module: nn.Module) -> tuple[Kind, str]:
    """The kind of a leaf module, and for ``"unsupported"`` the reason in words.

    Example:
        >>> from torch import nn
        >>> module_kind(nn.Conv2d(8, 8, 3, groups=8)), module_kind(nn.Conv2d(8, 16, 3, groups=8))[0]
        (('grouped', ''), 'unsupported')
    """
    if parametrize.is_parametrized(module):
        return "unsupported", "has a parametrization (e.g. weight or spectral norm)"
    if isinstance(module, _CONVS):
        if module.groups == 1:
            return "producer", ""
        if module.in_channels != module.out_channels:
            return "unsupported", (f"is a grouped convolution that changes the group width "
                                   f"({module.in_channels // module.groups} -> "
                                   f"{module.out_channels // module.groups} channels per group, "
                                   f"groups={module.groups})")
        return "grouped", ""
    if isinstance(module, nn.Linear) and not isinstance(module, nn.modules.lazy.LazyModuleMixin):
        return "producer", ""
    if isinstance(module, _NORMS):
        has_state = module.affine or module.track_running_stats
        return ("follower" if has_state else "pointwise"), ""
    if isinstance(module, nn.PReLU):
        return ("follower" if module.num_parameters > 1 else "pointwise"), ""
    if isinstance(module, nn.LayerNorm):
        return "layernorm", ""  # mixes channels only when it normalises over dim 1: needs shapes
    if isinstance(module, nn.GroupNorm):
        return "unsupported", "normalises across groups of channels (GroupNorm)"
    if isinstance(module, _POINTWISE_MODULES):
        return "pointwise", ""
    if isinstance(module, _SPATIAL_MODULES):
        if getattr(module, "return_indices", False):
            return "unsupported", "returns pooling indices"
        return "spatial", ""
    if isinstance(module, _SOFTMAX_MODULES):
        return "softmax", ""
    if isinstance(module, nn.Flatten):
        return "flatten", ""
    return "unsupported", f"is a {type(module).__name__}, a layer trainlab.morph does not know"


def is_pointwise_function(target: object) -> bool:
    """Whether a called function acts on each channel alone: the list above, plus torchvision's
    ``stochastic_depth`` (it scales whole samples, the identity in eval mode), looked up only when
    torchvision is already imported, since a graph can only call it then.

    Example:
        >>> import torch
        >>> is_pointwise_function(torch.relu), is_pointwise_function(torch.cat)
        (True, False)
    """
    if target in POINTWISE_FUNCTIONS:
        return True
    tv_ops = sys.modules.get("torchvision.ops")
    return tv_ops is not None and target is getattr(tv_ops, "stochastic_depth", None)


def reordered_dims(target: object, shape: tuple[int, ...], args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> tuple[int, ...] | None:
    """For a permute/transpose/swapaxes/movedim (function or method name) of a tensor of
    ``shape`` with the other arguments ``args``: which input dimension each output dimension is;
    None when the arguments are not plain numbers.

    Example:
        >>> reordered_dims("permute", (2, 3, 4, 5), (0, 2, 3, 1), {})
        (0, 2, 3, 1)
    """
    # A meta tensor whose stride along dim i is i: the strides after reordering say where each
    # dimension came from (no memory, any shape).
    probe = torch.empty(shape, device="meta").as_strided(shape, tuple(range(len(shape))))
    try:
        moved = (getattr(probe, target)(*args, **kwargs) if isinstance(target, str)
                 else target(probe, *args, **kwargs))  # type: ignore[operator]
    except Exception:  # dimensions given by graph nodes
        return None
    return tuple(moved.stride())


def normalize_dim(dim: int, ndim: int) -> int:
    """A possibly negative dimension index as a non-negative one."""
    return dim + ndim if dim < 0 else dim
