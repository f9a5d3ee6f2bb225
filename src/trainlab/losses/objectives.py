"""Training objectives for the worst classes, as callbacks that set :attr:`Learner.objective`.

Each callback replaces the mean of the task's per-sample cross-entropy by its own objective in every
training step (the epoch's and :meth:`Learner.train_pass`'s); validation and test metrics keep the plain
cross-entropy, so runs with different objectives stay comparable. They need a classification task.

- :class:`FocalLoss` (Lin et al. 2017, "Focal Loss for Dense Object Detection", arXiv 1708.02002):
  FL = -alpha_y (1 - p_y)^gamma log p_y with p = softmax(z).
- :class:`ErrorReweighting`: cross-entropy weighted per class by the last validation's error rate,
  w_c = (1 - s) + s * C * e_c / sum_k e_k (a validation-driven cousin of class-balanced losses, Cui et al.
  2019, arXiv 1901.05555, whose frequency weights are uniform on balanced data).
- :class:`GroupDRO` over classes (Sagawa et al. 2020, "Distributionally Robust Neural Networks", arXiv
  1911.08731): per batch, q_g <- q_g exp(eta L_g), q <- q / sum q, loss = sum_g q_g L_g (q held constant in
  the backward pass; L_g the mean loss of the batch's class-g samples, 0 when there are none).

History: every epoch records ``loss.per_class.weight`` (C,): the class weights in force at its end (alpha
for focal loss, w for reweighting, q for Group DRO).

Example:
    >>> import torch
    >>> logits, target = torch.zeros(1, 2), torch.tensor([0])
    >>> round(float(focal_loss(logits, target, gamma=2.0)[0]), 4)  # (1 - 0.5)^2 * ln 2
    0.1733
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..engine.callback import Callback
from ..engine.task import ClassificationTask
from ..errors import ConfigError


def focal_loss(logits: Tensor, target: Tensor, *, gamma: float = 2.0, alpha: Tensor | None = None) -> Tensor:
    """Per-sample focal loss -alpha_y (1 - p_y)^gamma log p_y of logits (B, C) and class targets (B,).

    ``gamma = 0`` (and no ``alpha``) is cross-entropy. The modulating factor is differentiated too, as in the
    paper (it is not a detached sample weight).

    Example:
        >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
        >>> [round(v, 4) for v in focal_loss(logits, torch.tensor([0, 0]), gamma=0.0).tolist()]  # = cross-entropy
        [0.1269, 2.1269]
    """
    log_p = F.log_softmax(logits.float(), dim=1).gather(1, target[:, None]).squeeze(1)  # (B,) log p_y
    loss = -(1 - log_p.exp()).pow(gamma) * log_p  # (B,)
    return loss if alpha is None else alpha.to(loss.device)[target] * loss


def error_weights(errors: Tensor, *, strength: float = 0.5) -> Tensor:
    """Class weights (C,) from per-class error rates (C,): w_c = (1 - strength) + strength * C * e_c / sum(e).

    The weights average 1 (sum C), so the loss keeps its scale; ``strength = 0`` is plain cross-entropy,
    ``strength = 1`` weights each class in proportion to its error. No error anywhere: uniform weights.

    Example:
        >>> error_weights(torch.tensor([0.1, 0.3]), strength=1.0).tolist()
        [0.5, 1.5]
    """
    errors = errors.double().clamp_min(0)
    total = errors.sum()
    share = errors / total if total > 0 else torch.full_like(errors, 1 / len(errors))  # (C,) sums to 1
    return ((1 - strength) + strength * len(errors) * share).float()


class LossObjective(Callback):
    """Base: checks the task on setup and installs :meth:`objective` as the Learner's training objective."""

    name = "loss"

    def __init__(self) -> None:
        self.weights: Tensor | None = None  # (C,) on the Learner's device: the class weights in force

    def on_setup(self, learner) -> None:
        if not isinstance(learner.task, ClassificationTask):
            raise ConfigError(f"loss.{self.name} needs a classification task (class targets, logits (B, C)); "
                              f"this run's task is {type(learner.task).__name__}. Remove the loss section.")
        if learner.objective is not None:
            raise ConfigError(f"loss.{self.name}: the Learner already has a training objective; choose one.")
        self.num_classes, self.device = learner.data.num_classes, learner.device
        self.world_size, self.distributed = learner.world_size, learner.distributed
        self.setup(learner)
        learner.objective = self.objective

    def setup(self, learner) -> None:
        """Check settings against the Learner and create state (after the common checks)."""

    def objective(self, output: Tensor, target: Tensor, per_sample: Tensor) -> Tensor:
        """Per-sample terms (B,) whose mean the training step backpropagates."""
        raise NotImplementedError

    def on_epoch_end(self, learner) -> None:
        if self.weights is not None:
            learner.logs["loss.per_class.weight"] = self.weights.tolist()


class FocalLoss(LossObjective):
    """Train on the focal loss (Lin et al. 2017) instead of cross-entropy: well-classified samples count less.

    Args:
        gamma: the focusing parameter (2 in the paper; 0 is cross-entropy).
        alpha: optional per-class weights alpha_y (C,).

    Example:
        >>> learner = Learner(model, data, optimizer=opt, callbacks=[FocalLoss(gamma=2.0)])  # doctest: +SKIP
    """

    name = "focal"

    def __init__(self, *, gamma: float = 2.0, alpha: list[float] | None = None) -> None:
        super().__init__()
        if gamma < 0:
            raise ConfigError(f"loss.focal.gamma must be >= 0, got {gamma}.")
        self.gamma, self.alpha = gamma, alpha

    def setup(self, learner) -> None:
        if learner.task.label_smoothing:
            raise ConfigError("loss.focal replaces the cross-entropy, so train.label_smoothing "
                              f"({learner.task.label_smoothing}) would be ignored; set it to 0.")
        if self.alpha is not None:
            if len(self.alpha) != self.num_classes:
                raise ConfigError(f"loss.focal.alpha has {len(self.alpha)} values; the data has {self.num_classes} "
                                  "classes: give one per class.")
            self.weights = torch.tensor(self.alpha, dtype=torch.float32, device=self.device)

    def objective(self, output: Tensor, target: Tensor, per_sample: Tensor) -> Tensor:
        return focal_loss(output, target, gamma=self.gamma, alpha=self.weights)


class ErrorReweighting(LossObjective):
    """Cross-entropy weighted per class by the last validation's error rate (see :func:`error_weights`).

    Weights are uniform until the first validation; each validation sets the next epoch's weights.

    Args:
        strength: 0 (plain cross-entropy) to 1 (weights proportional to the error).

    Example:
        >>> cb = ErrorReweighting(strength=1.0)
        >>> learner = Learner(model, data, optimizer=opt, callbacks=[cb]).fit(3)  # doctest: +SKIP
        >>> learner.history.rows[-1]["loss.per_class.weight"]  # doctest: +SKIP
        [0.61, 0.09, 1.2, ...]
    """

    name = "reweight"

    def __init__(self, *, strength: float = 0.5) -> None:
        super().__init__()
        if not 0 <= strength <= 1:
            raise ConfigError(f"loss.reweight.strength must be in [0, 1], got {strength}.")
        self.strength = strength

    def setup(self, learner) -> None:
        if self.weights is None:
            self.weights = torch.ones(self.num_classes, device=self.device)

    def on_validation_end(self, learner) -> None:
        accuracy = torch.tensor(learner.logs["valid.per_class.accuracy"], dtype=torch.double)  # (C,)
        support = torch.tensor(learner.logs.get("valid.per_class.support", [1] * len(accuracy)))
        errors = 1 - accuracy
        seen = support > 0
        if seen.any():  # a class without validation samples gets the mean error
            errors = torch.where(seen, errors, errors[seen].mean())
        self.weights = error_weights(errors, strength=self.strength).to(self.device)

    def objective(self, output: Tensor, target: Tensor, per_sample: Tensor) -> Tensor:
        return self.weights[target] * per_sample

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights.tolist()} if self.weights is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights = torch.tensor(state["weights"], device=getattr(self, "device", "cpu"))


class GroupDRO(LossObjective):
    """Group DRO over classes (Sagawa et al. 2020): minimise the q-weighted class losses, q chasing the worst.

    Per training batch (all processes together under DDP): L_g = mean loss of the batch's class-g samples
    (0 when absent), q_g <- q_g exp(step_size * L_g) normalised, then the step backpropagates
    sum_g q_g L_g with q fixed. q starts uniform and persists across steps and checkpoints. The paper's
    generalization adjustment C / sqrt(n_g) shifts every class alike on balanced data, so it is left out.

    Args:
        step_size: eta_q (0.01 in the paper's experiments).

    Example:
        >>> learner = Learner(model, data, optimizer=opt, callbacks=[GroupDRO(step_size=0.01)])  # doctest: +SKIP
    """

    name = "group_dro"

    def __init__(self, *, step_size: float = 0.01) -> None:
        super().__init__()
        if step_size <= 0:
            raise ConfigError(f"loss.group_dro.step_size must be > 0, got {step_size}.")
        self.step_size = step_size
        self.log_q: Tensor | None = None  # (C,) log q

    def setup(self, learner) -> None:
        if self.log_q is None:
            self.log_q = torch.full((self.num_classes,), -math.log(self.num_classes), device=self.device)
        self.log_q = self.log_q.to(self.device)
        self.weights = self.log_q.exp()

    def objective(self, output: Tensor, target: Tensor, per_sample: Tensor) -> Tensor:
        stats = torch.zeros(2, self.num_classes, device=per_sample.device)  # (loss sums, counts) per class
        stats[0].index_add_(0, target, per_sample.detach().float())
        stats[1].index_add_(0, target, torch.ones_like(per_sample, dtype=torch.float))
        if self.distributed:
            torch.distributed.all_reduce(stats)  # L_g over the global batch, the same q on every process
        sums, counts = stats
        # q <- q exp(eta L) / sum, in log space (no overflow): log q <- log_softmax(log q + eta L)
        self.log_q = torch.log_softmax(self.log_q + self.step_size * sums / counts.clamp_min(1), 0)
        self.weights = self.log_q.exp()  # (C,) q
        # mean_i of w_i * loss_i over this process's B samples, averaged over processes, is sum_g q_g L_g
        scale = len(per_sample) * self.world_size
        return per_sample * (self.weights / counts.clamp_min(1))[target] * scale

    def state_dict(self) -> dict[str, Any]:
        return {"log_q": self.log_q.detach().cpu()} if self.log_q is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.log_q = state["log_q"].to(getattr(self, "device", "cpu"))
        self.weights = self.log_q.exp()
