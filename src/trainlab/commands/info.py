"""`trainlab summary` and `trainlab models`."""
from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_set


def register(verbs: argparse._SubParsersAction) -> None:
    s = verbs.add_parser("summary", help="print EXP's model as a layer table (--diagram: also draw its graph)")
    s.add_argument("exp", type=Path)
    s.add_argument("--diagram", action="store_true",
                   help="also write the model's graph with shapes as SVG and PNG (needs trainlab[diagram] and graphviz)")
    s.add_argument("--depth", type=int, default=2, help="--diagram: how deep nested modules are opened (default 2)")
    s.add_argument("--out", type=Path, help="--diagram: file stem (default EXP/model, giving model.svg and model.png)")
    add_set(s)
    s.set_defaults(func=summary)
    m = verbs.add_parser("models", help="list the registered model names")
    m.set_defaults(func=models)
    p = verbs.add_parser("params", help="every key a params file can hold, with type, default and meaning",
                         description="Prints the params reference in Markdown (docs/params.md is this output).")
    p.set_defaults(func=params)
    f = verbs.add_parser("flops", help="count FLOPs and parameters, per layer, forward and backward",
                         description="FLOPs = floating-point operations (a multiply-add is 2 FLOPs = 1 MAC), "
                                     "counted on the meta device; backward is measured, not assumed.")
    f.add_argument("exp", type=Path, nargs="?", help="an experiment folder (its model and input shape)")
    f.add_argument("--arch", help="a registered model name instead of EXP")
    f.add_argument("--input-shape", help="with --arch: N,C,H,W, e.g. 1,3,224,224")
    f.add_argument("--num-classes", type=int, default=1000, help="with --arch (default 1000)")
    f.add_argument("--backward", action="store_true", help="also count the backward pass")
    f.add_argument("--by-module", action="store_true", help="one row per module")
    f.add_argument("--json", action="store_true", help="print JSON")
    add_set(f)
    f.set_defaults(func=flops)


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


def flops(args: argparse.Namespace) -> int:
    import torch

    from ..errors import ConfigError
    from ..models import build_model
    from ..profile import count

    if (args.exp is None) == (args.arch is None):
        raise ConfigError("give either an experiment folder or --arch NAME --input-shape N,C,H,W.")
    if args.arch:
        try:
            shape = tuple(int(v) for v in (args.input_shape or "").split(","))
        except ValueError:
            shape = ()
        if len(shape) < 3:
            raise ConfigError(f"--input-shape {args.input_shape!r}: expected N,C,H,W such as 1,3,224,224.")
        model = build_model(args.arch, num_classes=args.num_classes, in_channels=shape[1],
                            input_size=tuple(shape[2:4]))
    else:
        from ..runs import model_for_folder

        _, data, model = model_for_folder(args.exp, [*args.overrides, "model.pretrained=null"])
        shape = (1, *data.input_shape)
    profile = count(model, torch.zeros(shape), backward=args.backward)
    print(profile.to_json() if args.json else profile.table(by_module=args.by_module))
    return 0


def params(args: argparse.Namespace) -> int:
    from ..config import params_reference

    print(params_reference())
    return 0


def models(args: argparse.Namespace) -> int:
    from ..models import list_models

    names = list_models()
    print("\n".join(names))
    return 0


# `trainlab VERB --help` ends with these
EXAMPLES = {
    "summary": ["trainlab summary experiments/digits-cnn"],
    "models": ["trainlab models"],
    "params": ["trainlab params > docs/params.md"],
    "flops": ["trainlab flops experiments/digits-cnn --backward --by-module", "trainlab flops --arch resnet50 --input-shape 1,3,224,224"],
}
