"""Per-step overhead of the Learner against a hand-written PyTorch loop (and Lightning, when installed).

The same small CNN, the same in-memory batches and the same one-batch validation per epoch, trained by
(a) a hand-written loop, (b) trainlab's Learner with its default callbacks (progress as one log line per
epoch, history and checkpoint files on), (c) Lightning's Trainer with its defaults minus the progress bar
and model summary. Runs are interleaved a, b, c, a, b, c, ... after one warm-up round that is dropped;
each prints the median per-step time over the repeats, the ratios (b)/(a) and (c)/(a) of the medians, and the
median of the per-round ratios ("paired": steadier when the machine's speed drifts between rounds).

With ``--diagnostics`` it adds (d) the Learner with ``logging.diagnostics`` at its default cadence (every epoch,
32 probe images, TensorBoard histograms) and a TensorBoard callback in both (b) and (d), and prints (d)/(b): the
cost of the diagnostics.

With ``--step-only`` it times just the training steps instead: the hand loop's body against
``Learner.train_step`` (metrics on the device, NaN flag, hooks) on the same batches, interleaved, no
epochs, validation or files; this isolates the per-step cost from the fixed per-epoch cost.

With ``--ema`` (implies ``--step-only``) it adds (e) ``Learner.train_step`` with the weight EMA
(:class:`trainlab.recipes.ModelEMA`, updated after every optimizer step) and prints (e)/(b): its per-step cost.

With ``--profile`` it runs the Learner alone under cProfile and splits its per-epoch time (validation,
metrics, checkpoint serialization, atomic writes and their fsyncs, history files).

Every loop runs with the same OpenMP settings, those of the environment (libgomp's defaults unless
``OMP_WAIT_POLICY`` and the like are set): run it alone, since on a machine where anything else runs,
spinning OpenMP threads make every loop several times slower and the ratios meaningless (docs/threads.md).

    python benchmarks/overhead.py [--repeats 5] [--steps 60] [--epochs 2] [--threads 2] [--step-only | --diagnostics | --ema] [--profile]
"""
from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from trainlab.data import DataBundle
from trainlab.engine import Checkpoint, HistoryWriter, Learner, Progress, TensorBoard
from trainlab.models import build_model


class FixedBatches:
    """The loader protocol the Learner uses, over a list of ready batches (no augmentation, no copies)."""

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.list = batches
        self.targets = torch.cat([y for _, y in batches])
        self.num_samples = len(self.targets)

    def __len__(self) -> int:
        return len(self.list)

    def batches(self, epoch: int = 0, start: int = 0):
        return iter(self.list[start:])

    def __iter__(self):
        return iter(self.list)

    def subset(self, indices: torch.Tensor, train: bool = False) -> FixedBatches:
        x = torch.cat([b[0] for b in self.list])[indices]
        return FixedBatches([(x, self.targets[indices])])


def make_batches(steps: int, batch_size: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(batch_size, 1, 28, 28, generator=gen), torch.randint(0, 10, (batch_size,), generator=gen))
            for _ in range(steps)]


def new_model(width: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("cnn_small", num_classes=10, in_channels=1, input_size=(28, 28), width=width)


def hand_loop(train, valid, epochs: int, width: int) -> float:
    model = new_model(width)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for x, y in valid:
                F.cross_entropy(model(x), y)
    return time.perf_counter() - start


def learner_loop(train, valid, epochs: int, width: int, *, tensorboard: bool = False,
                 diagnostics: bool = False) -> float:
    model = new_model(width)
    data = DataBundle(train=FixedBatches(train), valid=FixedBatches(valid), test=None,
                      class_names=[str(i) for i in range(10)], input_shape=(1, 28, 28), mean=[0.0], std=[1.0],
                      augmentation="none")
    with tempfile.TemporaryDirectory() as tmp:
        callbacks = [Progress("epoch"), Checkpoint(Path(tmp)), HistoryWriter(Path(tmp))]
        if tensorboard:
            callbacks.append(TensorBoard(Path(tmp) / "tensorboard"))
        if diagnostics:
            from trainlab.inspect.config import DiagnosticsConfig
            from trainlab.inspect.diagnostics import LayerDiagnostics

            d = DiagnosticsConfig()  # the default cadence
            callbacks.append(LayerDiagnostics(every=d.every, images=d.images, histograms=d.histograms))
        learner = Learner(model, data, optimizer=torch.optim.Adam(model.parameters(), 1e-3), callbacks=callbacks)
        start = time.perf_counter()
        learner.fit(epochs)
        return time.perf_counter() - start


PROFILE_PARTS = {  # (file name, function) -> label; cumulative seconds per epoch under cProfile
    ("learner.py", "evaluate"): "validation pass + its metrics",
    ("learner.py", "_end_epoch"): "end of epoch: callbacks (all of the below)",
    ("checkpointing.py", "on_epoch_recorded"): "  Checkpoint: best.pt/last.pt + metrics json",
    ("learner.py", "save"): "    Learner.save: finite check, state_dict, serialization",
    ("learner.py", "check_finite"): "      of which the finite check of loss and weights",
    ("checkpoint.py", "serialize_checkpoint"): "      of which torch.save into memory",
    ("reporting.py", "on_epoch_recorded"): "  HistoryWriter + Progress (history.json/csv, log line)",
    ("checkpoint.py", "atomic_write_bytes"): "atomic writes on the training thread (all files)",
    ("~", "<built-in method posix.fsync>"): "  of which fsync",
    ("files.py", "submit"): "queueing files for the writer thread",
    ("metrics.py", "compute"): "metrics compute (train + valid)",
}


def profile_learner(train, valid, epochs: int, width: int) -> None:
    """Where the Learner's time goes beyond the steps: cProfile over ``epochs`` epochs, per epoch."""
    import cProfile
    import pstats

    learner_loop(train, valid, 1, width)  # warm up
    prof = cProfile.Profile()
    prof.enable()
    learner_loop(train, valid, epochs, width)
    prof.disable()
    stats = pstats.Stats(prof).stats
    total = {label: 0.0 for label in PROFILE_PARTS.values()}
    for (file, _, func), (_, _, _, cumulative, _) in stats.items():
        label = PROFILE_PARTS.get((Path(file).name, func))
        if label:
            total[label] += cumulative
    print(f"cProfile, {epochs} epochs of {len(train)} steps (ms per epoch; the profiler slows Python code down):")
    for label, seconds in total.items():
        print(f"  {1000 * seconds / epochs:8.1f}  {label}")


def hand_steps(train, width: int) -> float:
    model = new_model(width).train()
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    start = time.perf_counter()
    for x, y in train:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def learner_steps(train, width: int, *, ema: bool = False) -> float:
    model = new_model(width).train()
    data = DataBundle(train=FixedBatches(train), valid=FixedBatches(train[:1]), test=None,
                      class_names=[str(i) for i in range(10)], input_shape=(1, 28, 28), mean=[0.0], std=[1.0],
                      augmentation="none")
    callbacks = []
    if ema:
        from trainlab.recipes import ModelEMA

        callbacks.append(ModelEMA(decay=0.999))
    learner = Learner(model, data, optimizer=torch.optim.Adam(model.parameters(), 1e-3), callbacks=callbacks)
    learner.train_metrics, learner.batches_per_epoch = learner.task.metrics(), len(train)  # what fit() sets up
    start = time.perf_counter()
    for x, y in train:
        learner.train_step(x, y)
    return time.perf_counter() - start


def ema_update_time(width: int, batch_size: int, updates: int = 500) -> float:
    """Seconds per weight-EMA update of cnn_small(width), timed over ``updates`` updates after a warm-up."""
    from trainlab.recipes import ModelEMA

    learner = Learner(new_model(width), DataBundle(train=FixedBatches(make_batches(1, batch_size)),
                                                   valid=FixedBatches(make_batches(1, batch_size)), test=None,
                                                   class_names=[str(i) for i in range(10)], input_shape=(1, 28, 28),
                                                   mean=[0.0], std=[1.0], augmentation="none"),
                      optimizer=torch.optim.SGD(new_model(width).parameters(), 0.1), callbacks=[ModelEMA()])
    ema = learner.callbacks.find(ModelEMA)
    for _ in range(20):
        ema.on_after_optimizer_step(learner)
    start = time.perf_counter()
    for _ in range(updates):
        ema.on_after_optimizer_step(learner)
    return (time.perf_counter() - start) / updates


def lightning_loop(train, valid, epochs: int, width: int) -> float | None:
    try:
        import lightning as L
    except ImportError:
        return None

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = new_model(width)

        def training_step(self, batch, _):
            x, y = batch
            loss = F.cross_entropy(self.model(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, _):
            x, y = batch
            self.log("val_loss", F.cross_entropy(self.model(x), y))

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters(), 1e-3)

    with tempfile.TemporaryDirectory() as tmp:
        trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, enable_progress_bar=False,
                            enable_model_summary=False, logger=False, default_root_dir=tmp,
                            num_sanity_val_steps=0)
        module = Module()
        start = time.perf_counter()
        trainer.fit(module, train_dataloaders=FixedBatches(train), val_dataloaders=FixedBatches(valid))
        return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=60, help="training steps per epoch")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--width", type=int, default=16, help="cnn_small width")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--step-only", action="store_true", help="time train_step against the hand loop's body only")
    p.add_argument("--diagnostics", action="store_true",
                   help="also time the Learner with logging.diagnostics (both Learners with TensorBoard)")
    p.add_argument("--ema", action="store_true", help="also time train_step with the weight EMA (implies --step-only)")
    p.add_argument("--profile", action="store_true", help="where the Learner's per-epoch time goes (cProfile)")
    args = p.parse_args()
    args.step_only = args.step_only or args.ema
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    for name in ("lightning", "lightning.pytorch", "trainlab"):
        logging.getLogger(name).setLevel(logging.ERROR)
    train, valid = make_batches(args.steps, args.batch_size), make_batches(1, args.batch_size, seed=1)
    if args.profile:
        return profile_learner(train, valid, args.epochs, args.width)
    runners = {"hand loop": hand_loop, "trainlab Learner": learner_loop, "Lightning Trainer": lightning_loop}
    if args.diagnostics:
        runners = {"hand loop": hand_loop,
                   "trainlab Learner": lambda t, v, e, w: learner_loop(t, v, e, w, tensorboard=True),
                   "+ diagnostics": lambda t, v, e, w: learner_loop(t, v, e, w, tensorboard=True, diagnostics=True)}
    if args.step_only:
        runners = {"hand loop": lambda t, v, e, w: hand_steps(t * e, w),  # the same steps*epochs batches
                   "trainlab Learner": lambda t, v, e, w: learner_steps(t * e, w)}
    if args.ema:
        runners["+ weight EMA"] = lambda t, v, e, w: learner_steps(t * e, w, ema=True)
    times: dict[str, list[float]] = {k: [] for k in runners}
    for rep in range(args.repeats + 1):  # round 0 warms up and is dropped
        for name, run in runners.items():
            gc.collect()
            t = run(train, valid, args.epochs, args.width)
            if rep and t is not None:
                times[name].append(t)
    steps = args.steps * args.epochs
    base = statistics.median(times["hand loop"])
    what = f"{steps} train steps only" if args.step_only else f"{steps} steps + {args.epochs} validations"
    print(f"cnn_small(width={args.width}), batch {args.batch_size}, {what}, {args.threads} threads "
          f"(OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}), median of {args.repeats} interleaved runs "
          f"(torch {torch.__version__})")
    for name, ts in times.items():
        if not ts:
            print(f"{name:18s}  not installed (pip install -e '.[bench]')")
            continue
        med = statistics.median(ts)
        # Interleaved runs share the machine's state, so the median of per-round ratios is the steadier number.
        paired = statistics.median(t / h for t, h in zip(ts, times["hand loop"]))
        print(f"{name:18s}  {1000 * med / steps:7.2f} ms/step   ratio to hand loop {med / base:.3f}"
              f"   paired {paired:.3f}   (runs: {', '.join(f'{t:.2f}s' for t in ts)})")
    if not args.step_only:  # with --steps 1 this is the fixed cost of an epoch (validation, metrics, files)
        extra = statistics.median(t - h for t, h in zip(times["trainlab Learner"], times["hand loop"]))
        print(f"Learner - hand loop per epoch: {1000 * extra / args.epochs:.1f} ms (median of paired differences)")
    if args.ema:
        update = ema_update_time(args.width, args.batch_size)
        print(f"one EMA update alone: {1000 * update:.3f} ms = {100 * update * steps / base:.2f}% of a hand-loop step "
              "(timed directly, so it holds on a busy machine too)")
        cost = statistics.median(e / b for e, b in zip(times["+ weight EMA"], times["trainlab Learner"]))
        extra = statistics.median(e - b for e, b in zip(times["+ weight EMA"], times["trainlab Learner"]))
        print(f"weight EMA cost: {100 * (cost - 1):+.1f}% of the Learner's step time (median of paired ratios), "
              f"{1000 * extra / steps:.2f} ms per step")
    if args.diagnostics:
        cost = statistics.median(d / b for d, b in zip(times["+ diagnostics"], times["trainlab Learner"]))
        extra = statistics.median(d - b for d, b in zip(times["+ diagnostics"], times["trainlab Learner"]))
        print(f"diagnostics cost: {100 * (cost - 1):+.1f}% of the Learner's time (median of paired ratios), "
              f"{1000 * extra / args.epochs:.1f} ms per epoch")


if __name__ == "__main__":
    main()
