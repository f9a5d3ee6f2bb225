"""`trainlab train` and `trainlab evaluate`."""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..config import config_to_dict, diff_configs, load_config
from ..engine import Learner
from ..engine.signals import GracefulStop
from ..engine.checkpoint import load_checkpoint
from ..engine.distributed import shutdown_distributed
from ..errors import ConfigError
from .common import add_set, format_metrics, log_to_file, write_resolved

log = logging.getLogger("trainlab")
RUN_OUTPUTS = ("checkpoints", "tensorboard", "history.json", "history.csv", "metrics_val_best.json",
               "metrics_val_last.json", "metrics_test.json", "metrics_valid.json", "training_history.png",
               "train.log", "params.resolved.json", "predictions_test.npz", "predictions_valid.npz",
               "focus_history.png")


def register(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser("train", help="train the experiment in EXP", description="Train EXP/params.json.")
    p.add_argument("exp", type=Path, help="experiment folder with params.json or params.yaml")
    add_set(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue from EXP/checkpoints/last.pt")
    mode.add_argument("--restart", action="store_true",
                      help="start over; the previous run's files are moved to EXP/archive/<time>/")
    p.add_argument("--force", action="store_true", help="with --resume: accept params that changed")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="train with N processes (DistributedDataParallel via torchrun; gloo on CPU, nccl on CUDA)")
    p.add_argument("--overfit-batches", type=int, default=0, metavar="N",
                   help="train and validate on the same N batches (a debugging aid: expect ~100%% accuracy)")
    p.set_defaults(func=train)

    e = verbs.add_parser("evaluate", help="evaluate a checkpoint on a split",
                         description="Evaluate EXP's checkpoint; writes EXP/metrics_<split>.json.")
    e.add_argument("exp", type=Path)
    e.add_argument("--checkpoint", default="best", help="best | last | PATH (default: best)")
    e.add_argument("--split", default="test", choices=["test", "valid", "train"])
    add_set(e)
    e.set_defaults(func=evaluate)


def archive_previous_run(exp: Path) -> Path | None:
    """Move a previous run's outputs into EXP/archive/<time>/ (never deletes)."""
    present = [exp / name for name in RUN_OUTPUTS if (exp / name).exists()]
    if not present:
        return None
    dest = exp / "archive" / time.strftime("%Y%m%d-%H%M%S")
    dest.mkdir(parents=True, exist_ok=False)
    for path in present:
        shutil.move(str(path), dest / path.name)
    return dest


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
    return subprocess.call(cmd)


def train(args: argparse.Namespace) -> int:
    if args.nproc != 1 and "WORLD_SIZE" not in os.environ:
        return launch_torchrun(args, sys.argv[1:])
    exp: Path = args.exp
    cfg = load_config(exp, args.overrides)
    main_process = int(os.environ.get("RANK", "0")) == 0
    last = exp / "checkpoints" / "last.pt"
    state = None
    if args.resume:
        state = load_checkpoint(last)
        changed = diff_configs(state["config"], config_to_dict(cfg))
        if changed and not args.force:
            raise ConfigError(f"params changed since {last}: {', '.join(changed)}. Restore them, or pass --force "
                              "to resume with the new values.")
    elif main_process and (last.exists() or (exp / "history.json").exists()):
        if not args.restart:
            raise ConfigError(f"{exp} already holds a run; pass --resume to continue it or --restart to start over "
                              "(the old files are moved to EXP/archive/).")
        moved = archive_previous_run(exp)
        log.info("previous run moved to %s", moved)
    if not main_process:  # other ranks write nothing
        return _train(args, cfg, state, main_process=False)
    with log_to_file(exp / "train.log"):
        return _train(args, cfg, state)


def _train(args: argparse.Namespace, cfg, state: dict | None, main_process: bool = True) -> int:
    exp: Path = args.exp
    stopper = GracefulStop()
    learner = Learner.from_config(cfg, exp, overfit_batches=args.overfit_batches, callbacks=[stopper])
    if main_process:
        write_resolved(exp, cfg, augmentation=learner.data.augmentation,
                       extra={"resumed": bool(args.resume), "overfit_batches": args.overfit_batches,
                              "world_size": int(os.environ.get("WORLD_SIZE", "1"))})
    if state is not None:
        learner.load_state_dict(state)
        log.info("resuming %s at epoch %d, batch %d", exp, learner.epoch, learner.batch_idx)
    n_params = sum(p.numel() for p in learner.model.parameters())
    log.info("training %s: %s (%s params) on %s, %d train / %d valid samples, device %s", exp, cfg.model.name,
             f"{n_params:,}", cfg.data.name, learner.data.train.num_samples, learner.data.valid.num_samples,
             learner.device)
    finished = False
    try:
        learner.fit(cfg.train.epochs)
        finished = True
    finally:
        shutdown_distributed(wait=finished)
    if not main_process:
        return 0
    if stopper.received is not None:
        print(f"{learner.stop_reason}: trainlab train {exp} --resume", file=sys.stderr)
        return 128 + stopper.received
    if len(learner.history):
        best = learner.history.best(cfg.train.monitor, cfg.train.mode)
        print(f"done: {learner.epoch} epochs; best {cfg.train.monitor} {best[cfg.train.monitor]:.4f} at epoch "
              f"{best['epoch']} (valid accuracy {best.get('valid.accuracy', float('nan')):.4f}); files in {exp}")
    return 0


def checkpoint_path(exp: Path, which: str) -> Path:
    if which in ("best", "last"):
        return exp / "checkpoints" / f"{which}.pt"
    return Path(which)


def evaluate(args: argparse.Namespace) -> int:
    from ..experiments.evaluation import evaluate_checkpoint  # also writes predictions_<split>.npz

    exp: Path = args.exp
    result = evaluate_checkpoint(checkpoint_path(exp, args.checkpoint), exp, split=args.split,
                                 overrides=args.overrides)
    print(format_metrics(args.split, result.metrics, result.class_names))
    print(f"wrote {result.metrics_path} and {result.predictions_path.name}")
    return 0
