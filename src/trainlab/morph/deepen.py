"""Deepen a network: insert layers that compute the identity, so the outputs do not change.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    >>> x = torch.randn(5, 4)
    >>> deep = deepen(net, x, where=["1"], method="net2net")
    >>> len(deep), bool((deep(x) - net(x)).abs().max() < 1e-5)
    (4, True)
"""
from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, fx, nn

from ..errors import ConfigError, TrainlabError, UnknownNameError, UnsupportedLayerError
from ..registry import close_matches
from .blocks import ResidualBlock, check_identity, identity_block, zero_branch_
from .init import Init, check_init, weight_std
from .trace import example_inputs

log = logging.getLogger(__name__)

DEEPEN_METHODS = ("r2r", "net2net")
_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def deepen(
    model: nn.Module,
    example_input: Any,
    where: str | Sequence[str],
    method: str = "r2r",
    init: Init = "match_std",
    *,
    kernel_size: int = 3,
    inplace: bool = False,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Insert identity-computing layers into ``model`` at the stages or layers named in ``where``.

    Each name is either an ``nn.Sequential`` *stage* (torchvision ResNets: "layer1".."layer4";
    any ``nn.Sequential`` of blocks: its qualified name), which gets the new layers appended, or
    any other layer called once in ``forward`` (e.g. a ReLU), which gets them right after it.
    Inside an ``nn.Sequential`` the new module's key is ``"<layer>_deeper"`` (``features.6`` gets
    ``features.6_deeper``): no existing layer is renamed, and positional indexing still works.

    - ``method="r2r"`` (R2DeeperR, Painter 2019): a residual block whose branch outputs exactly
      zero. In a stage whose last block is a residual block that keeps the shape (torchvision
      BasicBlock/Bottleneck), that block is copied and re-initialised, so the deepened model looks
      like a deeper ResNet; elsewhere a :class:`~trainlab.morph.blocks.ResidualBlock` is used.
    - ``method="net2net"`` (Net2DeeperNet, Chen et al. 2016): an identity convolution (linear
      layer for 2-D activations), a BatchNorm set to the identity with the statistics of the
      activation on ``example_input`` (only when the model uses BatchNorm), and a ReLU. Exact only
      after a ReLU (non-negative input).

    Every insertion is checked on the activation it receives from ``example_input``.

    Args:
        model: the network; left unchanged unless ``inplace``.
        example_input: a tensor (or tuple) the model accepts.
        where: stage or layer names, in the order to insert.
        method: "r2r" or "net2net".
        kernel_size: kernel size of the convolutions trainlab builds (a new ResidualBlock, the
            Net2DeeperNet identity conv): 3 (default) or any odd size; 1 keeps a deepen cheap
            where channels are many (after MobileNet v2's 1280-channel conv a 3x3 block adds
            29.5M parameters, a 1x1 block 3.3M). A copied stage block keeps its own kernels.
        init: scale of the new r2r weights ("match_std", "he" or a float), as in ``widen``;
            "match_std" takes each layer of a copied block's own scale, or for a new
            ResidualBlock the scale of the last conv/linear layer of the same width before it.
        inplace: modify ``model`` itself.
        generator: a CPU ``torch.Generator`` for reproducible new weights.

    Returns:
        ``model``'s class with the new modules inside (a ``GraphModule`` stays one). Names of new
        modules are deterministic, so a saved ``state_dict`` loads into the base model deepened
        again with the same arguments.

    Raises:
        UnknownNameError: a name is not a module of ``model``.
        UnsupportedLayerError: the layer runs more than once, or no identity insertion fits there.
        ConfigError: invalid method or init.

    Example:
        >>> import torch, torchvision
        >>> net = torchvision.models.resnet18(weights=None).eval()
        >>> deep = deepen(net, torch.randn(1, 3, 32, 32), where=["layer1", "layer3"])
        >>> len(deep.layer1), len(deep.layer3), len(deep.layer2)
        (3, 3, 2)
    """
    if method not in DEEPEN_METHODS:
        hint = close_matches(str(method), list(DEEPEN_METHODS))
        raise ConfigError(f"unknown deepen method {method!r}.{hint} Allowed: "
                          f"{', '.join(DEEPEN_METHODS)}.")
    check_init(init)
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 \
            or kernel_size % 2 == 0:
        raise ConfigError(f"kernel_size must be an odd whole number >= 1 (same padding keeps the "
                          f"shape); received {kernel_size!r}. Use 3 (default) or 1.")
    names = [where] if isinstance(where, str) else list(where)
    if not names:
        raise ConfigError("deepen needs at least one name in where, e.g. where=['layer1'].")
    target = model if inplace else copy.deepcopy(model)
    modules = dict(target.named_modules())
    for name in names:
        if name not in modules:
            stages = [n for n, m in modules.items() if isinstance(m, nn.Sequential) and n]
            raise UnknownNameError(f"unknown stage or layer {name!r} in where."
                                   f"{close_matches(name, list(modules))} Stages: "
                                   f"{', '.join(stages) or 'none'}; or name a layer (e.g. a ReLU).")
    activations = _capture(target, names, example_inputs(example_input))
    batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in target.modules())
    for name in names:
        x = activations[name]
        if method == "net2net":
            new = identity_block(x, batchnorm, kernel_size)
            check_identity(new, x, f"Net2DeeperNet after {name!r} (conv/linear, BatchNorm, ReLU) "
                                   "is exact only after a ReLU, but its input has negative values: "
                                   "name a ReLU or a stage ending in one, or use method='r2r'; it")
        else:
            spread = _reference_spread(target, name, x.shape[1])
            new = _zero_block(modules[name], x, init, generator, batchnorm, spread, kernel_size)
        new.train(modules[name].training)
        inserted = _insert(target, name, new)
        log.info("deepened %s at %r with %s: new module %r", type(model).__name__, name, method,
                 inserted)
    return target


def _capture(target: nn.Module, names: list[str], inputs: tuple[Tensor, ...]) -> dict[str, Tensor]:
    """The output of each named module on ``inputs`` (eval mode, no grad), checking it runs once."""
    seen: dict[str, list[Any]] = {name: [] for name in names}
    hooks = [target.get_submodule(name).register_forward_hook(
        lambda _m, _i, out, name=name: seen[name].append(out)) for name in dict.fromkeys(names)]
    flags = [(m, m.training) for m in target.modules()]
    try:
        target.eval()
        with torch.no_grad():
            target(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
        for module, flag in flags:
            module.training = flag
    found = {}
    for name, outs in seen.items():
        if len(outs) != 1 or not isinstance(outs[0], Tensor) or outs[0].dim() < 2:
            runs = ("never runs" if not outs else f"runs {len(outs)} times" if len(outs) > 1
                    else "does not return a (batch, channels, ...) tensor")
            raise UnsupportedLayerError(f"cannot deepen at {name!r}: it {runs} in forward. Name a "
                                        "stage (nn.Sequential) or a layer used exactly once.")
        found[name] = outs[0]
    return found


def _reference_spread(target: nn.Module, name: str, channels: int) -> float | None:
    """Weight std of the last conv/linear layer writing ``channels`` channels, registered before
    the end of module ``name`` (registration order stands in for forward order)."""
    found, inside = None, False
    for qualified, module in target.named_modules():
        if inside and not (qualified + ".").startswith(name + ".") and name:
            break
        inside = inside or qualified == name
        if isinstance(module, _LAYERS) and module.weight.shape[0] == channels:
            found = module
    return weight_std(found.weight) if found is not None else None


def _zero_block(module: nn.Module, x: Tensor, init: Init, generator: torch.Generator | None,
                batchnorm: bool, spread: float | None, kernel_size: int) -> nn.Module:
    """An R2DeeperR block for activations ``x``: a zeroed copy of the stage's last block if that
    works, otherwise a zeroed :class:`ResidualBlock` whose "match_std" scale is ``spread``."""
    if isinstance(module, nn.Sequential) and len(module):
        candidate = copy.deepcopy(module[-1])
        try:
            zero_branch_(candidate, x, init, generator)
            check_identity(candidate, x, f"a zeroed copy of {type(candidate).__name__}")
            return candidate
        except TrainlabError as err:  # not a shape-keeping residual block: use our own
            log.debug("cannot reuse the last block of the stage: %s", err)
    block = ResidualBlock(x.shape[1], x.dim() - 2, batchnorm, kernel_size)
    block = block.to(device=x.device, dtype=x.dtype)
    zero_branch_(block, x, init, generator, spread=spread)
    check_identity(block, x, "the new residual block")
    return block


def _free_key(container: nn.Module, key: str) -> str:
    base, n = key, 1
    while key in container._modules:
        key, n = f"{base}_{n}", n + 1
    return key


def _insert(target: nn.Module, name: str, new: nn.Module) -> str:
    """Put ``new`` at the end of the stage ``name`` or right after the layer ``name``."""
    module = target.get_submodule(name)
    if isinstance(target, fx.GraphModule):
        return _insert_in_graph(target, name, new)
    if isinstance(module, nn.Sequential):
        key = _free_key(module, str(len(module)))
        module.add_module(key, new)
        return f"{name}.{key}".lstrip(".")
    if not name:
        raise UnsupportedLayerError("cannot insert after the whole model; name a stage or a layer.")
    parent_name, _, attr = name.rpartition(".")
    parent = target.get_submodule(parent_name)
    if isinstance(parent, nn.Sequential):
        # A new key instead of Sequential.insert: renumbering would rename every later layer, so
        # names given to later transforms and optimizer groups matched by name would go astray.
        index = list(parent._modules).index(attr) + 1
        key = _free_key(parent, f"{attr}_deeper")
        items = list(parent._modules.items())
        items.insert(index, (key, new))
        parent._modules.clear()
        parent._modules.update(items)
        return f"{parent_name}.{key}".lstrip(".")
    setattr(parent, attr, nn.Sequential(module, new))  # forward calls parent.attr: now both
    return f"{name}.1"


def _insert_in_graph(graph_module: fx.GraphModule, name: str, new: nn.Module) -> str:
    """Insert ``new`` after the graph's single call of the leaf ``name``."""
    calls = [n for n in graph_module.graph.nodes if n.op == "call_module" and n.target == name]
    if len(calls) != 1:
        raise UnsupportedLayerError(f"cannot deepen the GraphModule at {name!r}: only layers the "
                                    "graph calls once can be named (its stages are not modules).")
    key = _free_key(graph_module, f"{name.replace('.', '_')}_deeper")
    graph_module.add_submodule(key, new)
    with graph_module.graph.inserting_after(calls[0]):
        added = graph_module.graph.call_module(key, (calls[0],))
    calls[0].replace_all_uses_with(added, delete_user_cb=lambda user: user is not added)
    graph_module.recompile()
    return key
