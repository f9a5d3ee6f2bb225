"""Count FLOPs and parameters of a model, per module, forward and backward.

Built on ``torch.utils.flop_counter.FlopCounterMode``: the model runs on the example input under the
counter, then backward runs too, so backward FLOPs are measured per dispatched op, not assumed to be
2x forward. trainlab adds the formulas torch lacks or gets wrong (fused RNN kernels, CPU attention,
grouped-convolution backward; see ``rnn_formulas`` and ``dense_formulas``) and, on request,
elementwise ops (``elementwise``).

The count runs on a throw-away copy of the parameters: on the meta device by default, so even a huge
model costs no memory and little time, with a fall back to CPU (logged, and noted in the profile) when an
op has no meta kernel. The model itself is never modified: its parameters get no ``.grad``, its
buffers (e.g. batch-norm running statistics) keep their values and the global RNG state is restored.
The model is counted in its current mode (call ``model.train()`` first for training FLOPs). The
fused attention fast path (``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` in eval mode
without gradients) is switched off while counting, so attention counts the same on every device.

Example:
    >>> import torch
    >>> from trainlab.profile import count
    >>> net = torch.nn.Sequential(torch.nn.Linear(10, 20), torch.nn.ReLU(), torch.nn.Linear(20, 5))
    >>> p = count(net, torch.zeros(8, 10))
    >>> p.forward_flops, p.backward_flops   # backward: both weight grads, no input grad for layer 0
    (4800, 6400)
"""
from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from ..errors import ConfigError, ModelError
from .attribution import ModuleRecorder
from .dense_formulas import dense_formulas
from .elementwise import elementwise_formulas
from .placement import batch_size as infer_batch_size
from .placement import (attention_slow_path, call_args, check_device, move_input, rng_guard,
                        swap_in, tensors)
from .report import ModuleRow, Profile
from .rnn_formulas import dense_formulas as rnn_dense_formulas
from .rnn_formulas import elementwise_formulas as rnn_elementwise_formulas

log = logging.getLogger(__name__)

# Ops whose name suggests real compute: if one runs without a formula, the profile says so.
_COMPUTE_OP = re.compile(r"rnn|lstm|gru|conv|attention|matmul|einsum|linear|mm\b|mm_")

Formula = Callable[..., int]


class _SplitFlopCounter(FlopCounterMode):
    """A FlopCounterMode that keeps forward and backward, dense and elementwise FLOPs apart.

    torch's mode adds every op's FLOPs to each module currently running (``ModuleTracker``); this
    subclass does the same into four buckets per module, tells the passes apart with ``is_bw``,
    charges backward ops through ``ModuleRecorder`` (exact on branches, see ``attribution``) and
    records compute ops that ran without a formula.
    """

    def __init__(self, dense: dict[Any, Formula], elementwise: dict[Any, Formula],
                 recorder: ModuleRecorder) -> None:
        super().__init__(display=False)
        self._recorder = recorder
        self._dense = {**self.flop_registry, **dense}
        self._elementwise = elementwise
        # Kept in step with the formulas actually used, for anyone reading torch's attribute.
        self.flop_registry = {op: self._dense.get(op, _zero) for op in {*self._dense, *elementwise}}
        self.split: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
        self.by_op: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        self.missing: set[str] = set()

    def _count_flops(self, func_packet: Any, out: Any, args: Any, kwargs: Any) -> Any:
        # Overrides FlopCounterMode's private per-op hook (torch 2.14): the one place that sees every
        # executed op with its arguments; the tests in tests/profile pin what it must produce.
        dense_formula = self._dense.get(func_packet)
        elem_formula = self._elementwise.get(func_packet)
        if dense_formula is None and elem_formula is None:
            name = str(func_packet)
            if _COMPUTE_OP.search(name.removeprefix("aten.")):
                self.missing.add(name)
            return out
        dense = dense_formula(*args, **kwargs, out_val=out) if dense_formula else 0
        elem = elem_formula(*args, **kwargs, out_val=out) if elem_formula else 0
        backward = self.mod_tracker.is_bw
        phase = "backward" if backward else "forward"
        parents = self._recorder.backward_parents() if backward else set(self.mod_tracker.parents)
        for parent in parents:
            self.flop_counts[parent][func_packet] += dense + elem
            self.split[parent][(phase, "dense")] += dense
            self.split[parent][(phase, "elementwise")] += elem
        self.by_op[str(func_packet)][phase == "backward"] += dense + elem
        return out


def _zero(*args: Any, **kwargs: Any) -> int:
    return 0


def _run_backward(output: Any, loss_fn: Callable[[Any], torch.Tensor] | None) -> bool:
    """Backpropagate from ``loss_fn(output)`` or, by default, the first output that has a gradient."""
    if loss_fn is not None:
        loss = loss_fn(output)
        if not loss.requires_grad:
            return False
        loss.backward()
        return True
    for tensor in tensors(output):
        if tensor.requires_grad:
            # Seeding with ones costs no FLOPs, unlike ``.sum().backward()``.
            torch.autograd.backward(tensor, grad_tensors=torch.ones_like(tensor))
            return True
    return False


def _check_model(model: Any) -> None:
    if not isinstance(model, nn.Module):
        raise ModelError(
            f"count() needs a torch.nn.Module, got {type(model).__name__}; "
            "pass the model object (e.g. torchvision.models.resnet18())."
        )
    for name, p in model.named_parameters():
        if isinstance(p, nn.parameter.UninitializedParameter):
            raise ModelError(
                f"parameter {name!r} is uninitialized (a lazy module); "
                "run one forward pass on a real input before counting."
            )


def _count_on(
    model: nn.Module, example_input: Any, device: torch.device, *, backward: bool,
    include_elementwise: bool, loss_fn: Callable[[Any], torch.Tensor] | None,
) -> tuple[_SplitFlopCounter, ModuleRecorder, bool]:
    """Run forward (and backward) once on ``device`` under the counter."""
    dense = {**rnn_dense_formulas(), **dense_formulas()}
    elementwise = {**elementwise_formulas(), **rnn_elementwise_formulas()} if include_elementwise else {}
    recorder = ModuleRecorder(model)
    counter = _SplitFlopCounter(dense, elementwise, recorder)
    swapped = swap_in(model, device)
    args, kwargs = call_args(move_input(example_input, device))
    grad_mode = torch.enable_grad() if backward else torch.no_grad()
    with rng_guard(device), attention_slow_path(), grad_mode, recorder, counter:
        output = functional_call(model, swapped, args, kwargs)
        ran_backward = backward and _run_backward(output, loss_fn)
    return counter, recorder, ran_backward


def _profile(
    model: nn.Module, counter: _SplitFlopCounter, recorder: ModuleRecorder, *,
    device: torch.device, batch_size: int, backward: bool, include_elementwise: bool,
    notes: list[str],
) -> Profile:
    def flops(key: str, phase: str) -> int:
        split = counter.split.get(key, {})
        return split.get((phase, "dense"), 0) + split.get((phase, "elementwise"), 0)

    rows = []
    for name, mod in model.named_modules():
        key = recorder.names[id(mod)]
        inputs, outputs = recorder.shapes.get(id(mod), ((), ()))
        rows.append(ModuleRow(
            name=name, type=type(mod).__name__, depth=name.count(".") + 1 if name else 0,
            calls=recorder.calls.get(id(mod), 0), input_shapes=inputs, output_shapes=outputs,
            params=sum(p.numel() for p in mod.parameters()),
            forward_flops=flops(key, "forward"), backward_flops=flops(key, "backward"),
        ))
    total = counter.split.get("Global", {})
    for op in sorted(counter.missing):
        notes.append(f"{op} ran without a FLOP formula and counts 0")
    params = list(model.parameters())
    return Profile(
        forward_flops=flops("Global", "forward"),
        backward_flops=flops("Global", "backward"),
        forward_dense_flops=total.get(("forward", "dense"), 0),
        backward_dense_flops=total.get(("backward", "dense"), 0),
        params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        batch_size=batch_size, device=str(device), backward=backward,
        include_elementwise=include_elementwise, by_module=tuple(rows),
        by_op={op: (f, b) for op, (f, b) in sorted(counter.by_op.items())}, notes=tuple(notes),
    )


def count(
    model: nn.Module,
    example_input: Any,
    *,
    backward: bool = True,
    device: str | torch.device = "meta",
    include_elementwise: bool = False,
    loss_fn: Callable[[Any], torch.Tensor] | None = None,
    batch_size: int | None = None,
) -> Profile:
    """Count the FLOPs and parameters of ``model`` on ``example_input``, per module.

    Args:
        model: any ``nn.Module``; it is not modified (see the module docstring).
        example_input: one batch: a tensor or PackedSequence (one positional argument), a tuple or
            list (several positional arguments) or a dict (keyword arguments). Its values are used
            only on ``device='cpu'``/``'cuda'``.
        backward: also run backward and count it (from ``loss_fn(output)``, else from the first
            output that requires grad, seeded with ones). The input gradient is counted only where
            the input requires grad, as in training.
        device: ``'meta'`` (default: no memory, falls back to CPU when an op has no meta kernel),
            ``'cpu'`` or ``'cuda'``. The dense counts are the same on all three.
        include_elementwise: also count bias adds, activations, normalization, pooling, softmax and
            other elementwise ops (conventions in ``trainlab.profile.elementwise``).
        loss_fn: turns the model output into the scalar to backpropagate; its FLOPs are counted.
        batch_size: the number of samples in ``example_input`` (default: the first dimension of the
            first tensor, or the sequences of a PackedSequence); only reported.

    Returns:
        A :class:`~trainlab.profile.report.Profile` (totals for the whole batch, one row per module).

    Raises:
        ModelError: the model is not a module or fails on the example input on every device tried.
        ConfigError: ``device`` is unknown or unavailable.

    Example:
        >>> import torch
        >>> p = count(torch.nn.Conv2d(3, 8, 3, padding=1), torch.zeros(1, 3, 16, 16))
        >>> p.forward_macs == 8 * 3 * 3 * 3 * 16 * 16
        True
    """
    _check_model(model)
    dev = check_device(device)
    if batch_size is not None and batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive number of samples, got {batch_size}.")
    batch = batch_size if batch_size is not None else infer_batch_size(example_input)
    options = dict(backward=backward, include_elementwise=include_elementwise, loss_fn=loss_fn)
    notes: list[str] = []
    try:
        counter, recorder, ran = _count_on(model, example_input, dev, **options)
    except Exception as exc:
        if dev.type != "meta" or not _meta_specific(exc):
            raise _model_error(model, example_input, dev, exc) from exc
        reason = _first_line(exc)
        log.warning("counting %s on meta failed (%s); counting on cpu instead, which needs memory "
                    "for the parameters", type(model).__name__, reason)
        notes.append(f"counted on cpu because the meta device failed ({reason})")
        dev = torch.device("cpu")
        try:
            counter, recorder, ran = _count_on(model, example_input, dev, **options)
        except Exception as cpu_exc:
            raise _model_error(model, example_input, dev, cpu_exc) from cpu_exc
    if backward and not ran:
        notes.append("backward not counted: no output requires grad (no trainable parameters?)")
    return _profile(model, counter, recorder, device=dev, batch_size=batch, backward=ran,
                    include_elementwise=include_elementwise, notes=notes)


def _meta_specific(exc: Exception) -> bool:
    """A missing meta kernel, a data-dependent op or a CPU tensor held outside the parameters."""
    return isinstance(exc, NotImplementedError) or "meta" in str(exc).lower()


def _first_line(exc: Exception, limit: int = 150) -> str:
    line = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {line[:limit]}{'...' if len(line) > limit else ''}"


def _model_error(model: nn.Module, example_input: Any, device: torch.device, exc: Exception) -> ModelError:
    shapes = [tuple(t.shape) for t in tensors(example_input)]
    return ModelError(
        f"{type(model).__name__} failed on the example input (tensor shapes {shapes}) on {device}: "
        f"{_first_line(exc, 300).rstrip('.')}. Pass an input of the shape and dtype the model expects."
    )


def flops_per_sample(
    model: nn.Module,
    example_input: Any,
    *,
    batch_size: int | None = None,
    device: str | torch.device = "meta",
) -> int:
    """Training FLOPs per sample: (forward + backward FLOPs of one batch) / batch size.

    Counted with backward on the meta device when possible (CPU otherwise), dense ops only, so the
    Learner can multiply it by the samples seen in an epoch. Rounded to the nearest integer.

    Example:
        >>> import torch
        >>> flops_per_sample(torch.nn.Linear(10, 5), torch.zeros(4, 10))   # forward 100 + weight grad 100
        200
    """
    profile = count(model, example_input, backward=True, device=device, batch_size=batch_size)
    return round(profile.total_flops / profile.batch_size)


def model_signature(model: nn.Module) -> tuple[tuple[str, str, tuple[tuple[int, ...], ...]], ...]:
    """What the FLOPs of ``model`` depend on besides the input: each module's name, type and the
    shapes of its own parameters and buffers. Recount when it changes (e.g. after a morph).

    Example:
        >>> import torch
        >>> a, b, c = torch.nn.Linear(4, 2), torch.nn.Linear(4, 2), torch.nn.Linear(4, 3)
        >>> model_signature(a) == model_signature(b), model_signature(a) == model_signature(c)
        (True, False)
    """
    return tuple(
        (name, type(mod).__name__, tuple(
            tuple(t.shape) for t in [*mod.parameters(recurse=False), *mod.buffers(recurse=False)]
        ))
        for name, mod in model.named_modules()
    )


__all__ = ["count", "flops_per_sample", "model_signature"]
