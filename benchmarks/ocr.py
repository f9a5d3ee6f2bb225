"""Benchmark the OCR models (trainlab.ocr) on digit-strings: CRNN + CTC against the attention decoder,
greedy against beam decoding, and the effect of a character LM (shallow fusion).

Protocol: both models share one encoder size (CNN width --channels, --layers BiLSTM layers of --hidden
units per direction; the attention decoder is a GRU of 2 × hidden units) and are trained with Adam +
one-cycle for exactly --steps optimizer steps (batch --batch-size, light line augmentation) on lines of
1-8 handwritten digits composed from scikit-learn's digits; train, valid and test lines use disjoint
source images. For each model the test lines are then decoded greedily, with beam search (--beam-width),
and with beam search fused with a character n-gram LM (--lm-order, trained on the training labels) at
each weight of --lm-weights, without and with a --length-bonus per symbol (the LM charges every symbol,
so fusion alone drops symbols: "len. Δ" is the mean decoded minus true length). ``--text structured``
draws line texts from everyday formats (dates, years, amounts) where an LM has something to learn;
``uniform`` digits leave it nothing.

Reported per row: test CER, sequence accuracy, WER, decoding time, and per model the training CPU time
(process time over all threads: less sensitive than wall time to other work on a shared machine) with its
ratio to the CRNN's, and the wall time.

Run (the reduced protocol of the README table; 2 CPU cores):
    python benchmarks/ocr.py --steps 600 --text uniform structured --json ocr_bench.json
    python benchmarks/ocr.py --report ocr_bench.json          # the table again, from saved results
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

import torch

from trainlab.config import parse_config
from trainlab.engine.factory import learner_from_config
from trainlab.ocr.digit_strings import DIGITS
from trainlab.ocr.task import task_factory

MODELS = {
    "crnn": lambda a: {"name": "crnn", "args": {"channels": a.channels, "hidden": a.hidden, "layers": a.layers}},
    "attention": lambda a: {"name": "attention_ocr", "args": {
        "channels": a.channels, "hidden": a.hidden, "layers": a.layers, "decoder_hidden": 2 * a.hidden,
        "attention": a.hidden, "embedding": 32, "max_length": 10}},
}


def config(args: argparse.Namespace, model: str, text: str) -> dict[str, Any]:
    train_lines = args.steps * args.batch_size // args.epochs  # exactly --steps steps over --epochs epochs
    return {
        "data": {"name": "digit-strings", "batch_size": args.batch_size, "eval_batch_size": 250, "augment": "light",
                 "args": {"height": 32, "lines": [train_lines, 500, args.test_lines], "text": text}},
        "model": MODELS[model](args),
        "optim": {"name": "adam", "lr": args.lr},
        "schedule": {"name": "one_cycle", "pct_start": 0.15},
        "train": {"epochs": args.epochs, "seed": args.seed, "device": "cpu", "count_flops": False,
                  "eval_every": args.epochs, "grad_clip": 5.0},
        "logging": {"tensorboard": False, "plot": False, "progress": "none"},
    }


def run(args: argparse.Namespace, model: str, text: str) -> dict[str, Any]:
    learner = learner_from_config(parse_config(config(args, model, text)), None)
    start, cpu = time.perf_counter(), time.process_time()
    learner.fit(args.epochs)
    train_s, train_cpu_s = time.perf_counter() - start, time.process_time() - cpu
    train_split = learner.data.train.split
    decoders = [("greedy", 0.0, 0.0), ("beam", 0.0, 0.0)]
    for w in args.lm_weights:
        decoders += [("beam", w, 0.0)] + ([("beam", w, args.length_bonus)] if args.length_bonus else [])
    rows = []
    learner.model.eval()
    for decoder, weight, bonus in decoders:
        task = task_factory(train_split, DIGITS, decoder=decoder, beam_width=args.beam_width,
                            lm_order=args.lm_order if weight else 0, lm_weight=weight, length_bonus=bonus)(learner.model)
        metrics, longer, t0 = task.metrics(), 0, time.perf_counter()
        with torch.no_grad():
            for x, y in learner.data.test.batches(0):
                out = task.forward(learner.model, x, y)
                metrics.update(out, y, task.loss(out, y))
                longer += int((out.lengths - y.lengths).sum())
        m = metrics.compute()
        name = decoder if not weight else f"beam + LM λ={weight:g}" + (f", bonus {bonus:g}" if bonus else "")
        rows.append({"decoder": name, "cer": m["cer"], "seq_accuracy": m["seq_accuracy"], "wer": m["wer"],
                     "length_diff": longer / learner.data.test.num_samples, "decode_s": time.perf_counter() - t0})
    params = sum(p.numel() for p in learner.model.parameters())
    return {"model": model, "text": text, "steps": learner.loop.step, "train_s": train_s, "train_cpu_s": train_cpu_s,
            "params": params, "rows": rows}


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| text | model | params | train CPU s (× CRNN) | wall s | decoder | test CER | seq. acc. | WER "
             "| len. Δ | decode s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    base = {r["text"]: r["train_cpu_s"] for r in results if r["model"] == "crnn"}
    for r in results:
        ratio = r["train_cpu_s"] / base[r["text"]] if r["text"] in base else float("nan")
        for i, row in enumerate(r["rows"]):
            head = (f"| {r['text']} | {r['model']} | {r['params'] / 1e3:.0f}k | {r['train_cpu_s']:.0f} ({ratio:.2f}) "
                    f"| {r['train_s']:.0f} " if i == 0 else "| | | | | ")
            lines.append(head + f"| {row['decoder']} | {row['cer']:.4f} | {row['seq_accuracy']:.3f} | "
                         f"{row['wer']:.3f} | {row['length_diff']:+.2f} | {row['decode_s']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=500, help="optimizer steps per model")
    p.add_argument("--epochs", type=int, default=5, help="epochs the steps are spread over")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3, help="one-cycle peak learning rate")
    p.add_argument("--channels", type=int, default=8, help="CNN base width")
    p.add_argument("--hidden", type=int, default=64, help="BiLSTM units per direction")
    p.add_argument("--layers", type=int, default=2, help="BiLSTM layers of the (shared-size) encoder")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--text", nargs="+", default=["structured"], choices=["uniform", "structured"])
    p.add_argument("--test-lines", type=int, default=1000)
    p.add_argument("--beam-width", type=int, default=8)
    p.add_argument("--lm-order", type=int, default=4)
    p.add_argument("--lm-weights", type=float, nargs="*", default=[0.3, 0.6])
    p.add_argument("--length-bonus", type=float, default=1.0,
                   help="also decode each LM weight with this bonus per symbol (0: only without)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--report", help="print the table of a saved --json file and exit")
    args = p.parse_args(argv)
    if args.report:
        with open(args.report) as f:
            print(table(json.load(f)["results"]))
        return 0
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    results = []
    for text in args.text:
        for model in args.models:
            t0 = time.perf_counter()
            results.append(run(args, model, text))
            print(f"{text} {model}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "torch": torch.__version__, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
