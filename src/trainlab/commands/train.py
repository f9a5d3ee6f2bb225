"""`trainlab train` and `trainlab evaluate`."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ..errors import ConfigError
from ..threads import usable_cores
from ..verbs import add_set, format_metrics, verb


def _train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("exp", type=Path, help="experiment folder with params.json or params.yaml")
    add_set(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="continue from EXP/checkpoints/last.pt (a new run when there is none yet)")
    mode.add_argument("--restart", action="store_true",
                      help="start over; the previous run's files are moved to EXP/archive/<time>/")
    p.add_argument("--force", action="store_true", help="with --resume: accept params that changed")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N processes (DistributedDataParallel via torchrun; gloo on CPU, nccl on CUDA)")
    p.add_argument("--overfit-batches", type=int, default=0, metavar="N",
                   help="train and validate on the same N batches without augmentation; fails unless the model "
                        "reaches 99%% accuracy there (a debugging aid)")


def _evaluate_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("exp", type=Path)
    e.add_argument("--checkpoint", default="best", help="best | last | PATH (default: best)")
    e.add_argument("--split", default="test", choices=["test", "valid", "train"])
    e.add_argument("--weights", default=None, metavar="raw|ema",
                   help="the checkpoint's weights to evaluate: raw (as trained) or ema (their moving average, "
                        "train.ema); default: those the run validated with")
    e.add_argument("--tta", default=None, choices=["none", "flip", "flip+shift"],
                   help="test-time augmentation: average over mirrored (and shifted) views (default: the run's "
                        "data.tta)")
    add_set(e)


def launch_torchrun(args: argparse.Namespace, argv: list[str]) -> int:
    """Re-run this command under torchrun with --nproc processes on this machine."""
    if args.nproc < 1:
        raise ConfigError(f"--nproc must be >= 1, got {args.nproc}.")
    rest, skip = [], False
    for a in argv:  # drop --nproc N / --nproc=N, keep everything else
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
           "-m", "trainlab", *rest]
    # each rank starts from its share of the cores (torchrun would set OMP_NUM_THREADS=1 where it is unset)
    threads = os.environ.get("OMP_NUM_THREADS", str(max(1, usable_cores() // args.nproc)))
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    return subprocess.call(cmd, env=env)


@verb("train", help="train the experiment in EXP", description="Train EXP/params.json.", arguments=_train_arguments,
      examples=["trainlab train experiments/digits-cnn --restart --set train.epochs=5",
                "trainlab train experiments/digits-cnn --resume"])
def train(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..runs import run_experiment

    if args.nproc != 1 and "WORLD_SIZE" not in os.environ:
        return launch_torchrun(args, sys.argv[1:])
    cfg = load_config(args.exp, args.overrides)
    existing = "resume" if args.resume else "restart" if args.restart else "refuse"
    outcome = run_experiment(args.exp, cfg, existing=existing, force=args.force,
                             overfit_batches=args.overfit_batches)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    learner = outcome.learner
    if outcome.interrupted:
        print(f"trainlab: {learner.stop_reason}; continue with: trainlab train {args.exp} --resume", file=sys.stderr)
        return 128 + outcome.signal
    if len(learner.history):
        monitor = cfg.train.monitor
        best = learner.history.best(monitor, cfg.train.mode)
        accuracy = f" (valid accuracy {best['valid.accuracy']:.4f})" if "valid.accuracy" in best else ""
        print(f"done: {learner.loop.epoch} epochs; best {monitor} {best[monitor]:.4f} at epoch {best['epoch']}"
              f"{accuracy}; files in {args.exp}")
    return 0


@verb("evaluate", help="evaluate a checkpoint on a split", arguments=_evaluate_arguments,
      description="Evaluate EXP's checkpoint; writes EXP/metrics_<split>.json.",
      examples=["trainlab evaluate experiments/digits-cnn --checkpoint best --split test",
                "trainlab evaluate experiments/fashion-mnist-recipe --tta flip --weights raw"])
def evaluate(args: argparse.Namespace) -> int:
    from ..runs import checkpoint_path, evaluate_checkpoint  # also writes predictions_<split>.npz

    tta = [f"data.tta={args.tta}"] if args.tta else []
    result = evaluate_checkpoint(checkpoint_path(args.exp, args.checkpoint), args.exp, split=args.split,
                                 overrides=[*args.overrides, *tta], weights=args.weights)
    print(format_metrics(args.split, result.metrics, result.class_names))
    if result.notes.get("weights", "raw") != "raw" or "tta" in result.notes:
        print("evaluated with " + ", ".join(f"{k} {v}" for k, v in result.notes.items()))
    print(f"wrote {result.metrics_path} and " + ", ".join(p.name for p in [result.predictions_path, *result.figures]))
    return 0

