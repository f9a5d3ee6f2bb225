"""Honest comparison of experiments: N seeds of each, mean ± sd, per-class means and paired tests.

Each seed is an experiment folder ``EXP/seeds/seed-<s>/`` (the params of EXP with ``train.seed = s``),
trained like ``trainlab train`` and evaluated like ``trainlab evaluate``; a seed that already finished
(its predictions are newer than its best.pt and its params match) is reused. For every pair (baseline,
other) the report gives, per seed, the exact McNemar test on the two models' predictions of the same
test examples (McNemar 1947; Dietterich 1998 recommends it for comparing two classifiers), and across
seeds a paired t-test and a Wilcoxon signed-rank test on test accuracy.

Example:
    >>> result = compare([Path("experiments/a"), Path("experiments/b")], seeds=[0, 1, 2])  # doctest: +SKIP
    >>> print(result.markdown)  # doctest: +SKIP
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import (
    apply_overrides,
    config_to_dict,
    find_params_file,
    is_legacy,
    parse_config,
    read_params,
    translate_legacy,
)
from ..engine.history import History
from ..errors import ConfigError, TrainingError
from ..files import atomic_write_text
from ..runs import config_changes, evaluate_checkpoint, read_predictions, run_experiment, write_params
from ..stats import holm, mcnemar_exact, mean_sd, paired_interval, paired_test
from .records import read_json

log = logging.getLogger("trainlab")


@dataclass
class SeedRun:
    """One finished seed of one experiment."""

    exp: Path
    seed: int
    folder: Path
    metrics: dict[str, Any]  # metrics_<split>.json
    predictions: dict[str, np.ndarray]  # pred, target, loss
    history: History
    reused: bool
    splits: dict[str, str] = field(default_factory=dict)  # each split's fingerprint (params.resolved.json)

    @property
    def evaluated(self) -> str | None:
        """The fingerprint of the split its metrics describe."""
        return self.metrics.get("fingerprint")

    @property
    def best_valid_accuracy(self) -> float:
        values = self.history.values("valid.accuracy")
        return float(max(values)) if values else float("nan")

    @property
    def worst_class_accuracy(self) -> float:
        """The lowest per-class accuracy among classes with samples in the evaluated split."""
        per_class = self.metrics["per_class"]
        support = per_class.get("support") or [1] * len(per_class["accuracy"])
        return float(min(a for a, n in zip(per_class["accuracy"], support) if n > 0))

    @property
    def train_time(self) -> float:
        return float(sum(r.get("time", 0.0) for r in self.history.rows))


@dataclass
class Comparison:
    names: list[str]
    seeds: list[int]
    runs: dict[str, list[SeedRun]]  # name -> one SeedRun per seed, in seed order
    class_names: list[str]
    markdown: str
    tests: list[dict[str, Any]]  # one per (baseline, other): McNemar per seed, paired p-values
    path: Path  # where the markdown was written


def base_params(exp: Path) -> dict[str, Any]:
    """EXP's params in the sectioned form, without a search block."""
    raw = read_params(find_params_file(Path(exp)))
    if is_legacy(raw):
        raw = translate_legacy(raw)
    return {k: v for k, v in raw.items() if k != "search"}


def seed_folder(exp: Path, seed: int) -> Path:
    return Path(exp) / "seeds" / f"seed-{seed}"


def _finished(folder: Path, config: dict[str, Any], split: str, checkpoint: str = "best") -> bool:
    preds, ckpt = folder / f"predictions_{split}.npz", folder / "checkpoints" / f"{checkpoint}.pt"
    resolved = read_json(folder / "params.resolved.json")
    metrics = read_json(folder / f"metrics_{split}.json")
    return (preds.is_file() and ckpt.is_file() and metrics is not None
            and Path(str(metrics.get("checkpoint", "best.pt"))).name == ckpt.name  # evaluated from this checkpoint
            and resolved is not None and not config_changes(resolved, config)
            and preds.stat().st_mtime >= ckpt.stat().st_mtime)


def run_seed(exp: Path, seed: int, *, split: str = "test", overrides: list[str] = (), train: bool = True,
             checkpoint: str = "best") -> SeedRun:
    """Train (or reuse) seed ``seed`` of experiment ``exp`` and evaluate its ``checkpoint`` ("best" or "last")."""
    raw = apply_overrides(base_params(exp), [*overrides, f"train.seed={seed}"])
    folder = seed_folder(exp, seed)
    cfg = parse_config(raw, source=f"{folder}/params.json")
    if checkpoint not in ("best", "last"):
        raise ConfigError(f"compare evaluates checkpoint 'best' or 'last', got {checkpoint!r}.")
    reused = _finished(folder, config_to_dict(cfg), split, checkpoint)
    if not reused:
        if not train:
            raise ConfigError(f"{folder} has no finished run; leave out --no-train to train it.")
        log.info("compare: training %s", folder)
        write_params(folder, raw)
        outcome = run_experiment(folder, cfg, existing="continue",
                                 extra={"compare": {"experiment": str(exp), "seed": seed}})
        if outcome.interrupted:
            raise TrainingError(f"{folder} was interrupted; run the same compare command again to continue it.")
        evaluate_checkpoint(folder / "checkpoints" / f"{checkpoint}.pt", folder, split=split)
    metrics = read_json(folder / f"metrics_{split}.json") or {}
    splits = ((read_json(folder / "params.resolved.json") or {}).get("_run") or {}).get("splits") or {}
    return SeedRun(Path(exp), seed, folder, metrics, read_predictions(folder, split),
                   History.read(folder / "history.json"), reused, splits)


def _names(exps: list[Path]) -> list[str]:
    names = [Path(e).name for e in exps]
    if len(set(names)) == len(names):
        return names
    common = os.path.commonpath([str(Path(e).resolve()) for e in exps])
    return [str(Path(e).resolve().relative_to(common)) or Path(e).name for e in exps]


def _pm(values: list[float], digits: int = 4) -> str:
    m, s = mean_sd(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def _paired(values_a: list[float], values_b: list[float]) -> dict[str, Any]:
    """Mean difference b - a with its 95% interval and, from 2 pairs on, the paired t and Wilcoxon p-values."""
    mean, low, high = paired_interval(values_a, values_b)
    out: dict[str, Any] = {"mean_difference": mean, "interval": (low, high)}
    if len(values_a) >= 2:
        out["t_p"] = paired_test(values_a, values_b, "t")
        out["wilcoxon_p"] = paired_test(values_a, values_b, "wilcoxon")
    return out


def pair_tests(a: list[SeedRun], b: list[SeedRun]) -> dict[str, Any]:
    """McNemar per seed (when both models saw the same examples) and paired tests across seeds, on accuracy
    and (under "worst") on worst-class accuracy."""
    per_seed = []
    for ra, rb in zip(a, b):
        ta, tb = ra.predictions["target"], rb.predictions["target"]
        if not same_examples(ra, rb):
            per_seed.append({"seed": ra.seed, "same_examples": False})
            continue
        m = mcnemar_exact(ra.predictions["pred"] == ta, rb.predictions["pred"] == tb)
        per_seed.append({"seed": ra.seed, "same_examples": True, "only_a": m.only_a, "only_b": m.only_b,
                         "p_value": m.p_value})
    accuracy = _paired([r.metrics["accuracy"] for r in a], [r.metrics["accuracy"] for r in b])
    worst = _paired([r.worst_class_accuracy for r in a], [r.worst_class_accuracy for r in b])
    return {"mcnemar": per_seed, **accuracy, "worst": worst,
            "same_examples": all(m["same_examples"] for m in per_seed),
            "same_valid": all(ra.splits.get("valid") == rb.splits.get("valid") for ra, rb in zip(a, b))}


def same_examples(a: SeedRun, b: SeedRun) -> bool:
    """Whether two runs' metrics describe the same samples in the same order: equal split fingerprints
    (runs evaluated before fingerprints existed: equal targets)."""
    if a.evaluated is not None and b.evaluated is not None:
        return a.evaluated == b.evaluated
    ta, tb = a.predictions["target"], b.predictions["target"]
    return ta.shape == tb.shape and bool(np.array_equal(ta, tb))


def adjust_for_multiple_tests(tests: list[dict[str, Any]]) -> None:
    """Holm-adjusted p-values beside the raw ones (``t_p_holm``, ``wilcoxon_p_holm``), over the family of
    comparisons with the first experiment, separately for accuracy and for worst-class accuracy."""
    for get in (lambda t: t, lambda t: t["worst"]):
        for key in ("t_p", "wilcoxon_p"):
            rows = [get(t) for t in tests if key in get(t)]
            for row, adjusted in zip(rows, holm([row[key] for row in rows])):
                row[f"{key}_holm"] = adjusted


def _pp(value: float) -> str:
    return f"{100 * value:+.2f}"


def summary(names: list[str], runs: dict[str, list[SeedRun]], tests: list[dict[str, Any]], split: str) -> list[str]:
    """One row per experiment against the first: accuracy and worst-class accuracy (mean ± sd), their paired
    differences in percentage points with 95% intervals, paired t / Wilcoxon p-values (with more than one
    comparison, Holm-adjusted ones beside them), McNemar p per seed."""
    many = len(tests) > 1
    lines = [f"| experiment | {split} accuracy | Δ (pp) [95% CI] | p t / Wilcoxon{' (Holm)' * many} | worst-class "
             f"accuracy | Δ worst (pp) [95% CI] | p t / Wilcoxon{' (Holm)' * many} | McNemar p per seed |",
             "|---|---|---|---|---|---|---|---|",
             f"| {names[0]} | {_pm([r.metrics['accuracy'] for r in runs[names[0]]])} | – | – | "
             f"{_pm([r.worst_class_accuracy for r in runs[names[0]]])} | – | – | – |"]
    for t in tests:
        cells = []
        for paired in (t, t["worst"]):
            low, high = paired["interval"]
            cells.append(f"{_pp(paired['mean_difference'])} [{_pp(low)}, {_pp(high)}]"
                         + ("" if t["same_examples"] else " ⚠ other samples"))
            p = f"{paired['t_p']:.2g} / {paired['wilcoxon_p']:.2g}" if "t_p" in paired else "–"
            if many and "t_p" in paired:
                p += f" ({paired['t_p_holm']:.2g} / {paired['wilcoxon_p_holm']:.2g})"
            cells.append(p)
        mcnemar = ", ".join(f"{m['p_value']:.2g}" for m in t["mcnemar"] if m["same_examples"]) or "–"
        runs_b = runs[t["b"]]
        lines.append(f"| {t['b']} | {_pm([r.metrics['accuracy'] for r in runs_b])} | {cells[0]} | {cells[1]} | "
                     f"{_pm([r.worst_class_accuracy for r in runs_b])} | {cells[2]} | {cells[3]} | {mcnemar} |")
    return lines


def splits_note(names: list[str], runs: dict[str, list[SeedRun]], tests: list[dict[str, Any]], split: str) -> list[str]:
    """Whether the runs share their validation split (best.pt is chosen on it) and paired ones their evaluated
    split (a paired test compares the same samples), by the splits' fingerprints."""
    lines = []
    valid = {r.splits.get("valid") for n in names for r in runs[n]}
    if None in valid:
        lines.append("Validation splits: not recorded for every run (trained before trainlab recorded split "
                     "fingerprints).")
    elif len(valid) == 1:
        lines.append(f"Validation split: one for every run (fingerprint {valid.pop()}).")
    else:
        same = all(t["same_valid"] for t in tests)
        lines.append(f"Validation splits: {len(valid)} different ones ("
                     + ("each seed's runs share one: data.split_seed is unset, so the seed carves it)" if same
                        else "runs paired by seed chose their checkpoints on different validation samples: "
                             "compare with the same data settings)"))
    for t in tests:
        if not t["same_examples"]:
            lines.append(f"⚠ {t['b']} and {t['a']} were evaluated on different {split} samples for some seed: "
                         "their paired differences and tests compare other examples (flagged in the table).")
    return [*lines, ""]


def report(names: list[str], seeds: list[int], runs: dict[str, list[SeedRun]], class_names: list[str],
           tests: list[dict[str, Any]], split: str, checkpoint: str = "best") -> str:
    """The comparison as markdown (what ``compare.md`` holds and the CLI prints)."""
    head = "| | " + " | ".join(names) + " |\n|---|" + "---|" * len(names)
    rows = [
        (f"{split} accuracy", lambda r: r.metrics["accuracy"]),
        (f"worst-class {split} accuracy", lambda r: r.worst_class_accuracy),
        (f"{split} macro-F1", lambda r: r.metrics["f1"]),
        (f"{split} loss", lambda r: r.metrics["loss"]),
        ("best valid accuracy", lambda r: r.best_valid_accuracy),
        ("epochs", lambda r: float(len(r.history))),
        ("train time (s)", lambda r: r.train_time),
    ]
    which = "best.pt (chosen on validation)" if checkpoint == "best" else "last.pt (the final epoch)"
    lines = [f"# Comparison on the {split} split, {len(seeds)} seed(s): {', '.join(map(str, seeds))}", "",
             f"Each seed's {which}, paired by seed with {names[0]}.", "", *summary(names, runs, tests, split), "",
             "Δ: mean paired difference over seeds with its Student-t 95% interval; p: paired t-test / Wilcoxon "
             "signed-rank test across seeds" + ("; in brackets, the same p-values Holm-adjusted for the "
                                                f"{len(tests)} comparisons with {names[0]} (read these when asking "
                                                "whether any of them differs)" if len(tests) > 1 else "")
             + "; McNemar: exact test on each seed's paired predictions.", "", *splits_note(names, runs, tests, split),
             head]
    for label, get in rows:
        digits = 1 if label.startswith(("epochs", "train time")) else 4
        lines.append(f"| {label} | " + " | ".join(_pm([get(r) for r in runs[n]], digits) for n in names) + " |")
    lines += ["", "Mean ± sample standard deviation over seeds (a seed sets the model's initialisation, the data "
                  "order and augmentation, and any split the dataset carves itself).", "",
              f"## Per-class {split} accuracy (mean over seeds)", "",
              "| class | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for i, cname in enumerate(class_names):
        cells = [f"{np.mean([r.metrics['per_class']['accuracy'][i] for r in runs[n]]):.4f}" for n in names]
        lines.append(f"| {cname} | " + " | ".join(cells) + " |")
    for t in tests:
        a, b = t["a"], t["b"]
        lines += ["", f"## {b} vs {a}", "", f"Exact McNemar test on the {split} predictions of each seed "
                  "(the same examples; p < 0.05 means the two models' errors differ beyond chance):", "",
                  f"| seed | only {a} right | only {b} right | p |", "|---|---|---|---|"]
        for m in t["mcnemar"]:
            if m["same_examples"]:
                lines.append(f"| {m['seed']} | {m['only_a']} | {m['only_b']} | {m['p_value']:.4g} |")
            else:
                lines.append(f"| {m['seed']} | – | – | n/a: the {split} sets differ (different data settings) |")
        lines.append("")
        lines.append(f"Mean difference in {split} accuracy ({b} − {a}): {t['mean_difference']:+.4f}.")
        if "t_p" in t:
            n = len(seeds)
            lines.append(f"Paired tests across the {n} seeds on {split} accuracy: t-test p = {t['t_p']:.4g}; "
                         f"Wilcoxon signed-rank p = {t['wilcoxon_p']:.4g} (with {n} pairs its smallest possible "
                         f"p is {2 / 2 ** n:.4g}).")
        else:
            lines.append("Paired tests across seeds need at least 2 seeds.")
    return "\n".join(lines) + "\n"


def compare(exps: list[Path], seeds: list[int], *, split: str = "test", overrides: list[str] = (),
            out: Path | None = None, train: bool = True, checkpoint: str = "best") -> Comparison:
    """Run or reuse ``seeds`` of every experiment, test each against the first, write the markdown to ``out``
    (default: ``compare.md`` in the experiments' common parent folder). ``checkpoint``: evaluate each seed's
    ``best.pt`` (chosen on validation by ``train.monitor``) or its ``last.pt`` (the final epoch's model)."""
    if len(exps) < 2:
        raise ConfigError(f"compare needs at least two experiments, got {len(exps)}.")
    if not seeds:
        raise ConfigError("compare needs at least one seed (--seeds N).")
    for exp in exps:  # every experiment's params must be valid before any seed trains
        parse_config(apply_overrides(base_params(exp), list(overrides)), source=str(exp))
    names = _names(exps)
    runs = {n: [run_seed(e, s, split=split, overrides=overrides, train=train, checkpoint=checkpoint) for s in seeds]
            for n, e in zip(names, exps)}
    first = runs[names[0]][0]
    class_names = History.read(first.folder / "history.json").class_names or \
        [str(i) for i in range(len(first.metrics["per_class"]["accuracy"]))]
    widths = {len(r.metrics["per_class"]["accuracy"]) for n in names for r in runs[n]}
    if len(widths) != 1:
        raise ConfigError(f"the experiments have different numbers of classes ({sorted(widths)}); compare models "
                          "of the same task.")
    tests = [{"a": names[0], "b": n, **pair_tests(runs[names[0]], runs[n])} for n in names[1:]]
    adjust_for_multiple_tests(tests)
    markdown = report(names, list(seeds), runs, class_names, tests, split, checkpoint)
    if out is None:
        common = Path(os.path.commonpath([str(Path(e).resolve()) for e in exps]))
        out = common / "compare.md"
    atomic_write_text(Path(out), markdown)
    return Comparison(names, list(seeds), runs, class_names, markdown, tests, Path(out))
