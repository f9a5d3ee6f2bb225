"""`trainlab flops`: FLOPs and parameters of EXP's model (or a registered architecture), per layer."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..verbs import add_set, verb


def _arguments(f: argparse.ArgumentParser) -> None:
    f.add_argument("exp", type=Path, nargs="?", help="an experiment folder (its model and input shape)")
    f.add_argument("--arch", help="a registered model name instead of EXP")
    f.add_argument("--input-shape", help="with --arch: N,C,H,W, e.g. 1,3,224,224")
    f.add_argument("--num-classes", type=int, default=1000, help="with --arch (default 1000)")
    f.add_argument("--backward", action="store_true", help="also count the backward pass")
    f.add_argument("--by-module", action="store_true", help="one row per module")
    f.add_argument("--json", action="store_true", help="print JSON")
    add_set(f)


@verb("flops", help="count FLOPs and parameters, per layer, forward and backward", arguments=_arguments,
      description="FLOPs = floating-point operations (a multiply-add is 2 FLOPs = 1 MAC), counted on the meta "
                  "device; backward is measured, not assumed.",
      examples=["trainlab flops experiments/digits-cnn --backward --by-module",
                "trainlab flops --arch resnet50 --input-shape 1,3,224,224"])
def flops(args: argparse.Namespace) -> int:
    import torch

    from ..errors import ConfigError
    from ..models import build_model
    from .counter import count

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
