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
    metric, per_class_key = _main_metrics(rows)
    per_class = history.per_class(per_class_key) if per_class_key else []
    panels = ["loss", metric, "lr"] + (["per_class"] if per_class else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    for ax, panel in zip(axes, panels):
        if panel in ("loss", metric):
            for split, style in (("train", "-"), ("valid", "--")):
                pts = [(r["epoch"], r[f"{split}.{panel}"]) for r in rows if f"{split}.{panel}" in r]
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", ms=3, label=split)
            ax.set_title(panel)
            if ax.get_legend_handles_labels()[0]:
                ax.legend()
        elif panel == "lr":
            ax.plot(epochs, [r.get("lr", float("nan")) for r in rows], marker="o", ms=3)
            ax.set_yscale("log")
            ax.set_title("learning rate (end of epoch)")
        else:
            valid_epochs = [r["epoch"] for r in rows if per_class_key in r]
            names = history.class_names or [str(i) for i in range(len(per_class[0]))]
            for i, name in enumerate(names):
                ax.plot(valid_epochs, [v[i] for v in per_class], label=name, lw=1)
            ax.set_title(f"valid {per_class_key.rsplit('.', 1)[-1]} per class")
            ax.legend(fontsize=6, ncol=2)
        ax.set_xlabel("epoch")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _main_metrics(rows: list[dict]) -> tuple[str, str | None]:
    """The metric of the second panel (accuracy, else the task's first recorded score that is not a loss) and
    the per-class list of the last panel (per-class accuracy, else the task's first per-class score)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    scalar = [k[len("valid."):] for k in keys if k.startswith("valid.") and "per_class" not in k
              and isinstance(next(r[k] for r in rows if k in r), float) and not k.endswith("loss")]
    metric = "accuracy" if "accuracy" in scalar or not scalar else scalar[0]
    lists = [k for k in keys if k.startswith("valid.per_class.") and not k.endswith(("loss", "support", "objects"))]
    per_class = "valid.per_class.accuracy" if "valid.per_class.accuracy" in lists else (lists[0] if lists else None)
    return metric, per_class
