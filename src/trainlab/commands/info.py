"""`trainlab summary`, `trainlab models` and `trainlab params`."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..verbs import add_set, verb


def _summary_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("exp", type=Path)
    s.add_argument("--diagram", action="store_true",
                   help="also write the model's graph with shapes as SVG and PNG (needs trainlab[diagram] and graphviz)")
    s.add_argument("--depth", type=int, default=2, help="--diagram: how deep nested modules are opened (default 2)")
    s.add_argument("--out", type=Path, help="--diagram: file stem (default EXP/model, giving model.svg and model.png)")
    add_set(s)


@verb("summary", help="print EXP's model as a layer table (--diagram: also draw its graph)",
      arguments=_summary_arguments, examples=["trainlab summary experiments/digits-cnn"])
def summary(args: argparse.Namespace) -> int:
    from ..models import format_summary
    from ..models import summary as layer_table
    from ..runs import model_for_folder

    _, data, model = model_for_folder(args.exp, args.overrides)
    print(format_summary(layer_table(model, (1, *data.input_shape))))
    if args.diagram:
        from ..inspect.diagram import model_diagram

        for path in model_diagram(model, (1, *data.input_shape), args.out or args.exp / "model", depth=args.depth,
                                  name=args.exp.name):
            print(f"wrote {path}")
    return 0


@verb("models", help="list the registered model names", examples=["trainlab models"])
def models(args: argparse.Namespace) -> int:
    from ..models import list_models

    names = list_models()
    print("\n".join(names))
    return 0


@verb("params", help="every key a params file can hold, with type, default and meaning",
      description="Prints the params reference in Markdown (docs/params.md is this output).",
      examples=["trainlab params > docs/params.md"])
def params(args: argparse.Namespace) -> int:
    from ..config import params_reference

    print(params_reference())
    return 0
