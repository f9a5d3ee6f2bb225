"""The evolution loop: base -> rounds of (select K, mutate back to M, train every member) -> ensemble.

Method of Painter's 2018 cs231n project "Deep Neuroevolution with Shared Parameters: Ensembling a
Better Solution": the children inherit their parent's trained weights through function-preserving
transforms, so a population grows without training anyone from scratch. Here every member is an
ordinary experiment folder (trained by the ordinary Learner) and the state is in ``population.json``;
rerunning after a kill continues the same round.

Example:
    >>> from trainlab.config import load_config
    >>> pop = evolve("experiments/evo", load_config("experiments/evo"))  # doctest: +SKIP
    >>> pop.results["ensemble"]["accuracy"] > pop.results["best_member"]["accuracy"]  # doctest: +SKIP
    True
"""
from __future__ import annotations

import logging
import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import torch

from ..config import Config, load_config, parse_config
from ..data import DataBundle, data_from_config
from ..data.loaders import mix_seed
from ..engine.checkpoint import load_checkpoint
from ..engine.factory import resolve_device
from ..models import model_from_config
from ..errors import ConfigError
from ..threads import WORKERS_ENV, environment
from ..runs import folder_lock, run_experiment
from ..morph.experiment import write_transformed_experiment
from .mutation import Mutation, sample_mutation
from .selection import select
from .state import STATE_FILE, Member, Population
from .training import correctness, train_member

log = logging.getLogger(__name__)


def evolve(parent: str | Path, cfg: Config, *, workers: int = 1) -> Population:
    """Run (or resume) the evolution described by ``cfg.evolve`` in the folder ``parent``.

    Trains the base model first if ``parent`` has no checkpoint yet. Writes ``population.json``,
    ``members/<id>/`` (experiment folders), ``baseline/`` (equal-FLOPs from-scratch model),
    ``metrics_evolve_test.json``, ``evolution.md`` and ``lineage.png``.

    Args:
        parent: the experiment folder whose params hold the ``evolve`` block.
        cfg: its config.
        workers: members trained in parallel processes.

    Returns:
        The final :class:`Population` (``results`` holds the test metrics).
    """
    parent = Path(parent)
    ev = cfg.evolve
    if ev is None:
        raise ConfigError(f"{parent}: the params have no 'evolve' section; add one (docs/evolve.md#neuroevolution-with-shared-weights-trainlab-evolve).")
    if ev.ensemble.size > ev.population:
        raise ConfigError(f"evolve.ensemble.size ({ev.ensemble.size}) must be <= evolve.population ({ev.population}).")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}.")
    with folder_lock(parent):  # the whole evolution owns its folder (runs/lock.py); a second one is refused
        return _evolve(parent, cfg, workers)


def _evolve(parent: Path, cfg: Config, workers: int) -> Population:
    from .final import finish

    ev = cfg.evolve
    wanted = ev.model_dump(mode="json")
    if (parent / STATE_FILE).exists():
        pop = Population.load(parent)
        if pop.config != wanted:
            changed = sorted(k for k in wanted if wanted[k] != pop.config.get(k))
            raise ConfigError(f"the evolve settings changed since {parent / STATE_FILE} was written ({', '.join(changed)}); "
                              "restore them, or move population.json and members/ away to start over.")
    else:
        pop = Population(config=wanted)
    data = data_from_config(cfg.data, seed=cfg.train.seed, device=resolve_device(cfg.train.device))
    check = next(data.valid.batches(0))[0][:16].cpu()  # (B, C, H, W) the birth check batch
    if pop.phase == "init":
        pop.base_flops = _train_base(parent, cfg)
        base = _load_model(parent / "checkpoints" / "last.pt", cfg, data)
        _birth(parent, pop, cfg, base, Mutation("clone", text="base"),
               None, 0, data, check)
        pop.phase, pop.round = "select", 1
        pop.save(parent)
    while pop.phase in ("select", "mutate", "train"):
        if pop.round > ev.rounds:
            pop.phase = "final"
            break
        if pop.phase == "select":
            if ev.budget is not None and pop.total_train_flops() >= ev.budget:
                pop.stopped = f"FLOPs budget reached before round {pop.round}: {pop.total_train_flops():.3g} >= {ev.budget:.3g}"
                log.info(pop.stopped)
                pop.phase = "final"
                break
            _select_survivors(parent, pop, ev.keep, ev.selection, data.valid.labels)
            pop.phase = "mutate"
            pop.save(parent)
        if pop.phase == "mutate":
            _fill(parent, pop, cfg, data, check)
            pop.phase = "train"
            pop.save(parent)
        if pop.phase == "train":
            _train_round(parent, pop, ev.steps_per_round, workers)
            _record_round(pop)
            pop.round, pop.phase = pop.round + 1, "select"
            pop.save(parent)
    pop.phase = "final"
    pop.save(parent)
    finish(parent, pop, cfg, data)
    pop.phase = "done"
    pop.save(parent)
    return pop


# --------------------------------------------------------------------------- base and births


def _train_base(parent: Path, cfg: Config) -> float:
    """Train (or finish training) the base model in ``parent``; its training FLOPs. A trained base is kept
    whatever changed in the params since (the evolve block, typically)."""
    log.info("the base model in %s", parent)
    rows = run_experiment(parent, cfg, existing="resume", force=True).learner.history.rows
    return float(rows[-1].get("train_flops", 0.0)) if rows else 0.0


def _load_model(ckpt: Path, cfg: Config, data: DataBundle) -> torch.nn.Module:
    """The model of a checkpoint, on the CPU, built from its own config."""
    state = load_checkpoint(ckpt)
    own = parse_config(state["config"], ["model.pretrained=null"], source=str(ckpt))
    model = model_from_config(own, num_classes=data.num_classes, input_shape=data.input_shape)
    model.load_state_dict(state["model"])
    return model.eval()


def _member_model(member_dir: Path, data: DataBundle) -> torch.nn.Module:
    """A member's latest model on the CPU: its last checkpoint, or its birth weights (init.pt) before training."""
    last = member_dir / "checkpoints" / "last.pt"
    if last.exists():
        return _load_model(last, load_config(member_dir), data)
    cfg = load_config(member_dir)
    return model_from_config(cfg, num_classes=data.num_classes, input_shape=data.input_shape,
                             base_dir=member_dir).eval()


def _birth(parent: Path, pop: Population, cfg: Config, model: torch.nn.Module, mutation: Mutation,
           from_member: Member | None, round_: int, data: DataBundle, check: torch.Tensor) -> Member:
    ev = cfg.evolve
    mid = pop.next_id()
    out = parent / "members" / mid
    src_cfg = load_config(parent / from_member.dir) if from_member else cfg
    # Every member is validated on the base's split, and trains with its own seed (batch order,
    # augmentation, dropout): siblings born by the same mutation would otherwise stay identical.
    src_cfg = src_cfg.model_copy(update={
        "data": src_cfg.data.model_copy(update={"split_seed": cfg.data.seed_for_splits(cfg.train.seed)}),
        "train": src_cfg.train.model_copy(update={"seed": mix_seed(ev.seed, int(mid[1:])) % 2**31}),
    })
    source = parent / (from_member.dir if from_member else "checkpoints/last.pt")
    birth = write_transformed_experiment(
        src_cfg, model, mutation.steps, out, input_shape=data.input_shape, check_input=check,
        lr_rule=ev.lr_rule if mutation.steps else "keep", lr_factor=mutation.lr_factor,
        scale_weight_decay=ev.scale_weight_decay, tolerance=ev.tolerance, drop_sections=("evolve",),
        source=str(source))
    member = Member(id=mid, dir=f"members/{mid}", parent=from_member.id if from_member else None,
                    kind=mutation.kind, mutation=mutation.text, born_round=round_, params=birth.n_new,
                    flops_per_sample=from_member.flops_per_sample if from_member else None,
                    inherited_flops=from_member.lineage_flops if from_member else pop.base_flops,
                    lr_scale=birth.lr_scale, birth_delta=birth.delta,
                    valid_accuracy=from_member.valid_accuracy if from_member else None)
    pop.add(member)
    log.info("round %d: %s born from %s by %s (params %d -> %d, max |Δ| %.2e)", round_, mid,
             member.parent or "the base", mutation.text, birth.n_old, birth.n_new, birth.delta)
    return member


def _fill(parent: Path, pop: Population, cfg: Config, data: DataBundle, check: torch.Tensor) -> None:
    """Mutate random survivors until the population has M members (seeded per round and slot)."""
    ev = cfg.evolve
    survivors = sorted((m for m in pop.alive() if m.born_round < pop.round), key=lambda m: m.id)
    while len(pop.alive()) < ev.population:
        slot = len(pop.born_in(pop.round))
        stale = parent / "members" / pop.next_id()
        if stale.exists():  # a birth that was killed before it was recorded: redo it
            import shutil

            shutil.rmtree(stale)
        rng = random.Random(f"{ev.seed}-{pop.round}-{slot}")
        chosen = rng.choice(survivors)
        model = _member_model(parent / chosen.dir, data)
        mutation = sample_mutation(rng, model, check, ev)
        _birth(parent, pop, cfg, model, mutation, chosen, pop.round, data, check)
        pop.save(parent)


# --------------------------------------------------------------------------- selection and training


def _select_survivors(parent: Path, pop: Population, keep: int, method: str, targets: torch.Tensor) -> None:
    alive = sorted(pop.alive(), key=lambda m: m.id)
    if len(alive) <= keep:
        return
    picked = {alive[i].id for i in select(method, correctness(parent, alive, targets), keep)}
    for m in alive:
        if m.id not in picked:
            m.alive, m.died_round = False, pop.round
    log.info("round %d: survivors %s (%s)", pop.round, ", ".join(sorted(picked)), method)


def _train_round(parent: Path, pop: Population, steps: int, workers: int) -> None:
    todo = [m for m in sorted(pop.alive(), key=lambda m: m.id) if m.trained_round < pop.round]
    if workers == 1 or len(todo) <= 1:
        for m in todo:
            _update(pop, m, train_member(parent / m.dir, steps))
            pop.save(parent)
        return
    # each member's training starts from its worker's share of the cores (docs/threads.md)
    with environment({WORKERS_ENV: str(workers)}), \
            ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(train_member, str(parent / m.dir), steps): m for m in todo}
        for fut in as_completed(futures):
            _update(pop, futures[fut], fut.result())
            pop.save(parent)


def _update(pop: Population, m: Member, s: dict) -> None:
    m.step, m.train_flops, m.params = s["step"], s["train_flops"], s["params"]
    m.valid_accuracy, m.valid_loss = s["valid.accuracy"], s["valid.loss"]
    m.flops_per_sample = s["flops_per_sample"]
    m.trained_round = pop.round
    m.history.append({"round": pop.round, "valid_accuracy": m.valid_accuracy, "valid_loss": m.valid_loss,
                      "params": m.params, "step": m.step, "lineage_flops": m.lineage_flops})


def _record_round(pop: Population) -> None:
    alive = pop.alive()
    best = max(alive, key=lambda m: m.valid_accuracy)
    pop.rounds.append({
        "round": pop.round, "members": sorted(m.id for m in alive),
        "born": sorted(m.id for m in pop.born_in(pop.round)),
        "best": best.id, "best_valid_accuracy": best.valid_accuracy, "best_params": best.params,
        "mean_valid_accuracy": float(np.mean([m.valid_accuracy for m in alive])),
        "total_train_flops": pop.total_train_flops(),
    })
