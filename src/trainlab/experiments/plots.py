"""Pictures across runs: ``history_plots.png`` (one line per run for each metric, train solid and valid
dashed) and ``per_class_accuracy.png`` (a runs × classes heat map of validation accuracy).

Example:
    >>> paths = plot_folder(Path("experiments/search-lr"))  # doctest: +SKIP
    >>> [p.name for p in paths]  # doctest: +SKIP
    ['history_plots.png', 'per_class_accuracy.png']
"""
from __future__ import annotations

from pathlib import Path

from ..engine.history import History
from ..errors import ConfigError
from .records import RunRecord, load_runs, sort_key

METRICS = ("loss", "accuracy", "f1")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_runs(runs: list[RunRecord], path: Path) -> Path:
    """One panel per metric (loss, accuracy, macro-F1): a colour per run, train solid, valid dashed."""
    plt = _pyplot()
    runs = [r for r in runs if len(r.history)]
    if not runs:
        raise ConfigError("no run has a history.json yet; nothing to plot.")
    metrics = [m for m in METRICS if any(f"valid.{m}" in row or f"train.{m}" in row
                                         for r in runs for row in r.history.rows)]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.8), squeeze=False)
    colors = plt.get_cmap("tab10" if len(runs) <= 10 else "viridis")
    for i, run in enumerate(runs):
        color = colors(i if len(runs) <= 10 else i / max(1, len(runs) - 1))
        for ax, m in zip(axes[0], metrics):
            for split, style in (("train", "-"), ("valid", "--")):
                pts = [(row["epoch"], row[f"{split}.{m}"]) for row in run.history.rows if f"{split}.{m}" in row]
                if pts:
                    ax.plot(*zip(*pts), style, color=color, lw=1.3, marker="o", ms=2.5,
                            label=run.name if split == "train" else None)
    for ax, m in zip(axes[0], metrics):
        ax.set_title(f"{m} (train solid, valid dashed)", fontsize=10)
        ax.set_xlabel("epoch")
        if m == "loss":
            ax.set_yscale("log")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(4, len(labels)), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.04 + 0.035 * ((len(labels) - 1) // 4 + 1), 1, 1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def per_class_table(runs: list[RunRecord], monitor: str = "valid.accuracy",
                    mode: str = "max") -> tuple[list[str], list[str], list[list[float]]]:
    """(run names, class names, runs × classes validation accuracy at each run's best epoch)."""
    names, table, classes = [], [], []
    for run in runs:
        best = run.best(monitor, mode) or (run.history.rows[-1] if len(run.history) else None)
        if best is None or "valid.per_class.accuracy" not in best:
            rows = run.history.per_class("valid.per_class.accuracy")
            if not rows:
                continue
            values = rows[-1]
        else:
            values = best["valid.per_class.accuracy"]
        names.append(run.name)
        table.append([float(v) for v in values])
        classes = classes or run.history.class_names or [str(i) for i in range(len(values))]
    return names, classes, table


def plot_per_class(runs: list[RunRecord], path: Path, monitor: str = "valid.accuracy",
                   mode: str = "max") -> Path | None:
    """A heat map of per-class validation accuracy (rows: runs, columns: classes); None without data."""
    names, classes, table = per_class_table(runs, monitor, mode)
    widths = {len(row) for row in table}
    if not table or len(widths) != 1:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(classes) + 0.06 * max(len(n) for n in names),
                                    1.2 + 0.36 * len(names)))
    image = ax.imshow(table, cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(classes)), classes, rotation=45 if max(len(c) for c in classes) > 3 else 0,
                  ha="right" if max(len(c) for c in classes) > 3 else "center", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    if len(names) * len(classes) <= 400:
        for i, row in enumerate(table):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5)
    ax.set_title(f"valid accuracy per class (at each run's best {monitor})", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_comparison_per_class(result, path: Path) -> Path:
    """Per-class accuracy of a :class:`~trainlab.experiments.compare.Comparison`: the first experiment's
    (mean over seeds) on top, every other's paired difference to it below (percentage points, mean over seeds).

    Example:
        >>> plot_comparison_per_class(compare([base, other], [0, 1, 2]), Path("per_class.png"))  # doctest: +SKIP
        PosixPath('per_class.png')
    """
    import numpy as np

    def per_class(name: str) -> np.ndarray:  # (seeds, C)
        return np.array([r.metrics["per_class"]["accuracy"] for r in result.runs[name]], dtype=float)

    base, others = result.names[0], result.names[1:]
    base_acc = per_class(base).mean(0)  # (C,)
    deltas = np.array([100 * (per_class(n) - per_class(base)).mean(0) for n in others])  # (E-1, C) paired by seed
    classes = result.class_names
    plt = _pyplot()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(1.6 + 0.62 * len(classes), 1.6 + 0.34 * (len(others) + 1)),
                                      gridspec_kw={"height_ratios": [1, max(1, len(others))]}, sharex=True)
    top.imshow(base_acc[None, :], cmap="RdYlGn", vmin=0.0, vmax=1.0, aspect="auto")
    top.set_yticks([0], [base], fontsize=8)
    for j, v in enumerate(base_acc):
        top.text(j, 0, f"{v:.3f}", ha="center", va="center", fontsize=7)
    top.set_title(f"{len(result.seeds)} seed(s): per-class accuracy of {base} (top) and each "
                  "experiment's mean paired difference to it, in points (below)", fontsize=8)
    limit = max(1.0, float(np.abs(deltas).max())) if len(others) else 1.0
    image = bottom.imshow(deltas if len(others) else np.zeros((1, len(classes))), cmap="RdBu", vmin=-limit,
                          vmax=limit, aspect="auto")
    bottom.set_yticks(range(len(others)), others, fontsize=8)
    for i, row in enumerate(deltas):
        for j, v in enumerate(row):
            bottom.text(j, i, f"{v:+.1f}", ha="center", va="center", fontsize=7)
    bottom.set_xticks(range(len(classes)), classes, rotation=35, ha="right", fontsize=8)
    fig.colorbar(image, ax=[top, bottom], fraction=0.03, label="Δ accuracy (pp)")  # both panels keep one width
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def plot_folder(folder: Path, *, monitor: str = "valid.accuracy", mode: str = "max") -> list[Path]:
    """``trainlab plot DIR``: a run gets ``training_history.png`` (and ``focus_history.png`` when it used
    Adaptive Focus Learning); a parent of runs gets
    ``history_plots.png`` and ``per_class_accuracy.png`` (runs sorted best first by ``metric``)."""
    from ..engine.plot import plot_history

    folder = Path(folder)
    if (folder / "history.json").is_file():
        history = History.read(folder / "history.json")
        out = [plot_history(history, folder / "training_history.png")]
        if any("focus.steps" in row for row in history.rows):  # a focus run: which classes were focused when
            from ..focus.plot import plot_focus

            out.append(plot_focus(history, folder / "focus_history.png"))
        return out
    runs = load_runs(folder)
    if not runs:
        raise ConfigError(f"no runs under {str(folder)!r} (no history.json found); train first.")
    runs.sort(key=lambda r: sort_key((r.best(monitor, mode) or {}).get(monitor), mode))
    out = [plot_runs(runs, folder / "history_plots.png")]
    heat = plot_per_class(runs, folder / "per_class_accuracy.png", monitor, mode)
    return out + ([heat] if heat else [])
