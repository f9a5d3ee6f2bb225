"""Architecture diagrams: the graph of a model's forward pass, with every tensor's shape, as SVG and PNG.

Traced by torchview (it records the modules and tensor operations of one forward pass, so residual
additions, concatenations and functional calls appear, not only ``nn.Sequential`` order) and laid out by
Graphviz's ``dot``. Needs the ``diagram`` extra (``pip install 'trainlab[diagram]'``) and the ``dot``
program (Debian: ``apt-get install graphviz``).
"""
from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import TrainlabError
from ..files import atomic_write_bytes


def _tools():
    try:
        from torchview import draw_graph
    except ImportError:
        raise TrainlabError("the diagram needs torchview and graphviz: pip install 'trainlab[diagram]'.") from None
    if shutil.which("dot") is None:
        raise TrainlabError("the diagram needs Graphviz's `dot` program: apt-get install graphviz (or your "
                            "system's graphviz package).")
    return draw_graph


def _name_modules(graph, model: nn.Module) -> None:
    """Label every module box and nested-block frame with its qualified name and type ("block1: Sequential",
    "stem.0: Conv2d"), the names ``--layer`` and ``trainlab summary`` use, instead of torchview's bare class
    name (a model of five Sequentials showed five "Sequential" boxes).

    torchview names a node by its class when it records it and writes the Graphviz source in the same call;
    its node ids start with ``id(module)``, so the boxes and frames of the source are renamed from those."""
    names = {str(id(m)): n for n, m in model.named_modules() if n}

    def module_of(node_id: str) -> str | None:
        return names.get(str(node_id).split("-")[0])

    boxes = {str(v): module_of(k) for k, v in graph.id_dict.items() if module_of(k)}
    frames = {f"cluster_{v}": module_of(k) for k, v in graph.subgraph_dict.items() if module_of(k)}
    body, frame = graph.visual_graph.body, None
    for i, line in enumerate(body):
        opened = re.match(r"\s*subgraph (cluster_\d+) \{", line)
        if opened:
            frame = frames.get(opened.group(1))
            continue
        box = re.match(r"\s*(\d+) \[label=<", line)
        if box and box.group(1) in boxes:
            body[i] = re.sub(r">([^<>]+)<BR/>depth:", lambda m: f">{boxes[box.group(1)]}: {m.group(1)}<BR/>depth:",
                             line, count=1)
        elif frame and re.search(r"\blabel=\w+", line):
            body[i] = re.sub(r"\blabel=(\w+)", lambda m: f'label="{frame}: {m.group(1)}"', line, count=1)
            frame = None


def model_diagram(model: nn.Module, input_shape: Sequence[int], out: Path, *, depth: int = 2,
                  formats: Sequence[str] = ("svg", "png"), name: str = "model") -> list[Path]:
    """Write the graph of ``model(torch.zeros(input_shape))`` to ``out`` with each suffix in ``formats``.

    ``depth`` is how far nested modules are opened (1: the model's children as boxes; 2: their insides, each
    child a dashed frame; 3: one level further, ...). Each box names a module by its qualified name and type
    (``block1.0: Sequential``, ``stem.0: Conv2d``) or a tensor operation, with its input and output shapes. The model runs once, in eval
    mode, without gradients, on its own device; its train/eval flags are restored.

    Example:
        >>> net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
        >>> [p.suffix for p in model_diagram(net, (1, 1, 8, 8), tmp_path / "net")]  # doctest: +SKIP
        ['.svg', '.png']
    """
    draw_graph = _tools()
    out = Path(out)
    flags = {m: m.training for m in model.modules()}
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    try:
        model.eval()
        with torch.no_grad():
            graph = draw_graph(model, input_data=torch.zeros(tuple(input_shape), device=device), depth=depth,
                               expand_nested=True, graph_name=name, device=device, roll=True)
    except Exception as e:  # torchview raises what the forward pass raised, wrapped in its own error types
        raise TrainlabError(f"could not trace the model for a diagram ({type(e).__name__}: {e}).") from None
    finally:
        for m, flag in flags.items():
            m.training = flag
    _name_modules(graph, model)
    paths = []
    for fmt in formats:
        path = out.with_suffix(f".{fmt}")
        atomic_write_bytes(path, graph.visual_graph.pipe(format=fmt))
        paths.append(path)
    return paths
