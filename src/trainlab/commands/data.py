"""`trainlab rejig`: build a train/valid(/test) class-folder dataset from files named by class."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ..verbs import verb


def _arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("src", type=Path)
    r.add_argument("dst", type=Path)
    r.add_argument("--class", dest="classes", action="append", default=[], metavar="NAME=SUBSTRING", required=True)
    r.add_argument("--valid-fraction", type=float, default=0.1)
    r.add_argument("--test-fraction", type=float, default=0.0)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--move", action="store_true", help="delete each source after its copy is verified")
    r.add_argument("--dry-run", action="store_true", help="print the plan, write nothing")


@verb("rejig", help="sort files into DST/{train,valid}/<class>/ by name substrings", arguments=_arguments,
      description="Copy (or --move) files whose names contain a class substring into an exact stratified "
                  "train/valid(/test) split. Never overwrites.",
      examples=["trainlab rejig photos photos-split --class happy=_Ha_ --class sad=_Sa_ --valid-fraction 0.1"])
def rejig(args: argparse.Namespace) -> int:
    from ..data.rejig import apply_rejig, format_counts, plan_rejig

    classes = {}
    for item in args.classes:
        name, sep, sub = item.partition("=")
        if not sep or not name or not sub:
            raise ConfigError(f"--class {item!r} is not NAME=SUBSTRING (e.g. --class happy=_Ha_).")
        if name in classes:
            raise ConfigError(f"--class {name} is given twice ({classes[name]!r} and {sub!r}); give each class once.")
        classes[name] = sub
    plan = plan_rejig(args.src, args.dst, classes, valid_fraction=args.valid_fraction,
                      test_fraction=args.test_fraction, seed=args.seed)
    if args.dry_run:
        print(format_counts(plan))
        print("dry run: nothing written")
        return 0
    report = apply_rejig(plan, move=args.move)
    print(format_counts(report))
    return 0

