"""Fashion-MNIST: the baseline recipe against the modern one, in test accuracy per second of training.

Three parts, each over ``--seeds`` (default 1 2 3), medians across seeds:

* ``short``: each recipe as its folder defines it (baseline ``experiments/fashion-mnist-cnn``, recipe
  ``experiments/fashion-mnist-recipe``), the test split evaluated after every epoch (not counted as
  training time): the training time at which test accuracy first reaches ``--target`` (93%), and the final
  accuracy.
* ``long``: both recipes given as many epochs as fit in ``--budget`` seconds (300) at the epoch time their
  short runs measured (``--long-epochs N`` fixes it; the recipe also takes its long-run settings,
  :data:`LONG`), so each one-cycle schedule ends inside the budget: the best test accuracy reached within
  the budget. A run stops at the first epoch that ends past it.
* ``ablation``: the recipe with each element that changes training removed in turn, and with the ones it
  leaves out added (:data:`ELEMENTS`), at the ``short`` length (``--ablate-on long``: the long one); the
  elements that change only evaluation (the weight EMA, test-time augmentation) are ablated inside the
  recipe's own runs, by evaluating them with and without (the same training, so the comparison is exact).

Every finished run is written to ``--out`` (JSON) at once; a second call with the same file skips the runs
already there with the same resolved params (so an interrupted benchmark resumes) and prints the tables again.
Rows hold each epoch's training wall time and CPU time (``cpu_s``, all threads) beside the accuracies.

    TRAINLAB_DATA=path/to/data python benchmarks/fashion_mnist.py --out fm.json [--parts short long ablation]
        [--seeds 1 2 3] [--target 0.93] [--budget 300] [--long-epochs auto] [--set key=value ...]

About 75 minutes on a quiet 2-core machine. Run it alone (nothing else busy): it measures wall time. ``--set`` applies to every run
(e.g. ``--set data.max_train_samples=2000 --set train.epochs=1`` for a smoke test).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from trainlab.config import config_to_dict, load_config
from trainlab.engine import Callback
from trainlab.engine.factory import learner_from_config
from trainlab.files import atomic_write_text

HERE = Path(__file__).resolve().parent.parent
RECIPES = {"baseline": HERE / "experiments" / "fashion-mnist-cnn", "recipe": HERE / "experiments" / "fashion-mnist-recipe"}
# what the recipe changes for a long run (the baseline only gets more epochs)
LONG: list[str] = []
# recipe elements that change training: the overrides that take each out again (the baseline's values), and
# elements the recipe leaves out, added ("with ...")
ELEMENTS = {
    "without label smoothing": ["train.label_smoothing=0"],
    "without flip augmentation (nor the TTA that needs it)": ["data.augment=none", "data.tta=none"],
    "with mixup/cutmix": ["data.mix={mixup_alpha: 0.2, cutmix_alpha: 1.0}"],
    # twice the steps per epoch: +0.3 points at 5 epochs in tuning, at a per-epoch cost only a quiet run can tell
    "with batch 128": ["data.batch_size=128"],
}
QUIET = ["logging.tensorboard=false", "logging.plot=false", "logging.progress=none", "train.count_flops=false"]


class TestEveryEpoch(Callback):
    """After each epoch: test accuracy as the run evaluates (weight EMA, TTA when on) and without each of
    those; training time excludes these evaluations. Stops a run whose training time passed ``budget``."""

    __test__ = False

    def __init__(self, budget: float | None = None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.budget, self.eval_time, self.start = budget, 0.0, 0.0
        self.cpu_start, self.eval_cpu = 0.0, 0.0

    def on_fit_start(self, learner) -> None:
        self.start, self.cpu_start = time.perf_counter(), time.process_time()

    def on_epoch_recorded(self, learner) -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        train_time = t0 - self.start - self.eval_time  # earlier test evaluations do not count
        # CPU seconds of all threads: a cost that a busy machine inflates far less than wall time
        row = {"epoch": learner.loop.epoch, "train_s": train_time, "cpu_s": c0 - self.cpu_start - self.eval_cpu,
               "acc": learner.evaluate("test")["accuracy"]}
        model, wrap = learner.eval_model, learner.eval_wrap
        if wrap is not None:
            learner.eval_wrap = None
            row["acc_no_tta"] = learner.evaluate("test")["accuracy"]
        if model is not None:
            learner.eval_model = None
            row["acc_raw_no_tta"] = learner.evaluate("test")["accuracy"]
            if wrap is not None:
                learner.eval_wrap = wrap
                row["acc_raw"] = learner.evaluate("test")["accuracy"]
        learner.eval_model, learner.eval_wrap = model, wrap
        self.rows.append(row)
        self.eval_time += time.perf_counter() - t0
        self.eval_cpu += time.process_time() - c0
        if self.budget is not None and train_time >= self.budget:
            learner.should_stop = True
            learner.stop_reason = f"training time {train_time:.0f} s passed the {self.budget:.0f} s budget"


def train_once(folder: Path, overrides: list[str], budget: float | None) -> dict[str, Any]:
    cfg = load_config(folder, [*overrides, *QUIET])
    tester = TestEveryEpoch(budget)
    with tempfile.TemporaryDirectory() as tmp:
        learner = learner_from_config(cfg, Path(tmp), callbacks=[tester])
        learner.fit(cfg.train.epochs)
    return {"rows": tester.rows, "threads": torch.get_num_threads(), "epochs": cfg.train.epochs,
            "config": config_to_dict(cfg)}


def time_to(rows: list[dict[str, Any]], target: float, key: str = "acc") -> float | None:
    """Training seconds at the end of the first epoch whose ``key`` accuracy reached ``target``."""
    return next((r["train_s"] for r in rows if key in r and r[key] >= target), None)


def best_within(rows: list[dict[str, Any]], budget: float, key: str = "acc") -> float | None:
    values = [r[key] for r in rows if key in r and r["train_s"] <= budget]
    return max(values) if values else None


def median(values: list[float | None]) -> float | None:
    """Median with a missing value (target never reached) counted as the largest; None when that is the median."""
    if not values:
        return None
    m = statistics.median([v if v is not None else float("inf") for v in values])
    return None if m == float("inf") else m


def fmt(value: float | None, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


def long_epochs(results: dict[str, Any], args: argparse.Namespace, recipe: str) -> int:
    """``--long-epochs``, or as many epochs as fit in the budget at the median epoch time of the recipe's short
    runs (a little under, so the schedule ends inside it)."""
    if args.long_epochs != "auto":
        return int(args.long_epochs)
    runs = [results["runs"].get(f"short/{recipe}/seed{s}") for s in args.seeds]
    per_epoch = [r["rows"][-1]["train_s"] / len(r["rows"]) for r in runs if r]
    if not per_epoch:
        raise SystemExit(f"--long-epochs auto needs the short {recipe} runs first: add --parts short, or pass "
                         "--long-epochs N")
    return max(1, int(0.97 * args.budget / statistics.median(per_epoch)))


def plan(args: argparse.Namespace, results: dict[str, Any], phase: str) -> list[tuple[str, str, list[str], float | None]]:
    """(key, recipe, overrides, budget) of the runs of ``phase``: "short" (the short runs the parts need, also
    to size the long ones), then "other" (long runs and a long ablation, sized by the short runs)."""
    needs_long = "long" in args.parts or ("ablation" in args.parts and args.ablate_on == "long")
    ablate = "ablation" in args.parts
    runs = []
    for seed in args.seeds:
        seed_set = [f"train.seed={seed}", *args.overrides]
        if phase == "short":
            recipes = {"baseline", "recipe"} if "short" in args.parts or (needs_long and args.long_epochs == "auto") \
                else {"recipe"} if ablate and args.ablate_on == "short" else set()
            runs += [(f"short/{r}/seed{seed}", r, seed_set, None) for r in sorted(recipes)]
            if ablate and args.ablate_on == "short":
                runs += [(f"ablation/short/{name}/seed{seed}", "recipe", [*change, *seed_set], None)
                         for name, change in ELEMENTS.items()]
        elif needs_long:
            epochs = {r: long_epochs(results, args, r) for r in ("baseline", "recipe")}
            long = [*LONG, f"train.epochs={epochs['recipe']}"]
            runs.append((f"long/baseline/seed{seed}", "baseline", [f"train.epochs={epochs['baseline']}", *seed_set],
                         args.budget))
            runs.append((f"long/recipe/seed{seed}", "recipe", [*long, *seed_set], args.budget))
            if ablate and args.ablate_on == "long":
                runs += [(f"ablation/long/{name}/seed{seed}", "recipe", [*long, *change, *seed_set], args.budget)
                         for name, change in ELEMENTS.items()]
    return runs


def summarize(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    runs = results["runs"]

    def group(prefix: str) -> list[dict[str, Any]]:
        return [runs[f"{prefix}/seed{s}"] for s in args.seeds if f"{prefix}/seed{s}" in runs]

    out: dict[str, Any] = {}
    for recipe in ("baseline", "recipe"):
        short = group(f"short/{recipe}")
        if short:
            out[f"short/{recipe}"] = {
                "time_to_target_s": median([time_to(r["rows"], args.target) for r in short]),
                "final_acc": median([r["rows"][-1]["acc"] for r in short]), "seeds": len(short),
                "epochs": short[0]["epochs"]}
        long = group(f"long/{recipe}")
        if long:
            out[f"long/{recipe}"] = {"best_acc_within_budget": median([best_within(r["rows"], args.budget)
                                                                         for r in long]), "seeds": len(long),
                                     "epochs": long[0]["epochs"]}
    recipe_runs = group(f"{args.ablate_on}/recipe")
    if recipe_runs and "ablation" in args.parts:  # evaluation-only elements from the recipe's own runs
        rows = {"recipe (all elements)": [r["rows"] for r in recipe_runs]}
        if "acc_no_tta" in recipe_runs[0]["rows"][-1]:
            rows["without test-time augmentation"] = [[{**x, "acc": x["acc_no_tta"]} for x in r["rows"]]
                                                      for r in recipe_runs]
        if "acc_raw" in recipe_runs[0]["rows"][-1] or "acc_raw_no_tta" in recipe_runs[0]["rows"][-1]:
            key = "acc_raw" if "acc_raw" in recipe_runs[0]["rows"][-1] else "acc_raw_no_tta"
            rows["without weight EMA"] = [[{**x, "acc": x[key]} for x in r["rows"]] for r in recipe_runs]
        for name in ELEMENTS:
            trained = group(f"ablation/{args.ablate_on}/{name}")
            if trained:
                rows[name] = [r["rows"] for r in trained]
        out["ablation"] = {name: {"time_to_target_s": median([time_to(r, args.target) for r in rs]),
                                  "final_acc": median([r[-1]["acc"] for r in rs]),
                                  "best_acc_within_budget": median([best_within(r, args.budget) for r in rs]),
                                  "seeds": len(rs)}
                           for name, rs in rows.items()}
    return out


def print_tables(summary: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"medians over seeds {args.seeds}; target {args.target:.1%}, budget {args.budget:.0f} s")
    for recipe in ("baseline", "recipe"):
        s = summary.get(f"short/{recipe}")
        if s:
            print(f"short {recipe:9s} ({s['epochs']} epochs): {args.target:.1%} after "
                  f"{fmt(s['time_to_target_s'], '{:.1f} s')}, final test accuracy {fmt(s['final_acc'], '{:.4f}')}")
    for recipe in ("baseline", "recipe"):
        s = summary.get(f"long/{recipe}")
        if s:
            print(f"long  {recipe:9s} ({s['epochs']} epochs): best test accuracy within {args.budget:.0f} s "
                  f"{fmt(s['best_acc_within_budget'], '{:.4f}')}")
    if "ablation" in summary:
        print(f"{f'ablation ({args.ablate_on} recipe)':56s} {'time to target':>15s} {'final acc':>10s} "
              f"{'best in budget':>15s}")
        for name, s in summary["ablation"].items():
            print(f"{name:56s} {fmt(s['time_to_target_s'], '{:.1f} s'):>15s} {fmt(s['final_acc'], '{:.4f}'):>10s} "
                  f"{fmt(s['best_acc_within_budget'], '{:.4f}'):>15s}")


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "python": platform.python_version()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, required=True, help="results JSON (resumed when it exists)")
    p.add_argument("--parts", nargs="+", default=["short", "long", "ablation"], choices=["short", "long", "ablation"])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--target", type=float, default=0.93)
    p.add_argument("--budget", type=float, default=300.0, help="seconds of training for the long part")
    p.add_argument("--long-epochs", default="auto", help="epochs of the long runs (default: as many as fit in "
                                                           "--budget at the short runs' epoch time)")
    p.add_argument("--ablate-on", choices=["short", "long"], default="short")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="key=value for every run")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not os.environ.get("TRAINLAB_DATA") and not any(o.startswith("data.root=") for o in args.overrides):
        raise SystemExit("set TRAINLAB_DATA (e.g. ../shared/data) or --set data.root=PATH")
    results = json.loads(args.out.read_text()) if args.out.exists() else {"runs": {}}
    results.update(machine=machine(), args={k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()})
    for phase in ("short", "other"):  # the long runs are sized by the short runs' epoch times
        todo = plan(args, results, phase)
        for i, (key, recipe, overrides, budget) in enumerate(todo, 1):
            run_one(results, args.out, key, recipe, overrides, budget, f"{phase} {i}/{len(todo)}")
    results["summary"] = summarize(results, args)
    atomic_write_text(args.out, json.dumps(results, indent=1))
    print_tables(results["summary"], args)


def run_one(results: dict[str, Any], out: Path, key: str, recipe: str, overrides: list[str], budget: float | None,
            counter: str) -> None:
    """Train one run unless ``results`` holds it with the same resolved params; then save the results file."""
    resolved = config_to_dict(load_config(RECIPES[recipe], [*overrides, *QUIET]))  # params file edits count too
    settings = hashlib.sha1(json.dumps([resolved, budget], sort_keys=True).encode()).hexdigest()[:12]
    if results["runs"].get(key, {}).get("settings") == settings:
        return
    start = time.perf_counter()
    run = train_once(RECIPES[recipe], overrides, budget)
    run.update(settings=settings, date=time.strftime("%Y-%m-%d %H:%M"), wall_s=time.perf_counter() - start)
    results["runs"][key] = run
    atomic_write_text(out, json.dumps(results, indent=1))
    last = run["rows"][-1]
    print(f"[{counter}] {key}: {len(run['rows'])} epochs, {last['train_s']:.1f} s of training, "
          f"test accuracy {last['acc']:.4f}", flush=True)


if __name__ == "__main__":
    main()
