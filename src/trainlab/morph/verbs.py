"""`trainlab morph`: a new experiment whose model is EXP's trained model, widened or deepened without
changing what it computes (function-preserving transforms, trainlab.morph)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ..verbs import verb


def _arguments(m: argparse.ArgumentParser) -> None:
    m.add_argument("exp", type=Path)
    what = m.add_mutually_exclusive_group(required=True)
    what.add_argument("--widen", type=float, metavar="FACTOR", help="multiply the width of volumes (e.g. 1.5)")
    what.add_argument("--widen-extra", type=int, metavar="N", help="add N channels to volumes")
    what.add_argument("--deepen", nargs="+", metavar="STAGE", help="insert identity blocks after these stages/layers")
    what.add_argument("--list", action="store_true", help="list the model's channel volumes and exit")
    m.add_argument("--where", nargs="+", metavar="VOLUME", help="widen only these volumes (default: all widenable)")
    m.add_argument("--method", default="r2r", choices=["r2r", "net2net", "netmorph", "random"])
    m.add_argument("--init", default="match_std", help="match_std | he | a std multiplier")
    m.add_argument("--noise", type=float, default=0.0)
    m.add_argument("--kernel-size", type=int, default=3, help="--deepen: kernel of the new convolutions (odd; 1 is "
                                                             "cheap where channels are many)")
    m.add_argument("--lr-rule", default="param_ratio", choices=["param_ratio", "keep"],
                   help="param_ratio: lr × old/new parameter count (the R2R authors' rule)")
    m.add_argument("--checkpoint", default="best", help="best | last | PATH")
    m.add_argument("--out", type=Path, help="the new experiment folder (must not hold a params file)")


def _init_value(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


@verb("morph", help="widen or deepen a trained model into a new experiment", arguments=_arguments,
      description="Start NEW from EXP's checkpoint, transformed so that it computes the same function; then "
                  "`trainlab train NEW`.",
      examples=["trainlab morph experiments/digits-cnn --widen 1.5 --method r2r --out experiments/digits-wide"])
def morph_cmd(args: argparse.Namespace) -> int:
    from ..config import parse_config, validate_section
    from ..runs import checkpoint_path, folder_lock, learner_for_checkpoint
    from .config import MorphStep
    from .experiment import write_transformed_experiment
    from .graph import volumes

    if not args.list:  # check the request before loading anything
        if args.out is None:
            raise ConfigError("--out NEW_EXP is required (the folder for the transformed experiment).")
        if any((args.out / n).exists() for n in ("params.json", "params.yaml")):
            raise ConfigError(f"{args.out} already holds a params file; choose a new --out folder.")
        if args.deepen:
            fields = dict(op="deepen", where=args.deepen, method=args.method, init=_init_value(args.init),
                          kernel_size=args.kernel_size)
        else:
            fields = dict(op="widen", factor=args.widen, extra=args.widen_extra, where=args.where,
                          method=args.method, init=_init_value(args.init), noise=args.noise)
        step = validate_section(MorphStep, fields, source="trainlab morph")
    path = checkpoint_path(args.exp, args.checkpoint)
    learner, state = learner_for_checkpoint(path)
    cfg = parse_config(state["config"], ["model.pretrained=null"], source=str(path))
    old = learner.model.eval()
    x = next(learner.data.valid.batches(0))[0][:16]
    if args.list:
        for v in volumes(old, x):
            status = "widenable" if v.widenable else f"not widenable: {v.reason}"
            print(f"{v.name:28s} {v.channels:5d} channels  producers {', '.join(v.producers)}  ({status})")
        return 0
    before = learner.evaluate("valid")
    with folder_lock(args.out):  # no other process may be writing a run there meanwhile
        if any((args.out / n).exists() for n in ("params.json", "params.yaml")):
            raise ConfigError(f"{args.out} already holds a params file; choose a new --out folder.")
        birth = write_transformed_experiment(cfg, old, [step], args.out, input_shape=learner.data.input_shape,
                                             check_input=x, lr_rule=args.lr_rule, source=str(path))
    new, delta, n_old, n_new = birth.model, birth.delta, birth.n_old, birth.n_new
    learner.set_model(new)
    after = learner.evaluate("valid")
    print(f"{step.op} ({step.method}): parameters {n_old:,} -> {n_new:,}; max |Δ output| {delta:.2e} on a "
          f"validation batch; valid accuracy {before['accuracy']:.4f} -> {after['accuracy']:.4f}, "
          f"loss {before['loss']:.4f} -> {after['loss']:.4f}")
    print(f"wrote {args.out}/params.json and init.pt; next: trainlab train {args.out}")
    return 0

