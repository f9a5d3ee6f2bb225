"""Widen a network: add channels to its volumes while keeping what it computes.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    >>> x = torch.randn(5, 4)
    >>> wide = widen(net, x, factor=1.5)
    >>> wide[0].out_features, bool((wide(x) - net(x)).abs().max() < 1e-5)
    (24, True)
"""
from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import fx, nn

from ..errors import ConfigError, ModelError, UnknownNameError, UnsupportedLayerError
from ..registry import close_matches
from .graph import Analysis, analyze
from .init import Init, check_init, init_std, weight_std
from .layout import Role
from .pad import METHODS, Plan, grow_filters, grow_vector, grow_weight, make_plan

log = logging.getLogger(__name__)

_VECTORS = (("weight", "scale"), ("bias", "shift"), ("running_mean", "mean"),
            ("running_var", "var"))


def widen(
    model: nn.Module,
    example_input: Any,
    factor: float | None = None,
    extra: int | None = None,
    where: str | Sequence[str] | None = None,
    method: str = "r2r",
    init: Init = "match_std",
    noise: float = 0.0,
    *,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Add channels to ``model``'s volumes; with the default method the outputs do not change.

    The model is traced with torch.fx; :func:`trainlab.morph.volumes` lists what can be widened.
    Every producer (conv/linear) of a chosen volume gets new output channels, every consumer new
    input channels (by spatial blocks after a flatten, per slice after a concatenation), every
    BatchNorm/InstanceNorm/PReLU on the way new entries and every grouped or depthwise
    convolution on the way new groups (channel i of group g reads group g only, so new channels
    form new groups whose filters follow the method's rule for new rows). Methods (see :mod:`trainlab.morph.pad`):
    ``"r2r"`` R2WiderR (Painter 2019), ``"net2net"`` Net2WiderNet (Chen et al. 2016),
    ``"netmorph"`` NetMorph (Wei et al. 2016) -- all exact in eval mode -- and ``"random"``
    padding, which changes the function (a baseline).

    Args:
        model: a torch.fx-traceable module; left unchanged unless ``inplace``.
        example_input: a tensor (or tuple) the model accepts; only shapes matter.
        factor: new width / old width per volume (default 1.5); new channels are rounded up
            (to an even number for r2r).
        extra: instead of ``factor``, add exactly this many channels to each chosen volume.
            Either way a volume that grouped or depthwise convolutions read grows by whole groups
            (``Volume.unit``), so the count is rounded up to a multiple of the group width.
        where: volume names from ``volumes()`` (or names of any layer producing them, or of a
            grouped/depthwise conv on the way). None
            widens every volume that does not reach the model input or output and can be
            widened; the others are skipped with a :class:`SkippedVolumesWarning` that names
            each one and why.
        method: "r2r", "net2net", "netmorph" or "random".
        init: scale of new random weights: "match_std", "he" or a float times the existing std.
        noise: std of Gaussian noise, relative to each layer's weight std, added to the new
            weights (breaks symmetry; any noise > 0 makes the transform inexact).
        inplace: modify ``model``'s layers in place (still use the returned model: a rewritten
            view makes it a new GraphModule).
        generator: a CPU ``torch.Generator`` for reproducible new weights.

    Returns:
        The widened model: ``model``'s class with larger layers, or a ``GraphModule`` when a view
        with hard-coded sizes (e.g. ``x.view(-1, 400)``) had to be rewritten as a flatten. To
        reload a saved ``state_dict``, build the base model, widen it with the same arguments and
        call ``load_state_dict``.

    Raises:
        UnsupportedLayerError: a chosen volume meets a node that mixes channels (named), or with
            ``where=None`` no hidden volume can be widened.
        ModelError: a chosen volume reaches the model input or output.
        ConfigError: invalid factor, extra, method, init or noise.

    Example:
        >>> import torch, torchvision
        >>> net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
        >>> wide = widen(net, torch.randn(1, 3, 32, 32), factor=1.5, where=["conv1"])
        >>> wide.layer1[0].conv1.in_channels, wide.fc.in_features
        (96, 512)
    """
    factor = _check_amount(factor, extra, method)
    if method not in METHODS:
        hint = close_matches(str(method), list(METHODS))
        raise ConfigError(f"unknown widen method {method!r}.{hint} Allowed: {', '.join(METHODS)}.")
    check_init(init)
    if not (isinstance(noise, (int, float)) and noise >= 0):
        raise ConfigError(f"noise must be a number >= 0; received {noise!r}. Use 0 for an exact "
                          "transform.")
    analysis = analyze(model, example_input)  # read-only: shapes are found in eval mode
    plans: dict[int, Plan] = {}
    roots, skipped = _select(analysis, where, type(model).__name__)
    if skipped:
        warnings.warn(SkippedVolumesWarning(
            f"widen left {len(skipped)} hidden volume(s) of {type(model).__name__} at their width "
            f"because they cannot be widened exactly ({_reasons(skipped)}); the warning's "
            "'skipped' attribute lists them all, volumes(model, example_input) explains each.",
            skipped), stacklevel=2)
    for root in roots:
        state = analysis.state(root)
        added = extra if extra is not None else math.ceil(state.channels * (factor - 1) - 1e-9)
        step = state.unit * (2 if method == "r2r" else 1)  # r2r: pairs of whole groups
        added = -(-added // step) * step
        if added:
            plans[root] = make_plan(state.channels, added, method, generator, state.unit)

    def plan_of(vid: int) -> Plan | None:
        return plans.get(analysis.find(vid))

    changing = [role for role in analysis.roles.values()
                if any(plan_of(seg.volume) for seg in role.inputs or ())
                or (role.output is not None and plan_of(role.output))]
    target = model if inplace else _copy_without(model, changing)
    with torch.no_grad():
        for role in changing:
            module = target.get_submodule(role.name)
            if role.kind == "producer":
                _grow_producer(role, module, plan_of, method, init, noise, generator)
            elif role.kind == "grouped":
                _grow_grouped(role, module, plan_of, method, init, noise, generator)
            else:
                _grow_follower(role, module, plan_of, method)
    log.info("widened %d volume(s) of %s with %s", len(plans), type(model).__name__, method)
    return _rewrite_views(target, analysis, plan_of)


def _check_amount(factor: float | None, extra: int | None, method: str) -> float:
    if factor is not None and extra is not None:
        raise ConfigError(f"give factor or extra, not both; received factor={factor}, "
                          f"extra={extra}.")
    if extra is not None:
        if isinstance(extra, bool) or not isinstance(extra, int) or extra < 0:
            raise ConfigError(f"extra must be a whole number >= 0; received {extra!r}.")
        if method == "r2r" and extra % 2:
            raise ConfigError(f"r2r adds channels in equal pairs, so extra must be even; received "
                              f"extra={extra}. Use extra={extra + 1} or {extra - 1}.")
        return 1.0
    factor = 1.5 if factor is None else factor
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or factor < 1:
        raise ConfigError(f"factor must be a number >= 1 (new width / old width); received "
                          f"{factor!r}. Use e.g. factor=1.5 or extra=N.")
    return float(factor)


class SkippedVolumesWarning(UserWarning):
    """``widen(where=None)`` left volumes alone that it cannot widen; ``skipped`` says which.

    Attributes:
        skipped: (volume name, reason) for each volume left at its width, in graph order.
    """

    def __init__(self, message: str, skipped: tuple[tuple[str, str], ...]) -> None:
        super().__init__(message)
        self.skipped = skipped


def _select(analysis: Analysis, where: str | Sequence[str] | None,
            model_name: str) -> tuple[list[int], tuple[tuple[str, str], ...]]:
    """Representative ids of the volumes to widen, after checking each one may be widened, and
    for ``where=None`` the (name, reason) of the hidden volumes skipped because they cannot be."""
    vols = analysis.volumes()
    names = analysis.names()
    if where is None:
        free = [v for v in vols if not analysis.state(names[v.name]).fixed]
        if not free:
            raise ModelError(f"{model_name} has no hidden volume to widen: every conv/linear "
                             "output reaches the model input or output.")
        skipped = tuple((v.name, v.reason) for v in free if not v.widenable)
        if len(skipped) == len(free):
            raise UnsupportedLayerError(
                f"cannot widen {model_name}: none of its {len(free)} hidden volume(s) can be "
                f"widened ({_reasons(skipped)}). Only channel-wise operations may lie between a "
                "volume's producers and consumers; volumes(model, example_input) lists them all.")
        return [names[v.name] for v in free if v.widenable], skipped
    chosen = []
    by_root = {names[v.name]: v for v in vols}
    for name in [where] if isinstance(where, str) else list(where):
        if name not in names:
            hint = close_matches(str(name), list(names))
            raise UnknownNameError(f"unknown volume {name!r} in where.{hint} Volumes: "
                                   f"{', '.join(v.name for v in vols)}.")
        vol = by_root[names[name]]
        if not vol.widenable:
            error = ModelError if analysis.state(names[name]).fixed else UnsupportedLayerError
            raise error(f"cannot widen volume {vol.name!r}: {vol.reason}. Widenable volumes: "
                        f"{', '.join(v.name for v in vols if v.widenable) or 'none'}.")
        chosen.append(names[name])
    return list(dict.fromkeys(chosen)), ()


def _reasons(skipped: tuple[tuple[str, str], ...], most: int = 3) -> str:
    """The first ``most`` (volume, reason) pairs in words, and how many more there are."""
    text = "; ".join(f"{name!r}: {reason}" for name, reason in skipped[:most])
    return text + (f"; and {len(skipped) - most} more" if len(skipped) > most else "")


def _copy_without(model: nn.Module, roles: list[Role]) -> nn.Module:
    """A deep copy of ``model`` that shares (instead of cloning) the tensors of ``roles``' layers.

    Those tensors are about to be replaced in the copy, never modified, so the original stays
    intact and the copy skips cloning most of the weights.
    """
    memo: dict[int, Any] = {}
    for role in roles:
        for tensor in (*role.module.parameters(recurse=False), *role.module.buffers(recurse=False)):
            memo[id(tensor)] = tensor
    return copy.deepcopy(model, memo)


def _grow_producer(role: Role, module: nn.Module, plan_of: Any, method: str, init: Init,
                   noise: float, generator: torch.Generator | None) -> None:
    old = module.weight
    out_plan = plan_of(role.output)
    spread = weight_std(old)
    fan_in = sum(s.channels * s.block + (p.added * s.block if (p := plan_of(s.volume)) else 0)
                 for s in role.inputs or ()) or old.shape[1]
    std = init_std(init, spread, fan_in * math.prod(old.shape[2:]))
    bias = module.bias.detach() if module.bias is not None else None
    weight, bias = grow_weight(old.detach(), bias, role.inputs, plan_of, out_plan, method, std,
                               noise * spread, generator)
    _set(module, "weight", weight)
    if bias is not None:
        _set(module, "bias", bias)
    if isinstance(module, nn.Linear):
        module.out_features, module.in_features = weight.shape[0], weight.shape[1]
    else:
        module.out_channels, module.in_channels = weight.shape[0], weight.shape[1] * module.groups


def _grow_grouped(role: Role, module: nn.Module, plan_of: Any, method: str, init: Init,
                  noise: float, generator: torch.Generator | None) -> None:
    old = module.weight  # (C, C/groups, *kernel)
    spread = weight_std(old)
    std = init_std(init, spread, old[0].numel())
    bias = module.bias.detach() if module.bias is not None else None
    weight, bias = grow_filters(old.detach(), bias, role.inputs, plan_of, method, std,
                                noise * spread, generator)
    _set(module, "weight", weight)
    if bias is not None:
        _set(module, "bias", bias)
    module.groups = weight.shape[0] // weight.shape[1]
    module.in_channels = module.out_channels = weight.shape[0]


def _grow_follower(role: Role, module: nn.Module, plan_of: Any, method: str) -> None:
    for name, fill in _VECTORS:
        vector = getattr(module, name, None)
        if isinstance(vector, torch.Tensor):
            grown = grow_vector(vector.detach(), role.inputs, plan_of, method, fill)
            _set(module, name, grown)
    width = module.weight.shape[0] if getattr(module, "weight", None) is not None else None
    width = width or module.running_mean.shape[0]
    if isinstance(module, nn.PReLU):
        module.num_parameters = width
    else:
        module.num_features = width


def _set(module: nn.Module, name: str, value: torch.Tensor) -> None:
    old = getattr(module, name)
    if isinstance(old, nn.Parameter):
        setattr(module, name, nn.Parameter(value.contiguous(), requires_grad=old.requires_grad))
    else:
        setattr(module, name, value.contiguous())


def _rewrite_views(target: nn.Module, analysis: Analysis, plan_of: Any) -> nn.Module:
    """Turn flatten-like views with hard-coded sizes that meet a widened volume into flattens."""
    stale = [node for node, layout in analysis.flatten_views
             if any(plan_of(seg.volume) for seg in layout)]
    if not stale:
        return target
    for node in stale:
        node.op, node.target = "call_function", torch.flatten
        node.args, node.kwargs = (node.args[0], 1), {}
    graph = analysis.graph_module.graph
    graph.lint()
    log.info("rewrote %d hard-coded view(s) as torch.flatten(x, 1)", len(stale))
    return fx.GraphModule(target, graph, class_name=type(target).__name__)
