"""Benchmark trainlab.profile: time to profile ResNet-50 forward+backward, and agreement with
other counters per model family.

    .venv/bin/python benchmarks/flops.py            # full run (a few minutes on 2 CPU cores)
    .venv/bin/python benchmarks/flops.py --quick    # one repeat, no ViT

Timing: the median of ``--repeat`` runs, wall-clock and process CPU seconds, and the CPU-time ratio
to a plain (uncounted) forward+backward on CPU measured in the same process (CPU time, because wall
time on a shared machine jumps with other people's load).

Agreement: forward cost of each model in MACs (multiply-accumulates). Conventions differ, so they
are put on one scale: trainlab and torch's FlopCounterMode count FLOPs (1 MAC = 2 FLOPs) and are
shown divided by 2; fvcore's "flops" are MACs; ptflops reports MACs (its ``pytorch`` backend also
adds one MAC per element for batch norm, activations and pooling, its ``aten`` backend does not).
fvcore and ptflops are used only when installed (``pip install fvcore ptflops``). Backward is
compared with torch's FlopCounterMode (which measures it but misses RNNs and overcounts grouped
convolutions) and with the "backward = 2 x forward" assumption of DeepSpeed's profiler.
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from trainlab.profile import count, format_count


class TextLineLSTM(nn.Module):
    """A 2-layer bidirectional LSTM over 100 time steps, as in text-line recognition."""

    def __init__(self, cls: type[nn.Module] = nn.LSTM) -> None:
        super().__init__()
        self.rnn = cls(64, 256, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(512, 80)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, T, 64)
        return self.head(self.rnn(x)[0])


def families(quick: bool) -> list[tuple[str, Callable[[], nn.Module], tuple[int, ...]]]:
    models = [
        ("cnn: resnet50", lambda: torchvision.models.resnet50(weights=None), (1, 3, 224, 224)),
        ("depthwise cnn: mobilenet_v3_small",
         lambda: torchvision.models.mobilenet_v3_small(weights=None), (1, 3, 224, 224)),
        ("rnn: 2-layer BiLSTM", lambda: TextLineLSTM(nn.LSTM), (1, 100, 64)),
        ("rnn: 2-layer BiGRU", lambda: TextLineLSTM(nn.GRU), (1, 100, 64)),
    ]
    if not quick:
        models.append(("attention: vit_b_16", lambda: torchvision.models.vit_b_16(weights=None),
                       (1, 3, 224, 224)))
    return models


def median_seconds(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """Median wall-clock and process CPU seconds of ``fn`` (CPU time is steadier on a shared box)."""
    fn()  # warm-up: first calls pay for kernel selection and lazy initialisation
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def torch_counter(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """(forward, backward) FLOPs from torch's FlopCounterMode alone, on CPU."""
    with FlopCounterMode(display=False) as forward_counter:
        out = model(x)
    with FlopCounterMode(display=False) as backward_counter:
        out.backward(torch.ones_like(out))
    model.zero_grad(set_to_none=True)
    return forward_counter.get_total_flops(), backward_counter.get_total_flops()


def fvcore_macs(model: nn.Module, x: torch.Tensor) -> str:
    try:
        from fvcore.nn import FlopCountAnalysis
    except ImportError:
        return "not installed"
    try:
        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return format_count(analysis.total())
    except Exception as exc:  # a benchmark reports a tool's failure instead of stopping
        return f"failed ({type(exc).__name__})"


def ptflops_macs(model: nn.Module, shape: tuple[int, ...], backend: str) -> str:
    try:
        from ptflops import get_model_complexity_info
    except ImportError:
        return "not installed"
    try:
        macs, _ = get_model_complexity_info(
            model, shape[1:], as_strings=False, print_per_layer_stat=False, verbose=False,
            backend=backend, input_constructor=lambda _: torch.zeros(shape),
        )
        return format_count(macs) if macs is not None else "failed (None)"
    except Exception as exc:
        return f"failed ({type(exc).__name__})"


def timing(repeat: int) -> None:
    model = torchvision.models.resnet50(weights=None)
    x = torch.randn(1, 3, 224, 224)

    def plain() -> None:
        model(x).sum().backward()
        model.zero_grad(set_to_none=True)

    runs = {
        "plain forward+backward, cpu (baseline)": plain,
        "torch FlopCounterMode, cpu": lambda: torch_counter(model, x),
        "trainlab count, meta": lambda: count(model, x, device="meta"),
        "trainlab count, cpu": lambda: count(model, x, device="cpu"),
        "trainlab count, meta, elementwise": lambda: count(model, x, include_elementwise=True),
        # meta allocates nothing, so a big batch costs the same as batch 1
        "trainlab count, meta, batch 256": lambda: count(model, torch.zeros(256, 3, 224, 224,
                                                                          device="meta")),
    }
    print(f"## time to profile resnet50 forward+backward, batch 1 at 224x224 "
          f"(median of {repeat}, {torch.get_num_threads()} threads)")
    print(f"{'':<40} {'wall s':>8} {'cpu s':>8} {'cpu / baseline':>15}")
    baseline = None
    for name, fn in runs.items():
        wall, cpu = median_seconds(fn, repeat)
        baseline = baseline or cpu
        print(f"{name:<40} {wall:8.3f} {cpu:8.3f} {cpu / baseline:14.2f}x")


def agreement(quick: bool) -> None:
    print("\n## forward MACs per model family (FLOP counts shown / 2)")
    header = ("family", "trainlab", "torch", "fvcore", "ptflops aten", "ptflops pytorch")
    print("{:<36} {:>9} {:>9} {:>18} {:>18} {:>18}".format(*header))
    rows_backward = []
    for name, build, shape in families(quick):
        model, x = build(), torch.randn(shape)
        mine = count(model, x, device="meta")
        torch_fwd, torch_bwd = torch_counter(model, x)
        print("{:<36} {:>9} {:>9} {:>18} {:>18} {:>18}".format(
            name, format_count(mine.forward_macs), format_count(torch_fwd // 2),
            fvcore_macs(model, x), ptflops_macs(model, shape, "aten"),
            ptflops_macs(model, shape, "pytorch"),
        ))
        rows_backward.append((name, mine, torch_fwd, torch_bwd))

    print("\n## backward / forward FLOPs (input needs no gradient, as in training)")
    print("{:<36} {:>10} {:>10} {:>12}".format("family", "trainlab", "torch", "DeepSpeed"))
    for name, mine, torch_fwd, torch_bwd in rows_backward:
        torch_ratio = f"{torch_bwd / torch_fwd:.2f}" if torch_fwd else "n/a"
        print(f"{name:<36} {mine.backward_flops / mine.forward_flops:>10.2f} {torch_ratio:>10} "
              f"{'2.00 (assumed)':>12}")
    print("\ntrainlab's dense counts are the same on meta and cpu (and, by its cuDNN formula, cuda); "
          "torch's counter alone gives a CPU LSTM 0 (fused oneDNN kernel; cuDNN likewise) and counts "
          "grouped-conv weight gradients x groups.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat, no ViT")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (default 1: with 2+ on a shared machine, OpenMP "
                             "threads spin while waiting and both wall and CPU times jump)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    timing(1 if args.quick else args.repeat)
    agreement(args.quick)
