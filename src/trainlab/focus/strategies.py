"""Focus strategies: which classes to focus on, when, and which training batches the focus pass sees.

Adaptive Focus Learning (Harper & Laird, "Learn What You Don't Know: Adaptive Focus Learning", SMU CS 8321,
2021): after each epoch's normal pass, evaluate per class on the validation split, take the k worst classes
and run an extra, damped pass over their *training* samples. The decisions are overridable methods; the
:class:`~trainlab.focus.callback.FocusCallback` runs them inside the Learner (no copy of the training loop).

Unlike the original code: classes are ranked on the validation split, never the test split; the focus
subset is shuffled (the original iterated one class after the other); the damping is a learning-rate
scale by default (a gradient scale, the original "penalty", is nearly a no-op under Adam).

Example:
    >>> s = FocusLearning(k=2, rank_by="accuracy")
    >>> s.pick_classes({"accuracy": [0.9, 0.4, 0.8, 0.6]})
    [1, 3]
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from ..data import BatchLoader
from ..engine.history import History
from ..errors import ConfigError
from ..registry import Registry
from .policies import Always, FocusPolicy

log = logging.getLogger(__name__)

FOCUS_STRATEGIES: Registry[type[FocusLearning]] = Registry("focus strategy")

# The focus pass of epoch e reads the chosen classes' subset with loader epoch key FOCUS_KEY * (r + 1) + e
# (r-th repetition when a step budget outlasts one pass): an order and augmentation of its own, unlike the
# normal pass's batch i of epoch e, and the same again after a resume.
FOCUS_KEY = 1_000_000


def higher_is_worse(rank_by: str) -> bool:
    """Losses are worst when highest; scores (accuracy, f1, ...) when lowest.

    Example:
        >>> higher_is_worse("loss"), higher_is_worse("accuracy")
        (True, False)
    """
    return rank_by.endswith("loss")


def focus_probabilities(values: Tensor, *, rank_by: str, temperature: float) -> Tensor:
    """Soft focus: p(class) = softmax(error / temperature), error = the loss, or minus the score.

    ``values`` (C,) holds the per-class monitored metric. A small temperature approaches "only the worst
    class", a large one a uniform draw; the temperature is in the metric's units.

    Example:
        >>> [round(p, 4) for p in focus_probabilities(torch.tensor([0.9, 0.5]), rank_by="accuracy", temperature=0.1).tolist()]
        [0.018, 0.982]
    """
    errors = values.double() if higher_is_worse(rank_by) else -values.double()  # (C,)
    return torch.softmax(errors / temperature, dim=0)


@FOCUS_STRATEGIES.register("focus")
class FocusLearning:
    """Hard focus: an extra pass over every training sample of the ``k`` worst classes.

    Args:
        k: how many classes to focus on.
        rank_by: the per-class validation metric that ranks classes ("loss", "accuracy", "f1", ...).
        when: a policy ``(history, epoch) -> bool`` (see :mod:`trainlab.focus.policies`).
        order: "after" (focus after the normal pass) or "before" (the reversed variant).
        penalty_mode: "lr_scale" (lr × penalty for focus steps only) or "grad_scale" (gradients × penalty).
        penalty: the damping factor (the original default 1e-2).
        steps: None for one full pass over the chosen classes, else this many optimizer steps.
        freeze_norm: BatchNorm layers run in eval mode during the focus pass, keeping the running statistics
            of the whole data (the pass sees only a few classes; without this the statistics drift to them).
        optimizer_state: "restore" (the optimizer's momentum/moments are put back after the focus pass, so
            the damped steps stay damped) or "shared" (the original: the focus gradients live on in Adam's
            first moment and act at the full lr during the next normal steps).
        seed: seeds the strategy's random draws (the soft variant); the state survives checkpoints.

    Subclass and override :meth:`time_to_focus`, :meth:`pick_classes`, :meth:`focus_indices` or
    :meth:`focus_batches` to change a decision.

    Example:
        >>> FocusLearning(k=1, rank_by="loss").pick_classes({"loss": [0.2, 1.3, 0.7]})
        [1]
    """

    order = "after"

    def __init__(self, *, k: int = 2, rank_by: str = "loss", when: FocusPolicy | None = None,
                 order: str | None = None, penalty_mode: str = "lr_scale", penalty: float = 1e-2,
                 steps: int | None = None, freeze_norm: bool = True, optimizer_state: str = "restore",
                 seed: int = 0) -> None:
        if order not in (None, "after", "before"):
            raise ConfigError(f"focus order {order!r}; allowed: 'after' or 'before' (the reversed variant).")
        if penalty_mode not in ("lr_scale", "grad_scale"):
            raise ConfigError(f"focus penalty mode {penalty_mode!r}; allowed: 'lr_scale' or 'grad_scale'.")
        if optimizer_state not in ("restore", "shared"):
            raise ConfigError(f"focus optimizer_state {optimizer_state!r}; allowed: 'restore' or 'shared'.")
        if k < 1 or (steps is not None and steps < 1):
            raise ConfigError(f"focus k must be >= 1 (got {k}) and steps None or >= 1 (got {steps}).")
        self.k, self.rank_by, self.when = k, rank_by.removeprefix("valid.per_class."), when or Always()
        self.order = order or type(self).order
        self.penalty_mode, self.penalty, self.steps, self.freeze_norm = penalty_mode, penalty, steps, freeze_norm
        self.optimizer_state = optimizer_state
        self.generator = torch.Generator().manual_seed(seed)

    # ------------------------------------------------------------------ decisions
    def time_to_focus(self, history: History, *, epoch: int) -> bool:
        """Whether epoch ``epoch`` (1-based) gets a focus pass; ``history`` holds every row known so far."""
        return self.when(history, epoch)

    def pick_classes(self, per_class: dict[str, list[float]]) -> list[int]:
        """The k worst classes by the monitored metric (ties: lower class index first).

        ``per_class`` maps metric names to per-class validation values, e.g. {"loss": [..], "accuracy": [..],
        "support": [..]}; classes without validation samples (support 0) are never picked.
        """
        values = self._monitored(per_class)  # (C,)
        if self.k > len(values):
            raise ConfigError(f"focus.k is {self.k} but the data has {len(values)} classes; choose k <= {len(values)}.")
        support = per_class.get("support")
        ranked = sorted(range(len(values)), key=lambda c: -values[c] if higher_is_worse(self.rank_by) else values[c])
        ranked = [c for c in ranked if support is None or support[c] > 0]
        return ranked[: self.k]

    def focus_indices(self, classes: list[int], *, targets: Tensor) -> Tensor:
        """Indices (N_focus,) into the training split of the samples the focus pass trains on."""
        chosen = torch.as_tensor(classes, dtype=torch.long)
        return torch.isin(targets, chosen).nonzero().squeeze(1)

    def focus_batches(self, classes: list[int], *, train: BatchLoader, epoch: int) -> Iterator[tuple[Tensor, Tensor]]:
        """Shuffled, augmented (x, y) batches of the chosen classes' training samples for epoch ``epoch`` (0-based).

        One pass over :meth:`focus_indices`; with a step budget the subset is repeated (each time in a new
        order) until the Learner has taken ``steps`` steps.
        """
        indices = self.focus_indices(classes, targets=train.labels)
        if len(indices) == 0:
            log.warning("focus: classes %s have no training samples; no focus pass this epoch", classes)
            return
        loader = train.subset(indices, train=True)
        repeat = 0
        while True:
            yield from loader.batches(FOCUS_KEY * (repeat + 1) + epoch)
            repeat += 1
            if self.steps is None:
                return

    def train_pass_args(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`Learner.train_pass`: step budget, damping, BatchNorm and optimizer state."""
        scale = {"lr_scale": self.penalty} if self.penalty_mode == "lr_scale" else {"grad_scale": self.penalty}
        return {"max_steps": self.steps, **scale, "freeze_norm": self.freeze_norm,
                "restore_optimizer_state": self.optimizer_state == "restore"}

    def describe(self) -> dict[str, Any]:
        """Extra values for this epoch's history row (none for hard focus)."""
        return {}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])

    def _monitored(self, per_class: dict[str, list[float]]) -> list[float]:
        if self.rank_by not in per_class:
            raise ConfigError(f"focus.rank_by {self.rank_by!r} is not a per-class validation metric; recorded: "
                              f"{', '.join(sorted(k for k in per_class if k != 'support'))}.")
        return [float(v) for v in per_class[self.rank_by]]


@FOCUS_STRATEGIES.register("reversed")
class ReversedFocusLearning(FocusLearning):
    """The reversed variant: each epoch starts with the focus pass, then the normal pass.

    At epoch 1 the classes are ranked on the untrained model (as in the original); later, on the previous
    epoch's validation.

    Example:
        >>> ReversedFocusLearning().order
        'before'
    """

    order = "before"


@FOCUS_STRATEGIES.register("soft")
class SoftFocusLearning(FocusLearning):
    """Soft focus (trainlab's extension): every class may be drawn, with probability rising with its error.

    The focus pass draws as many samples as hard focus would use (the training samples of the k most
    probable classes, or ``steps`` batches): first a class per sample from
    p = softmax(error / temperature), then samples of that class uniformly (without replacement while the
    class has enough). The draws use the strategy's generator, saved in checkpoints.

    Example:
        >>> s = SoftFocusLearning(k=1, rank_by="accuracy", temperature=0.05)
        >>> s.pick_classes({"accuracy": [0.95, 0.60, 0.90]})
        [1]
        >>> [round(p, 3) for p in s.probabilities]
        [0.001, 0.997, 0.002]
    """

    def __init__(self, *, temperature: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ConfigError(f"focus.temperature must be > 0, got {temperature}.")
        self.temperature = temperature
        self.probabilities: list[float] = []

    def pick_classes(self, per_class: dict[str, list[float]]) -> list[int]:
        """Set :attr:`probabilities` (C,) and return the k most probable classes (for the record)."""
        probs = focus_probabilities(torch.tensor(self._monitored(per_class)), rank_by=self.rank_by,
                                    temperature=self.temperature)
        support = per_class.get("support")
        if support is not None:  # a class without validation samples has no measured error
            probs = probs * (torch.tensor(support) > 0)
            probs = probs / probs.sum()
        self.probabilities = probs.tolist()
        return super().pick_classes(per_class)  # the k most probable: p rises with the error

    def focus_indices(self, classes: list[int], *, targets: Tensor) -> Tensor:
        counts = torch.bincount(targets, minlength=len(self.probabilities))  # (C,) training samples per class
        total = int(counts[torch.as_tensor(classes, dtype=torch.long)].sum()) if classes else 0
        probs = torch.tensor(self.probabilities, dtype=torch.double) * (counts > 0)
        if total == 0 or probs.sum() == 0:
            return torch.empty(0, dtype=torch.long)
        drawn = torch.multinomial(probs / probs.sum(), total, replacement=True, generator=self.generator)  # (N,)
        per_class = torch.bincount(drawn, minlength=len(counts))  # (C,)
        parts = []
        for c in per_class.nonzero().squeeze(1).tolist():
            pool = (targets == c).nonzero().squeeze(1)  # (n_c,)
            m = int(per_class[c])
            if m <= len(pool):
                parts.append(pool[torch.randperm(len(pool), generator=self.generator)[:m]])
            else:
                parts.append(pool[torch.randint(len(pool), (m,), generator=self.generator)])
        return torch.cat(parts)

    def describe(self) -> dict[str, Any]:
        return {"focus.per_class.probability": list(self.probabilities)}
