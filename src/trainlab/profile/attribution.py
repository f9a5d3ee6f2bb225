"""Which module an op belongs to, in forward and in backward, and what each module was called with.

Forward attribution is torch's ``ModuleTracker`` (inside ``FlopCounterMode``): the modules whose
forward is running. Its backward attribution re-enters a module when the gradient of its output
arrives and leaves it when the gradient of its input is complete, which goes wrong on branches: in
a ResNet block the shortcut's ``downsample`` stays "entered" until the main branch has also finished
(the shared input's gradient is complete only then), so the whole main branch is charged to it; a
module whose input needs no gradient is never left at all.

Here each autograd node is owned by the modules during whose forward call it was created (found by
walking back from the module's outputs to nodes older than the call, via their sequence numbers),
and a backward op is charged to the owners of the node that is executing it
(``torch._C._current_autograd_node``). Rows of parallel branches then add up to their parent.

Example:
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3))
    >>> tracker_names(net)[id(net[0])]
    'Sequential.0'
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

import torch
from torch import nn
from torch._C._autograd import _get_sequence_nr

from .placement import tensors

_LEAF = 2**64 - 1  # sequence number of AccumulateGrad nodes (parameters), owned by no call


def tracker_names(model: nn.Module) -> dict[int, str]:
    """The name ``ModuleTracker`` gives each module, by ``id``: root type name, then dotted paths.

    Mirrors its naming (depth first; a module reached twice takes the later path, its children keep
    the first) so that rows line up with ``FlopCounterMode.get_flop_counts()``.
    """
    names: dict[int, str] = {}
    seen: set[int] = set()

    def visit(mod: nn.Module, name: str) -> None:
        names[id(mod)] = name
        if id(mod) in seen:
            return
        seen.add(id(mod))
        for child_name, child in mod.named_children():
            visit(child, f"{name}.{child_name}")

    visit(model, type(model).__name__)
    return names


class ModuleRecorder:
    """Forward hooks on every module of ``model``: calls, first-call shapes, autograd node owners.

    Use as a context manager around the counted forward and backward; ``backward_parents()`` names
    the modules the currently executing backward op belongs to (always including ``'Global'``).
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.names = tracker_names(model)
        self.calls: dict[int, int] = defaultdict(int)
        self.shapes: dict[int, tuple[tuple[tuple[int, ...], ...], tuple[tuple[int, ...], ...]]] = {}
        self._starts: dict[int, list[int]] = defaultdict(list)
        self._owners: dict[int, set[str]] = defaultdict(set)
        self._handles: list[Any] = []

    def __enter__(self) -> ModuleRecorder:
        for mod in self.model.modules():
            self._handles.append(mod.register_forward_pre_hook(self._pre))
            self._handles.append(mod.register_forward_hook(self._post, with_kwargs=True))
        return self

    def __exit__(self, *exc: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _pre(self, mod: nn.Module, args: Any) -> None:
        self._starts[id(mod)].append(_get_sequence_nr())  # the next node created gets this number

    def _post(self, mod: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        start = self._starts[id(mod)].pop()
        if self.calls[id(mod)] == 0:
            self.shapes[id(mod)] = (
                tuple(tuple(t.shape) for t in tensors((args, kwargs))),
                tuple(tuple(t.shape) for t in tensors(output)),
            )
        self.calls[id(mod)] += 1
        name = self.names[id(mod)]
        # Graph edges point to older nodes, so the walk stops at the first node older than the call.
        stack = [t.grad_fn for t in tensors(output) if t.grad_fn is not None]
        visited: set[int] = set()
        while stack:
            node = stack.pop()
            seq = node._sequence_nr()
            if seq < start or seq == _LEAF or seq in visited:
                continue
            visited.add(seq)
            self._owners[seq].add(name)
            stack.extend(next_node for next_node, _ in node.next_functions if next_node is not None)

    def backward_parents(self) -> set[str]:
        """Modules owning the autograd node now executing, plus ``'Global'``."""
        node = torch._C._current_autograd_node()
        owners = self._owners.get(node._sequence_nr()) if node is not None else None
        return {"Global", *owners} if owners else {"Global"}


__all__ = ["ModuleRecorder", "tracker_names"]
