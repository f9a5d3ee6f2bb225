"""Layer outputs, feature maps, convolution filters and the weights of each layer.

Everything here reads a trained model without changing it: forward hooks capture outputs (see
:mod:`trainlab.viz.hooks`), and the model's train/eval flags are restored afterwards.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..errors import ModelError
from .hooks import capture, eval_mode, get_layer


def activations(model: nn.Module, inputs: Tensor, layers: str | Sequence[str]) -> dict[str, Tensor]:
    """The outputs of ``layers`` (qualified module names) for a batch, via forward hooks, in eval mode.

    The forward pass stops right after the last requested layer has run. Outputs are detached copies.

    Args:
        model: any ``nn.Module``.
        inputs: the model's input batch, ``(B, C, H, W)`` for image models.
        layers: one name or several; ``""`` is the model's output.

    Returns:
        ``{name: output}`` in the order requested.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(256, 2))
        >>> acts = activations(net, torch.randn(2, 1, 8, 8), ["0", "3"])
        >>> acts["0"].shape, acts["3"].shape
        (torch.Size([2, 4, 8, 8]), torch.Size([2, 2]))
    """
    names = [layers] if isinstance(layers, str) else list(layers)
    with eval_mode(model):
        out = capture(model, inputs, names)
    return {n: out[n] for n in names}


def feature_maps(model: nn.Module, image: Tensor, layer: str) -> Tensor:
    """The feature maps a layer computes for one image: ``(C, H', W')``.

    Args:
        image: ``(C, H, W)`` or ``(1, C, H, W)``, normalized as the model expects.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2))
        >>> feature_maps(net, torch.randn(1, 8, 8), "1").shape
        torch.Size([4, 4, 4])
    """
    batch = image.unsqueeze(0) if image.dim() == 3 else image
    if batch.shape[0] != 1:
        raise ModelError(f"feature_maps takes one image, got a batch of {batch.shape[0]}; pass images[i].")
    maps = activations(model, batch, layer)[layer][0]
    if maps.dim() != 3:
        raise ModelError(f"layer {layer!r} outputs shape {tuple(maps.shape)} per image, not (C, H, W) feature maps; "
                         "choose a convolutional layer or block.")
    return maps


def filters(conv: nn.Module) -> Tensor:
    """The weights of a 2-D convolution, ``(out_channels, in_channels / groups, kh, kw)``, detached on the CPU.

    Example:
        >>> filters(nn.Conv2d(3, 8, 5)).shape
        torch.Size([8, 3, 5, 5])
    """
    if not isinstance(conv, nn.Conv2d):
        raise ModelError(f"filters() takes an nn.Conv2d, got {type(conv).__name__}; pick a convolution layer "
                         "(`trainlab summary EXP` lists the layers).")
    return conv.weight.detach().float().cpu().clone()


def layer_filters(model: nn.Module, layer: str) -> Tensor:
    """``filters(get_layer(model, layer))``: the weights of the convolution called ``layer``.

    Example:
        >>> layer_filters(nn.Sequential(nn.Conv2d(1, 4, 3)), "0").shape
        torch.Size([4, 1, 3, 3])
    """
    return filters(get_layer(model, layer))


def layer_weights(model: nn.Module) -> dict[str, dict[str, Tensor]]:
    """The weight and bias tensors of every layer that owns them: ``{layer: {"weight": w, "bias": b}}``.

    Normalization layers are included (their weight is a scale); batch-norm running statistics are not.

    Example:
        >>> w = layer_weights(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Linear(4, 2, bias=False)))
        >>> {k: sorted(v) for k, v in w.items()}
        {'0': ['bias', 'weight'], '1': ['bias', 'weight'], '2': ['weight']}
    """
    out: dict[str, dict[str, Tensor]] = {}
    for name, module in model.named_modules():
        params = {k: p.detach().float().cpu() for k, p in module.named_parameters(recurse=False)
                  if k in ("weight", "bias") and p is not None}
        if params:
            out[name] = params
    return out


def channel_response(output: Tensor, channel: int | None, reduce: str = "max") -> Tensor:
    """One number per sample for a channel of a layer output: the max (or mean) over positions.

    ``output`` is ``(B, C, *spatial)`` or ``(B, F)``; ``channel=None`` uses the whole output.

    Example:
        >>> channel_response(torch.arange(8.).view(1, 2, 2, 2), 1)
        tensor([7.])
    """
    if channel is not None:
        if not 0 <= channel < output.shape[1]:
            raise ModelError(f"channel {channel} is out of range: the layer has {output.shape[1]} channels (0-"
                             f"{output.shape[1] - 1}).")
        output = output[:, channel]
    flat = output.reshape(output.shape[0], -1)  # (B, positions)
    if reduce == "max":
        return flat.amax(dim=1)
    if reduce == "mean":
        return flat.mean(dim=1)
    raise ModelError(f"reduce must be 'max' or 'mean', got {reduce!r}.")


def describe_output(model: nn.Module, inputs: Tensor, layer: str) -> tuple[int, ...]:
    """The per-sample output shape of ``layer`` for ``inputs`` (e.g. ``(32, 4, 4)``).

    Example:
        >>> describe_output(nn.Sequential(nn.Conv2d(1, 4, 3)), torch.zeros(1, 1, 8, 8), "0")
        (4, 6, 6)
    """
    with torch.no_grad():
        return tuple(activations(model, inputs[:1], layer)[layer].shape[1:])
