"""mixup and cutmix: train on blends of two images whose targets are blended in the same proportion.

- mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization", arXiv 1710.09412):
  ``x = lam x_i + (1 - lam) x_j``, target ``lam y_i + (1 - lam) y_j``, ``lam ~ Beta(alpha, alpha)``.
- cutmix (Yun et al. 2019, "CutMix", arXiv 1905.04899): a box of area ``(1 - lam)`` of the image taken
  from ``x_j``, ``lam`` then set to the share of pixels that stayed ``x_i``'s (the box is clipped at the
  borders).

One ``lam`` and one pairing (a random permutation j of the batch) per batch, as timm's ``Mixup`` does in its
default batch mode, applied on the device after augmentation and normalization. ``lam`` is folded to
``max(lam, 1 - lam)``: a pair blended with ``lam`` or ``1 - lam`` is the same pair seen from the other image,
and this way every image keeps the larger share, so its own label is the dominant one (training accuracy
and per-class training metrics count each sample toward it), and ``alpha -> 0`` gives ``lam = 1``, the
unmixed batch. The targets become class probabilities (B, C); cross-entropy takes them as they are, label
smoothing included (``F.cross_entropy`` smooths probability targets the same way).

Every draw comes from a generator seeded with (seed, epoch, batch index), like the loaders' augmentation,
so a run resumed mid-epoch mixes exactly the batches an uninterrupted run would.

Example:
    >>> x, y = torch.arange(4.).view(4, 1, 1, 1), torch.tensor([0, 1, 2, 3])
    >>> mx, my = mix_batch(x, y, num_classes=4, lam=0.75, perm=torch.tensor([1, 0, 3, 2]))
    >>> mx.flatten().tolist(), my[0].tolist()
    ([0.25, 0.75, 2.25, 2.75], [0.75, 0.25, 0.0, 0.0])
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..data.loaders import mix_seed
from ..engine import Callback, ClassificationTask
from ..errors import ConfigError

STREAM = 2  # the loaders draw augmentation from stream 1 of (seed, epoch, batch); mixing from this one


def cut_box(h: int, w: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of a box of about ``(1 - lam)`` of an h×w image, centred uniformly, clipped at the
    borders (Yun et al. 2019).

    Example:
        >>> cut_box(8, 8, 0.75, np.random.default_rng(0))
        (4, 8, 3, 7)
    """
    side = math.sqrt(1.0 - lam)
    ch, cw = int(h * side), int(w * side)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    return max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)


def mix_batch(x: Tensor, y: Tensor, *, num_classes: int, lam: float, perm: Tensor,
              box: tuple[int, int, int, int] | None = None) -> tuple[Tensor, Tensor]:
    """The batch blended with ``x[perm]``: mixup with weight ``lam``, or with ``box`` the box pasted from
    ``x[perm]`` and ``lam`` recomputed as the share of pixels outside it. Returns (x (B, C, H, W), target
    probabilities (B, num_classes)).

    Example:
        >>> x = torch.zeros(2, 1, 4, 4); x[1] = 1
        >>> mx, my = mix_batch(x, torch.tensor([0, 1]), num_classes=2, lam=0.0, perm=torch.tensor([1, 0]),
        ...                    box=(0, 2, 0, 4))
        >>> float(mx[0].mean()), my[0].tolist()
        (0.5, [0.5, 0.5])
    """
    perm = perm.to(x.device)
    if box is None:
        mixed = x.mul(lam).add_(x[perm], alpha=1.0 - lam)
    else:
        y0, y1, x0, x1 = box
        mixed = x.clone()
        mixed[:, :, y0:y1, x0:x1] = x[perm][:, :, y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / (x.shape[-2] * x.shape[-1])
    one_hot = F.one_hot(y, num_classes).float()  # (B, C)
    return mixed, one_hot.mul(lam).add_(one_hot[perm], alpha=1.0 - lam)


class MixBatches(Callback):
    """Replaces each training batch of the epoch by its mixup or cutmix blend (see the module docstring).

    Args:
        mixup_alpha, cutmix_alpha: Beta(alpha, alpha) parameters; 0 turns that kind off.
        prob: share of the batches mixed (the others train as they are).
        switch_prob: with both kinds on, the share of mixed batches that use cutmix.
        seed: the run's seed (``train.seed``): the draws of batch b of epoch e come from (seed, e, b).

    Batches of extra passes (``Learner.train_pass``, e.g. Adaptive Focus Learning's) are not mixed. Needs a
    classification task and the plain cross-entropy objective (a ``loss`` section weighs class targets).
    History rows record ``mix``: what was mixed and that training metrics use the dominant label.

    Example:
        >>> learner = Learner(model, data, optimizer=opt, callbacks=[MixBatches(cutmix_alpha=1.0)])  # doctest: +SKIP
    """

    def __init__(self, *, mixup_alpha: float = 0.2, cutmix_alpha: float = 0.0, prob: float = 1.0,
                 switch_prob: float = 0.5, seed: int = 0, description: str = "") -> None:
        if mixup_alpha < 0 or cutmix_alpha < 0 or not (mixup_alpha or cutmix_alpha):
            raise ConfigError(f"data.mix: mixup_alpha {mixup_alpha} and cutmix_alpha {cutmix_alpha}: both must be "
                              ">= 0 and one > 0, e.g. mixup_alpha: 0.2.")
        self.mixup_alpha, self.cutmix_alpha, self.prob, self.switch_prob = mixup_alpha, cutmix_alpha, prob, switch_prob
        self.seed = seed
        self.description = description or f"mixup {mixup_alpha:g}, cutmix {cutmix_alpha:g}, p={prob:g}"

    def on_setup(self, learner) -> None:
        if not isinstance(learner.task, ClassificationTask):
            raise ConfigError(f"data.mix mixes class labels; this run's task is {type(learner.task).__name__} "
                              f"(dataset {learner.config.get('data', {}).get('name', '?')!r}), whose targets do not "
                              "mix. Remove data.mix.")
        self.num_classes = learner.data.num_classes

    def on_fit_start(self, learner) -> None:
        if learner.objective is not None:  # set by another callback's on_setup, so checked here
            raise ConfigError("data.mix gives class probabilities as targets, but this run's training objective "
                              "(a loss section) needs class indices; remove one of them.")

    def draw(self, epoch: int, batch: int, batch_size: int, h: int, w: int) -> tuple[float, Tensor, tuple | None] | None:
        """(lam, permutation, box or None) of batch ``batch`` of ``epoch``, or None when it stays unmixed."""
        rng = np.random.default_rng(mix_seed(self.seed, epoch, batch, STREAM))
        if rng.random() >= self.prob:
            return None
        use_cutmix = self.cutmix_alpha > 0 and (self.mixup_alpha == 0 or rng.random() < self.switch_prob)
        alpha = self.cutmix_alpha if use_cutmix else self.mixup_alpha
        lam = float(rng.beta(alpha, alpha))
        lam = max(lam, 1.0 - lam)  # every image keeps the larger share (see the module docstring)
        perm = torch.from_numpy(rng.permutation(batch_size))
        return lam, perm, cut_box(h, w, lam, rng) if use_cutmix else None

    def on_train_batch_start(self, learner) -> None:
        x, y = learner.batch
        drawn = self.draw(learner.loop.epoch, learner.loop.batch, x.shape[0], x.shape[-2], x.shape[-1])
        if drawn is None or drawn[0] == 1.0:  # unmixed: the batch exactly as it came
            return
        lam, perm, box = drawn
        learner.batch = mix_batch(x, y, num_classes=self.num_classes, lam=lam, perm=perm, box=box)

    def on_epoch_end(self, learner) -> None:
        learner.logs["mix"] = f"{self.description}; train metrics against each image's dominant label"
