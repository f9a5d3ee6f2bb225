"""Benchmark trainlab.evolve: ensemble vs best member vs an equal-FLOPs model trained from scratch, over seeds.

    .venv/bin/python benchmarks/evolve.py --out /tmp/evo_bench --dataset digits --seeds 0 1
    TRAINLAB_DATA=../shared/data .venv/bin/python benchmarks/evolve.py --dataset fashion-mnist --model cnn_small \
        --max-train 12000 --population 6 --keep 3 --rounds 3 --steps 150 --seeds 0 1

Prints a Markdown table (test accuracy %, mean ± sd over seeds) and the paired t-test of ensemble vs baseline.
Each seed runs in OUT/seed<N>; nothing is deleted: rerunning with the same settings resumes an interrupted
seed (evolve's own resume) or reuses a finished one, different settings are refused by evolve.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from trainlab.config import load_config
from trainlab.evolve import evolve
from trainlab.stats import mean_sd, paired_interval, paired_test


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/trainlab_evolve_bench"))
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--model", default="cnn_tiny")
    ap.add_argument("--width", type=int, default=8)
    ap.add_argument("--max-train", type=int, default=None)
    ap.add_argument("--base-epochs", type=int, default=3)
    ap.add_argument("--population", type=int, default=4)
    ap.add_argument("--keep", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--selection", default="best")
    ap.add_argument("--combine", default="mean_softmax")
    ap.add_argument("--ensemble", type=int, default=3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("trainlab.evolve").setLevel(logging.INFO)  # rounds, births, survivors, baseline
    rows = []
    for seed in args.seeds:
        folder = args.out / f"seed{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        params = {
            "data": {"name": args.dataset, "batch_size": 128, "max_train_samples": args.max_train},
            "model": {"name": args.model, "args": {"width": args.width}},
            "optim": {"name": "adam", "lr": args.lr},
            "train": {"epochs": args.base_epochs, "seed": seed, "device": "cpu"},
            "logging": {"tensorboard": False, "plot": False, "progress": "none"},
            "evolve": {"population": args.population, "keep": args.keep, "rounds": args.rounds,
                       "steps_per_round": args.steps, "selection": args.selection, "seed": seed,
                       "ensemble": {"size": args.ensemble, "combine": args.combine}},
        }
        params_file = folder / "params.json"
        if params_file.exists() and json.loads(params_file.read_text()) != params:
            raise SystemExit(f"{folder} holds a run with other settings; pass a new --out")
        params_file.write_text(json.dumps(params))
        t0 = time.perf_counter()
        res = evolve(folder, load_config(folder)).results
        rows.append({"seed": seed, "ensemble": res["ensemble"]["accuracy"], "best": res["best_member"]["accuracy"],
                     "baseline": res["baseline"]["accuracy"], "flops": res["total_train_flops"],
                     "seconds": time.perf_counter() - t0})
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n| model | test acc % (mean ± sd, {len(rows)} seeds) |\n|---|---|")
    for key, name in (("ensemble", f"ensemble ({args.combine}, {args.selection})"), ("best", "best member"),
                      ("baseline", "from scratch, equal training FLOPs")):
        m, sd = mean_sd([100 * r[key] for r in rows])
        print(f"| {name} | {m:.2f} ± {sd:.2f} |")
    if len(rows) >= 2:
        ens, base = [100 * r["ensemble"] for r in rows], [100 * r["baseline"] for r in rows]
        mean, low, high = paired_interval(base, ens)
        print(f"\nensemble - baseline: {mean:+.2f} pp, 95% t interval [{low:+.2f}, {high:+.2f}] over {len(rows)} "
              f"paired seeds; paired t-test p = {paired_test(base, ens):.3g}, Wilcoxon p = "
              f"{paired_test(base, ens, 'wilcoxon'):.3g}")


if __name__ == "__main__":
    main()
