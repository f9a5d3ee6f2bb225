"""Tracing for trainlab.morph: torch.fx graphs annotated with the shapes of one example run.

Example:
    >>> import torch
    >>> from torch import nn
    >>> gm = traced_with_shapes(nn.Sequential(nn.Linear(3, 5), nn.ReLU()), torch.randn(2, 3))
    >>> [shape_of(n) for n in gm.graph.nodes][1:3]
    [(2, 5), (2, 5)]
"""
from __future__ import annotations

from typing import Any

import torch
from torch import fx, nn

from ..errors import ModelError, UnsupportedLayerError

_SHAPE = "trainlab_morph_shape"  # node.meta key: the output shape, for tensor-valued nodes
_TRAINING_ONLY = "trainlab_morph_training_only"  # graph meta key: layers only training mode runs


def shape_of(arg: Any) -> tuple[int, ...] | None:
    """The recorded output shape of a graph node; None for constants and non-tensor results."""
    return arg.meta.get(_SHAPE) if isinstance(arg, fx.Node) else None


class ShapeRecorder(fx.Interpreter):
    """Runs the graph once and stores each tensor-valued node's output shape in its meta."""

    def run_node(self, n: fx.Node) -> Any:
        result = super().run_node(n)
        if isinstance(result, torch.Tensor):
            n.meta[_SHAPE] = tuple(result.shape)
        return result


def literal_sizes(node: fx.Node) -> list[int]:
    """The sizes a view/reshape asks for: literal ints as written (-1 included), -2 for a size
    computed in the graph (e.g. ``x.size(1)``), which follows a widening by itself."""
    if node.target in ("view", "reshape"):
        args = node.args[1:]
        args = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
    elif node.target is torch.reshape:
        args = node.args[1] if len(node.args) > 1 else node.kwargs.get("shape", ())
    else:
        return []
    return [a if isinstance(a, int) else -2 for a in args]


def example_inputs(example_input: Any) -> tuple[torch.Tensor, ...]:
    """``example_input`` as a tuple of tensors (one tensor or a tuple/list of them)."""
    inputs = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    if not inputs or not all(isinstance(t, torch.Tensor) for t in inputs):
        raise ModelError(f"example_input must be a tensor or a tuple of tensors; received "
                         f"{type(example_input).__name__}. Pass a batch the model accepts, e.g. "
                         "torch.randn(1, 3, 32, 32).")
    return inputs


def _symbolic_trace(model: nn.Module) -> fx.GraphModule:
    try:
        return fx.symbolic_trace(model)
    except Exception as err:  # fx raises many types; all mean "not traceable"
        raise UnsupportedLayerError(
            f"cannot trace {type(model).__name__} with torch.fx: {type(err).__name__}: {err}. "
            "trainlab.morph needs a forward without data-dependent Python control flow (if/for "
            "on tensor values); move such code out of forward."
        ) from err


def _uncalled(model: nn.Module, graph_module: fx.GraphModule) -> list[str]:
    """Names of the modules with parameters of their own that the graph never uses (neither
    calls them, nor a module containing them, nor reads their parameters)."""
    used = {str(n.target) for n in graph_module.graph.nodes if n.op in ("call_module", "get_attr")}

    def reached(name: str) -> bool:
        parts = name.split(".")
        return any(".".join(parts[:i]) in used for i in range(1, len(parts) + 1))

    found = []
    for name, module in model.named_modules():
        own = [f"{name}.{p}" if name else p for p, _ in module.named_parameters(recurse=False)]
        if own and not reached(name or own[0]) and not any(p in used for p in own):
            found.append(name)
    return found


def _outermost(model: nn.Module, names: list[str]) -> list[str]:
    """``names`` with every group of layers that make up a whole submodule named by it (the
    layers ``aux1.conv.conv``, ``aux1.conv.bn``, ``aux1.fc1``... as ``aux1``)."""
    owners = [n for n, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))]
    inside = set(names)
    found: list[str] = []
    for name in names:
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            top = ".".join(parts[:i])
            if all(n in inside for n in owners if n == top or n.startswith(top + ".")):
                break
        found += [top] if top not in found else []
    return found


def trace(model: nn.Module) -> fx.GraphModule:
    """``model`` traced with torch.fx in eval mode (leaves share the model's modules and
    parameters); in training mode when that calls layers eval mode skips, such as GoogLeNet's and
    Inception v3's auxiliary heads, which read the same volumes and must grow with them.

    Every module's train/eval flag is restored.
    """
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        graph_module = _symbolic_trace(model)
        skipped = _uncalled(model, graph_module)
        if skipped:
            names = _outermost(model, skipped)
            model.train()
            try:
                in_training = _symbolic_trace(model)
            except UnsupportedLayerError as err:
                raise UnsupportedLayerError(
                    f"{type(model).__name__} skips layers in eval mode ({', '.join(names[:3])}) "
                    f"and cannot be traced in training mode to see what they read: {err}") from err
            if len(_uncalled(model, in_training)) < len(skipped):
                graph_module = in_training
                graph_module.meta[_TRAINING_ONLY] = names
    finally:
        for module, flag in flags:
            module.training = flag
    return graph_module


def traced_with_shapes(model: nn.Module, example_input: Any) -> fx.GraphModule:
    """``model`` traced, with every tensor node's shape on ``example_input`` in its meta.

    The example runs in eval mode without gradients, so BatchNorm statistics stay as they are;
    every module's train/eval flag is restored afterwards.
    """
    inputs = example_inputs(example_input)
    graph_module = trace(model)
    flags = [(m, m.training) for m in model.modules()]
    try:
        graph_module.eval()
        with torch.no_grad():
            ShapeRecorder(graph_module).run(*inputs)
    except Exception as err:
        shapes = [tuple(t.shape) for t in inputs]
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        extra = graph_module.meta.get(_TRAINING_ONLY)
        also = (f" (traced in training mode, so that layers eval mode skips run too: "
                f"{', '.join(extra[:3])}; they may need a larger input)" if extra else "")
        raise ModelError(f"{type(model).__name__} cannot run on example_input of shape(s) "
                         f"{shapes}{also}: {first.rstrip('.')}. Pass an input batch the model "
                         "accepts.") from err
    finally:
        for module, flag in flags:
            module.training = flag
    return graph_module
