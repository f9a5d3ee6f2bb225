"""Training-step time of cnn_small in channels_last against the default (contiguous) memory format on CPU.

For each width and batch size, the same model and batches are stepped (forward, backward, AdamW) in both
memory formats, interleaved, and the median time is scaled to one Fashion-MNIST epoch (54,000 images).
Prints seconds per epoch for both layouts and the ratio channels_last / contiguous (< 1: faster). This is
what chose ``model.channels_last: true`` for ``experiments/fashion-mnist-cnn``.

    python benchmarks/channels_last.py [--widths 16 24 32] [--batches 128 256] [--steps 30] [--repeats 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from trainlab.models import build_model

EPOCH = 54_000  # Fashion-MNIST training images after the validation carve


def step_time(width: int, batch: int, channels_last: bool, steps: int) -> float:
    """Median seconds per training step over ``steps`` steps, after 3 warm-up steps."""
    torch.manual_seed(0)
    model = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28), width=width)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 3:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--widths", type=int, nargs="+", default=[16, 24, 32])
    p.add_argument("--batches", type=int, nargs="+", default=[128, 256])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the median round counts")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"cnn_small training step, {args.threads} threads, torch {torch.__version__}; seconds per "
          f"{EPOCH:,}-image epoch (median of {args.repeats} interleaved rounds of {args.steps} steps)")
    print("width  batch  contiguous  channels_last  ratio")
    for width in args.widths:
        for batch in args.batches:
            plain, last = [], []
            for _ in range(args.repeats):
                plain.append(step_time(width, batch, False, args.steps))
                last.append(step_time(width, batch, True, args.steps))
            a, b = statistics.median(plain) * EPOCH / batch, statistics.median(last) * EPOCH / batch
            print(f"{width:5d}  {batch:5d}  {a:10.1f}  {b:13.1f}  {b / a:5.2f}", flush=True)


if __name__ == "__main__":
    main()
