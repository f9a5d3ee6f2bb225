"""Activation maximization: synthesize the input a channel, a unit or a class responds to most.

Gradient ascent on the input from noise (Erhan et al. 2009, "Visualizing Higher-Layer Features of a
Deep Network"; Simonyan et al. 2014, https://arxiv.org/abs/1312.6034), with the regularizers that make
the result look like an image rather than adversarial noise (Olah, Mordvintsev & Schubert 2017,
"Feature Visualization", Distill, https://distill.pub/2017/feature-visualization/):

* transformation robustness: every step sees the image randomly translated (``jitter``) and
  scaled (``scales``), so only features that survive small shifts are reinforced;
* a decorrelated parameterization: ``"fft"`` optimizes the image's Fourier coefficients scaled by
  1/frequency, which equalizes the gradient across frequencies (Mordvintsev et al. 2018,
  "Differentiable Image Parameterizations", https://distill.pub/2018/differentiable-parameterizations/);
  ``"pixel"`` optimizes pixels and can blur them every few steps (Yosinski et al. 2015,
  https://arxiv.org/abs/1506.06579);
* L2 and total-variation penalties.

Pixels are the sigmoid of the parameters, so they stay in ``[0, 1]``; with the data's ``mean``/``std``
the model sees them normalized as in training.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from ..errors import ConfigError, ModelError
from .hooks import capture, eval_mode


@dataclass(frozen=True)
class Maximization:
    """The synthesized images and how the objective rose while they were made."""

    images: Tensor  # (N, C, H, W) pixels in [0, 1]
    inputs: Tensor  # (N, C, H, W) as fed to the model (normalized)
    curve: list[float]  # mean objective per step (on the randomly transformed images)
    noise_value: float  # mean objective on uniform-noise images: the reference
    final_value: float  # mean objective on the final images, untransformed
    values: list[float]  # final objective per image


def _objective(out: Tensor, layer: str, channel: int | None, neuron: Sequence[int] | None,
               class_index: int | None) -> Tensor:
    """One value per sample (B,) from a layer output."""
    if class_index is not None:
        if out.dim() != 2 or not 0 <= class_index < out.shape[1]:
            raise ModelError(f"class_index {class_index} needs a (B, classes) output; layer {layer or 'output'!r} "
                             f"gives {tuple(out.shape[1:])} per image.")
        return out[:, class_index]
    if neuron is not None:
        unit = tuple(int(v) for v in neuron)
        if len(unit) != out.dim() - 1 or any(not 0 <= u < s for u, s in zip(unit, out.shape[1:])):
            raise ModelError(f"neuron {unit} is outside layer {layer!r}'s output of shape {tuple(out.shape[1:])}.")
        return out[(slice(None), *unit)]
    assert channel is not None
    if not 0 <= channel < out.shape[1]:
        raise ModelError(f"channel {channel} is out of range: layer {layer!r} has {out.shape[1]} channels.")
    return out[:, channel].reshape(out.shape[0], -1).mean(dim=1)


class _RedirectedReLU(torch.autograd.Function):
    """ReLU whose backward, for a sample whose ordinary ReLU gradient is all zero, also passes the gradient
    to inactive units when it would raise them (the "gradient override" of Olah et al. 2017). Without it a
    channel that is off everywhere on the starting noise never receives a gradient and stays off."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        ordinary = torch.where(x > 0, grad, torch.zeros_like(grad))
        redirected = torch.where((x <= 0) & (grad > 0), torch.zeros_like(grad), grad)  # loss grad < 0 lifts x
        dead = ordinary.reshape(grad.shape[0], -1).eq(0).all(dim=1) if grad.dim() > 0 else ordinary.eq(0)
        dead = dead.view(-1, *[1] * (grad.dim() - 1)) if grad.dim() > 0 else dead
        return torch.where(dead, redirected, ordinary)


class _RedirectReLUs(TorchFunctionMode):
    """Routes ``relu`` / ``relu_`` calls (``nn.ReLU``, ``F.relu``, ``torch.relu``) through :class:`_RedirectedReLU`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in ("relu", "relu_") and args and isinstance(args[0], Tensor) \
                and args[0].requires_grad:
            return _RedirectedReLU.apply(args[0])
        return func(*args, **kwargs)


def _fft_scale(h: int, w: int) -> Tensor:
    """1/frequency weights for an ``rfft2`` spectrum of an h×w image, normalized to unit RMS."""
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    scale = 1.0 / torch.sqrt(fy**2 + fx**2).clamp(min=1.0 / max(h, w))  # (h, w//2+1)
    return scale / scale.pow(2).mean().sqrt()


def _transform(x: Tensor, jitter: int, scales: Sequence[float], gen: torch.Generator) -> Tensor:
    """Random translation by up to ``jitter`` pixels and a random scale from ``scales``, same output size."""
    n, _, h, w = x.shape
    if jitter == 0 and all(s == 1 for s in scales):
        return x
    s = torch.tensor(scales, dtype=x.dtype)[torch.randint(len(scales), (n,), generator=gen)]  # (N,)
    shift = torch.randint(-jitter, jitter + 1, (n, 2), generator=gen).to(x.dtype)  # (N, 2) pixels
    theta = torch.zeros(n, 2, 3, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / s
    theta[:, 0, 2] = 2 * shift[:, 1] / w  # grid units: the image spans [-1, 1]
    theta[:, 1, 2] = 2 * shift[:, 0] / h
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _total_variation(x: Tensor) -> Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def maximize(model: nn.Module, layer: str | None = None, *, channel: int | None = None,
             neuron: Sequence[int] | None = None, class_index: int | None = None, input_shape: Sequence[int],
             steps: int = 256, lr: float = 0.05, n: int = 1, parameterization: str = "fft",
             jitter: int | None = None, scales: Sequence[float] | None = None, blur_every: int = 0,
             blur_sigma: float = 0.5, l2: float = 0.0, tv: float = 0.0, mean: Sequence[float] | None = None,
             std: Sequence[float] | None = None, redirect_relu: bool = True, seed: int = 0) -> Maximization:
    """Optimize ``n`` images from noise to maximize a channel (mean over positions), a unit or a class logit.

    Args:
        model: any ``nn.Module``; used in eval mode, its weights are not changed.
        layer: qualified module name; ``None`` or ``""``: the model's output (for ``class_index``).
        channel / neuron / class_index: exactly one target. ``neuron`` indexes one image's output,
            e.g. ``(channel, y, x)``.
        input_shape: ``(C, H, W)``.
        steps, lr: Adam steps and learning rate on the image parameters.
        parameterization: ``"fft"`` (decorrelated, 1/f-scaled spectrum) or ``"pixel"``.
        jitter: max random shift in pixels per step (default ``H // 14``: 0 for 8×8, 2 for 28×28, 16 for 224).
        scales: random scale factors per step (default ``(0.9, 0.95, 1, 1.05, 1.1)`` for images of 16 px or
            more; on 28×28 Fashion-MNIST they remove most of the stride-2 checkerboard).
        blur_every, blur_sigma: with ``"pixel"``, blur the parameters every ``blur_every`` steps.
        l2, tv: weights of the L2 (around grey) and total-variation penalties on the pixels.
        mean, std: the data's normalization; the model sees ``(pixels - mean) / std``.
        redirect_relu: let the gradient reach ReLU units that are off on the starting image (see
            ``_RedirectedReLU``); the reported values use ordinary ReLUs.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        >>> result = maximize(net, "1", channel=2, input_shape=(1, 12, 12), steps=50)
        >>> result.images.shape, result.final_value > result.noise_value
        (torch.Size([1, 1, 12, 12]), True)
    """
    targets = [t is not None for t in (channel, neuron, class_index)]
    if sum(targets) != 1:
        raise ConfigError("maximize needs exactly one target: channel=C, neuron=(c, y, x) or class_index=K.")
    if parameterization not in ("fft", "pixel"):
        raise ConfigError(f"parameterization must be 'fft' or 'pixel', got {parameterization!r}.")
    if steps < 1 or n < 1:
        raise ConfigError(f"steps and n must be >= 1, got steps={steps}, n={n}.")
    layer = layer or ""
    c, h, w = (int(v) for v in input_shape)
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")
    gen = torch.Generator().manual_seed(seed)
    jitter = max(0, min(h, w) // 14) if jitter is None else int(jitter)
    scales = tuple(scales) if scales is not None else ((0.9, 0.95, 1.0, 1.05, 1.1) if min(h, w) >= 16 else (1.0,))
    m = torch.tensor(mean if mean is not None else [0.0] * c, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std if std is not None else [1.0] * c, device=device).view(1, -1, 1, 1)

    if parameterization == "fft":
        # Unit-variance coefficients: the first image is smooth noise with a spread of pixel values, so units
        # behind a ReLU are active somewhere and have a gradient from the first step.
        spectrum = torch.randn(n, c, h, w // 2 + 1, 2, generator=gen).to(device).requires_grad_(True)
        fscale = _fft_scale(h, w).to(device)

        def pixels() -> Tensor:
            coeffs = torch.view_as_complex(spectrum) * fscale  # (N, C, H, W//2+1)
            return torch.sigmoid(torch.fft.irfft2(coeffs, s=(h, w), norm="ortho"))
        params = spectrum
    else:
        logits = torch.randn(n, c, h, w, generator=gen).to(device).requires_grad_(True)

        def pixels() -> Tensor:
            return torch.sigmoid(logits)
        params = logits

    def value(x01: Tensor) -> Tensor:  # (N,)
        out = capture(model, (x01 - m) / s, [layer], grad=torch.is_grad_enabled())[layer]
        return _objective(out, layer, channel, neuron, class_index)

    optimizer = torch.optim.Adam([params], lr=lr)
    curve: list[float] = []
    with eval_mode(model):
        with torch.no_grad():
            noise_value = float(value(torch.rand(max(n, 8), c, h, w, generator=gen).to(device)).mean())
        for step in range(steps):
            x01 = pixels()
            with _RedirectReLUs() if redirect_relu else contextlib.nullcontext():
                objective = value(_transform(x01, jitter, scales, gen))  # (N,)
            loss = -objective.mean()
            if l2:
                loss = loss + l2 * (x01 - 0.5).pow(2).mean()
            if tv:
                loss = loss + tv * _total_variation(x01)
            (grad,) = torch.autograd.grad(loss, params)  # model weights get no .grad
            params.grad = grad
            optimizer.step()
            curve.append(float(objective.detach().mean()))
            if parameterization == "pixel" and blur_every and (step + 1) % blur_every == 0:
                from torchvision.transforms.v2 import functional as TF

                with torch.no_grad():
                    size = max(3, 2 * int(3 * blur_sigma) + 1)
                    params.copy_(TF.gaussian_blur(params, kernel_size=[size, size], sigma=[blur_sigma] * 2))
        with torch.no_grad():
            final = pixels()
            values = value(final)
    return Maximization(images=final.detach().cpu(), inputs=((final - m) / s).detach().cpu(), curve=curve,
                        noise_value=noise_value, final_value=float(values.mean()), values=values.tolist())
