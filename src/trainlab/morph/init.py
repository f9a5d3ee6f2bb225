"""How new weights are drawn when a transform adds channels or layers.

``init`` is one of:

- ``"match_std"``: the standard deviation of the layer's existing weights (R2R's recommendation:
  new weights on the scale of the old ones; He init was found too large, Painter 2019, App. E);
- ``"he"``: ``sqrt(2 / fan_in)`` (He et al. 2015);
- a positive float ``k``: ``k`` times the existing weights' standard deviation.

New weights are Gaussian with that standard deviation. A layer whose weights are all equal (for
example all zero) has no usable spread, so ``"match_std"`` and floats fall back to He there.

Example:
    >>> import torch
    >>> spread = weight_std(torch.tensor([0.0, 2.0]))
    >>> spread, init_std("he", spread, fan_in=8), init_std(2.0, spread, fan_in=8)
    (1.0, 0.5, 2.0)
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import ConfigError

Init = str | float
INITS = ("match_std", "he")


def check_init(init: Init) -> None:
    """Raise ConfigError unless ``init`` is "match_std", "he" or a positive float."""
    number = isinstance(init, (int, float)) and not isinstance(init, bool)
    if not (init in INITS or (number and init > 0)):
        raise ConfigError(f"init must be 'match_std', 'he' or a positive number; received "
                          f"{init!r}. Use init='match_std' (the default) to match the existing "
                          "weights' scale.")


def weight_std(weight: Tensor) -> float:
    """The (population) standard deviation of ``weight``'s entries, from its first two moments.

    Two moments are several times faster than ``Tensor.std`` on large layers and precise enough
    for choosing a scale.
    """
    values = weight.detach().reshape(-1).float()
    if values.numel() < 2:
        return 0.0
    # two reductions and no temporary copy: E[w^2] - E[w]^2
    mean_square = torch.linalg.vector_norm(values) ** 2 / values.numel()
    mean = values.mean()
    return float((mean_square - mean * mean).clamp_min(0.0).sqrt())


def init_std(init: Init, spread: float, fan_in: int) -> float:
    """The standard deviation of new weights for a layer whose weights have std ``spread``.

    ``fan_in`` is the new layer's inputs per output (input channels x kernel elements).
    """
    he = math.sqrt(2.0 / max(fan_in, 1))
    if init == "he":
        return he
    if not math.isfinite(spread) or spread == 0.0:
        return he
    return spread if init == "match_std" else float(init) * spread


def draw(shape: tuple[int, ...], std: float, like: Tensor,
         generator: torch.Generator | None = None) -> Tensor:
    """Gaussian values of ``shape`` with ``std``, on ``like``'s device and dtype.

    Drawn on the CPU so that one seeded CPU generator gives the same weights on every device.
    """
    values = torch.randn(shape, generator=generator).mul_(std)
    return values.to(device=like.device, dtype=like.dtype)


def fill_normal_(dst: Tensor, std: float, generator: torch.Generator | None = None) -> Tensor:
    """Fill ``dst`` (possibly a strided slice) in place with Gaussian values of ``std``.

    On CPU float32 the values are drawn straight into ``dst`` (no temporary); elsewhere they are
    drawn with :func:`draw` and copied.
    """
    if dst.device.type == "cpu" and dst.dtype == torch.float32:
        return dst.normal_(0.0, std, generator=generator)
    return dst.copy_(draw(tuple(dst.shape), std, dst, generator))
