"""Optional FLOP formulas for what torch's counter leaves out: elementwise ops, activations,
normalization, pooling, softmax, reductions and the bias add of linear and convolution layers.

These are counted only with ``count(..., include_elementwise=True)``; by default trainlab, like
``torch.utils.flop_counter``, counts only the dense ops (matmul, convolution, attention, RNN gates).
The conventions, chosen to be simple and stated rather than to model any one kernel:

* pointwise ops (``add``, ``mul``, ``relu``, ``sigmoid``, ``gelu``..., in-place variants and the
  activation backward kernels such as ``threshold_backward``): 1 FLOP per output element; a
  transcendental function counts as one. ``addcmul``/``addcdiv``/``lerp``: 2.
* reductions (``sum``, ``mean``, ``amax``...): 1 per input element; ``linalg_vector_norm`` 2,
  ``var``/``std`` 3.
* softmax and log-softmax, forward and backward: 3 per element.
* normalization (batch, layer, group norm), per element: 2 to compute the statistics when they come
  from the batch (training batch norm, layer and group norm), 2 to normalize, 2 for the affine scale
  and shift when there is a weight. Backward: the same count for the input gradient plus 2 for the
  weight and bias gradients when requested.
* pooling: 1 per window element per output (``output numel x kernel area``); adaptive pooling
  1 per input element; every pooling backward 1 per element of the gradient it produces.
* bias of ``addmm``/``baddbmm``/convolution: 1 per output element; the bias gradient of
  ``convolution_backward``: 1 per element of the output gradient.

Not counted (0): copies, views, indexing, concatenation, embedding lookups, random-number generation,
interpolation/upsampling.

Example:
    >>> import torch
    >>> from trainlab.profile.elementwise import elementwise_formulas
    >>> relu = elementwise_formulas()[torch.ops.aten.relu]
    >>> relu(torch.zeros(2, 3), out_val=torch.zeros(2, 3))
    6
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from math import prod
from typing import Any

import torch

aten = torch.ops.aten

Formula = Callable[..., int]

_POINTWISE = (
    "add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_", "rsub", "neg", "neg_", "abs",
    "exp", "exp_", "log", "log1p", "sqrt", "rsqrt", "pow", "reciprocal", "sin", "cos", "erf",
    "sigmoid", "sigmoid_", "tanh", "tanh_", "relu", "relu_", "gelu", "gelu_", "silu", "silu_",
    "hardtanh", "hardtanh_", "leaky_relu", "leaky_relu_", "elu", "elu_", "hardswish",
    "hardswish_", "hardsigmoid", "hardsigmoid_", "softplus", "mish", "mish_", "clamp", "clamp_",
    "clamp_min", "clamp_min_", "clamp_max", "threshold", "threshold_", "maximum", "minimum",
    "_prelu_kernel", "native_dropout", "square",
    # activation backward kernels
    "threshold_backward", "sigmoid_backward", "tanh_backward", "gelu_backward", "silu_backward",
    "hardtanh_backward", "leaky_relu_backward", "elu_backward", "hardswish_backward",
    "hardsigmoid_backward", "softplus_backward", "mish_backward", "native_dropout_backward",
    "_prelu_kernel_backward",
)
_POINTWISE_2 = ("addcmul", "addcmul_", "addcdiv", "addcdiv_", "lerp", "lerp_")
_REDUCTIONS = {"sum": 1, "mean": 1, "amax": 1, "amin": 1, "prod": 1, "linalg_vector_norm": 2,
               "var": 3, "std": 3}
_SOFTMAX = ("_softmax", "_log_softmax", "_safe_softmax", "_softmax_backward_data",
            "_log_softmax_backward_data")
_WINDOW_POOLS = ("max_pool1d", "max_pool2d", "max_pool2d_with_indices", "max_pool3d_with_indices",
                 "avg_pool2d", "avg_pool3d", "mkldnn_max_pool2d")
_ADAPTIVE_POOLS = ("_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_max_pool2d",
                   "adaptive_max_pool3d")
_POOL_BACKWARDS = ("max_pool2d_with_indices_backward", "max_pool3d_with_indices_backward",
                   "avg_pool2d_backward", "avg_pool3d_backward", "_adaptive_avg_pool2d_backward",
                   "_adaptive_avg_pool3d_backward", "adaptive_max_pool2d_backward",
                   "adaptive_max_pool3d_backward")


def _first_tensor(value: Any) -> torch.Tensor | None:
    """The first tensor in an op's output (ops such as batch norm return several)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _numel(value: Any) -> int:
    tensor = _first_tensor(value)
    return tensor.numel() if tensor is not None else 0


def _per_output_element(flops: int) -> Formula:
    def formula(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
        return flops * _numel(out_val)

    return formula


def _per_input_element(flops: int) -> Formula:
    def formula(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
        return flops * _numel(args[0] if args else None)

    return formula


def _window_pool(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
    """Output elements times window area; a 1-element kernel list means the same size on each axis."""
    out = _first_tensor(out_val)
    kernel = kwargs.get("kernel_size", args[1] if len(args) > 1 else ())
    if out is None:
        return 0
    kernel = [kernel] if isinstance(kernel, int) else list(kernel)
    spatial = max(out.dim() - 2, 1)
    if len(kernel) == 1:
        kernel = kernel * spatial
    return out.numel() * prod(kernel)


def _norm_forward(stats: bool | Callable[[tuple[Any, ...]], bool], weight_index: int) -> Formula:
    """2 (statistics, when from the batch) + 2 (normalize) + 2 (affine, when weighted) per element."""

    def formula(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
        from_batch = stats(args) if callable(stats) else stats
        weight = args[weight_index] if len(args) > weight_index else kwargs.get("weight")
        per_element = 2 * from_batch + 2 + 2 * (weight is not None)
        return per_element * _numel(args[0])

    return formula


def _norm_backward(
    *, input_index: int, weight_index: int, stats: Callable[[tuple[Any, ...]], bool],
    mask: Callable[[tuple[Any, ...]], Sequence[bool]],
) -> Formula:
    """Input gradient costs the forward count; weight and bias gradients 2 per element together."""

    def formula(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
        numel = _numel(args[input_index])
        weighted = args[weight_index] is not None
        grad_input, grad_weight, grad_bias = (list(mask(args)) + [True, True, True])[:3]
        flops = (2 * stats(args) + 2 + 2 * weighted) * numel if grad_input else 0
        if grad_weight or grad_bias:
            flops += 2 * numel
        return flops

    return formula


def _bias_add(bias_index: int) -> Formula:
    """1 FLOP per output element when the op adds a bias (``addmm``'s ``self``, a conv's bias)."""

    def formula(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
        bias = args[bias_index] if len(args) > bias_index else kwargs.get("bias")
        return _numel(out_val) if bias is not None else 0

    return formula


def _conv_backward_bias(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
    """The bias gradient of ``convolution_backward`` sums the output gradient (``output_mask[2]``)."""
    output_mask = args[10] if len(args) > 10 else kwargs.get("output_mask", (False,) * 3)
    return _numel(args[0]) if output_mask[2] else 0


def _attention_elementwise(backward: bool) -> Formula:
    """Scaling of q and k and the softmax inside fused attention, as the math path dispatches them."""

    def formula(query: Any, key: Any, *args: Any, out_val: Any = None, **kwargs: Any) -> int:
        if backward:  # backward kernels take grad_out first
            query, key = key, args[0]
        *batch, q_len, _ = query.shape
        k_len = key.shape[-2]
        scores = prod(batch) * q_len * k_len
        return 3 * scores + query.numel() + key.numel()

    return formula


def _ops(names: Iterable[str]) -> list[Any]:
    """The aten packets that exist in this torch build (a few backward kernels are build-specific)."""
    return [getattr(aten, name) for name in names if hasattr(aten, name)]


def elementwise_formulas() -> dict[Any, Formula]:
    """Formulas, keyed by aten op packet, each taking the op's raw arguments and ``out_val``.

    Example:
        >>> import torch
        >>> f = elementwise_formulas()[torch.ops.aten.native_layer_norm]
        >>> f(torch.zeros(4, 10), [10], torch.ones(10), torch.zeros(10), 1e-5, out_val=None)
        240
    """
    table: dict[Any, Formula] = {}
    for op in _ops(_POINTWISE):
        table[op] = _per_output_element(1)
    for op in _ops(_POINTWISE_2):
        table[op] = _per_output_element(2)
    for name, flops in _REDUCTIONS.items():
        table[getattr(aten, name)] = _per_input_element(flops)
    for op in _ops(_SOFTMAX):
        table[op] = _per_output_element(3)
    for op in _ops(_WINDOW_POOLS):
        table[op] = _window_pool
    for op in _ops(_ADAPTIVE_POOLS):
        table[op] = _per_input_element(1)
    for op in _ops(_POOL_BACKWARDS):
        table[op] = _per_output_element(1)

    training = lambda args: bool(args[5])  # noqa: E731 - (input, w, b, mean, var, training, ...)
    table[aten.native_batch_norm] = _norm_forward(training, 1)
    table[aten.cudnn_batch_norm] = _norm_forward(training, 1)
    table[aten._native_batch_norm_legit] = _norm_forward(
        lambda args: bool(args[5]) if isinstance(args[3], torch.Tensor) else bool(args[3]), 1
    )
    table[aten._native_batch_norm_legit_no_training] = _norm_forward(False, 1)
    table[aten.native_layer_norm] = _norm_forward(True, 2)
    table[aten.native_group_norm] = _norm_forward(True, 1)
    table[aten.native_batch_norm_backward] = _norm_backward(
        input_index=1, weight_index=2, stats=lambda a: bool(a[7]), mask=lambda a: a[9]
    )
    table[aten.cudnn_batch_norm_backward] = _norm_backward(
        input_index=0, weight_index=2, stats=lambda a: True, mask=lambda a: (True, True, True)
    )
    table[aten.native_layer_norm_backward] = _norm_backward(
        input_index=1, weight_index=5, stats=lambda a: True, mask=lambda a: a[7]
    )
    table[aten.native_group_norm_backward] = _norm_backward(
        input_index=1, weight_index=4, stats=lambda a: True, mask=lambda a: a[9]
    )

    table[aten.addmm] = _bias_add(0)
    table[aten.baddbmm] = _bias_add(0)
    for op in (aten.convolution, aten._convolution, aten.cudnn_convolution,
               aten.convolution_overrideable):
        table[op] = _bias_add(2)
    table[aten._slow_conv2d_forward] = _bias_add(3)
    table[aten.convolution_backward] = _conv_backward_bias
    for name in ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_efficient_attention",
                 "_scaled_dot_product_flash_attention", "_scaled_dot_product_cudnn_attention"):
        table[getattr(aten, name)] = _attention_elementwise(backward=False)
        backward = getattr(aten, name + "_backward", None)
        if backward is not None:
            table[backward] = _attention_elementwise(backward=True)
    return table


__all__ = ["elementwise_formulas"]
