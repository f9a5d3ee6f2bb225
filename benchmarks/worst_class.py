"""Worst-class accuracy on Fashion-MNIST: Adaptive Focus Learning in its own regime against established methods.

The regime of the original study (Harper & Laird 2021; see docs/focus.md), scaled to one CPU core: a plain
CNN of the study's shape (two conv layers, 5x5 then 3x3, three dense layers of 100; here 32 and 64 filters),
no BatchNorm, no augmentation, Adam at a constant lr 1e-3, batch 32, 25 epochs on a 5,000-image training
subset, so that it overfits (train accuracy ~0.98, validation loss rising after epoch ~9). Each run is
scored on the untouched 10,000-image test split with its *last* epoch's model, as the original reported.

Every configuration is an experiment folder ``ROOT/<config>/`` (params.json); its seeds are
``ROOT/<config>/seeds/seed-<s>/``, trained and evaluated by :func:`trainlab.experiments.compare.run_seed`
(``trainlab compare``'s own path), seed by seed across configurations so that a partial benchmark still
holds paired seeds. Finished seeds are reused, an interrupted one resumes from its ``last.pt``. The table
comes from :func:`trainlab.experiments.compare.compare` (mean ± sd, Δ vs baseline with a 95% interval,
exact McNemar per seed, paired t / Wilcoxon across seeds, for overall and worst-class test accuracy).

Configurations (names for --configs):
  baseline              plain cross-entropy
  focus-1e-2            the original: k=2 worst by validation loss, every epoch, focus pass after the normal
                        one, gradients x 1e-2, Adam's state shared by both passes
  focus-0.5             the same with gradients x 0.5
  reversed-1e-2         the focus pass before the normal pass, gradients x 1e-2
  *-test                the same three, the classes chosen on the TEST split as the original did (the
                        selection-bias control; only this benchmark can ask for it, see ``focus_chosen_on_test``)
  focus-default         trainlab's default focus: k=2 by validation loss, every epoch, lr x 1e-2 for the focus steps,
                        optimizer state restored after the focus pass
  soft                  trainlab's soft focus (classes drawn with p = softmax(validation loss / 0.1), lr x 1e-2,
                        optimizer state restored)
  reweight              cross-entropy weighted per class by the last validation error, strength 0.5 (trainlab.losses)
  focal                 focal loss, gamma 2 (Lin et al. 2017)
  group-dro             Group DRO over classes, step size 0.01 (Sagawa et al. 2020)

Run (the data root: --data-root or env TRAINLAB_DATA; nice it on a shared machine):
    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/worst_class.py --root /tmp/worst_class \\
        --data-root ../shared/data/fashion-mnist --seeds 5 --plot docs/focus_per_class.png
    python benchmarks/worst_class.py --root /tmp/worst_class --seeds 5 --report   # the table, no training
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator

from trainlab.config import register_section
from trainlab.engine.factory import CALLBACKS
from trainlab.errors import ConfigError
from trainlab.experiments.compare import compare, run_seed
from trainlab.focus.config import FocusConfig

RECIPE: dict[str, Any] = {  # frozen: changing it makes earlier results incomparable
    "data": {"name": "fashion-mnist", "batch_size": 32, "eval_batch_size": 1000, "augment": "none",
             "valid_fraction": 0.05, "max_train_samples": 5000},
    "model": {"name": "cnn_plain", "args": {"channels": [32, 64], "kernels": [5, 3], "hidden": [100, 100, 100]}},
    "optim": {"name": "adam", "lr": 1e-3},
    "schedule": {"name": "none"},
    "train": {"epochs": 25, "device": "cpu", "num_threads": 1, "count_flops": False},
    "logging": {"tensorboard": False, "plot": False, "progress": "none"},
}

ORIGINAL = {"k": 2, "rank_by": "loss", "when": "always", "optimizer_state": "shared"}


def _original(value: float, order: str = "after") -> dict[str, Any]:
    return {**ORIGINAL, "order": order, "penalty": {"mode": "grad_scale", "value": value}}


CONFIGS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "focus-1e-2": {"focus": _original(1e-2)},
    "focus-1e-2-test": {"focus_chosen_on_test": _original(1e-2)},
    "focus-0.5": {"focus": _original(0.5)},
    "focus-0.5-test": {"focus_chosen_on_test": _original(0.5)},
    "reversed-1e-2": {"focus": _original(1e-2, "before")},
    "reversed-1e-2-test": {"focus_chosen_on_test": _original(1e-2, "before")},
    "focus-default": {"focus": {"k": 2, "rank_by": "loss"}},
    "soft": {"focus": {"k": 2, "rank_by": "loss", "mode": "soft", "temperature": 0.1}},
    "reweight": {"loss": {"reweight": {"strength": 0.5}}},
    "focal": {"loss": {"focal": {"gamma": 2.0}}},
    "group-dro": {"loss": {"group_dro": {"step_size": 0.01}}},
}


# --------------------------------------------------------------------------- the selection-bias control
class FocusChosenOnTest(FocusConfig):
    """Benchmark only: focus with its classes ranked on the TEST split, as the original study did (biased)."""

    split: Literal["test"] = "test"

    @field_validator("split", mode="before")
    @classmethod
    def _valid_split_only(cls, v: Any) -> Any:  # replaces FocusConfig's refusal: this section exists to leak
        return v


register_section("focus_chosen_on_test", FocusChosenOnTest)  # parses only where this module is imported


@CALLBACKS.register("focus_chosen_on_test")
def _focus_chosen_on_test(cfg, exp_dir) -> list:
    section = getattr(cfg, "focus_chosen_on_test", None)
    if section is None:
        return []
    from trainlab.focus import FocusCallback, strategy_from_config

    plain = FocusConfig(**section.model_dump(exclude={"split"}, by_alias=True))
    return [FocusCallback(strategy_from_config(plain, seed=cfg.train.seed), choose_on="test")]


# --------------------------------------------------------------------------- running
def write_configs(root: Path, names: list[str], data_root: str) -> list[Path]:
    """``ROOT/<name>/params.json`` for every configuration (the recipe plus its sections); the folders."""
    folders = []
    for name in names:
        raw = json.loads(json.dumps(RECIPE)) | json.loads(json.dumps(CONFIGS[name]))
        raw["data"]["root"] = data_root
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "params.json"
        text = json.dumps(raw, indent=1)
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        folders.append(folder)
    return folders


def run_all(folders: list[Path], seeds: list[int]) -> None:
    """Train and evaluate (or reuse) every seed of every folder, seed by seed: paired seeds finish together."""
    for seed in seeds:
        for folder in folders:
            start = time.perf_counter()
            run = run_seed(folder, seed, checkpoint="last")
            acc, per_class = run.metrics["accuracy"], run.metrics["per_class"]["accuracy"]
            print(f"{folder.name:20s} seed {seed}: test acc {acc:.4f}, worst class {min(per_class):.4f}"
                  f"{' (reused)' if run.reused else f', {time.perf_counter() - start:.0f} s'}", file=sys.stderr,
                  flush=True)


def finished_seeds(folder: Path, seeds: list[int]) -> list[int]:
    """The seeds of ``folder`` that are trained and evaluated with its current params."""
    done = []
    for seed in seeds:
        try:
            run_seed(folder, seed, checkpoint="last", train=False)
        except ConfigError:
            continue
        done.append(seed)
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, required=True, help="folder of the experiment folders (one per config)")
    p.add_argument("--data-root", default=os.environ.get("TRAINLAB_DATA"), help="Fashion-MNIST folder (or env TRAINLAB_DATA)")
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    p.add_argument("--report", action="store_true", help="only tabulate the seeds that finished (no training)")
    p.add_argument("--plot", type=Path, help="also draw per-class test accuracy (mean over seeds) here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if not args.data_root:
        p.error("give --data-root or set TRAINLAB_DATA to the Fashion-MNIST folder")
    names = ["baseline", *[n for n in args.configs if n != "baseline"]]
    folders = write_configs(args.root, names, args.data_root)
    seeds = list(range(args.seeds))
    if not args.report:
        run_all(folders, seeds)
    done = {folder.name: finished_seeds(folder, seeds) for folder in folders}
    paired = [s for s in seeds if all(s in d for d in done.values())]
    if paired != seeds:  # a partial benchmark: tabulate the seeds every configuration finished
        print("Partial: seeds finished per configuration: " + "; ".join(f"{n} {d}" for n, d in done.items()))
    if not paired:
        return 1
    result = compare(folders, paired, checkpoint="last", train=False, out=args.root / "compare.md")
    print(result.markdown)
    if args.plot:
        from trainlab.experiments.plots import plot_comparison_per_class

        print(f"wrote {plot_comparison_per_class(result, args.plot)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
