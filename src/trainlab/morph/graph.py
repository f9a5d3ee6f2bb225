"""Channel volumes: trace a network with torch.fx and group its channels into widenable sets.

A *volume* is a set of channels that one or more producers (conv or linear layers) write and that
flows unchanged in number through channel-wise operations (BatchNorm, activations, pooling, dropout)
until consumers (conv or linear layers) read it. Residual additions join the volumes they add;
concatenation along dim 1 lays several volumes side by side; flattening into a linear layer turns
each channel into a block of ``H*W`` features. Widening a volume means adding output channels to all
its producers, input channels to all its consumers and entries to every per-channel parameter on
the way (Painter, "Towards a More Complete Theory of Function Preserving Transforms", 2019,
the "hidden volume graph"; here derived from a torch.fx trace instead of hand-written metadata).

Every tensor in the traced graph gets a :data:`Layout`: the segments its dim 1 is made of.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
    ...                     nn.Linear(8 * 6 * 6, 10))
    >>> [(v.name, v.channels, v.widenable) for v in volumes(net, torch.randn(1, 3, 8, 8))]
    [('0', 8, True), ('4', 10, False)]
"""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from typing import Any, Literal

import torch.nn.functional as F
from torch import fx, nn

from . import ops
from .layout import Layout, Role, Segment, Volume
from .trace import literal_sizes, shape_of, traced_with_shapes


@dataclass
class _State:
    channels: int
    order: int
    unit: int = 1  # channels per group of the grouped convs it meets: new channels come in these
    producers: list[tuple[int, str]] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def _nodes_in(args: Any) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg(args, found.append)
    return found


class Analysis:
    """The volumes of one traced module, as ``widen``, ``deepen`` and ``volumes`` read them."""

    def __init__(self, graph_module: fx.GraphModule) -> None:
        self.graph_module = graph_module
        self.roles: dict[str, Role] = {}
        self.flatten_views: list[tuple[fx.Node, Layout]] = []  # views with literal sizes
        self._parent: dict[int, int] = {}
        self._states: dict[int, _State] = {}
        self._layouts: dict[fx.Node, Layout | None] = {}
        self._containers: dict[fx.Node, list[Any]] = {}  # namedtuple nodes -> their fields
        self._modules = dict(graph_module.named_modules())
        for order, node in enumerate(graph_module.graph.nodes):
            self._order = order
            self._visit(node)

    # ---- union-find over volume ids -------------------------------------------------------
    def find(self, vid: int) -> int:
        """The representative id of the volume ``vid`` was joined into."""
        while self._parent[vid] != vid:
            self._parent[vid] = self._parent[self._parent[vid]]
            vid = self._parent[vid]
        return vid

    def state(self, vid: int) -> _State:
        return self._states[self.find(vid)]

    def _union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        sa, sb = self._states[ra], self._states.pop(rb)
        assert sa.channels == sb.channels, "joined volumes must have equal widths"
        self._parent[rb] = ra
        sa.order = min(sa.order, sb.order)
        sa.unit = math.lcm(sa.unit, sb.unit)
        sa.producers += sb.producers
        sa.fixed += sb.fixed
        sa.blocked += sb.blocked

    def _new(self, channels: int, producer: str | None = None, fixed: str | None = None,
             blocked: str | None = None) -> int:
        vid = len(self._parent)
        self._parent[vid] = vid
        state = _State(channels, self._order)
        if producer is not None:
            state.producers.append((self._order, producer))
        state.fixed += [fixed] if fixed else []
        state.blocked += [blocked] if blocked else []
        self._states[vid] = state
        return vid

    def _fresh(self, node: fx.Node, **why: str) -> Layout | None:
        shape = shape_of(node)
        if shape is None or len(shape) < 2:
            return None
        return (Segment(self._new(shape[1], **why), shape[1]),)

    def _mark(self, layout: Layout | None, fixed: str = "", blocked: str = "") -> None:
        for seg in layout or ():
            state = self.state(seg.volume)
            if fixed and fixed not in state.fixed:
                state.fixed.append(fixed)
            if blocked and blocked not in state.blocked:
                state.blocked.append(blocked)

    def _join(self, layouts: list[Layout], node: fx.Node) -> Layout:
        first = layouts[0]
        for other in layouts[1:]:
            if len(other) != len(first) or any(
                (a.channels, a.block) != (b.channels, b.block) for a, b in zip(first, other)
            ):
                reason = (f"node {self._describe(node)} combines tensors whose channels come from "
                          "differently split volumes")
                for layout in layouts:
                    self._mark(layout, blocked=reason)
                return first
            for a, b in zip(first, other):
                self._union(a.volume, b.volume)
        return first

    # ---- results ---------------------------------------------------------------------------
    def names(self) -> dict[str, int]:
        """Volume name, every producer name and the name of every grouped conv reading one
        volume -> representative volume id."""
        table: dict[str, int] = {}
        for vol in self.volumes():
            for name in vol.producers:
                table[name] = self.find(self.roles[name].output)  # type: ignore[arg-type]
            for name in vol.grouped:
                if len(self.roles[name].inputs or ()) == 1:
                    table[name] = self.find(self.roles[name].inputs[0].volume)  # type: ignore[index]
        return table

    def volumes(self) -> list[Volume]:
        """Every volume written by at least one conv/linear layer, in graph order."""
        consumers: dict[int, list[str]] = {}
        norms: dict[int, list[str]] = {}
        grouped: dict[int, list[str]] = {}
        for role in self.roles.values():
            table = {"producer": consumers, "follower": norms, "grouped": grouped}[role.kind]
            for seg in role.inputs or ():
                names = table.setdefault(self.find(seg.volume), [])
                if role.name not in names:
                    names.append(role.name)
        found = []
        for root, state in self._states.items():
            if not state.producers:
                continue
            producers = tuple(name for _, name in sorted(state.producers))
            reason = (state.fixed or state.blocked or [""])[0]
            found.append((state.order, Volume(
                name=producers[0], channels=state.channels, producers=producers,
                consumers=tuple(consumers.get(root, ())), norms=tuple(norms.get(root, ())),
                widenable=not (state.fixed or state.blocked), reason=reason,
                grouped=tuple(grouped.get(root, ())), unit=state.unit,
            )))
        return [vol for _, vol in sorted(found, key=lambda item: item[0])]

    # ---- the walk --------------------------------------------------------------------------
    def _describe(self, node: fx.Node) -> str:
        if node.op == "call_module":
            return f"'{node.target}' ({type(self._modules[node.target]).__name__})"
        target = node.target if isinstance(node.target, str) else getattr(
            node.target, "__name__", str(node.target))
        return f"'{node.name}' ({target})"

    def _layout(self, arg: Any) -> Layout | None:
        return self._layouts.get(arg) if isinstance(arg, fx.Node) else None

    def _nodes_in(self, args: Any) -> list[fx.Node]:
        """The nodes in ``args``, and the nodes packed in namedtuples among them."""
        found = []
        for arg in _nodes_in(args):
            found += self._nodes_in(self._containers[arg]) if arg in self._containers else [arg]
        return found

    def _unsupported(self, node: fx.Node, why: str) -> None:
        reason = f"node {self._describe(node)} {why}"
        for arg in self._nodes_in((node.args, node.kwargs)):
            self._mark(self._layout(arg), blocked=reason)
        self._layouts[node] = self._fresh(node, blocked=reason)

    def _visit(self, node: fx.Node) -> None:
        if node.op == "placeholder":
            self._layouts[node] = self._fresh(node, fixed="it is (part of) the model input")
        elif node.op == "get_attr":
            self._layouts[node] = None  # a parameter used directly: opaque
        elif node.op == "output":
            for arg in self._nodes_in(node.args):
                self._mark(self._layout(arg), fixed="it reaches the model output")
        elif node.op == "call_module":
            self._visit_module(node)
        else:
            self._visit_call(node)

    def _visit_module(self, node: fx.Node) -> None:
        module = self._modules[node.target]
        kind, why = ops.module_kind(module)
        x = node.args[0] if node.args else None
        shape = shape_of(x)
        ndim = len(shape) if shape else 0
        if kind == "producer":
            if isinstance(module, nn.Linear) and ndim != 2:
                return self._unsupported(node, f"applies Linear to a tensor of shape {shape}; "
                                               "only (batch, features) inputs are supported")
            return self._parameterised(node, module, "producer", self._layout(x))
        if kind == "follower":
            return self._parameterised(node, module, "follower", self._layout(x))
        if kind == "grouped":
            return self._grouped(node, module, self._layout(x))
        if kind == "layernorm" and len(module.normalized_shape) >= ndim - 1:
            return self._unsupported(node, "normalises across the channel dimension (LayerNorm "
                                           f"over {tuple(module.normalized_shape)})")
        if kind == "softmax" and (module.dim is None or ops.normalize_dim(module.dim, ndim) == 1):
            return self._unsupported(node, "normalises across the channel dimension")
        if kind == "spatial" and ndim < 3:
            return self._unsupported(node, f"pools, pads or resizes a tensor of shape {shape} "
                                           "that has no spatial dimensions")
        if kind == "flatten":
            return self._reshape(node, x)
        if kind == "unsupported":
            return self._unsupported(node, why)
        self._layouts[node] = self._layout(x)

    def _grouped(self, node: fx.Node, module: nn.Module, inputs: Layout | None) -> None:
        """A grouped conv keeping its group width reads group i and writes group i: a follower
        whose volumes then grow by whole groups (Painter 2019's "new groups" for depthwise)."""
        width = module.in_channels // module.groups
        misaligned = [s for s in inputs or () if s.block != 1 or s.channels % width]
        if inputs is None or misaligned:
            return self._unsupported(node, f"is a grouped convolution (groups={module.groups}) "
                                           "whose groups do not line up with the volumes it reads")
        for seg in inputs:
            state = self.state(seg.volume)
            state.unit = math.lcm(state.unit, width)
        self._parameterised(node, module, "grouped", inputs)

    def _parameterised(self, node: fx.Node, module: nn.Module,
                       kind: Literal["producer", "follower", "grouped"],
                       inputs: Layout | None) -> None:
        name = str(node.target)
        role = self.roles.get(name)
        if role is None:
            out = None
            if kind == "producer":
                width = module.weight.shape[0]
                out = self._new(width, producer=name)
            role = self.roles[name] = Role(name, module, kind, inputs, out)
        elif role.inputs is None or inputs is None:
            if role.inputs is not inputs:
                reason = f"layer '{name}' is called on both tracked and untracked tensors"
                self._mark(role.inputs or inputs, blocked=reason)
                role.inputs = role.inputs or inputs
        else:  # a layer called twice reads (and for producers writes) the same channels
            role.inputs = self._join([role.inputs, inputs], node)
        if kind == "producer":
            width = module.weight.shape[0]
            self._layouts[node] = (Segment(role.output, width),)  # type: ignore[arg-type]
        else:
            self._layouts[node] = inputs

    def _visit_call(self, node: fx.Node) -> None:
        target, method = node.target, node.op == "call_method"
        x = node.args[0] if node.args else None
        shape = shape_of(x)
        ndim = len(shape) if shape else 0

        def one_of(functions: frozenset[object], methods: frozenset[str]) -> bool:
            return target in methods if method else target in functions

        if (method and target in ops.POINTWISE_METHODS) or (
                not method and ops.is_pointwise_function(target)):
            self._layouts[node] = self._layout(x)
        elif one_of(ops.SPATIAL_FUNCTIONS, frozenset()) or target is F.pad:
            pad = node.args[1] if len(node.args) > 1 else node.kwargs.get("pad", ())
            if ndim < 3:
                self._unsupported(node, f"pools, pads or resizes a tensor of shape {shape} that "
                                        "has no spatial dimensions")
            elif node.kwargs.get("return_indices"):
                self._unsupported(node, "returns pooling indices")
            elif target is F.pad and len(pad) > 2 * (ndim - 2):
                self._unsupported(node, "pads the channel or batch dimension")
            else:
                self._layouts[node] = self._layout(x)
        elif one_of(ops.SOFTMAX_FUNCTIONS, ops.SOFTMAX_METHODS):
            dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            if dim is None or ops.normalize_dim(int(dim), ndim) == 1:
                self._unsupported(node, "normalises across the channel dimension")
            else:
                self._layouts[node] = self._layout(x)
        elif one_of(ops.BINARY_FUNCTIONS, ops.BINARY_METHODS):
            self._binary(node)
        elif one_of(ops.CAT_FUNCTIONS, frozenset()):
            self._cat(node)
        elif one_of(ops.RESHAPE_FUNCTIONS, ops.RESHAPE_METHODS):
            self._reshape(node, x)
        elif one_of(ops.REDUCE_FUNCTIONS, ops.REDUCE_METHODS):
            self._reduce(node, x, shape)
        elif one_of(ops.PERMUTE_FUNCTIONS, ops.PERMUTE_METHODS):
            self._permute(node, x, shape)
        elif one_of(ops.NORM_FUNCTIONS, frozenset()):
            normalized = node.args[1] if len(node.args) > 1 else node.kwargs.get(
                "normalized_shape", node.kwargs.get("num_groups"))
            if target is F.group_norm:
                self._unsupported(node, "normalises across groups of channels (GroupNorm)")
            elif not isinstance(normalized, (tuple, list)) or len(normalized) >= ndim - 1:
                self._unsupported(node, f"normalises across the channel dimension (layer_norm over "
                                        f"{tuple(normalized)})")
            else:
                self._layouts[node] = self._layout(x)
        elif isinstance(x, fx.Node) and x in self._containers and target in (operator.getitem,
                                                                             getattr):
            self._field(node, x)
        elif isinstance(target, type) and issubclass(target, tuple) and hasattr(target, "_fields"):
            fields = dict(zip(target._fields, node.args)) | dict(node.kwargs)
            self._containers[node] = [fields.get(name) for name in target._fields]
            self._layouts[node] = None  # e.g. GoogLeNetOutputs(logits, aux2, aux1)
        elif (method and target in ops.META_METHODS) or target is getattr:
            self._layouts[node] = None
        elif target is operator.getitem and shape is None:
            self._layouts[node] = self._fresh(node, blocked=f"node {self._describe(node)} picks a "
                                                            "tensor out of an unsupported result")
        elif target is operator.getitem:
            self._unsupported(node, "indexes or slices a tensor")
        else:
            self._unsupported(node, "is an operation trainlab.morph does not know")

    def _field(self, node: fx.Node, container: fx.Node) -> None:
        """A field of a namedtuple built in the graph, by index or name: the packed value."""
        key = node.args[1] if len(node.args) > 1 else None
        names = getattr(container.target, "_fields", ())
        index = names.index(key) if isinstance(key, str) and key in names else key
        if not isinstance(index, int):
            return self._unsupported(node, "picks an unknown field out of a named tuple")
        value = self._containers[container][index]
        self._layouts[node] = self._layout(value)
        if isinstance(value, fx.Node) and value in self._containers:
            self._containers[node] = self._containers[value]

    def _binary(self, node: fx.Node) -> None:
        operands = [node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("other")]
        tensors = [a for a in operands if shape_of(a) is not None]
        if len(tensors) < 2:  # tensor op scalar: channel-wise
            self._layouts[node] = self._layout(tensors[0]) if tensors else None
            return
        (a, b), (sa, sb) = tensors, (shape_of(tensors[0]), shape_of(tensors[1]))
        la, lb = self._layout(a), self._layout(b)
        if la is None or lb is None or len(sa) != len(sb):  # type: ignore[arg-type]
            return self._unsupported(node, "combines a channel tensor with a parameter or a "
                                           "tensor of another rank")
        if sa[1] == sb[1]:  # type: ignore[index]
            self._layouts[node] = self._join([la, lb], node)
        elif 1 in (sa[1], sb[1]):  # type: ignore[index]
            single, other = (la, lb) if sa[1] == 1 else (lb, la)  # type: ignore[index]
            self._mark(single, blocked=f"node {self._describe(node)} broadcasts it over the "
                                       "channels of another tensor")
            self._layouts[node] = other
        else:
            self._unsupported(node, "combines tensors with different channel counts")

    def _cat(self, node: fx.Node) -> None:
        tensors = node.args[0] if node.args else node.kwargs.get("tensors", ())
        dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        layouts = [self._layout(t) for t in tensors]
        if not layouts or any(layout is None for layout in layouts):
            return self._unsupported(node, "concatenates untracked tensors")
        if ops.normalize_dim(int(dim), len(shape_of(tensors[0]))) == 1:  # type: ignore[arg-type]
            self._layouts[node] = tuple(s for layout in layouts for s in layout or ())
        else:
            self._layouts[node] = self._join(layouts, node)  # type: ignore[arg-type]

    def _reshape(self, node: fx.Node, x: Any) -> None:
        ins, outs, layout = shape_of(x), shape_of(node), self._layout(x)
        if ins is None or outs is None or layout is None:
            self._layouts[node] = None
            return
        sizes = literal_sizes(node)
        if len(outs) == 2 and len(ins) >= 2 and outs[0] == ins[0] and outs[1] == math.prod(ins[1:]):
            factor = math.prod(ins[2:])
            self._layouts[node] = tuple(Segment(s.volume, s.channels, s.block * factor)
                                        for s in layout)
            if any(size >= 0 for size in sizes):  # e.g. x.view(-1, 400): rewritten on widening
                self.flatten_views.append((node, self._layouts[node]))  # type: ignore[arg-type]
        elif len(outs) >= 2 and len(ins) >= 2 and outs[:2] == ins[:2]:
            if len(sizes) > 1 and sizes[1] >= 0:
                return self._unsupported(node, "reshapes with a hard-coded channel count; use "
                                               "x.size(1) or torch.flatten instead")
            self._layouts[node] = layout
        elif len(outs) == len(ins) + 1 and outs[0] == ins[0] and outs[1] * outs[2] == ins[1]:
            self._unsupported(node, f"splits the channels into {outs[1]} groups ({ins} -> {outs}, "
                                    "as a channel shuffle does): widened, the old channels would "
                                    "move between groups")
        else:
            self._unsupported(node, f"reshapes the channel dimension ({ins} -> {outs}); with a "
                                    "batch of 1 use torch.flatten(x, 1) or a batch of 2 or more")

    def _permute(self, node: fx.Node, x: Any, ins: tuple[int, ...] | None) -> None:
        """Reordering spatial dimensions keeps channels apart; moving dim 0 or 1 does not."""
        outs = shape_of(node)
        if ins is None or outs is None:
            return self._unsupported(node, "reorders the dimensions of an untracked tensor")
        order = ops.reordered_dims(node.target, ins, node.args[1:], node.kwargs)
        if order is None:
            return self._unsupported(node, "reorders dimensions given by graph values")
        if order[:2] == (0, 1):  # batch and channels stay in place
            self._layouts[node] = self._layout(x)
        else:
            self._unsupported(node, f"moves the channel dimension ({ins} -> {outs}); widening "
                                    "follows channels in dimension 1 only, so use a 1x1 conv "
                                    "instead of a Linear layer on channels-last tensors")

    def _reduce(self, node: fx.Node, x: Any, ins: tuple[int, ...] | None) -> None:
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        outs = shape_of(node)
        if ins is None or outs is None or dims is None:
            return self._unsupported(node, "reduces over every dimension, channels included")
        dims = [dims] if isinstance(dims, int) else list(dims)
        reduced = [ops.normalize_dim(d, len(ins)) for d in dims]
        if 1 in reduced or len(outs) < 2 or outs[:2] != ins[:2]:
            return self._unsupported(node, "reduces over the channel or batch dimension")
        self._layouts[node] = self._layout(x)


def analyze(model: nn.Module, example_input: Any) -> Analysis:
    """Trace ``model``, record tensor shapes on ``example_input`` (eval mode, no grad) and find
    its volumes. ``model``'s parameters, buffers and train/eval flags are left as they were."""
    return Analysis(traced_with_shapes(model, example_input))


def volumes(model: nn.Module, example_input: Any) -> list[Volume]:
    """The channel volumes of ``model``, in graph order, with their producers and consumers.

    Each :class:`Volume` says whether :func:`trainlab.morph.widen` may change it and, if not,
    why (it reaches the model output or input, or an unsupported node touches it). The model is
    not modified.

    Args:
        model: any torch.fx-traceable module.
        example_input: a tensor (or tuple of tensors) the model accepts; only shapes matter.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
        >>> [(v.name, v.consumers, v.widenable) for v in volumes(net, torch.randn(2, 4))]
        [('0', ('2',), True), ('2', (), False)]
    """
    return analyze(model, example_input).volumes()
