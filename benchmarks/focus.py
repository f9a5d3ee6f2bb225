"""Benchmark Adaptive Focus Learning (trainlab.focus) on Fashion-MNIST against plain training.

Protocol: a fixed CNN recipe (cnn_small, AdamW 4e-3, one-cycle, label smoothing 0.1, light augmentation,
batch 128; frozen here so results stay comparable, not read from experiments/), the same epochs for every
configuration, several seeds. Each run is scored at its last epoch on the untouched test split: overall
accuracy, worst-class accuracy (and which class), per-class accuracy, and the exact McNemar test against the baseline run of the same seed
(trainlab.stats.mcnemar_exact). Classes are always chosen on the validation split.

Configurations (names for --configs):
  baseline        no focus
  focus           k=2, rank_by loss, lr_scale 1e-2, after the normal pass (the original method, fixed)
  reversed        the same, focus pass before the normal pass
  soft            every class drawn with p = softmax(loss / 0.1), same sample budget as k=2
  grad0.5         k=2, grad_scale 0.5, optimizer state shared by both passes (the original's semantics and
                  its large penalty)
  exploration:    shared (focus with the optimizer state shared), lr0.1, lr1 (lr_scale 0.1 / 1), k1-lr1,
                  lr1-after3 (focus only after epoch 3). Every focus config freezes BatchNorm statistics
                  during the focus pass and (except grad0.5, shared) restores the optimizer state after it.

Run (the data root: --data-root or env TRAINLAB_DATA):
    python benchmarks/focus.py --data-root ../shared/data/fashion-mnist --epochs 6 --seeds 3 \\
        --max-train-samples 20000 --width 16 --json focus_bench.json
    python benchmarks/focus.py --report focus_bench.json        # the tables again, from saved results
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from trainlab.config import parse_config
from trainlab.engine.factory import learner_from_config
from trainlab.stats import mcnemar_exact

RECIPE: dict[str, Any] = {  # frozen: changing it would make earlier results incomparable
    "data": {"name": "fashion-mnist", "batch_size": 128, "eval_batch_size": 512, "augment": "light",
             "valid_fraction": 0.1},
    "model": {"name": "cnn_small", "args": {"width": 32, "blocks": 1}},
    "optim": {"name": "adamw", "lr": 0.004, "weight_decay": 0.0005},
    "schedule": {"name": "one_cycle", "pct_start": 0.25},
    "train": {"label_smoothing": 0.1, "count_flops": False},
    "logging": {"tensorboard": False, "plot": False, "progress": "none"},
}

LR = {"mode": "lr_scale", "value": 1e-2}
CONFIGS: dict[str, dict[str, Any] | None] = {
    "baseline": None,
    "focus": {"k": 2, "rank_by": "loss", "penalty": LR},
    "reversed": {"k": 2, "rank_by": "loss", "order": "before", "penalty": LR},
    "soft": {"k": 2, "rank_by": "loss", "mode": "soft", "temperature": 0.1, "penalty": LR},
    # the original's semantics: gradients x 0.5 and one optimizer state shared by both passes
    "grad0.5": {"k": 2, "rank_by": "loss", "penalty": {"mode": "grad_scale", "value": 0.5}, "optimizer_state": "shared"},
    # exploration: the optimizer-state leak, stronger penalties, k and when
    "shared": {"k": 2, "rank_by": "loss", "penalty": LR, "optimizer_state": "shared"},
    "lr0.1": {"k": 2, "rank_by": "loss", "penalty": {"mode": "lr_scale", "value": 0.1}},
    "lr1": {"k": 2, "rank_by": "loss", "penalty": {"mode": "lr_scale", "value": 1.0}},
    "k1-lr1": {"k": 1, "rank_by": "loss", "penalty": {"mode": "lr_scale", "value": 1.0}},
    "lr1-after3": {"k": 2, "rank_by": "loss", "when": {"after_epoch": 3}, "penalty": {"mode": "lr_scale", "value": 1.0}},
}
MAIN = ["baseline", "focus", "reversed", "soft", "grad0.5"]


def run_one(name: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train one configuration with one seed; return its test predictions' correctness and per-class scores."""
    raw = json.loads(json.dumps(RECIPE))
    raw["data"].update(root=args.data_root, max_train_samples=args.max_train_samples)
    raw["model"]["args"]["width"] = args.width
    raw["train"].update(epochs=args.epochs, seed=seed, device=args.device, num_threads=args.threads)
    if CONFIGS[name] is not None:
        raw["focus"] = CONFIGS[name]
    cfg = parse_config(raw, source=f"benchmark {name}")
    start = time.perf_counter()
    learner = learner_from_config(cfg, None).fit(args.epochs)
    seconds = time.perf_counter() - start
    test = learner.data.test
    pred = learner.predict(test).argmax(1).cpu()
    correct = (pred == test.targets).tolist()
    per_class = [float((pred[test.targets == c] == c).float().mean()) for c in range(learner.data.num_classes)]
    rows = learner.history.rows
    return {"config": name, "seed": seed, "seconds": seconds, "correct": "".join("1" if c else "0" for c in correct),
            "accuracy": sum(correct) / len(correct), "per_class": per_class, "class_names": learner.data.class_names,
            "focused": [r.get("focus.classes", []) for r in rows],
            "focus_steps": sum(r.get("focus.steps", 0) for r in rows), "valid_accuracy": rows[-1]["valid.accuracy"]}


def _worst(r: dict[str, Any]) -> tuple[float, str]:
    acc = min(r["per_class"])
    return acc, r["class_names"][r["per_class"].index(acc)]


def _mcnemar_p(r: dict[str, Any], base: dict[str, Any]) -> float:
    """Exact McNemar p-value of one run against the baseline run of the same seed (paired test predictions)."""
    return mcnemar_exact([c == "1" for c in r["correct"]], [c == "1" for c in base["correct"]]).p_value


def report(results: list[dict[str, Any]], protocol: str) -> str:
    """Markdown: the summary table (mean ± sd over seeds, McNemar vs baseline) and the per-class table."""
    names = results[0]["class_names"]
    by: dict[str, dict[int, dict[str, Any]]] = {}
    for r in results:
        by.setdefault(r["config"], {})[r["seed"]] = r
    base = by.get("baseline", {})
    mean = statistics.mean
    base_acc = mean(r["accuracy"] for r in base.values()) if base else float("nan")
    base_worst = mean(_worst(r)[0] for r in base.values()) if base else float("nan")
    lines = [f"Protocol: {protocol}", "",
             "| config | test acc (mean ± sd) | Δ acc | worst-class acc | Δ worst | worst class per seed "
             "| McNemar p vs baseline, per seed | focus steps/run | min/run |",
             "|---|---|---|---|---|---|---|---|---|"]
    for config, runs in by.items():
        accs = [r["accuracy"] for r in runs.values()]
        worsts = [_worst(r) for r in runs.values()]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        is_base = config == "baseline"
        d_acc = "–" if is_base else f"{100 * (mean(accs) - base_acc):+.2f} pp"
        d_worst = "–" if is_base else f"{100 * (mean(w for w, _ in worsts) - base_worst):+.2f} pp"
        ps = [f"{_mcnemar_p(r, base[seed]):.2g}" for seed, r in runs.items() if not is_base and seed in base]
        lines.append(f"| {config} | {mean(accs):.4f} ± {sd:.4f} | {d_acc} | {mean(w for w, _ in worsts):.4f} | "
                     f"{d_worst} | {', '.join(n for _, n in worsts)} | {', '.join(ps) or '–'} | "
                     f"{mean(r['focus_steps'] for r in runs.values()):.0f} | "
                     f"{mean(r['seconds'] for r in runs.values()) / 60:.1f} |")
    lines += ["", "Per-class test accuracy (mean over seeds):", "",
              "| config | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for config, runs in by.items():
        means = [mean(r["per_class"][c] for r in runs.values()) for c in range(len(names))]
        lines.append(f"| {config} | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default=os.environ.get("TRAINLAB_DATA"), help="Fashion-MNIST folder (or env TRAINLAB_DATA)")
    p.add_argument("--configs", nargs="+", default=MAIN, choices=list(CONFIGS))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    p.add_argument("--max-train-samples", type=int, default=None, help="a stratified subset of the 54k training samples")
    p.add_argument("--width", type=int, default=32, help="cnn_small width (the recipe: 32)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (2 threads thrash on a shared 2-core machine)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, help="write (and extend) the per-run results here")
    p.add_argument("--report", type=Path, help="only print the tables of a saved results file")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    if args.report:
        saved = json.loads(args.report.read_text())
        print(report(saved["results"], saved["protocol"]))
        return 0
    if not args.data_root:
        p.error("give --data-root or set TRAINLAB_DATA to the Fashion-MNIST folder")
    protocol = (f"Fashion-MNIST, cnn_small width {args.width}, {args.max_train_samples or 'all 54,000'} training samples "
                f"(validation 6,000, test 10,000), {args.epochs} epochs, seeds 0..{args.seeds - 1}, "
                f"{args.device}, {args.threads} threads; last-epoch model")
    results: list[dict[str, Any]] = []
    if args.json and args.json.exists():  # resume an interrupted benchmark
        saved = json.loads(args.json.read_text())
        if saved.get("protocol") == protocol:
            results = saved["results"]
    done = {(r["config"], r["seed"]) for r in results}
    for seed in range(args.seeds):
        for name in args.configs:
            if (name, seed) in done:
                continue
            r = run_one(name, seed, args)
            results.append(r)
            worst, name_of_worst = _worst(r)
            print(f"{name:10s} seed {seed}: test acc {r['accuracy']:.4f}, worst class {worst:.4f} ({name_of_worst}), "
                  f"{r['seconds']:.0f}s", file=sys.stderr, flush=True)
            if args.json:
                args.json.write_text(json.dumps({"protocol": protocol, "results": results}))
    print(report([r for r in results if r["config"] in args.configs or r["config"] == "baseline"], protocol))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
