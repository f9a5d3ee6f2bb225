"""The learning-rate range test: train a throwaway copy of the experiment's model while the learning rate
grows exponentially, record the smoothed loss, stop when it diverges, and suggest a learning rate.

Smith 2017, "Cyclical Learning Rates for Training Neural Networks" (section 3.3, the "LR range test");
the exponential ramp and bias-corrected smoothing follow fastai's ``lr_find``; the suggestion is a
"valley" rule in the spirit of fastai 2.x (see :func:`valley`): the stretch over which the smoothed loss
keeps falling, and a learning rate halfway down it. Nothing is written into the experiment's checkpoints.

Example:
    >>> result = lr_find(Path("experiments/digits-cnn"))  # doctest: +SKIP
    >>> f"{result.suggestion:.1e}"  # doctest: +SKIP
    '3.0e-03'
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import load_config
from ..engine import Callback, GradClip
from ..engine.factory import learner_from_config
from ..errors import ConfigError, TrainingError
from ..files import atomic_write_text


class LRRangeTest(Callback):
    """Sets the learning rate of step i to ``start * (end / start) ** (i / (steps - 1))`` (parameter groups
    keep their ratios to the last group, so discriminative rates survive) and records the loss; stops the
    run when ``steps`` are done, the loss is not finite, or the smoothed loss exceeds ``diverge`` × its
    minimum."""

    def __init__(self, start: float = 1e-7, end: float = 10.0, steps: int = 100, beta: float = 0.98,
                 diverge: float = 4.0) -> None:
        if not 0 < start < end or steps < 2:
            raise ConfigError(f"lr range test: need 0 < start < end and steps >= 2; got start={start}, end={end}, "
                              f"steps={steps}.")
        self.start, self.end, self.steps, self.beta, self.diverge = start, end, steps, beta, diverge
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.stop_reason = ""
        self._avg = 0.0

    def lr_at(self, i: int) -> float:
        return self.start * (self.end / self.start) ** (i / (self.steps - 1))

    def on_fit_start(self, learner) -> None:
        self._base = [g["lr"] for g in learner.optimizer.param_groups]

    def on_train_batch_start(self, learner) -> None:
        lr = self.lr_at(len(self.lrs))
        for group, base in zip(learner.optimizer.param_groups, self._base):
            group["lr"] = lr * base / self._base[-1]
        self.lrs.append(lr)

    def on_train_batch_end(self, learner) -> None:
        loss = float(learner.loss)  # one host sync per step: fine for a short diagnostic run
        i = len(self.losses)
        self.losses.append(loss)
        if not math.isfinite(loss):
            return self._stop(learner, f"the loss became {loss} at lr {self.lrs[-1]:.2e}")
        self._avg = self.beta * self._avg + (1 - self.beta) * loss
        smooth = self._avg / (1 - self.beta ** (i + 1))  # bias-corrected exponential moving average
        self.smoothed.append(smooth)
        if i > 0 and smooth > self.diverge * min(self.smoothed):
            return self._stop(learner, f"the smoothed loss exceeded {self.diverge:g}× its minimum at lr {self.lrs[-1]:.2e}")
        if len(self.lrs) >= self.steps:
            return self._stop(learner, f"reached the last lr {self.end:.2e}")

    def _stop(self, learner, reason: str) -> None:
        self.stop_reason = reason
        learner.should_stop = learner.stop_now = True  # leave at once: no validation, no epoch end
        learner.stop_reason = f"lr range test: {reason}"


def valley(losses: list[float]) -> int:
    """Index of the suggested learning rate: the stretch over which the smoothed loss keeps falling that
    drops it the most, and the point halfway along it (in steps, so halfway in log-lr).

    fastai's valley takes the longest decreasing subsequence; on a long flat start its noise adds points
    and drags the suggestion towards tiny rates, so this variant keeps the stretch contiguous and ranks
    stretches by how much they lower the loss.

    Example:
        >>> valley([5, 4, 3, 2, 1, 2, 9])
        2
    """
    n = len(losses)
    if n == 0:
        raise ValueError("no losses recorded")
    best, best_drop, start = (0, 0), -1.0, 0
    for i in range(1, n + 1):
        if i == n or not losses[i] < losses[i - 1]:  # the falling stretch start..i-1 ends here
            drop = losses[start] - losses[i - 1]
            if drop > best_drop:
                best, best_drop = (start, i - 1), drop
            start = i
    return best[0] + (best[1] - best[0]) // 2


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]  # raw batch losses
    smoothed: list[float]
    suggestion: float  # the valley rule
    min_loss_lr: float  # the lr of the lowest smoothed loss (a common rule: use a tenth of it)
    stop_reason: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def plot_lr_find(result: LRFindResult, path: Path) -> Path:
    """Smoothed (and raw) loss against the learning rate on a log axis, the suggestion marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(result.smoothed)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(result.lrs[:n], result.losses[:n], color="0.75", lw=0.8, label="batch loss")
    ax.plot(result.lrs[:n], result.smoothed, color="C0", lw=1.6, label="smoothed loss")
    i = min(range(n), key=lambda k: abs(math.log(result.lrs[k]) - math.log(result.suggestion)))
    ax.plot([result.suggestion], [result.smoothed[i]], "o", color="C3", ms=7,
            label=f"suggestion (valley) {result.suggestion:.2e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    top = max(result.smoothed[0], min(result.smoothed)) * 1.6
    ax.set_ylim(min(result.smoothed) * 0.8 if min(result.smoothed) > 0 else None, top)
    ax.set_title(f"LR range test ({n} steps; stopped: {result.stop_reason})", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def lr_find(exp: Path, *, start: float = 1e-7, end: float = 10.0, steps: int = 100, overrides: list[str] = (),
            write: bool = True) -> LRFindResult:
    """Run the range test on a fresh model built from ``exp``'s params (the experiment's files and weights
    stay as they are); write ``lr_find.png`` and ``lr_find.json`` into ``exp`` when ``write``."""
    exp = Path(exp)
    cfg = load_config(exp, list(overrides))
    test = LRRangeTest(start, end, steps)
    callbacks: list[Callback] = [test] + ([GradClip(cfg.train.grad_clip)] if cfg.train.grad_clip else [])
    learner = learner_from_config(cfg, exp, callbacks=callbacks, default_callbacks_on=False)
    epochs = -(-steps // max(1, len(learner.data.train))) + 1
    try:
        learner.fit(epochs)
    except TrainingError:
        pass  # a non-finite loss: the callback already recorded it and asked to stop
    if len(test.smoothed) < 2:
        raise TrainingError(f"the lr range test recorded {len(test.smoothed)} finite loss(es) "
                            f"({test.stop_reason or 'too few batches'}); lower --start or check the data.")
    smoothed = test.smoothed
    best = min(range(len(smoothed)), key=smoothed.__getitem__)
    result = LRFindResult(test.lrs[:len(test.losses)], test.losses, smoothed, test.lrs[valley(smoothed)],
                          test.lrs[best], test.stop_reason or "ran out of batches")
    if write:
        atomic_write_text(exp / "lr_find.json", result.to_json())
        plot_lr_find(result, exp / "lr_find.png")
    return result
