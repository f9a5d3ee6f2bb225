"""`trainlab evolve PARENT`: neuroevolution with shared weights (trainlab.evolve)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..verbs import add_set, verb


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("parent", type=Path, help="experiment folder whose params hold an 'evolve' block")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="train N members in parallel processes")
    add_set(p)


@verb("evolve", help="grow a population by function-preserving mutations and ensemble it", arguments=_arguments,
      description="Train PARENT (if not trained yet), then evolve a population of its descendants as set in the "
                  "'evolve' block of PARENT's params; rerun to resume.",
      examples=["trainlab evolve experiments/evo --workers 2   # params hold an evolve block; rerun to resume"])
def evolve_cmd(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..runs import run_log
    from .loop import evolve

    cfg = load_config(args.parent, args.overrides)
    with run_log(args.parent / "evolve.log"):
        pop = evolve(args.parent, cfg, workers=args.workers)
    res = pop.results or {}
    line = (f"ensemble of {len(res.get('ensemble_members', []))} ({res.get('combine')}): test accuracy "
            f"{res['ensemble']['accuracy']:.4f}; best member {res['best_member_id']}: {res['best_member']['accuracy']:.4f}")
    if "baseline" in res:
        line += f"; from scratch with equal FLOPs: {res['baseline']['accuracy']:.4f}"
    print(line)
    if pop.stopped:
        print(pop.stopped)
    print(f"wrote {args.parent}/population.json, evolution.md, lineage.png, metrics_evolve_test.json")
    return 0

