"""New layers that compute the identity when inserted: what ``deepen`` puts into a network.

- R2DeeperR (Painter, "Towards a More Complete Theory of Function Preserving Transforms", 2019,
  section 4): a residual block ``x + z(x)`` whose branch ``z`` is exactly zero. Its first layer
  writes every hidden channel twice (rows ``[U; U]``), layers in between keep the two halves
  equal, and the last layer reads them with opposite signs (columns ``[U', -U']``), so the
  branch adds ``U' h - U' h = 0``. BatchNorm layers are set to gamma = 1, beta = 0 with running
  statistics (0, 1). :func:`zero_branch_` does this to any residual block torch.fx can trace,
  e.g. a copy of the last torchvision ``BasicBlock`` or ``Bottleneck`` of a stage.
- Net2DeeperNet (Chen et al., "Net2Net", ICLR 2016): an identity convolution (or linear layer),
  a BatchNorm set to the identity with the current activation statistics, and a ReLU; exact where
  its input is non-negative, i.e. after a ReLU.

Example:
    >>> import torch
    >>> x = torch.relu(torch.randn(2, 8, 5, 5))
    >>> block = ResidualBlock(8, spatial_dims=2, batchnorm=True)
    >>> zero_branch_(block, x)
    >>> bool((block.eval()(x) - x).abs().max() < 1e-6)
    True
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import UnsupportedLayerError
from .graph import Analysis, analyze
from .init import Init, draw, init_std, weight_std
from .layout import Layout, iter_segments

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_NORM = {0: nn.BatchNorm1d, 1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}


def _layer(channels: int, spatial_dims: int, bias: bool, kernel_size: int) -> nn.Module:
    if spatial_dims == 0:
        return nn.Linear(channels, channels, bias=bias)
    if spatial_dims not in _CONV:
        raise UnsupportedLayerError(f"cannot insert a layer on tensors with {spatial_dims} spatial "
                                    "dimensions; supported: 0 (features), 1, 2 or 3.")
    return _CONV[spatial_dims](channels, channels, kernel_size, padding=kernel_size // 2, bias=bias)


class ResidualBlock(nn.Module):
    """``x + bn2(conv2(relu(bn1(conv1(x)))))``: the block R2DeeperR inserts where a stage has none.

    Convolutions keep the channel count and spatial size (``kernel_size`` odd, same padding);
    with ``spatial_dims=0`` they are linear layers on (batch, features) inputs. Without
    ``batchnorm`` the norms are identities and the layers have biases. A fresh block is an
    ordinary randomly initialised block; :func:`zero_branch_` makes it the identity.

    Example:
        >>> import torch
        >>> ResidualBlock(16, spatial_dims=0, batchnorm=False)(torch.randn(4, 16)).shape
        torch.Size([4, 16])
    """

    def __init__(self, channels: int, spatial_dims: int = 2, batchnorm: bool = True,
                 kernel_size: int = 3) -> None:
        super().__init__()
        norm = _NORM[spatial_dims] if batchnorm and spatial_dims in _NORM else None
        self.conv1 = _layer(channels, spatial_dims, not batchnorm, kernel_size)
        self.bn1 = norm(channels) if norm else nn.Identity()
        self.relu = nn.ReLU()
        self.conv2 = _layer(channels, spatial_dims, not batchnorm, kernel_size)
        self.bn2 = norm(channels) if norm else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:  # (B, C, *spatial) -> (B, C, *spatial)
        return x + self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


def zero_branch_(block: nn.Module, x: Tensor, init: Init = "match_std",
                 generator: torch.Generator | None = None, spread: float | None = None) -> None:
    """Re-initialise a residual ``block`` in place so that ``block(x) == x`` (R2DeeperR).

    The block is traced on ``x``. Its *hidden* volumes (not joined to its input or output) get
    duplicated channels: each producer writes rows ``[U; U; 0]`` (0 rows for an odd width, or
    for an odd number of groups where grouped convolutions read the volume: each half is whole
    groups, and grouped convolutions get filters ``[U; U; 0]`` too). Producers of the output volume read every hidden segment as ``[U', -U', 0]`` and
    everything else with weight 0; biases are 0; norm layers become gamma = 1, beta = 0, running
    statistics (0, 1); PReLU slopes their mean. New weights use ``init`` against each layer's own
    weights, or against ``spread`` when given.

    Raises:
        UnsupportedLayerError: the block has no hidden channels or a hidden volume meets a node
            that mixes channels.

    Example:
        >>> import torch, torchvision
        >>> block = torchvision.models.resnet.BasicBlock(8, 8)
        >>> x = torch.relu(torch.randn(1, 8, 6, 6))
        >>> zero_branch_(block, x)
        >>> bool((block.eval()(x) - x).abs().max() < 1e-6)
        True
    """
    analysis = analyze(block, x)
    names = analysis.names()
    vols = analysis.volumes()
    stuck = [v for v in vols if not v.widenable and not analysis.state(names[v.name]).fixed]
    if stuck:
        raise UnsupportedLayerError(f"cannot zero the branch of {type(block).__name__}: hidden "
                                    f"volume {stuck[0].name!r} is unusable because "
                                    f"{stuck[0].reason}.")
    # hidden volume -> channels per half: whole groups where grouped convs read it
    hidden = {names[v.name]: v.channels // (2 * v.unit) * v.unit for v in vols if v.widenable}
    if not hidden:
        raise UnsupportedLayerError(f"{type(block).__name__} has no hidden channels between its "
                                    "input and output, so it is not a residual block to zero.")
    if not all(hidden.values()):
        raise UnsupportedLayerError(f"cannot zero the branch of {type(block).__name__}: a hidden "
                                    "volume is a single group of a grouped convolution, with no "
                                    "room for two equal halves.")
    with torch.no_grad():
        for role in analysis.roles.values():
            module = role.module
            if role.kind == "follower":
                _identity_norm(module)
                continue
            if role.kind == "grouped":
                _pair_filters(module, role.inputs, analysis, hidden, init, spread, generator)
                continue
            weight = module.weight  # (out, in, *kernel)
            scale = weight_std(weight) if spread is None else spread
            std = init_std(init, scale, weight[0].numel())
            new = torch.zeros_like(weight)
            if analysis.find(role.output) in hidden:  # type: ignore[arg-type]
                half = hidden[analysis.find(role.output)]  # type: ignore[arg-type]
                rows = draw((half, *weight.shape[1:]), std, weight, generator)
                new[:half], new[half:2 * half] = rows, rows  # U; U; (0)
            else:
                for start, seg in iter_segments(role.inputs):
                    if analysis.find(seg.volume) in hidden:
                        cols = hidden[analysis.find(seg.volume)] * seg.block
                        u = draw((weight.shape[0], cols, *weight.shape[2:]), std, weight, generator)
                        new[:, start:start + cols] = u  # U'
                        new[:, start + cols:start + 2 * cols] = -u  # -U'
            weight.copy_(new)
            if module.bias is not None:
                module.bias.zero_()


def _pair_filters(module: nn.Module, layout: Layout | None, analysis: Analysis,
                  hidden: dict[int, int], init: Init, spread: float | None,
                  generator: torch.Generator | None) -> None:
    """Filters ``[U; U; 0]`` for a grouped conv's hidden channels (halves of whole groups), so
    equal halves of its input give equal halves of its output."""
    weight = module.weight  # (C, C/groups, *kernel)
    std = init_std(init, weight_std(weight) if spread is None else spread, weight[0].numel())
    for start, seg in iter_segments(layout):
        half = hidden.get(analysis.find(seg.volume))
        if half is None:
            continue
        rows = draw((half, *weight.shape[1:]), std, weight, generator)
        weight[start:start + seg.channels] = 0.0
        weight[start:start + half] = rows
        weight[start + half:start + 2 * half] = rows
        if module.bias is not None:
            module.bias[start:start + seg.channels] = 0.0


def _identity_norm(module: nn.Module) -> None:
    if isinstance(module, nn.PReLU):
        module.weight.fill_(float(module.weight.mean()))
        return
    neutral = (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0))
    for name, value in neutral:
        tensor = getattr(module, name, None)
        if isinstance(tensor, Tensor):
            tensor.fill_(value)


def identity_block(x: Tensor, batchnorm: bool, kernel_size: int = 3) -> nn.Sequential:
    """Net2DeeperNet's insertion for activations like ``x``: identity layer (+ BatchNorm) + ReLU.

    The layer is a convolution whose centre tap is the identity matrix (a linear layer equal to
    the identity for 2-D inputs). The BatchNorm's running statistics are ``x``'s per-channel mean
    and variance, and gamma = sqrt(var + eps), beta = mean, so it is the identity in eval mode
    and close to it in training mode on batches like ``x``. Exact when ``x >= 0``.

    Example:
        >>> import torch
        >>> x = torch.relu(torch.randn(4, 6, 5, 5))
        >>> block = identity_block(x, batchnorm=True).eval()
        >>> bool((block(x) - x).abs().max() < 1e-5)
        True
    """
    channels, spatial = x.shape[1], x.dim() - 2
    layer = _layer(channels, spatial, not batchnorm, kernel_size)
    with torch.no_grad():
        layer.weight.zero_()
        eye = torch.arange(channels)
        centre = (kernel_size // 2,) * spatial
        layer.weight[(eye, eye, *centre)] = 1.0
        if layer.bias is not None:
            layer.bias.zero_()
    layers: list[nn.Module] = [layer]
    if batchnorm:
        norm = _NORM[spatial](channels)
        dims = [0, *range(2, x.dim())]
        mean = x.detach().mean(dims)  # (C,)
        var = x.detach().var(dims, unbiased=False).clamp_min(1e-4)  # (C,); floor keeps gamma usable
        with torch.no_grad():
            norm.running_mean.copy_(mean)
            norm.running_var.copy_(var)
            norm.weight.copy_(torch.sqrt(var + norm.eps))
            norm.bias.copy_(mean)
        layers.append(norm)
    layers.append(nn.ReLU())
    return nn.Sequential(*layers).to(device=x.device, dtype=x.dtype)


def check_identity(block: nn.Module, x: Tensor, what: str) -> None:
    """Raise UnsupportedLayerError unless ``block(x) == x`` in eval mode, up to float rounding."""
    flags = [(m, m.training) for m in block.modules()]
    block.eval()
    with torch.no_grad():
        out = block(x)
    for module, flag in flags:
        module.training = flag
    scale = max(1.0, float(x.abs().max()))
    gap = float((out - x).abs().max()) if out.shape == x.shape else math.inf
    if gap > 1e-5 * scale:
        raise UnsupportedLayerError(f"{what} would change the network's output (max |change| "
                                    f"{gap:.3g} on the example input).")
