"""Test accuracy against training wall time for the Fashion-MNIST example recipe.

Trains ``experiments/fashion-mnist-cnn`` (or another folder) with its own params, evaluates the test split
after every epoch (that evaluation is not counted as training time) and prints one row per epoch, then
the time the recipe needed to reach the target against the time budget (ratio < 1 beats the budget).

    TRAINLAB_DATA=../shared/data python benchmarks/fashion_mnist.py [--exp DIR] [--set key=value ...]
        [--target 0.92] [--budget 90]
"""
from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import torch

from trainlab.config import load_config
from trainlab.engine import Callback
from trainlab.engine.factory import learner_from_config


class TestEveryEpoch(Callback):
    """Evaluates the test split after each epoch and keeps the wall time spent training apart."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float, float]] = []
        self.eval_time = 0.0
        self.start = 0.0

    def on_fit_start(self, learner) -> None:
        self.start = time.perf_counter()

    def on_epoch_recorded(self, learner) -> None:
        t0 = time.perf_counter()
        train_time = t0 - self.start - self.eval_time  # earlier test evaluations do not count
        test = learner.evaluate("test")
        self.eval_time += time.perf_counter() - t0
        self.rows.append((learner.loop.epoch, train_time, test["accuracy"], learner.logs.get("data_time", 0.0)))


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--exp", type=Path, default=here / "experiments" / "fashion-mnist-cnn")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--target", type=float, default=0.92)
    p.add_argument("--budget", type=float, default=90.0, help="seconds of training allowed to reach the target")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not os.environ.get("TRAINLAB_DATA") and not any(o.startswith("data.root=") for o in args.overrides):
        raise SystemExit("set TRAINLAB_DATA (e.g. ../shared/data) or --set data.root=PATH")
    cfg = load_config(args.exp, [*args.overrides, "logging.tensorboard=false", "logging.plot=false",
                                 "logging.progress=none", "train.count_flops=false"])
    tester = TestEveryEpoch()
    with tempfile.TemporaryDirectory() as tmp:
        learner = learner_from_config(cfg, Path(tmp), callbacks=[tester])
        learner.fit(cfg.train.epochs)
    print(f"{args.exp.name}: {cfg.model.name} {cfg.model.args}, batch {cfg.data.batch_size}, "
          f"augment {cfg.data.augment}, precision {cfg.train.precision}, threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}")
    print("epoch  train s  (data s)  test acc")
    reached = None
    for epoch, seconds, acc, data_s in tester.rows:
        print(f"{epoch:5d}  {seconds:7.1f}  ({data_s:6.1f})  {acc:.4f}")
        if reached is None and acc >= args.target:
            reached = seconds
    per_epoch = tester.rows[-1][1] / len(tester.rows)
    if reached is None:
        print(f"target {args.target:.2%} not reached; final {tester.rows[-1][2]:.4f} after {tester.rows[-1][1]:.1f} s "
              f"({per_epoch:.1f} s/epoch)")
    else:
        print(f"reached {args.target:.2%} after {reached:.1f} s of training; ratio to the {args.budget:.0f} s budget "
              f"{reached / args.budget:.2f} ({per_epoch:.1f} s/epoch)")


if __name__ == "__main__":
    main()
