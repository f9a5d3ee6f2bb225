"""Which classes were focused when: a class × epoch map of the focus pass, beside per-class accuracy."""
from __future__ import annotations

from pathlib import Path

from ..engine.history import History


def focus_table(history: History) -> tuple[list[int], list[list[float]]]:
    """Epochs with a focus decision and, per epoch, each class's share of the focus pass's samples (C,).

    Epochs without a focus pass have all-zero shares.

    Example:
        >>> h = History([{"epoch": 1, "focus.steps": 0, "focus.classes": []},
        ...              {"epoch": 2, "focus.steps": 3, "focus.per_class.samples": [0, 30, 10]}])
        >>> focus_table(h)
        ([1, 2], [[], [0.0, 0.75, 0.25]])
    """
    epochs, shares = [], []
    for row in history.rows:
        if "focus.steps" not in row:
            continue
        counts = row.get("focus.per_class.samples", [])
        total = sum(counts)
        epochs.append(row["epoch"])
        shares.append([c / total for c in counts] if total else [0.0] * len(counts))
    return epochs, shares


def plot_focus(history: History, path: Path) -> Path:
    """Write a PNG: left, the share of each class in each epoch's focus pass; right, valid accuracy per class
    with a marker on the epochs where that class was focused.

    Example:
        >>> plot_focus(History.read("EXP/history.json"), "EXP/focus_history.png")  # doctest: +SKIP
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    epochs, shares = focus_table(history)
    num_classes = max((len(s) for s in shares), default=0) or len(history.class_names)
    names = history.class_names if len(history.class_names) == num_classes else [str(i) for i in range(num_classes)]
    grid = np.zeros((num_classes, len(epochs)))  # (C, E)
    for j, s in enumerate(shares):
        grid[: len(s), j] = s
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    image = left.imshow(grid, aspect="auto", cmap="Blues", vmin=0, vmax=1, interpolation="nearest",
                        extent=(min(epochs, default=0) - 0.5, max(epochs, default=0) + 0.5, num_classes - 0.5, -0.5))
    left.set_yticks(range(num_classes), names, fontsize=7)
    left.set_title("share of the focus pass per class")
    fig.colorbar(image, ax=left, fraction=0.04)
    rows = [r for r in history.rows if "valid.per_class.accuracy" in r]
    for c, name in enumerate(names):
        line, = right.plot([r["epoch"] for r in rows], [r["valid.per_class.accuracy"][c] for r in rows], lw=1, label=name)
        focused = [r for r in rows if c in r.get("focus.classes", [])]
        right.plot([r["epoch"] for r in focused], [r["valid.per_class.accuracy"][c] for r in focused], "o",
                   color=line.get_color(), ms=4)
    right.set_title("valid accuracy per class (o: focused)")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
