"""Finding layers by qualified name and capturing their outputs with forward hooks.

Every viz function reaches a layer the same way: ``model.get_submodule(name)`` and a forward hook on
it, during a forward pass of the *whole* model (never a partial model rebuilt from children by
index, which breaks on residual paths and functional ops). Once every requested layer has produced
its output the hook raises :class:`_Stop`, so the rest of the network is not computed.

Outputs are cloned inside the hook. Without the clone, an in-place op that follows the layer
(``nn.ReLU(inplace=True)``, torchvision's ``out += identity``) would overwrite the captured tensor,
and a gradient taken through it would belong to the wrong value.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..errors import ModelError, UnknownNameError
from ..registry import close_matches


class _Stop(Exception):
    """Raised by a capture hook once all requested layers ran: the forward pass ends there."""


def layer_names(model: nn.Module) -> list[str]:
    """The qualified names of every submodule (what ``--layer`` accepts), in definition order.

    Example:
        >>> layer_names(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
        ['0', '1']
    """
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name`` (e.g. ``"stage2.0.conv1"``); ``""`` is the model itself.

    Raises :class:`trainlab.errors.UnknownNameError` with the closest names when there is none.

    Example:
        >>> get_layer(nn.Sequential(nn.Conv2d(1, 2, 3)), "0")
        Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))
    """
    modules = dict(model.named_modules())
    if name not in modules:
        names = layer_names(model)
        shown = ", ".join(names[:40]) + (" ..." if len(names) > 40 else "")
        raise UnknownNameError(f"the model has no layer {name!r}.{close_matches(name, names)} Layers: {shown}. "
                               "Use a qualified module name as listed by `trainlab summary EXP`.")
    return modules[name]


def conv_layers(model: nn.Module) -> list[str]:
    """Names of the convolution layers of ``model`` (any dimension), in definition order.

    Example:
        >>> conv_layers(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3)))
        ['0', '2']
    """
    return [n for n, m in model.named_modules() if isinstance(m, nn.modules.conv._ConvNd)]


def feature_map_layers(model: nn.Module, x: Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Every module whose output is a feature map ``(B, C, H, W)``, in call order, with ``(C, H, W)``.

    Example:
        >>> feature_map_layers(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()), torch.zeros(1, 1, 5, 5))
        [('0', (2, 3, 3))]
    """
    found: dict[str, tuple[int, ...]] = {}

    def hook_for(name: str):
        def hook(module: nn.Module, args: object, output: object) -> None:
            if isinstance(output, Tensor) and output.dim() == 4 and name not in found:
                found[name] = tuple(output.shape[1:])
        return hook

    handles = [m.register_forward_hook(hook_for(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return list(found.items())


def default_layer(model: nn.Module, layers: Mapping[str, tuple[int, ...]]) -> str:
    """The layer pictures and the live page show when none is named: the model's own choice (a
    ``default_layer`` attribute, e.g. a detector's last backbone stage), else the last of ``layers`` (as
    :func:`feature_map_layers` finds them, in call order) whose maps are larger than 1×1, else the first.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 3), nn.AdaptiveAvgPool2d(1))
        >>> default_layer(net, dict(feature_map_layers(net, torch.zeros(1, 1, 8, 8))))
        '1'
    """
    own = getattr(model, "default_layer", None)
    if isinstance(own, str) and own in layers:
        return own
    if not layers:
        raise ModelError("the model has no layer with a 2-D feature map; name the layer to show (--layer NAME).")
    spatial = [name for name, shape in layers.items() if len(shape) == 3 and shape[1] * shape[2] > 1]
    return spatial[-1] if spatial else next(iter(layers))


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode (BN running statistics, no dropout); restore every module's flag after."""
    flags = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags.items():
            m.training = flag


@contextlib.contextmanager
def no_inplace(model: nn.Module) -> Iterator[nn.Module]:
    """Switch ``inplace=True`` modules (ReLU, Dropout, ...) to out-of-place while inside.

    Captum's layer hooks keep a reference to a layer's output; an in-place op after the layer would
    change it under them.
    """
    changed = [m for m in model.modules() if getattr(m, "inplace", False) is True]
    for m in changed:
        m.inplace = False
    try:
        yield model
    finally:
        for m in changed:
            m.inplace = True


def _first_tensor(output: object, name: str) -> Tensor:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]  # e.g. an LSTM's (output, (h, c))
    raise ModelError(f"layer {name!r} returned {type(output).__name__}, not a tensor; choose a layer whose "
                     "output is a tensor (a conv, norm, activation or block).")


def capture(model: nn.Module, inputs: Tensor, layers: Sequence[str], *, grad: bool = False) -> dict[str, Tensor]:
    """Run ``model(inputs)`` until every layer in ``layers`` has produced its output; return those outputs.

    ``""`` names the model's own output. With ``grad=True`` the outputs stay in the autograd graph
    (for gradients with respect to ``inputs``); otherwise the pass runs under ``torch.no_grad``. A
    module called more than once in a forward pass is captured at its first call. The model's
    train/eval mode is used as it is; callers choose it.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True))
        >>> capture(net, torch.randn(4, 1, 8, 8), ["0"])["0"].shape
        torch.Size([4, 2, 6, 6])
    """
    wanted = list(dict.fromkeys(layers))
    out: dict[str, Tensor] = {}
    handles = []

    def hook_for(name: str):
        def hook(module: nn.Module, args: object, output: object) -> None:
            if name in out:
                return
            t = _first_tensor(output, name)
            out[name] = t.clone() if grad else t.detach().clone()
            if len(out) == len(wanted):
                raise _Stop

        return hook

    for name in wanted:
        handles.append(get_layer(model, name).register_forward_hook(hook_for(name)))
    try:
        with torch.set_grad_enabled(grad):
            model(inputs)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in wanted if n not in out]
    if missing:
        raise ModelError(f"layer(s) {', '.join(map(repr, missing))} did not run in the forward pass; choose layers "
                         "the model calls (`trainlab summary EXP` lists the layers that run).")
    return out
