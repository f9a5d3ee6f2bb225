"""Pictures of a run: training curves with a per-class panel."""
from __future__ import annotations

from pathlib import Path

from .history import History


def plot_history(history: History, path: Path) -> Path:
    """Write loss, accuracy (train vs valid), lr and per-class validation accuracy to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = history.rows
    epochs = [r["epoch"] for r in rows]
    per_class = history.per_class("valid.per_class.accuracy")
    panels = ["loss", "accuracy", "lr"] + (["per_class"] if per_class else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    for ax, panel in zip(axes, panels):
        if panel in ("loss", "accuracy"):
            for split, style in (("train", "-"), ("valid", "--")):
                pts = [(r["epoch"], r[f"{split}.{panel}"]) for r in rows if f"{split}.{panel}" in r]
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", ms=3, label=split)
            ax.set_title(panel)
            ax.legend()
        elif panel == "lr":
            ax.plot(epochs, [r.get("lr", float("nan")) for r in rows], marker="o", ms=3)
            ax.set_yscale("log")
            ax.set_title("learning rate (end of epoch)")
        else:
            valid_epochs = [r["epoch"] for r in rows if "valid.per_class.accuracy" in r]
            names = history.class_names or [str(i) for i in range(len(per_class[0]))]
            for i, name in enumerate(names):
                ax.plot(valid_epochs, [v[i] for v in per_class], label=name, lw=1)
            ax.set_title("valid accuracy per class")
            ax.legend(fontsize=6, ncol=2)
        ax.set_xlabel("epoch")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
