"""FLOP formulas for the fused RNN kernels that ``torch.utils.flop_counter`` counts as zero.

What reaches the dispatch mode (checked on torch 2.14): ``nn.LSTM/GRU/RNN`` call ``aten.lstm``,
``aten.gru``, ``aten.rnn_tanh``, ``aten.rnn_relu`` (``.input`` and packed ``.data`` overloads). Those
are CompositeImplicitAutograd, so they never reach a ``TorchDispatchMode``; what arrives depends on
the device:

* meta, and CPU for GRU/RNN, packed LSTM and LSTM with ``proj_size``: the reference implementation,
  one ``addmm``/``mm`` per gate matmul, which FlopCounterMode already counts, forward and backward.
* CPU LSTM (oneDNN): ``aten.mkldnn_rnn_layer`` once per layer and direction, and
  ``aten.mkldnn_rnn_layer_backward`` in backward: counted 0 by torch.
* CUDA with cuDNN: ``aten._cudnn_rnn`` for the whole stack and ``aten._cudnn_rnn_backward``
  (ROCm: ``aten.miopen_rnn``/``aten.miopen_rnn_backward``): counted 0 by torch.

* CUDA without cuDNN: ``mm`` for the gates (counted) and ``aten._thnn_fused_lstm_cell``/
  ``_gru_cell`` for the gate arithmetic (only an elementwise formula here).

The formulas here cover only those fused ops, and trainlab's counter passes them to its own
``FlopCounterMode`` rather than registering them in torch's global registry. A formula for
``aten.lstm`` would never fire, and one for a fused op never double counts, because a fused op does
not decompose into ``mm`` (the reference path and the fused path are exclusive).

The fused backward kernels are visible, but they compute every gradient at once, so their FLOPs are
derived analytically, mirroring what autograd dispatches on the reference path, so a model counts the
same on meta, CPU and CUDA. Per layer and direction, with ``G`` gates (LSTM 4, GRU 3, RNN 1), hidden
size ``H``, input size ``I``, recurrent state size ``R`` (``proj_size`` or ``H``), projection ``P``
(0 without), ``N`` rows (``T x batch``, or the sum of the lengths of a packed batch: padding is not
counted) and ``B0`` rows at the first step (whose hidden state is the initial one; for a packed
batch run in reverse, the shortest group: the other sequences' initial states join later through a
concatenation, whose gradient the reference path does compute):

* forward:  ``2 N G H (I + R) + 2 N P H``
* backward: weight gradients ``2 N G H (I + R) + 2 N P H`` (when the weights require grad), input
  gradient ``2 N G H I`` (when the layer input requires grad: always above the first layer),
  hidden-state gradient ``2 (N - B0) G H R`` (``2 N G H R`` if the initial state requires grad) and
  the projection's input gradient ``2 N P H``. This is about 2x the forward matmuls, as for a
  linear layer, but measured per gradient rather than assumed.

With ``include_elementwise`` the gate arithmetic is added per row, as the reference cell runs it:
LSTM ``9H`` (three sigmoids, two tanh, three products, one sum) + ``4H`` (sum of the two gate
matmuls) + ``8H`` (the two biases); GRU ``10H + 6H``; RNN ``2H + 2H``, so the forward matches the
reference path exactly. Elementwise backward of fused kernels is estimated as twice that (about one
derivative op and one product per forward op); the reference paths themselves differ by device here
(CPU precomputes the input projection for all steps, meta does not), by up to ~10% of the
elementwise part. The dense part is exact and identical on every device.

Example:
    >>> from trainlab.profile.rnn_formulas import LayerShape, layer_forward_flops
    >>> layer_forward_flops(LayerShape(gates=4, input_size=8, hidden_size=16, rows=10, first_rows=2))
    30720
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

aten = torch.ops.aten

# cuDNN, MIOpen and oneDNN all number the cell types the same way.
_GATES = {0: 1, 1: 1, 2: 4, 3: 3}  # RNN_RELU, RNN_TANH, LSTM, GRU
# Elementwise FLOPs per row and per unit of hidden size: (gate arithmetic, bias adds).
_ELEMENTWISE = {0: (2, 2), 1: (2, 2), 2: (13, 8), 3: (10, 6)}


@dataclass(frozen=True)
class LayerShape:
    """One direction of one RNN layer, as the FLOP formulas see it.

    ``rows`` is the number of (time step, sequence) pairs processed; ``first_rows`` those at the
    first step of this direction, whose recurrent input is the initial state.
    """

    gates: int
    input_size: int
    hidden_size: int
    rows: int
    first_rows: int
    proj_size: int = 0
    mode: int = 2
    has_biases: bool = True

    @property
    def state_size(self) -> int:
        """Size of the hidden state fed back into the next step (the projection if any)."""
        return self.proj_size or self.hidden_size


def layer_forward_flops(s: LayerShape) -> int:
    """Dense forward FLOPs of one layer direction: ``2 N G H (I + R) + 2 N P H``.

    Example:
        >>> layer_forward_flops(LayerShape(gates=3, input_size=4, hidden_size=5, rows=6, first_rows=2))
        1620
    """
    gate_width = s.gates * s.hidden_size
    return 2 * s.rows * (gate_width * (s.input_size + s.state_size) + s.proj_size * s.hidden_size)


def layer_backward_flops(
    s: LayerShape, *, input_grad: bool, weight_grad: bool, initial_state_grad: bool
) -> int:
    """Dense backward FLOPs of one layer direction (see the module docstring for the terms).

    Example:
        >>> s = LayerShape(gates=1, input_size=4, hidden_size=5, rows=6, first_rows=2)
        >>> layer_backward_flops(s, input_grad=False, weight_grad=True, initial_state_grad=False)
        740
    """
    gate_width = s.gates * s.hidden_size
    flops = 0
    if weight_grad:
        flops += layer_forward_flops(s)
    if input_grad:
        flops += 2 * s.rows * gate_width * s.input_size
    state_rows = s.rows if initial_state_grad else s.rows - s.first_rows
    flops += 2 * state_rows * gate_width * s.state_size
    flops += 2 * s.rows * s.proj_size * s.hidden_size
    return flops


def layer_elementwise_flops(s: LayerShape) -> int:
    """Forward gate arithmetic and bias adds of one layer direction (reference-cell count).

    Example:
        >>> layer_elementwise_flops(LayerShape(gates=4, input_size=8, hidden_size=16, rows=10, first_rows=2))
        3360
    """
    gate_ops, bias_ops = _ELEMENTWISE[s.mode]
    return s.rows * s.hidden_size * (gate_ops + (bias_ops if s.has_biases else 0))


def _rows(time_steps: int, batch: int, batch_sizes: Sequence[int], reverse: bool) -> tuple[int, int]:
    """``(rows, first_rows)`` of one direction; a packed batch counts only its real time steps."""
    if len(batch_sizes) > 0:
        sizes = [int(b) for b in batch_sizes]
        return sum(sizes), sizes[-1] if reverse else sizes[0]
    return time_steps * batch, batch


def _requires_grad(t: Any) -> bool:
    return isinstance(t, torch.Tensor) and t.requires_grad


def _stack_layers(
    *,
    input_shape: Sequence[int],
    weights: Sequence[torch.Tensor],
    stride: int,
    mode: int,
    hidden_size: int,
    proj_size: int,
    num_layers: int,
    batch_first: bool,
    bidirectional: bool,
    batch_sizes: Sequence[int],
) -> list[tuple[int, LayerShape]]:
    """``(layer index, shape)`` of every layer direction of a cuDNN/MIOpen-style call."""
    if len(batch_sizes) > 0:
        time_steps, batch = len(batch_sizes), int(batch_sizes[0])
    elif batch_first:
        batch, time_steps = input_shape[0], input_shape[1]
    else:
        time_steps, batch = input_shape[0], input_shape[1]
    directions = 2 if bidirectional else 1
    has_biases = stride in (4, 5)
    layers = []
    for layer in range(num_layers):
        for direction in range(directions):
            w_ih = weights[(layer * directions + direction) * stride]  # (G*H, I_layer)
            rows, first = _rows(time_steps, batch, batch_sizes, reverse=direction == 1)
            shape = LayerShape(
                gates=_GATES[mode], input_size=w_ih.shape[1], hidden_size=hidden_size, rows=rows,
                first_rows=first, proj_size=proj_size, mode=mode, has_biases=has_biases,
            )
            layers.append((layer, shape))
    return layers


def _cudnn_layers(args: tuple[Any, ...], *, proj: bool) -> list[tuple[int, LayerShape]]:
    """Parse the arguments shared by ``_cudnn_rnn``/``miopen_rnn`` (forward and backward).

    Positions (after ``input, weight, weight_stride0``) differ: cuDNN has ``proj_size``; the
    backward ops add ``weight_buf``/``output``/gradients. The caller passes a normalized tuple
    ``(input, weight, stride, mode, hidden, proj, layers, batch_first, bidirectional, batch_sizes)``.
    """
    inp, weights, stride, mode, hidden, proj_size, layers, batch_first, bidir, sizes = args
    return _stack_layers(
        input_shape=inp.shape, weights=weights, stride=stride, mode=mode, hidden_size=hidden,
        proj_size=proj_size if proj else 0, num_layers=layers, batch_first=batch_first,
        bidirectional=bidir, batch_sizes=sizes,
    )


def _normalize(op: str, args: tuple[Any, ...]) -> tuple[tuple[Any, ...], list[bool] | None]:
    """Map each fused op's positional arguments to the normalized tuple and its output mask."""
    if op == "_cudnn_rnn":
        a = args
        return (a[0], a[1], a[2], a[6], a[7], a[8], a[9], a[10], a[13], a[14]), None
    if op == "_cudnn_rnn_backward":
        a = args
        return (a[0], a[1], a[2], a[10], a[11], a[12], a[13], a[14], a[17], a[18]), list(a[21])
    if op == "miopen_rnn":
        a = args
        return (a[0], a[1], a[2], a[5], a[6], 0, a[7], a[8], a[11], a[12]), None
    if op == "miopen_rnn_backward":
        a = args
        return (a[0], a[1], a[2], a[10], a[11], 0, a[12], a[13], a[16], a[17]), list(a[20])
    raise AssertionError(f"no argument layout for {op}")


def _stack_formula(op: str, *, elementwise: bool) -> Callable[..., int]:
    """FLOPs of a whole-stack fused call (cuDNN/MIOpen), forward or backward."""
    backward = op.endswith("_backward")

    def formula(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
        normalized, mask = _normalize(op, args)
        layers = _cudnn_layers(normalized, proj=op.startswith("_cudnn"))
        if elementwise:
            return sum(layer_elementwise_flops(s) for _, s in layers) * (2 if backward else 1)
        if not backward:
            return sum(layer_forward_flops(s) for _, s in layers)
        assert mask is not None  # output_mask = (input, hx, cx, weights)
        return sum(
            layer_backward_flops(
                s, input_grad=layer > 0 or mask[0], weight_grad=mask[3],
                initial_state_grad=mask[1] or mask[2],
            )
            for layer, s in layers
        )

    return formula


def _mkldnn_shape(args: tuple[Any, ...], *, backward: bool) -> LayerShape:
    """Shape of one ``mkldnn_rnn_layer[_backward]`` call (one layer direction, input seq-first)."""
    inp, w_ih, w_hh = args[0], args[1], args[2]
    if backward:
        reverse, mode, hidden, has_biases, sizes = args[13], args[14], args[15], args[17], args[20]
    else:
        reverse, sizes, mode, hidden, has_biases = args[7], args[8], args[9], args[10], args[12]
    rows, first = _rows(inp.shape[0], inp.shape[1], sizes, reverse)
    state = w_hh.shape[1]
    return LayerShape(
        gates=_GATES[mode], input_size=w_ih.shape[1], hidden_size=hidden, rows=rows, first_rows=first,
        proj_size=state if state != hidden else 0, mode=mode, has_biases=has_biases,
    )


def _mkldnn_formula(*, backward: bool, elementwise: bool) -> Callable[..., int]:
    """FLOPs of one oneDNN layer-direction call; grads needed are read from ``requires_grad``."""

    def formula(*args: Any, out_val: Any = None, **kwargs: Any) -> int:
        s = _mkldnn_shape(args, backward=backward)
        if elementwise:
            return layer_elementwise_flops(s) * (2 if backward else 1)
        if not backward:
            return layer_forward_flops(s)
        # The saved tensors keep their requires_grad flag, which is what decides the reference
        # path's gradients; the fused kernel computes them all regardless.
        hx, cx = args[5], args[6]
        return layer_backward_flops(
            s, input_grad=_requires_grad(args[0]), weight_grad=_requires_grad(args[1]),
            initial_state_grad=_requires_grad(hx) or _requires_grad(cx),
        )

    return formula


def _fused_cell_elementwise(mode: int) -> Callable[..., int]:
    """Gate arithmetic of CUDA's ``_thnn_fused_lstm_cell``/``_gru_cell`` (matmuls run as mm)."""

    def formula(input_gates: Any, hidden_gates: Any, state: Any, input_bias: Any = None,
                hidden_bias: Any = None, *args: Any, out_val: Any = None, **kwargs: Any) -> int:
        rows, width = input_gates.shape
        s = LayerShape(gates=_GATES[mode], input_size=0, hidden_size=width // _GATES[mode],
                       rows=rows, first_rows=rows, mode=mode, has_biases=input_bias is not None)
        return layer_elementwise_flops(s)

    return formula


def _fused_rnn_formulas(elementwise: bool) -> dict[Any, Callable[..., int]]:
    """Formulas (raw arguments, ``out_val`` keyword) for fused RNN kernels: their dense matmul FLOPs, or
    with ``elementwise`` the gate arithmetic hidden inside them."""
    formulas = {
        aten.mkldnn_rnn_layer: _mkldnn_formula(backward=False, elementwise=elementwise),
        aten.mkldnn_rnn_layer_backward: _mkldnn_formula(backward=True, elementwise=elementwise),
    }
    for op in ("_cudnn_rnn", "_cudnn_rnn_backward", "miopen_rnn", "miopen_rnn_backward"):
        formulas[getattr(aten, op)] = _stack_formula(op, elementwise=elementwise)
    return formulas


def dense_formulas() -> dict[Any, Callable[..., int]]:
    """Formulas for the dense FLOPs of fused RNN kernels."""
    return _fused_rnn_formulas(elementwise=False)


def elementwise_formulas() -> dict[Any, Callable[..., int]]:
    """Formulas for the gate arithmetic hidden inside fused RNN kernels (and the fused cells)."""
    return {**_fused_rnn_formulas(elementwise=True), aten._thnn_fused_lstm_cell: _fused_cell_elementwise(2),
            aten._thnn_fused_gru_cell: _fused_cell_elementwise(3)}


__all__ = [
    "LayerShape",
    "dense_formulas",
    "elementwise_formulas",
    "layer_backward_flops",
    "layer_elementwise_flops",
    "layer_forward_flops",
]
