"""The end of an evolution: pick the ensemble, combine it, train the equal-FLOPs baseline, measure on test.

Three models are compared on the test split, each used once: the ensemble of E members (chosen on
the validation split with the run's selection rule), the single member with the best validation
accuracy, and the base architecture trained from scratch with the same total training FLOPs as the
whole evolution (base + every member). All use their latest weights (``checkpoints/last.pt``).

Example:
    >>> finish(parent, pop, cfg, data)  # doctest: +SKIP
    >>> sorted(pop.results)  # doctest: +SKIP
    ['baseline', 'best_member', 'combines', 'ensemble', 'ensemble_members', ...]
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..config import Config, parse_config
from ..data import DataBundle
from ..engine.checkpoint import load_checkpoint, save_checkpoint
from ..engine.history import History
from ..errors import ConfigError, DataError
from ..files import atomic_write_text
from ..runs import run_experiment
from ..stats import mcnemar_exact
from .ensemble import COMBINES, combine, fit_stacking_head
from .selection import select
from .state import Population
from .training import base_config_dict, correctness, load_valid_logits, member_logits

log = logging.getLogger(__name__)
RESULTS_FILE = "metrics_evolve_test.json"


def classification_metrics(scores: Tensor, targets: Tensor, num_classes: int) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class accuracy of class scores (N, C) against labels (N,).

    Example:
        >>> classification_metrics(torch.eye(3), torch.tensor([0, 1, 1]), 3)["accuracy"]
        0.6666666666666666
    """
    from sklearn.metrics import f1_score

    pred, y = scores.argmax(1).cpu().numpy(), targets.cpu().numpy()
    per_class = [float((pred[y == c] == c).mean()) if (y == c).any() else float("nan") for c in range(num_classes)]
    return {"accuracy": float((pred == y).mean()), "f1": float(f1_score(y, pred, average="macro")),
            "per_class_accuracy": per_class, "correct": (pred == y).tolist()}


def finish(parent: Path, pop: Population, cfg: Config, data: DataBundle) -> dict[str, Any]:
    """Ensemble, best member and baseline on the test split; writes the results file, evolution.md, lineage.png."""
    from .report import write_report

    ev = cfg.evolve
    if data.test is None:
        raise DataError(f"dataset {cfg.data.name!r} has no test split; evolve reports test metrics, use a dataset "
                        "with one (or set data.test_fraction).")
    alive = sorted(pop.alive(), key=lambda m: m.id)
    yv, yt = data.valid.labels.cpu(), data.test.labels.cpu()
    picks = [alive[i] for i in select(ev.selection, correctness(parent, alive, yv), ev.ensemble.size)]
    best = max(alive, key=lambda m: (m.valid_accuracy, -int(m.id[1:])))
    test_logits = {m.id: member_logits(parent / m.dir, data, "test") for m in [*picks, best]}
    valid_stack = torch.stack([load_valid_logits(parent / m.dir) for m in picks])  # (E, Nv, C)
    test_stack = torch.stack([test_logits[m.id] for m in picks])  # (E, Nt, C)
    c = data.num_classes
    combines = {}
    for how in COMBINES:
        head = None
        if how == "stacking":  # trained on the validation split only
            e = ev.ensemble
            head = fit_stacking_head(valid_stack, yv, hidden=e.hidden, steps=e.steps, lr=e.lr, seed=ev.seed)
            save_checkpoint({"model": head.state_dict(), "members": [m.id for m in picks]},
                            parent / "ensemble_head.pt")
        combines[how] = classification_metrics(combine(test_stack, how, head), yt, c)
    results: dict[str, Any] = {
        "ensemble_members": [m.id for m in picks], "combine": ev.ensemble.combine, "selection": ev.selection,
        "best_member_id": best.id, "total_train_flops": pop.total_train_flops(), "stopped": pop.stopped,
        "ensemble": combines[ev.ensemble.combine], "best_member": classification_metrics(test_logits[best.id], yt, c),
        "combines": combines, "class_names": list(data.class_names), "test_samples": len(yt),
    }
    if ev.baseline:
        bdir = train_baseline(parent, cfg, pop.total_train_flops(), data)
        results["baseline"] = classification_metrics(member_logits(bdir, data, "test"), yt, c)
        results["baseline_train_flops"] = float(History(load_checkpoint(bdir / "checkpoints" / "last.pt")["history"])
                                                .rows[-1].get("train_flops", 0.0))
    tests = {"vs_best_member": results["best_member"]}
    if "baseline" in results:
        tests["vs_baseline"] = results["baseline"]
    for name, other in tests.items():
        t = mcnemar_exact(results["ensemble"]["correct"], other["correct"])
        results[f"mcnemar_{name}"] = {"only_ensemble": t.only_a, "only_other": t.only_b, "p_value": t.p_value}
    pop.results = _without_correct(results)
    atomic_write_text(parent / RESULTS_FILE, json.dumps(pop.results, indent=1))
    write_report(parent, pop)
    return pop.results


def _without_correct(d: Any) -> Any:
    """The results minus per-example correctness lists (kept out of the JSON)."""
    if isinstance(d, dict):
        return {k: _without_correct(v) for k, v in d.items() if k != "correct"}
    return d


def train_baseline(parent: Path, cfg: Config, budget: float, data: DataBundle) -> Path:
    """Train the base architecture from scratch in ``parent/baseline`` until ``budget`` training FLOPs.

    The params are the parent's (without ``evolve``) with ``train.flops_budget`` set, early stopping
    off and enough epochs for the budget; a killed baseline resumes from its last checkpoint.
    """
    base_rows = History(load_checkpoint(parent / "checkpoints" / "last.pt")["history"]).rows
    fps = base_rows[-1].get("flops_per_sample") if base_rows else None
    if not fps:
        raise ConfigError("the equal-FLOPs baseline needs the base run's FLOPs: set train.count_flops true, or "
                          "evolve.baseline false.")
    bdir = parent / "baseline"
    d = base_config_dict(cfg)
    d["train"].update(flops_budget=budget, early_stopping=None,
                      epochs=math.ceil(budget / (fps * data.train.num_samples)) + 1)
    bcfg = parse_config(d, source=str(bdir))
    bdir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(bdir / "params.json", json.dumps(d, indent=2))

    def epochs(learner) -> int:  # a finished baseline (resumed at its budget) is not trained again
        rows = learner.history.rows
        done = rows and (rows[-1].get("train_flops", 0.0) >= budget or learner.loop.epoch >= bcfg.train.epochs)
        if not done:
            log.info("training the equal-FLOPs baseline (%.3g FLOPs) in %s", budget, bdir)
        return learner.loop.epoch if done else bcfg.train.epochs

    run_experiment(bdir, bcfg, existing="continue", epochs=epochs, extra={"evolve_baseline": True})
    return bdir
