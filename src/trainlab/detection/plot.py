"""A grid of images with their predicted boxes (solid, with class and score) and true boxes (dashed)."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor


def plot_detections(images: Tensor, predictions: list[dict[str, Tensor]], truths: list[dict[str, Tensor]],
                    path: Path, *, class_names: list[str], mean: list[float], std: list[float],
                    min_score: float = 0.25) -> Path:
    """Write ``path`` (PNG): each normalized image (B, C, H, W) with its detections scoring >= ``min_score``
    (solid, labelled "class score") and its true boxes (dashed green).

    Example:
        >>> import tempfile
        >>> p = plot_detections(torch.zeros(1, 1, 32, 32), [{"boxes": torch.tensor([[2., 2., 20., 20.]]),
        ...     "scores": torch.tensor([0.9]), "labels": torch.tensor([0])}],
        ...     [{"boxes": torch.tensor([[3., 3., 21., 21.]]), "labels": torch.tensor([0])}],
        ...     Path(tempfile.mkdtemp()) / "p.png", class_names=["a"], mean=[0.5], std=[0.5])
        >>> p.stat().st_size > 0
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = len(images)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    x = images.detach().float().cpu() * torch.tensor(std).view(1, -1, 1, 1) + torch.tensor(mean).view(1, -1, 1, 1)
    colours = plt.get_cmap("tab10")
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        img = x[i].clamp(0, 1)
        ax.imshow((img[0] if img.shape[0] == 1 else img.permute(1, 2, 0)).numpy(), cmap="gray", vmin=0, vmax=1)
        for (x1, y1, x2, y2), k in zip(truths[i]["boxes"].tolist(), truths[i]["labels"].tolist()):
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec="lime", lw=1, ls="--"))
        p = predictions[i]
        sure = p["scores"] >= min_score
        for (x1, y1, x2, y2), s, k in zip(p["boxes"][sure].tolist(), p["scores"][sure].tolist(),
                                         p["labels"][sure].tolist()):
            c = colours(k % 10)
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, ec=c, lw=1.2))
            ax.text(x1, y1, f"{class_names[k]} {s:.2f}", color="white", fontsize=6, va="bottom",
                    bbox={"facecolor": c, "alpha": 0.8, "pad": 0.5, "lw": 0})
        ax.set_title(f"{int(sure.sum())} found / {len(truths[i]['labels'])} true", fontsize=7)
    fig.suptitle(f"detections (solid, score >= {min_score}) and true boxes (dashed)", fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
