"""trainlab's own small models: an MLP and two CNNs for small grayscale or colour images.

* ``mlp``: flattens any input, hidden ``Linear + ReLU`` layers, a linear head.
* ``cnn_tiny``: three conv-BN-ReLU layers for 8x8 images such as scikit-learn's ``digits``.
* ``cnn_small``: a small residual network (He et al. 2016, "Deep Residual Learning for Image
  Recognition", https://arxiv.org/abs/1512.03385) for 28x28 images such as Fashion-MNIST.
* ``cnn_plain``: conv-ReLU-max-pool blocks, then dense layers; no normalization, no residuals (the shape
  of the network in the Adaptive Focus Learning study; easy to make overfit).

Every model names its classifier ``head`` and applies ``drop`` (``nn.Dropout``) right before it; the
dropout module exists even at ``p=0`` so state dicts do not depend on the dropout setting. Global
average pooling makes both CNNs accept any input size. ``small_stem`` is accepted and ignored: these
models are built for small images already.
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ModelError
from .registry import MODELS, take_options


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """A 3x3 convolution (no bias: BN follows), batch norm and ReLU.

    Example:
        >>> conv_bn_relu(1, 8)(torch.zeros(2, 1, 8, 8)).shape
        torch.Size([2, 8, 8, 8])
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut, as in ResNet-18/34.

    Example:
        >>> BasicBlock(8, 16, stride=2)(torch.zeros(2, 8, 14, 14)).shape
        torch.Size([2, 16, 7, 7])
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.relu2 = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C_in, H, W)
        out = self.relu1(self.bn1(self.conv1(x)))  # (B, C_out, H/s, W/s)
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))  # (B, C_out, H/s, W/s)


class MLP(nn.Module):
    """Flatten, then ``Linear + ReLU`` per hidden size, dropout and a linear ``head``.

    Example:
        >>> MLP(num_classes=3, in_features=64, hidden_sizes=(32,))(torch.zeros(5, 1, 8, 8)).shape
        torch.Size([5, 3])
    """

    def __init__(
        self, *, num_classes: int, in_features: int, hidden_sizes: Sequence[int] = (256, 128), dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.flatten = nn.Flatten()
        width = in_features
        # Hidden layers are top-level children (layer1, layer2, ...) so param_groups can split them.
        for i, size in enumerate(hidden_sizes, start=1):
            self.add_module(f"layer{i}", nn.Sequential(nn.Linear(width, size), nn.ReLU(inplace=True)))
            width = size
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, *) -> (B, num_classes)
        for module in self.children():
            x = module(x)
        return x


class TinyCNN(nn.Module):
    """Three conv-BN-ReLU layers, one 2x2 max-pool and global average pooling, for 8x8 images.

    About 29k parameters at ``width=32``; reaches ~99% test accuracy on scikit-learn digits in 20 epochs.

    Example:
        >>> TinyCNN(num_classes=10, in_channels=1)(torch.zeros(4, 1, 8, 8)).shape
        torch.Size([4, 10])
    """

    def __init__(self, *, num_classes: int, in_channels: int, width: int = 32, dropout: float = 0.0) -> None:
        super().__init__()
        self.stem = conv_bn_relu(in_channels, width)  # (B, w, 8, 8)
        self.block1 = nn.Sequential(conv_bn_relu(width, width), nn.MaxPool2d(2))  # (B, w, 4, 4)
        self.block2 = conv_bn_relu(width, 2 * width)  # (B, 2w, 4, 4)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 2w)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W) -> (B, num_classes)
        x = self.block2(self.block1(self.stem(x)))
        return self.head(self.drop(self.pool(x)))


class SmallCNN(nn.Module):
    """A conv + max-pool stem and three residual stages (widths w, 2w, 4w; strides 1, 2, 2) for 28x28 images.

    About 0.31 M parameters at ``width=32, blocks=1``.

    Example:
        >>> SmallCNN(num_classes=10, in_channels=1, width=8)(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self, *, num_classes: int, in_channels: int, width: int = 32, blocks: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        # Full-resolution conv, then pool: the residual stages run at 14, 7 and 4 pixels, which keeps a
        # Fashion-MNIST epoch around a minute on 2 CPU cores (stages at 28 px cost ~3.5x more).
        self.stem = nn.Sequential(conv_bn_relu(in_channels, width), nn.MaxPool2d(2))  # (B, w, 14, 14)
        self.stage1 = self._stage(width, width, blocks, stride=1)  # (B, w, 14, 14)
        self.stage2 = self._stage(width, 2 * width, blocks, stride=2)  # (B, 2w, 7, 7)
        self.stage3 = self._stage(2 * width, 4 * width, blocks, stride=2)  # (B, 4w, 4, 4)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 4w)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(4 * width, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BasicBlock):
                # Zero-init the last BN of each residual branch: each block starts as the identity
                # (Goyal et al. 2017, "Accurate, Large Minibatch SGD", https://arxiv.org/abs/1706.02677).
                nn.init.zeros_(m.bn2.weight)

    @staticmethod
    def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(in_channels, out_channels, stride)]
        layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W) -> (B, num_classes)
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.head(self.drop(self.pool(x)))


class PlainCNN(nn.Module):
    """Conv (valid padding) + ReLU + 2x2 max-pool per entry of ``channels``, then ``Linear + ReLU`` per entry
    of ``hidden`` and a linear ``head``. No BatchNorm, no residuals.

    The defaults are the network of the Adaptive Focus Learning study (Harper & Laird 2021): convolutions of
    100 5x5 and 200 3x3 filters, three dense layers of 100 (about 0.93 M parameters on 32x32x3 images).

    Example:
        >>> m = PlainCNN(num_classes=10, in_channels=1, input_size=(28, 28), channels=(8, 16), hidden=(32,))
        >>> m(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 10])
    """

    def __init__(self, *, num_classes: int, in_channels: int, input_size: tuple[int, int],
                 channels: Sequence[int] = (100, 200), kernels: Sequence[int] = (5, 3),
                 hidden: Sequence[int] = (100, 100, 100), dropout: float = 0.0) -> None:
        super().__init__()
        if len(kernels) != len(channels):
            raise ModelError(f"model 'cnn_plain' needs one kernel size per conv layer: channels {list(channels)}, "
                             f"kernels {list(kernels)}.")
        h, w = input_size
        # Conv blocks and dense layers are top-level children (conv1.., layer1..) so param_groups can split them.
        for i, (c, k) in enumerate(zip(channels, kernels), start=1):
            self.add_module(f"conv{i}", nn.Sequential(nn.Conv2d(in_channels, c, k), nn.ReLU(inplace=True),
                                                      nn.MaxPool2d(2)))  # (B, c, (h-k+1)//2, (w-k+1)//2)
            in_channels, h, w = c, (h - k + 1) // 2, (w - k + 1) // 2
            if h < 1 or w < 1:
                raise ModelError(f"model 'cnn_plain': {input_size} images are too small for kernels {list(kernels)}"
                                 " (each conv block takes k-1 pixels, then halves); use fewer or smaller kernels.")
        self.flatten = nn.Flatten()  # (B, c * h * w)
        width = in_channels * h * w
        for i, size in enumerate(hidden, start=1):
            self.add_module(f"layer{i}", nn.Sequential(nn.Linear(width, size), nn.ReLU(inplace=True)))
            width = size
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, H, W) -> (B, num_classes)
        for module in self.children():
            x = module(x)
        return x


def _positive_int(model: str, option: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ModelError(f"option {option!r} of model {model!r} must be an integer >= 1, got {value!r}.")
    return int(value)


@MODELS.register("mlp")
def mlp(
    *, num_classes: int, in_channels: int, input_size: tuple[int, int], dropout: float = 0.0,
    small_stem: bool = False, **options: Any,
) -> MLP:
    """Multi-layer perceptron over the flattened image. Option: ``hidden_sizes`` (default ``(256, 128)``)."""
    opts = take_options("mlp", options, {"hidden_sizes": (256, 128)})
    hidden = _int_list("mlp", "hidden_sizes", opts["hidden_sizes"])
    in_features = in_channels * input_size[0] * input_size[1]
    return MLP(num_classes=num_classes, in_features=in_features, hidden_sizes=hidden, dropout=dropout)


def _int_list(model: str, option: str, value: Any) -> tuple[int, ...]:
    if isinstance(value, int):
        value = (value,)
    if not isinstance(value, (list, tuple)):
        raise ModelError(f"option {option!r} of model {model!r} must be a list of integers, got {value!r}.")
    return tuple(_positive_int(model, option, v) for v in value)


@MODELS.register("cnn_tiny")
def cnn_tiny(
    *, num_classes: int, in_channels: int, input_size: tuple[int, int], dropout: float = 0.0,
    small_stem: bool = False, **options: Any,
) -> TinyCNN:
    """Tiny CNN for 8x8 images (scikit-learn digits). Option: ``width`` (default 32)."""
    opts = take_options("cnn_tiny", options, {"width": 32})
    width = _positive_int("cnn_tiny", "width", opts["width"])
    return TinyCNN(num_classes=num_classes, in_channels=in_channels, width=width, dropout=dropout)


@MODELS.register("cnn_small")
def cnn_small(
    *, num_classes: int, in_channels: int, input_size: tuple[int, int], dropout: float = 0.0,
    small_stem: bool = False, **options: Any,
) -> SmallCNN:
    """Small residual CNN for 28x28 images. Options: ``width`` (default 32), ``blocks`` per stage (default 1)."""
    opts = take_options("cnn_small", options, {"width": 32, "blocks": 1})
    width = _positive_int("cnn_small", "width", opts["width"])
    blocks = _positive_int("cnn_small", "blocks", opts["blocks"])
    return SmallCNN(num_classes=num_classes, in_channels=in_channels, width=width, blocks=blocks, dropout=dropout)


@MODELS.register("cnn_plain")
def cnn_plain(
    *, num_classes: int, in_channels: int, input_size: tuple[int, int], dropout: float = 0.0,
    small_stem: bool = False, **options: Any,
) -> PlainCNN:
    """Plain CNN (conv-ReLU-pool blocks, dense layers, no BatchNorm). Options: ``channels`` (default
    ``(100, 200)``), ``kernels`` (``(5, 3)``), ``hidden`` (``(100, 100, 100)``)."""
    opts = take_options("cnn_plain", options, {"channels": (100, 200), "kernels": (5, 3), "hidden": (100, 100, 100)})
    return PlainCNN(num_classes=num_classes, in_channels=in_channels, input_size=input_size,
                    channels=_int_list("cnn_plain", "channels", opts["channels"]),
                    kernels=_int_list("cnn_plain", "kernels", opts["kernels"]),
                    hidden=_int_list("cnn_plain", "hidden", opts["hidden"]) if opts["hidden"] else (),
                    dropout=dropout)
