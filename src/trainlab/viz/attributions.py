"""Which input pixels a prediction depends on: saliency, integrated gradients, Grad-CAM, occlusion (via Captum).

Thin, typed wrappers over Captum (https://captum.ai) with one calling convention: a model, a batch
``(B, C, H, W)``, a target class per sample (default: the predicted one). They run in eval mode with
in-place activations switched off (Captum's layer hooks must see the layer output unchanged), and
restore the model afterwards. Each returns a map of the input's shape, except Grad-CAM, whose one map
per image is ``(B, 1, H, W)``.

* ``saliency``: ``|∂ logit / ∂ x|`` (Simonyan, Vedaldi & Zisserman 2014, https://arxiv.org/abs/1312.6034).
* ``integrated_gradients``: ``(x - x0) · ∫ ∂ logit(x0 + a (x - x0)) / ∂ x da`` (Sundararajan, Taly & Yan
  2017, "Axiomatic Attribution for Deep Networks", https://arxiv.org/abs/1703.01365).
* ``grad_cam``: ReLU of a layer's channels weighted by their mean gradient, upsampled to the input
  (Selvaraju et al. 2017, https://arxiv.org/abs/1610.02391).
* ``occlusion``: the drop of the logit when a window of the input is replaced by a baseline
  (Zeiler & Fergus 2014, https://arxiv.org/abs/1311.2901).
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from ..errors import ModelError
from ..registry import Registry
from .hooks import eval_mode, get_layer, no_inplace

Target = int | Sequence[int] | Tensor | None
Attribution = Callable[..., Tensor]  # (model, inputs, target=None, *, layer=None) -> map
ATTRIBUTIONS: Registry[Attribution] = Registry("attribution method")


@contextlib.contextmanager
def _prepared(model: nn.Module) -> Iterator[nn.Module]:
    with eval_mode(model), no_inplace(model):
        yield model


def _check(inputs: Tensor) -> None:
    if inputs.dim() < 3:
        raise ModelError(f"attributions take a batch (B, C, H, W); got shape {tuple(inputs.shape)}. Use x.unsqueeze(0) "
                         "for one image.")


def _leaf(inputs: Tensor) -> Tensor:
    """A copy that requires grad, so Captum need not switch it on (and warn)."""
    return inputs.detach().clone().requires_grad_(True)


def predicted_classes(model: nn.Module, inputs: Tensor) -> Tensor:
    """The argmax class per sample, ``(B,)``, in eval mode.

    Example:
        >>> predicted_classes(nn.Sequential(nn.Flatten(), nn.Linear(4, 3)), torch.randn(2, 1, 2, 2)).shape
        torch.Size([2])
    """
    with torch.no_grad(), eval_mode(model):
        return model(inputs).argmax(dim=1)


def _target(model: nn.Module, inputs: Tensor, target: Target) -> Tensor:
    if target is None:
        return predicted_classes(model, inputs)
    t = torch.as_tensor(target, device=inputs.device).long().flatten()
    return t.expand(inputs.shape[0]) if t.numel() == 1 else t


@ATTRIBUTIONS.register("saliency")
def saliency(model: nn.Module, inputs: Tensor, target: Target = None, *, layer: str | None = None) -> Tensor:
    """Absolute input gradient of the target logit, ``(B, C, H, W)``.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
        >>> saliency(net, torch.randn(2, 1, 4, 4), target=1).shape
        torch.Size([2, 1, 4, 4])
    """
    from captum.attr import Saliency

    _check(inputs)
    with _prepared(model):
        return Saliency(model).attribute(_leaf(inputs), target=_target(model, inputs, target), abs=True).detach()


@ATTRIBUTIONS.register("integrated-gradients")
def integrated_gradients(model: nn.Module, inputs: Tensor, target: Target = None, *, layer: str | None = None,
                         baseline: Tensor | float = 0.0, steps: int = 32) -> Tensor:
    """Integrated gradients from ``baseline`` (default zeros: the data mean for normalized inputs), ``(B, C, H, W)``.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
        >>> x = torch.randn(1, 1, 4, 4)
        >>> attr = integrated_gradients(net, x, target=0)
        >>> torch.allclose(attr.sum(), net(x)[0, 0] - net(torch.zeros_like(x))[0, 0], atol=1e-4)
        True
    """
    from captum.attr import IntegratedGradients

    _check(inputs)
    with _prepared(model):
        ig = IntegratedGradients(model)
        return ig.attribute(_leaf(inputs), baselines=baseline, target=_target(model, inputs, target), n_steps=steps,
                            internal_batch_size=256).detach()


@ATTRIBUTIONS.register("gradcam")
def grad_cam(model: nn.Module, inputs: Tensor, target: Target = None, *, layer: str | None = None) -> Tensor:
    """Grad-CAM of ``layer`` (a conv layer or block), upsampled bilinearly to the input size: ``(B, 1, H, W)``, >= 0.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        ...                     nn.Linear(4, 3))
        >>> grad_cam(net, torch.randn(2, 1, 8, 8), target=0, layer="1").shape
        torch.Size([2, 1, 8, 8])
    """
    from captum.attr import LayerAttribution, LayerGradCam

    _check(inputs)
    if not layer:
        raise ModelError("grad_cam needs layer=NAME, a convolutional layer or block (usually the last one).")
    module = get_layer(model, layer)
    with _prepared(model):
        cam = LayerGradCam(model, module).attribute(_leaf(inputs), target=_target(model, inputs, target),
                                                    relu_attributions=True)
    if cam.dim() != inputs.dim():
        raise ModelError(f"layer {layer!r} has output of shape {tuple(cam.shape[1:])}, not a feature map; choose a "
                         "convolutional layer or block for Grad-CAM.")
    mode = "bilinear" if inputs.dim() == 4 else "nearest"
    return LayerAttribution.interpolate(cam.detach(), tuple(inputs.shape[2:]), interpolate_mode=mode)


@ATTRIBUTIONS.register("occlusion")
def occlusion(model: nn.Module, inputs: Tensor, target: Target = None, *, layer: str | None = None,
              window: int | None = None, stride: int | None = None, baseline: Tensor | float = 0.0) -> Tensor:
    """Logit drop when a ``window``×``window`` square (all channels) is set to ``baseline``, ``(B, C, H, W)``.

    Defaults: ``window`` = 1/7 of the image side (at least 2 pixels), ``stride`` = half the window.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
        >>> occlusion(net, torch.randn(1, 1, 4, 4), target=2, window=2).shape
        torch.Size([1, 1, 4, 4])
    """
    from captum.attr import Occlusion

    _check(inputs)
    side = min(inputs.shape[2:])
    window = window or max(2, side // 7)
    stride = stride or max(1, window // 2)
    shape = (inputs.shape[1], *[window] * (inputs.dim() - 2))
    strides = (inputs.shape[1], *[stride] * (inputs.dim() - 2))
    with _prepared(model), torch.no_grad():
        return Occlusion(model).attribute(inputs, sliding_window_shapes=shape, strides=strides, baselines=baseline,
                                          target=_target(model, inputs, target),
                                          perturbations_per_eval=64).detach()


def attribute(method: str, model: nn.Module, inputs: Tensor, target: Target = None, *,
              layer: str | None = None, **options: object) -> Tensor:
    """Run the attribution method registered as ``method`` (``ATTRIBUTIONS.list()``); ``options`` go to it.

    Example:
        >>> net = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
        >>> attribute("saliency", net, torch.randn(1, 1, 4, 4)).shape
        torch.Size([1, 1, 4, 4])
    """
    return ATTRIBUTIONS.get(method)(model, inputs, target, layer=layer, **options)
