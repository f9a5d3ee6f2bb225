"""Where a count runs: the device, throw-away copies of the parameters and the example input.

Nothing here touches the user's model: parameters are detached (same storage, their own ``.grad``),
buffers copied (batch norm updates them in place in train mode), and on the meta device every tensor
is an empty meta tensor, so counting a huge model allocates nothing.

Example:
    >>> import torch
    >>> from trainlab.profile.placement import batch_size, call_args
    >>> batch_size((torch.zeros(7, 3), torch.zeros(2))), call_args({"x": 1})
    (7, ((), {'x': 1}))
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from ..errors import ConfigError

DEVICE_TYPES = ("meta", "cpu", "cuda")


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a ``torch.device`` if it can count FLOPs here, else a ConfigError saying why.

    Example:
        >>> check_device("meta")
        device(type='meta')
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            f"device {device!r} is not a device name; use one of {', '.join(DEVICE_TYPES)}."
        ) from exc
    if dev.type not in DEVICE_TYPES:
        raise ConfigError(
            f"device {device!r} cannot be used for counting; use one of {', '.join(DEVICE_TYPES)}."
        )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {device!r} was requested but CUDA is not available here; "
            "use device='meta' (no memory needed) or 'cpu'."
        )
    return dev


def to_device(t: torch.Tensor, device: torch.device, *, keep_grad: bool) -> torch.Tensor:
    """A copy of ``t`` on ``device`` sharing storage when it can; zeros when ``t`` has no data."""
    if device.type == "meta":
        moved = torch.empty_like(t, device=device)
    elif t.device.type == "meta":
        moved = torch.zeros_like(t, device=device)
    else:
        moved = t.detach().to(device)
    if keep_grad and t.requires_grad and moved.is_floating_point():
        moved.requires_grad_(True)
    return moved


def swap_in(model: nn.Module, device: torch.device) -> dict[str, torch.Tensor]:
    """Parameters (detached, same ``requires_grad``) and buffers (copied) for ``functional_call``."""
    moved: dict[int, torch.Tensor] = {}  # by id, so tied weights stay one tensor
    swapped = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) not in moved:
            moved[id(p)] = to_device(p, device, keep_grad=True)
        swapped[name] = moved[id(p)]
    for name, buf in model.named_buffers(remove_duplicate=False):
        if id(buf) not in moved:
            copy = to_device(buf, device, keep_grad=False)
            # Buffers are updated in place in train mode (batch-norm statistics): never share them.
            moved[id(buf)] = copy.clone() if copy.device.type != "meta" else copy
        swapped[name] = moved[id(buf)]
    return swapped


def move_input(obj: Any, device: torch.device) -> Any:
    """The example input on ``device``; a PackedSequence keeps ``batch_sizes`` on CPU."""
    if isinstance(obj, PackedSequence):
        data = to_device(obj.data, device, keep_grad=True)
        move = lambda t: None if t is None else to_device(t, device, keep_grad=False)  # noqa: E731
        return PackedSequence(data, obj.batch_sizes, move(obj.sorted_indices), move(obj.unsorted_indices))
    if isinstance(obj, torch.Tensor):
        return to_device(obj, device, keep_grad=True)
    if isinstance(obj, dict):
        return {k: move_input(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [move_input(v, device) for v in obj]
        return type(obj)(*items) if hasattr(obj, "_fields") else type(obj)(items)  # namedtuple
    return obj


def tensors(obj: Any) -> Iterator[torch.Tensor]:
    """Tensors in nested outputs, a PackedSequence standing for its ``data``."""
    if isinstance(obj, PackedSequence):
        yield obj.data
    elif isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from tensors(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from tensors(v)


def batch_size(example_input: Any) -> int:
    """Sequences in a PackedSequence, else the first dimension of the first tensor (1 if none)."""
    first = example_input[0] if isinstance(example_input, (list, tuple)) and not isinstance(
        example_input, PackedSequence) and example_input else example_input
    if isinstance(first, dict):
        first = next(iter(first.values()), None)
    if isinstance(first, PackedSequence):
        return int(first.batch_sizes[0])
    tensor = next(tensors(first), None)
    return int(tensor.shape[0]) if tensor is not None and tensor.dim() > 0 else 1


def call_args(example_input: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """A tensor or PackedSequence is one argument, a tuple/list are positional, a dict keywords."""
    if isinstance(example_input, dict):
        return (), example_input
    if isinstance(example_input, (list, tuple)) and not isinstance(example_input, PackedSequence):
        return tuple(example_input), {}
    return (example_input,), {}


def rng_guard(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Keep the caller's RNG state: dropout in the counted pass must not shift their random stream."""
    devices = [device.index or 0] if device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


@contextlib.contextmanager
def attention_slow_path() -> Iterator[None]:
    """Turn off the fused ``nn.MultiheadAttention`` / ``nn.TransformerEncoderLayer`` fast path.

    In eval mode without gradients on CPU or CUDA those modules dispatch one fused op
    (``aten._native_multi_head_attention``, ``aten._transformer_encoder_layer_fwd``) that hides
    the projections and attention matmuls, so they would count 0; on meta the fast path never runs.
    With it off, every device dispatches the same linear, matmul and attention ops.

    Example:
        >>> import torch
        >>> with attention_slow_path():
        ...     torch.backends.mha.get_fastpath_enabled()
        False
        >>> torch.backends.mha.get_fastpath_enabled()
        True
    """
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


__all__ = [
    "DEVICE_TYPES", "attention_slow_path", "batch_size", "call_args", "check_device", "move_input",
    "rng_guard", "swap_in", "tensors", "to_device",
]
