"""Dense FLOP formulas that ``torch.utils.flop_counter`` lacks or gets wrong (checked on torch 2.14).

* ``convolution_backward`` with ``groups > 1``: torch counts the weight gradient as if the
  convolution were dense across groups, so a depthwise convolution's backward is overcounted by a
  factor ``groups`` (a 3x3 depthwise conv over 8 channels: 8x). Each forward multiply-add pairs one
  input and one weight element, and each gradient (input, weight) repeats exactly one multiply-add
  per forward multiply-add, so here backward = forward FLOPs x (number of gradients requested).
* CPU scaled-dot-product attention: ``F.scaled_dot_product_attention`` (and
  ``nn.MultiheadAttention(need_weights=False)``) dispatches
  ``aten._scaled_dot_product_flash_attention_for_cpu`` and its ``_backward``, for which torch has no
  formula (counted 0, while meta runs the math path and counts its ``bmm``). Forward is torch's
  ``sdpa_flop_count``: ``2 B h L S (d_qk + d_v)`` (``QK^T`` and ``PV``).
* Attention backward, every fused kernel (CPU flash, CUDA flash/efficient/cuDNN): torch's formula
  adds the recomputation of ``QK^T`` that flash kernels do instead of storing the scores. trainlab
  counts the gradient matmuls only (``dV``, ``dP``, ``dQ``, ``dK``: twice the forward when the value
  and key head sizes agree), which is what the math path dispatches, so meta, CPU and CUDA agree and
  attention follows the same convention as linear layers. Masks and causality are not modelled (an
  upper bound, as in torch).

Example:
    >>> import torch
    >>> f = dense_formulas()[torch.ops.aten._scaled_dot_product_flash_attention_for_cpu]
    >>> q = torch.zeros(1, 2, 3, 4)
    >>> f(q, q, q, out_val=None)   # 2 * (2*3*3*4*2): QK^T and PV
    288
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import conv_flop_count, sdpa_backward_flop_count, sdpa_flop_count

aten = torch.ops.aten


def conv_backward_flops(
    grad_out: Any, x: Any, weight: Any, bias_sizes: Any, stride: Any, padding: Any, dilation: Any,
    transposed: bool, output_padding: Any, groups: int, output_mask: Any, *args: Any,
    out_val: Any = None, **kwargs: Any,
) -> int:
    """FLOPs of ``aten.convolution_backward``: the forward count once per requested gradient.

    Example:
        >>> import torch
        >>> g, x, w = torch.zeros(2, 8, 8, 8), torch.zeros(2, 8, 10, 10), torch.zeros(8, 1, 3, 3)
        >>> conv_backward_flops(g, x, w, None, [1], [0], [1], False, [0], 8, [False, True, False])
        18432
    """
    # conv_flop_count takes the output's spatial size from its third argument (or from the input's
    # for a transposed convolution), and the weight's second dimension is already in_channels/groups.
    forward = conv_flop_count(list(x.shape), list(weight.shape), list(grad_out.shape), transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def _attention_forward(query: Any, key: Any, value: Any, *args: Any, out_val: Any = None,
                       **kwargs: Any) -> int:
    return sdpa_flop_count(query.shape, key.shape, value.shape)


def _attention_backward(grad_out: Any, query: Any, key: Any, value: Any, *args: Any,
                        out_val: Any = None, **kwargs: Any) -> int:
    batch, heads, q_len, qk_dim = query.shape
    recompute_scores = 2 * batch * heads * q_len * qk_dim * key.shape[-2]
    total = sdpa_backward_flop_count(grad_out.shape, query.shape, key.shape, value.shape)
    return total - recompute_scores


def dense_formulas() -> dict[Any, Callable[..., int]]:
    """Formulas (raw arguments, ``out_val`` keyword) that replace or extend torch's registry."""
    return {
        aten.convolution_backward: conv_backward_flops,
        aten._scaled_dot_product_flash_attention_for_cpu: _attention_forward,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: _attention_backward,
        aten._scaled_dot_product_flash_attention_backward: _attention_backward,
        aten._scaled_dot_product_efficient_attention_backward: _attention_backward,
        aten._scaled_dot_product_cudnn_attention_backward: _attention_backward,
    }


__all__ = ["conv_backward_flops", "dense_formulas"]
