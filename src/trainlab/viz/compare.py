"""How the filters of one convolution differ between two models (before/after training, before/after a widen)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ModelError
from .activations import layer_filters


@dataclass(frozen=True)
class FilterComparison:
    """Filters of ``layer`` in two models, matched by index, and how much each shared filter changed.

    ``shared`` filters are compared over their common input channels; a widened model's extra filters
    are ``b[shared:]``. ``relative_change[i] = ‖b_i - a_i‖ / ‖a_i‖``; ``cosine[i]`` is their cosine similarity.
    """

    layer: str
    a: Tensor  # (O_a, I_a, kh, kw)
    b: Tensor  # (O_b, I_b, kh, kw)
    shared: int
    relative_change: Tensor  # (shared,)
    cosine: Tensor  # (shared,)

    @property
    def added(self) -> int:
        """Filters ``b`` has beyond ``a`` (e.g. after a widen)."""
        return max(0, self.b.shape[0] - self.a.shape[0])


def compare_filters(model_a: nn.Module, model_b: nn.Module, layer: str) -> FilterComparison:
    """Compare the filters of convolution ``layer`` in ``model_a`` (before) and ``model_b`` (after).

    Example:
        >>> a = nn.Sequential(nn.Conv2d(1, 4, 3))
        >>> b = nn.Sequential(nn.Conv2d(1, 6, 3))
        >>> with torch.no_grad():
        ...     b[0].weight[:4] = a[0].weight
        >>> cmp = compare_filters(a, b, "0")
        >>> cmp.shared, cmp.added, float(cmp.relative_change.max())
        (4, 2, 0.0)
    """
    fa, fb = layer_filters(model_a, layer), layer_filters(model_b, layer)
    shared = min(fa.shape[0], fb.shape[0])
    cin = min(fa.shape[1], fb.shape[1])
    if fa.shape[2:] != fb.shape[2:]:
        raise ModelError(f"layer {layer!r} has kernel {tuple(fa.shape[2:])} in the first model and "
                         f"{tuple(fb.shape[2:])} in the second; compare_filters needs the same kernel size.")
    va = fa[:shared, :cin].reshape(shared, -1)  # (shared, cin*kh*kw)
    vb = fb[:shared, :cin].reshape(shared, -1)
    change = (vb - va).norm(dim=1) / va.norm(dim=1).clamp_min(1e-12)
    cosine = torch.nn.functional.cosine_similarity(va, vb, dim=1, eps=1e-12)
    return FilterComparison(layer=layer, a=fa, b=fb, shared=shared, relative_change=change, cosine=cosine)
