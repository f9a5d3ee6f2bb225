"""What a trained classifier gets wrong: confusion matrix, most-confused class pairs, top-loss images.

The reference is fastai's ``ClassificationInterpretation`` (Howard & Gugger 2020, "Fastai: a layered API
for deep learning"): ``plot_confusion_matrix``, ``most_confused`` and ``plot_top_losses``.

Example:
    >>> interp = Interpretation.from_checkpoint(Path("experiments/digits-cnn/checkpoints/best.pt"))  # doctest: +SKIP
    >>> interp.most_confused()[:2]  # doctest: +SKIP
    [('8', '1', 3), ('9', '5', 2)]
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..engine import Learner
from ..files import atomic_write_text
from ..runs import learner_for_checkpoint


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@dataclass
class Interpretation:
    """Per-example outputs of a model on one split (in the split's fixed order)."""

    learner: Learner
    split: str
    targets: np.ndarray  # (N,) int
    preds: np.ndarray  # (N,) int
    losses: np.ndarray  # (N,) float, cross-entropy of each example
    probs: np.ndarray  # (N,) float, probability given to the predicted class

    @property
    def class_names(self) -> list[str]:
        return list(self.learner.data.class_names)

    @classmethod
    @torch.no_grad()
    def from_learner(cls, learner: Learner, split: str = "test") -> Interpretation:
        learner.model.eval()
        targets, preds, losses, probs = [], [], [], []
        for x, y in learner.data.split(split).batches(0):
            with learner.autocast():
                logits = learner.model(x).float()  # (B, C)
            p = logits.softmax(1)  # (B, C)
            targets.append(y.cpu())
            preds.append(p.argmax(1).cpu())
            probs.append(p.max(1).values.cpu())
            losses.append(learner.task.loss(logits, y).cpu())
        cat = lambda xs: torch.cat(xs).numpy()  # noqa: E731
        return cls(learner, split, cat(targets), cat(preds), cat(losses).astype(np.float32), cat(probs))

    @classmethod
    def from_checkpoint(cls, path: Path, split: str = "test", overrides: list[str] = ()) -> Interpretation:
        learner, _ = learner_for_checkpoint(Path(path), list(overrides))
        return cls.from_learner(learner, split)

    def confusion_matrix(self) -> np.ndarray:
        """(C, C) counts: row = actual class, column = predicted class."""
        c = len(self.class_names)
        return np.bincount(self.targets * c + self.preds, minlength=c * c).reshape(c, c)

    def most_confused(self, min_count: int = 1) -> list[tuple[str, str, int]]:
        """Off-diagonal cells of the confusion matrix, largest first: (actual, predicted, count)."""
        cm, names = self.confusion_matrix(), self.class_names
        pairs = [(names[i], names[j], int(cm[i, j])) for i in range(len(names)) for j in range(len(names))
                 if i != j and cm[i, j] >= min_count]
        return sorted(pairs, key=lambda t: -t[2])

    def top_losses(self, k: int = 16) -> np.ndarray:
        """Indices of the k examples with the highest loss, highest first."""
        return np.argsort(-self.losses, kind="stable")[:k]

    def images(self, indices: np.ndarray) -> np.ndarray:
        """The examples at ``indices`` as (k, H, W, C) floats in [0, 1] (normalization undone)."""
        loader = self.learner.data.split(self.split).subset(torch.as_tensor(indices, dtype=torch.long), train=False)
        x = torch.cat([xb.cpu() for xb, _ in loader.batches(0)])  # (k, C, H, W), normalized
        mean = torch.tensor(self.learner.data.mean)[None, :, None, None]
        std = torch.tensor(self.learner.data.std)[None, :, None, None]
        return (x * std + mean).clamp(0, 1).permute(0, 2, 3, 1).numpy()

    # ------------------------------------------------------------------ pictures and tables
    def plot_confusion_matrix(self, path: Path, normalize: bool = True) -> Path:
        """Rows normalized to recall (colour) with the counts written in each cell."""
        plt = _pyplot()
        cm, names = self.confusion_matrix(), self.class_names
        shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
        size = 2.5 + 0.45 * len(names)
        fig, ax = plt.subplots(figsize=(size + 1, size))
        image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
        ax.set_xticks(range(len(names)), names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right"
                      if max(map(len, names)) > 2 else "center", fontsize=8)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        if len(names) <= 30:
            for i in range(len(names)):
                for j in range(len(names)):
                    if cm[i, j]:
                        ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                                color="white" if shown[i, j] > 0.5 * shown.max() else "black")
        ax.set_xlabel("predicted")
        ax.set_ylabel("actual")
        acc = float(np.trace(cm) / max(cm.sum(), 1))
        ax.set_title(f"confusion matrix, {self.split} ({cm.sum()} examples, accuracy {acc:.4f})", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.046)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return Path(path)

    def plot_top_losses(self, path: Path, k: int = 16) -> Path:
        """A grid of the k highest-loss examples titled predicted/actual/loss/probability (fastai's order)."""
        plt = _pyplot()
        idx = self.top_losses(k)
        images, names = self.images(idx), self.class_names
        cols = min(4, len(idx)) or 1
        rows = -(-len(idx) // cols) or 1
        fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.5 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, i, img in zip(axes.flat, idx, images):
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                      vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"{names[self.preds[i]]}/{names[self.targets[i]]}\n{self.losses[i]:.2f}/{self.probs[i]:.2f}",
                         fontsize=8, color="black" if self.preds[i] == self.targets[i] else "firebrick")
        fig.suptitle("top losses: predicted/actual, loss/probability", fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return Path(path)

    def markdown(self, k: int = 16, max_pairs: int = 20) -> str:
        pairs = self.most_confused()
        names = self.class_names
        lines = [f"# Interpretation ({self.split} split, {len(self.targets)} examples, accuracy "
                 f"{float((self.preds == self.targets).mean()):.4f})", "", "## Most confused (actual -> predicted)", "",
                 "| actual | predicted | count |", "|---|---|---|"]
        lines += [f"| {a} | {p} | {n} |" for a, p, n in pairs[:max_pairs]] or ["| – | – | 0 |"]
        lines += ["", f"## Top {k} losses", "", "| example | actual | predicted | loss | probability |",
                  "|---|---|---|---|---|"]
        lines += [f"| {i} | {names[self.targets[i]]} | {names[self.preds[i]]} | {self.losses[i]:.4f} | "
                  f"{self.probs[i]:.4f} |" for i in self.top_losses(k)]
        return "\n".join(lines) + "\n"


def interpret(exp: Path, *, checkpoint: Path | None = None, split: str = "test", k: int = 16,
              overrides: list[str] = ()) -> tuple[Interpretation, list[Path]]:
    """Write ``confusion_matrix.png``, ``top_losses.png`` and ``interpret.md`` into ``exp``."""
    exp = Path(exp)
    interp = Interpretation.from_checkpoint(checkpoint or exp / "checkpoints" / "best.pt", split, overrides)
    paths = [interp.plot_confusion_matrix(exp / "confusion_matrix.png"), interp.plot_top_losses(exp / "top_losses.png", k)]
    atomic_write_text(exp / "interpret.md", interp.markdown(k))
    return interp, [*paths, exp / "interpret.md"]
