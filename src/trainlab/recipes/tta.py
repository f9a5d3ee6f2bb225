"""Test-time augmentation (TTA): classify several views of each image and average their probabilities.

``flip``: the image and its horizontal mirror. ``flip+shift``: those two, and each moved by ``max(1, H // 16)``
pixels (the plain view down-right, the mirror up-left; edge pixels fill the gap), four views in all, the
mirror-and-translate set of the CIFAR-10 speed runs (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a
single GPU", arXiv 2404.00498) with fastai's ``learn.tta`` habit of keeping the plain view. The softmax
probabilities are averaged; the wrapped model returns their log, so argmax, cross-entropy and every metric
work on it as on logits (``softmax(log p) = p``).

Only for classification, and only where the dataset says a mirrored image keeps its label
(``DataBundle.flip_keeps_label``: clothes do, digits and text lines do not).

Example:
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3))
    >>> tta = ViewAverage(model, "flip")
    >>> [round(p, 4) for p in tta(torch.zeros(2, 1, 4, 4)).exp().sum(1).tolist()]  # log-probabilities
    [1.0, 1.0]
"""
from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..engine import Callback, ClassificationTask
from ..errors import ConfigError
from .config import TTA_VIEWS


def shift(x: Tensor, dy: int, dx: int) -> Tensor:
    """Images (B, C, H, W) moved down by ``dy`` and right by ``dx`` pixels (negative: up, left), the edge
    pixels repeated into the gap (normalized images have no value that means "black").

    Example:
        >>> shift(torch.arange(3.).view(1, 1, 1, 3), 0, 1).flatten().tolist()
        [0.0, 0.0, 1.0]
    """
    h, w = x.shape[-2:]
    padded = F.pad(x, (max(dx, 0), max(-dx, 0), max(dy, 0), max(-dy, 0)), mode="replicate")
    top, left = max(-dy, 0), max(-dx, 0)
    return padded[..., top:top + h, left:left + w]


def views(x: Tensor, kind: str) -> list[Tensor]:
    """The views ``kind`` ("flip" or "flip+shift") averages, the plain image first."""
    mirrored = x.flip(-1)
    if kind == "flip":
        return [x, mirrored]
    s = max(1, x.shape[-2] // 16)
    return [x, mirrored, shift(x, s, s), shift(mirrored, -s, -s)]


class ViewAverage(nn.Module):
    """``module`` applied to each view of the input; returns the log of the mean softmax (B, C).

    Args:
        module: a classifier returning logits (B, C).
        kind: "flip" or "flip+shift" (see the module docstring).
    """

    def __init__(self, module: nn.Module, kind: str) -> None:
        super().__init__()
        if kind not in TTA_VIEWS[1:]:
            raise ConfigError(f"test-time augmentation {kind!r}; allowed: {', '.join(TTA_VIEWS)}.")
        self.module, self.kind = module, kind

    def forward(self, x: Tensor) -> Tensor:  # x: (B, C, H, W)
        all_views = views(x, self.kind)
        total = sum(self.module(view).float().softmax(1) for view in all_views)  # (B, K), one view at a time
        return (total / len(all_views)).clamp_min(torch.finfo(torch.float32).tiny).log()  # (B, K)


class TestTimeAugmentation(Callback):
    """Validation, ``trainlab evaluate`` and prediction average the model over the views ``kind``.

    Refuses (one line, on setup) a task other than classification and a dataset whose mirrored images do not
    keep their labels. History rows and the metrics files record ``tta``.

    Example:
        >>> learner = Learner(model, data, optimizer=opt, callbacks=[TestTimeAugmentation("flip")])  # doctest: +SKIP
    """

    __test__ = False  # not a pytest test class, whatever its name says

    def __init__(self, kind: str = "flip") -> None:
        if kind not in TTA_VIEWS[1:]:
            raise ConfigError(f"data.tta {kind!r}; allowed: {', '.join(TTA_VIEWS)}.")
        self.kind = kind

    def on_setup(self, learner) -> None:
        name = learner.config.get("data", {}).get("name", "this dataset")
        if not isinstance(learner.task, ClassificationTask):
            raise ConfigError(f"test-time augmentation ({self.kind}) averages class probabilities; this run's task "
                              f"is {type(learner.task).__name__} (dataset {name!r}). Use data.tta none.")
        if not learner.data.flip_keeps_label:
            raise ConfigError(f"test-time augmentation ({self.kind}) mirrors images, and dataset {name!r} says a "
                              "mirrored image does not keep its label (a mirrored digit or text is not one). "
                              "Use data.tta none.")
        if learner.eval_wrap is not None:
            raise ConfigError("data.tta: another callback already wraps the evaluated model; keep one.")
        if "horizontal flip" not in learner.data.augmentation:
            # measured: Fashion-MNIST trained without flips (its shoes all face one way) lost 1.7 pp under flip TTA
            warnings.warn(f"test-time augmentation ({self.kind}) shows the model mirrored images, but it trained "
                          "without flips, so they are new to it and usually cost accuracy; train with data.augment "
                          "flip or light.", UserWarning, stacklevel=2)
        learner.eval_wrap = self.wrap
        learner.eval_notes["tta"] = self.kind

    def wrap(self, module: nn.Module) -> nn.Module:
        return ViewAverage(module, self.kind)

