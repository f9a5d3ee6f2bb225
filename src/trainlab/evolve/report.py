"""``evolution.md`` (per-round table, final comparison, per-class table) and ``lineage.png`` (the tree).

Example:
    >>> write_report(Path("experiments/evo"), Population.load(Path("experiments/evo")))  # doctest: +SKIP
"""
from __future__ import annotations

import math
from pathlib import Path

from ..files import atomic_write_text
from .state import Population


def _pct(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}"


def evolution_markdown(pop: Population) -> str:
    """The report as Markdown text."""
    ev = pop.config
    lines = ["# Evolution", "",
             f"Population M={ev['population']}, keep K={ev['keep']}, rounds R={ev['rounds']}, "
             f"{ev['steps_per_round']} steps per round, method {ev['method']}, selection {ev['selection']}, "
             f"ensemble {ev['ensemble']['size']} × {ev['ensemble']['combine']}.", ""]
    if pop.stopped:
        lines += [f"Stopped early: {pop.stopped}.", ""]
    lines += ["## Rounds (validation split)", "",
              "| round | members | born | best | best valid acc % | mean valid acc % | best params | total train FLOPs |",
              "|---|---|---|---|---|---|---|---|"]
    for r in pop.rounds:
        lines.append(f"| {r['round']} | {len(r['members'])} | {', '.join(r['born']) or '–'} | {r['best']} | "
                     f"{_pct(r['best_valid_accuracy'])} | {_pct(r['mean_valid_accuracy'])} | {r['best_params']:,} | "
                     f"{r['total_train_flops']:.3g} |")
    lines += ["", "## Members", "", "| id | parent | mutation | born | alive | params | valid acc % | lineage FLOPs |",
              "|---|---|---|---|---|---|---|---|"]
    for m in pop.members.values():
        lines.append(f"| {m.id} | {m.parent or 'base'} | {m.mutation} | {m.born_round} | "
                     f"{'yes' if m.alive else f'died r{m.died_round}'} | {m.params:,} | {_pct(m.valid_accuracy)} | "
                     f"{m.lineage_flops:.3g} |")
    res = pop.results
    if res:
        lines += ["", "## Test split", "",
                  f"Ensemble of {', '.join(res['ensemble_members'])} ({res['combine']}); best single member "
                  f"{res['best_member_id']} (by validation accuracy); total training FLOPs {res['total_train_flops']:.3g}.",
                  "", "| model | test acc % | macro-F1 % |", "|---|---|---|"]
        rows = [(f"ensemble ({res['combine']})", res["ensemble"]), ("best member", res["best_member"])]
        rows += [(f"ensemble ({k})", v) for k, v in res["combines"].items() if k != res["combine"]]
        if "baseline" in res:
            rows.append((f"from scratch, equal FLOPs ({res['baseline_train_flops']:.3g})", res["baseline"]))
        lines += [f"| {name} | {_pct(m['accuracy'])} | {_pct(m['f1'])} |" for name, m in rows]
        for key in ("mcnemar_vs_best_member", "mcnemar_vs_baseline"):
            if key in res:
                t = res[key]
                lines.append(f"\nMcNemar {key.removeprefix('mcnemar_').replace('_', ' ')}: ensemble alone right on "
                             f"{t['only_ensemble']}, other alone on {t['only_other']}, exact p = {t['p_value']:.3g}.")
        names = res["class_names"]
        cols = [("ensemble", res["ensemble"]), ("best member", res["best_member"])]
        if "baseline" in res:
            cols.append(("baseline", res["baseline"]))
        lines += ["", "### Per-class test accuracy %", "", "| class | " + " | ".join(n for n, _ in cols) + " |",
                  "|---" * (len(cols) + 1) + "|"]
        for i, name in enumerate(names):
            lines.append(f"| {name} | " + " | ".join(_pct(m["per_class_accuracy"][i]) for _, m in cols) + " |")
    return "\n".join(lines) + "\n"


def plot_lineage(pop: Population, path: Path) -> None:
    """The tree of individuals: x = round born, one row per member; colour = validation accuracy,
    marker area ∝ parameter count; crosses mark members that did not survive."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    members = list(pop.members.values())
    y = {m.id: i for i, m in enumerate(members)}
    fig, ax = plt.subplots(figsize=(8, max(3, 0.35 * len(members) + 1)))
    for m in members:
        if m.parent in y:
            p = pop.members[m.parent]
            ax.plot([p.born_round, m.born_round], [y[p.id], y[m.id]], color="0.6", lw=1, zorder=1)
    biggest = max(m.params for m in members) or 1
    acc = [m.valid_accuracy if m.valid_accuracy is not None else float("nan") for m in members]
    sc = ax.scatter([m.born_round for m in members], [y[m.id] for m in members], c=acc, cmap="viridis",
                    s=[40 + 300 * m.params / biggest for m in members], zorder=2, edgecolors="k")
    for m in members:
        label = f"{m.id} {m.mutation}" + ("" if m.alive else " ✗")
        ax.annotate(label, (m.born_round, y[m.id]), xytext=(8, 0), textcoords="offset points", fontsize=7, va="center")
    fig.colorbar(sc, ax=ax, label="validation accuracy")
    ax.set_xlabel("round born")
    ax.set_yticks([])
    ax.set_title("lineage (marker area ∝ parameters)")
    ax.set_xlim(-0.5, max(m.born_round for m in members) + 1.5)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(parent: Path, pop: Population, plot: bool = True) -> None:
    """Write ``evolution.md`` and (with ``plot``) ``lineage.png`` in ``parent``."""
    atomic_write_text(Path(parent) / "evolution.md", evolution_markdown(pop))
    if plot:
        plot_lineage(pop, Path(parent) / "lineage.png")
