"""Epoch time of the Fashion-MNIST example alone and beside 1 or 2 competing trainings of the same example.

Each measurement starts the competitors first (the same kind of training as the measured one, running
for many epochs), waits until they train, then starts the measured training and reads the time of its
first epoch (training and validation, from its history.json); the competitors are killed afterwards.
Variants:

- ``trainlab``: ``python -m trainlab train`` on a copy of ``experiments/fashion-mnist-cnn`` with its own
  params (epochs set to 1 for the measured run), from this tree's ``src``;
- ``trainlab-before``: the same from the sources given by ``--before SRC`` (e.g. an export of an older commit);
- ``plain``: a hand-written PyTorch loop over the same data, model (cnn_small width 16, channels_last),
  optimizer and batch size, with torch's default settings (threads = cores, libgomp's default wait policy);
- ``plain-passive``, ``plain-1thread``, ``plain-passive-1thread``: the plain loop with
  ``OMP_WAIT_POLICY=PASSIVE`` and/or ``torch.set_num_threads(1)``, ``plain-spin10k`` with ``GOMP_SPINCOUNT=10000``
  (what each part of a thread policy buys).

Rounds interleave every variant and competitor count; the table gives medians over the rounds and each
median's ratio to the same variant's quiet median (fair share on 2 cores: 2x beside one, 3x beside two).

    TRAINLAB_DATA=../shared/data python benchmarks/contention.py [--repeats 3] [--competitors 0 1 2]
        [--variants trainlab plain] [--before SRC] [--samples N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
EXAMPLE = HERE / "experiments" / "fashion-mnist-cnn"
PLAIN = {"plain": {}, "plain-passive": {"OMP_WAIT_POLICY": "PASSIVE"}, "plain-1thread": {"threads": "1"},
         "plain-passive-1thread": {"OMP_WAIT_POLICY": "PASSIVE", "threads": "1"},
         "plain-spin10k": {"GOMP_SPINCOUNT": "10000"}}


def clean_env(src: Path) -> dict[str, str]:
    """The environment of a child: no OpenMP/MKL settings inherited from this shell, ``src`` importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_", "MKL_", "KMP_"))}
    env["PYTHONPATH"] = str(src)
    return env


class Job:
    """One training process in its own session (so its whole process group can be killed)."""

    def __init__(self, variant: str, folder: Path, epochs: int, samples: int | None, before: Path | None) -> None:
        self.variant, self.folder = variant, folder
        folder.mkdir(parents=True)
        if variant.startswith("trainlab"):
            src = before if variant == "trainlab-before" else HERE / "src"
            shutil.copy(EXAMPLE / "params.json", folder / "params.json")
            sets = [f"train.epochs={epochs}"] + ([f"data.max_train_samples={samples}"] if samples else [])
            cmd = [sys.executable, "-m", "trainlab", "train", str(folder)]
            for s in sets:
                cmd += ["--set", s]
            env = clean_env(src)
        else:
            extra = dict(PLAIN[variant])
            threads = extra.pop("threads", "0")
            cmd = [sys.executable, __file__, "--plain-worker", str(folder), "--epochs", str(epochs),
                   "--threads", threads, "--samples", str(samples or 0)]
            env = {**clean_env(HERE / "src"), **extra}
        self.log = open(folder / "output.log", "w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def training(self) -> bool:
        """Whether the process has reached its training loop."""
        if self.variant.startswith("trainlab"):
            log = self.folder / "train.log"
            return log.is_file() and "training " in log.read_text()
        return (self.folder / "ready").exists()

    def epoch_time(self) -> float | None:
        name = "history.json" if self.variant.startswith("trainlab") else "epochs.json"
        path = self.folder / name
        if not path.is_file():
            return None
        rows = json.loads(path.read_text())["rows"]
        return float(rows[0]["time"]) if rows else None

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def measure(variant: str, competitors: int, *, samples: int | None, before: Path | None, timeout: float) -> float:
    """The measured training's first-epoch seconds beside ``competitors`` trainings of the same variant."""
    with tempfile.TemporaryDirectory(prefix="trainlab-contention-") as tmp:
        others = [Job(variant, Path(tmp) / f"competitor{i}", 1000, samples, before) for i in range(competitors)]
        try:
            deadline = time.time() + timeout
            while not all(o.training() for o in others):
                if time.time() > deadline or any(o.proc.poll() is not None for o in others):
                    raise RuntimeError(f"a competitor did not start training; see {tmp}/competitor*/output.log")
                time.sleep(0.2)
            time.sleep(3.0 if others else 0.0)  # let the competitors' thread pools settle into their loop
            job = Job(variant, Path(tmp) / "measured", 1, samples, before)
            others.append(job)  # killed with the competitors if anything goes wrong
            try:
                job.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"{variant} beside {competitors} did not finish in {timeout:.0f} s") from None
            seconds = job.epoch_time()
            if job.proc.returncode != 0 or seconds is None:
                raise RuntimeError(f"{variant} failed:\n{(job.folder / 'output.log').read_text()[-2000:]}")
            return seconds
        finally:
            for o in others:
                o.kill()


def plain_worker(folder: Path, epochs: int, threads: int, samples: int) -> None:
    """A hand-written training loop with torch's defaults (unless ``threads``): the comparison's baseline."""
    import torch
    import torch.nn.functional as F

    from trainlab.data.datasets import DATASETS
    from trainlab.models import build_model

    if threads:
        torch.set_num_threads(threads)
    raw = DATASETS.get("fashion-mnist")(root=None, download=False, args={})
    images, targets = raw.train.images, raw.train.targets
    gen = torch.Generator().manual_seed(0)
    order = torch.randperm(len(targets), generator=gen)
    n_valid = len(targets) // 10
    valid_idx, train_idx = order[:n_valid], order[n_valid:]
    if samples:
        train_idx = train_idx[:samples]
    model = build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28), width=16, blocks=1)
    model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), 6e-3, weight_decay=5e-4)

    def batch(idx):
        x = (images[idx].float() / 255 - 0.286) / 0.353
        return x.contiguous(memory_format=torch.channels_last), targets[idx]

    rows = []
    (folder / "ready").touch()
    for _ in range(epochs):
        start = time.perf_counter()
        model.train()
        for idx in train_idx[torch.randperm(len(train_idx), generator=gen)].split(256):
            x, y = batch(idx)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for idx in valid_idx.split(1000):
                x, y = batch(idx)
                F.cross_entropy(model(x), y)
        rows.append({"time": time.perf_counter() - start})
        (folder / "epochs.json").write_text(json.dumps({"rows": rows}))


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return f"{os.cpu_count()} cores ({cpu}), {time.strftime('%Y-%m-%d %H:%M')}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="rounds; each runs every variant × competitor count")
    p.add_argument("--competitors", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=["trainlab", "plain"],
                   choices=["trainlab", "trainlab-before", *PLAIN])
    p.add_argument("--before", type=Path, help="a src folder of an older trainlab, for the trainlab-before variant")
    p.add_argument("--samples", type=int, help="training images per epoch (default: the example's 54,000)")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--plain-worker", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--epochs", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`/kill: run the cleanup that kills children
    if args.plain_worker:
        return plain_worker(args.plain_worker, args.epochs, args.threads, args.samples)
    if not os.environ.get("TRAINLAB_DATA"):
        raise SystemExit("set TRAINLAB_DATA to the folder that holds fashion-mnist/ (e.g. ../shared/data)")
    if "trainlab-before" in args.variants and not args.before:
        raise SystemExit("the trainlab-before variant needs --before SRC")
    if "0" not in map(str, args.competitors):
        raise SystemExit("--competitors must include 0 (the quiet time every ratio is relative to)")
    print(f"{machine()}; {args.samples or 54000} training images per epoch; median of {args.repeats} rounds",
          flush=True)
    times: dict[tuple[str, int], list[float]] = {}
    for rnd in range(args.repeats):
        for c in args.competitors:
            for v in args.variants:
                load = os.getloadavg()[0]
                t = measure(v, c, samples=args.samples, before=args.before, timeout=args.timeout)
                times.setdefault((v, c), []).append(t)
                print(f"  round {rnd + 1}: {v} beside {c}: {t:.1f} s (load average before {load:.2f})", flush=True)
                time.sleep(2.0)
    print(f"\n| variant | {' | '.join(f'beside {c}' if c else 'alone' for c in args.competitors)} |")
    print(f"|---|{'---|' * len(args.competitors)}")
    for v in args.variants:
        quiet = statistics.median(times[(v, 0)])
        cells = []
        for c in args.competitors:
            med = statistics.median(times[(v, c)])
            # per-round ratios too: steadier when the machine's speed drifts between rounds
            paired = statistics.median(t / q for t, q in zip(times[(v, c)], times[(v, 0)]))
            cells.append(f"{med:.1f} s" if c == 0 else f"{med:.1f} s ({med / quiet:.2f}×, paired {paired:.2f}×)")
        print(f"| {v} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
