"""Benchmark ``trainlab export``: parity of the ONNX bundle with PyTorch over the whole test split, and
inference throughput, PyTorch eager against the onnxruntime bundle, on 2 threads at batch 1 and batch 64.

Models (``--models``): ``digits`` (experiments/digits-cnn), ``fashion`` (experiments/fashion-mnist-cnn, needs
TRAINLAB_DATA or --data), ``yolo`` (experiments/digit-scenes-yolo), ``crnn`` (experiments/digits-ocr-crnn)
and ``attention`` (the same lines, model ``attention_ocr``). Each is trained from its example's params in
``--work`` (``--epochs`` overrides the epoch count; a run already there is reused, so a second invocation only
measures), exported with the default exporter (``trainlab.deploy.export``, its own check on 256 validation
samples), then:

- parity: :func:`trainlab.deploy.verify.check_parity` on the **test** split, every sample at batch 64 and the
  first ``--batch1-samples`` at batch 1: per output the max abs diff and the worst difference in units of the
  fp32 tolerance (atol 1e-5 + rtol 1e-3·|torch|), and the agreement of the answers (top-1 class, detections
  with score >= 0.25, text) with the numpy host code;
- throughput: images (lines) per second from normalized input batches to answers (the Task's PyTorch
  decoding vs the bundle's numpy host code: softmax, box decoding + NMS, CTC greedy, the attention loop), and
  of the graphs alone (model forward vs onnxruntime session), ``torch.set_num_threads(--threads)`` and
  onnxruntime ``intra_op_num_threads`` = --threads, the median of ``--repeats`` timed passes over ``--images``
  test inputs after a warm-up pass; the ratio is onnxruntime / eager.

Full run, alone on a quiet machine (2 cores; ~25-35 min, most of it training the five models):
    TRAINLAB_DATA=../shared/data flock /tmp/trainlab-heavy.lock python benchmarks/export.py --json export_bench.json
    python benchmarks/export.py --report export_bench.json
Smoke test (seconds): python benchmarks/export.py --models digits --epochs 1 --images 16 --repeats 1 \
    --batch1-samples 4 --work /tmp/export-bench
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MODELS = {
    "digits": ("digits-cnn", []),
    "fashion": ("fashion-mnist-cnn", []),
    "yolo": ("digit-scenes-yolo", []),
    "crnn": ("digits-ocr-crnn", []),
    "attention": ("digits-ocr-crnn", ["model.name=attention_ocr", "model.args={channels: 8, hidden: 64}"]),
}


def train(name: str, args: argparse.Namespace) -> Path:
    """The trained run of ``name`` in ``args.work`` (trained now unless a checkpoint is there)."""
    from trainlab.config import load_config
    from trainlab.runs import run_experiment

    example, extra = MODELS[name]
    folder = Path(args.work) / name
    if (folder / "checkpoints" / "best.pt").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "experiments" / example / "params.json", folder / "params.json")
    overrides = [f"train.num_threads={args.threads}", "logging.tensorboard=false", "logging.plot=false",
                 "logging.progress=none", *extra]
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    if args.data:
        overrides.append(f"data.root={args.data}")
    from trainlab.config import config_to_dict, parse_config

    cfg = parse_config(config_to_dict(load_config(folder, overrides)))
    (folder / "params.json").write_text(json.dumps(config_to_dict(cfg)))  # what it trained with, for export
    run_experiment(folder, cfg, existing="restart")
    from trainlab.runs import evaluate_checkpoint

    evaluate_checkpoint(folder / "checkpoints" / "best.pt", folder, split="test")
    return folder


def timed(fn, batches: list, repeats: int) -> float:
    """Median seconds of ``repeats`` passes of ``fn`` over ``batches`` (after one warm-up pass)."""
    for b in batches[:2]:
        fn(*b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for b in batches:
            fn(*b)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(task, model, loader, bundle, *, batch: int, images: int, repeats: int) -> dict[str, Any]:
    import torch

    sub = loader.subset(torch.arange(min(images, loader.num_samples)), train=False)
    sub.batch_size = batch
    batches = []
    for x, y in sub.batches(0):
        w = task.batch_widths(y)
        batches.append((x.cpu().float(), w.cpu() if w is not None else None))
    n = sum(len(x) for x, _ in batches)
    graphs = task.export_graphs(model, *batches[0])
    numpy_batches = [(x.numpy(), w.numpy() if w is not None else None) for x, w in batches]
    out: dict[str, Any] = {"batch_size": batch, "images": n}
    with torch.no_grad():
        eager = timed(lambda x, w: task.answers(model, x, w, greedy=True), batches, repeats)
        ort = timed(lambda x, w: bundle.answers(x, w), numpy_batches, repeats)
        out["answers"] = {"eager_per_s": round(n / eager, 1), "onnxruntime_per_s": round(n / ort, 1),
                          "ratio": round(eager / ort, 3)}
        if len(graphs) == 1:  # the graph alone (the attention loop has no single graph)
            g = graphs[0]
            eager = timed(lambda x, w: g.module(x), batches, repeats)
            ort = timed(lambda x, w: bundle.run(g.name, x), numpy_batches, repeats)
            out["graph"] = {"eager_per_s": round(n / eager, 1), "onnxruntime_per_s": round(n / ort, 1),
                            "ratio": round(eager / ort, 3)}
    return out


def bench(name: str, args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from trainlab.deploy import export
    from trainlab.deploy.bundle import BundlePredictor
    from trainlab.deploy.run import load_run
    from trainlab.deploy.verify import check_parity

    folder = train(name, args)
    start = time.perf_counter()
    result = export(folder, out=folder / "export", force=True)
    export_seconds = time.perf_counter() - start
    torch.set_num_threads(args.threads)
    learner, _, _ = load_run(folder)
    task, model = learner.task, learner.model.cpu().float().eval()
    bundle = BundlePredictor(folder / "export", threads=args.threads)
    test = learner.data.test
    start = time.perf_counter()
    parity = check_parity(task, model, test, bundle, samples=None, batch_sizes=(1, 64),
                          first_batch=args.batch1_samples)
    metrics_file = folder / "metrics_test.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    return {"model": name, "architecture": learner.config["model"]["name"], "task": task.kind,
            "exporters": result.exporters, "export_seconds": round(export_seconds, 1),
            "test_metrics": {k: metrics[k] for k in ("accuracy", "cer", "seq_accuracy", "map50") if k in metrics},
            "parity": {"passed": parity["passed"], "failed": parity["failed"], "samples": parity["samples"],
                       "agreement": parity["answers"]["agreement"], "compared": parity["answers"]["compared"],
                       "outputs": {f"batch {p['batch_size']}": p["outputs"] for p in parity["passes"]},
                       "seconds": round(time.perf_counter() - start, 1)},
            "throughput": [throughput(task, model, test, bundle, batch=b, images=args.images if b > 1 else
                                      max(1, args.images // 4), repeats=args.repeats) for b in (1, 64)]}


def report(results: dict[str, Any]) -> str:
    lines = [f"{results['machine']}, {results['date']}, {results['threads']} threads", "",
             "| model | exporter | test samples | max abs diff | worst / tolerance | answers agree | "
             "b1 eager → onnxruntime (img/s) | b64 eager → onnxruntime (img/s) |", "|---|---|---|---|---|---|---|---|"]
    for r in results["models"]:
        outs = [o for p in r["parity"]["outputs"].values() for o in p.values()]
        diff = max((o.get("max_abs_diff", 0.0) for o in outs), default=0.0)
        tol = max((o.get("max_tolerance_used", 0.0) for o in outs), default=0.0)
        speed = [f"{t['answers']['eager_per_s']:.0f} → {t['answers']['onnxruntime_per_s']:.0f} "
                 f"({t['answers']['ratio']:.2f}×)" for t in r["throughput"]]
        exporters = ", ".join(sorted({v.split(" ")[0] for v in r["exporters"].values()}))
        lines.append(f"| {r['model']} ({r['architecture']}) | {exporters} | {r['parity']['samples']} | {diff:.2g} | "
                     f"{tol:.3f} | {r['parity']['agreement']:.2%} | {speed[0]} | {speed[1]} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {', '.join(MODELS)}")
    p.add_argument("--epochs", type=int, help="override each example's epoch count (default: the example's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--images", type=int, default=1024, help="test inputs per timed pass at batch 64 (a quarter at 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed passes; the median is reported")
    p.add_argument("--batch1-samples", type=int, default=256, help="test samples of the batch-1 parity pass")
    p.add_argument("--data", help="data root for fashion (default: TRAINLAB_DATA)")
    p.add_argument("--work", help="folder of the trained runs (default: a temporary folder); reused when run again")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--report", type=Path, help="print the table of a results file and exit")
    args = p.parse_args()
    if args.report:
        print(report(json.loads(args.report.read_text())))
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    names = [m for m in args.models.split(",") if m]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    args.work = args.work or tempfile.mkdtemp(prefix="export-bench-")
    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                          f"{platform.system()}", "date": time.strftime("%Y-%m-%d"), "threads": args.threads,
               "python": sys.version.split()[0], "args": {k: v for k, v in vars(args).items() if k != "json"},
               "models": []}
    for name in names:
        print(f"== {name}", file=sys.stderr)
        results["models"].append(bench(name, args))
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, default=str))
    print(report(results))
    return 0 if all(r["parity"]["passed"] for r in results["models"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
