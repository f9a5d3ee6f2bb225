"""Hyperparameter search on optuna: a search folder's params with a ``search`` block -> one child experiment
folder per trial, trained by N worker processes, resumable after a crash or a kill.

How trials are neither lost nor run twice:
- a worker takes a trial only under :func:`study_lock` (``.claim.lock``; a lock in PostgreSQL for a search
  spread over machines) and only while the study holds fewer trials than the search asks for (trials
  superseded by a retry do not count), so N workers never overshoot;
- the grid sampler maps trial number i to grid point i with the same seed in every worker, so
  concurrent workers never draw the same point;
- when a search starts, trials left RUNNING by a killed search (or FAILed by a signal) are marked
  failed-interrupted and re-queued with the same values and folder, so their child resumes from its
  ``last.pt``; finished trials (complete, pruned, failed with an error) are never run again
  (``retry_failed=True`` re-queues the failed ones);
- with a database shared by several searches, a trial is abandoned when the process that claimed it is
  gone (on this machine) or its heartbeat stopped (elsewhere); any search re-queues it when it next claims.

Example:
    >>> summary = run_search(Path("experiments/digits-search"), workers=2)  # doctest: +SKIP
    >>> summary.counts  # doctest: +SKIP
    {'complete': 4}
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import (
    Config,
    apply_overrides,
    config_to_dict,
    diff_configs,
    find_params_file,
    is_legacy,
    parse_config,
    read_params,
    translate_legacy,
)
from ..errors import ConfigError
from ..threads import WORKERS_ENV, environment
from .space import SearchSpace
from .storage import (
    StorageSpec,
    choose_storage,
    is_stale,
    search_lock,
    share_lock,
    study_lock,
    this_process,
    worker_lock,
)
from .trial import SearchContext, TrialResult, run_trial

log = logging.getLogger("trainlab")
SPLITS = ("train.", "valid.")


@dataclass
class SearchPlan:
    """A validated search: the folder, its config, the base params of every trial, the space, the quota."""

    parent: Path
    cfg: Config
    base: dict[str, Any]
    space: SearchSpace
    quota: int

    @property
    def search(self):
        return self.cfg.search


@dataclass
class SearchSummary:
    parent: Path
    storage: str
    quota: int
    trials: list[dict[str, Any]]  # one per trial that counts: number, state, value, folder, error
    ran: int  # trials run by this call
    outputs: list[Path] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return dict(Counter(t["state"] for t in self.trials))

    def best(self, mode: str) -> dict[str, Any] | None:
        done = [t for t in self.trials if t["state"] == "complete" and t["value"] is not None]
        if not done:
            return None
        return (min if mode == "min" else max)(done, key=lambda t: t["value"])


def plan_search(parent: Path, overrides: list[str] = ()) -> SearchPlan:
    """Read and check PARENT's params: the search block, its space, every trial's config, the metric."""
    parent = Path(parent)
    path = find_params_file(parent)
    raw = apply_overrides(read_params(path), [])
    if is_legacy(raw):
        warnings.warn(f"{path} uses the legacy flat cs230 format; it was translated (hyper_search -> a grid). "
                      "Run `trainlab migrate` to write the new form.", UserWarning, stacklevel=2)
        raw = translate_legacy(raw)
    raw = apply_overrides(raw, list(overrides))
    cfg = parse_config(raw, source=str(path))
    if cfg.search is None or not cfg.search.space:
        raise ConfigError(f"{path} has no search block with a space; add e.g. "
                          '"search": {"space": {"optim.lr": [0.001, 0.01]}, "monitor": "valid.accuracy"}.')
    s = cfg.search
    if not s.monitor.startswith(SPLITS):
        raise ConfigError(f"search.monitor {s.monitor!r} must name a recorded metric such as valid.accuracy, "
                          "valid.loss or valid.f1 (train.* also works).")
    base = {k: v for k, v in raw.items() if k != "search"}
    space = SearchSpace.parse(s.space, sampler=s.sampler)
    space.check(base, sampler=s.sampler)
    if s.sampler == "grid":
        quota = min(s.trials or len(space.grid()), len(space.grid()))
    elif s.trials is None:
        raise ConfigError(f"search.trials is required with sampler {s.sampler!r} (how many trials to run); "
                          "add e.g. \"trials\": 20.")
    else:
        quota = s.trials
    return SearchPlan(parent, cfg, base, space, quota)


def make_sampler(name: str, space: SearchSpace, seed: int):
    """grid (every worker uses the same seed, so trial i is grid point i everywhere), random or TPE."""
    import optuna

    if name == "grid":
        class Grid(optuna.samplers.GridSampler):
            def after_trial(self, study, trial, state, values) -> None:
                pass  # GridSampler would call study.stop(), which only works inside study.optimize

        return Grid(space.grid_space(), seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def make_pruner(name: str, epochs: int):
    """none; median (stop a trial whose value after an epoch is worse than the median of earlier trials
    at that epoch, once 2 trials finished, from epoch 2 on); hyperband (Li et al. 2018, 1..epochs)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(1, epochs), reduction_factor=3)
    return optuna.pruners.NopPruner()


def _fingerprint(plan: SearchPlan) -> dict[str, Any]:
    s = plan.search
    return {"space": s.space, "sampler": s.sampler, "monitor": s.monitor, "mode": s.mode,
            "base": config_to_dict(parse_config(plan.base))}


def open_study(plan: SearchPlan, spec: StorageSpec, study_name: str, storage=None):
    """Create the study, or load it and check that the search it holds is this one."""
    import optuna

    study = optuna.create_study(study_name=study_name, storage=storage or spec.open(),
                                direction="minimize" if plan.search.mode == "min" else "maximize",
                                load_if_exists=True)
    mine = _fingerprint(plan)
    stored = study.user_attrs.get("search")
    if stored is None:
        study.set_user_attr("search", mine)
        return study
    changed = [k for k in ("space", "sampler", "monitor", "mode") if stored.get(k) != mine[k]]
    changed += diff_configs(stored.get("base", {}), mine["base"])
    changed = [k for k in changed if not k.startswith("logging.")]
    if changed:
        raise ConfigError(f"the study in {spec.describe()} was started with other settings ({', '.join(changed)}); "
                          "restore them, or search in a new folder (or delete the study file to start over).")
    return study


def recover(study, *, remote: bool, retry_failed: bool = False) -> list[int]:
    """Re-queue trials a killed search left RUNNING or a signal interrupted (and, with ``retry_failed``,
    those that failed with an error); returns the numbers of the trials re-queued."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    superseded = set(study.user_attrs.get("superseded", []))
    storage = study._storage  # optuna has no public setter for another process's trial
    again = []
    for t in study.get_trials(deepcopy=False):
        if t.number in superseded:
            continue
        if t.state == TrialState.RUNNING and is_stale(t, remote=remote):
            try:
                storage.set_trial_user_attr(t._trial_id, "interrupted", True)
                if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
                    continue
            except UpdateFinishedTrialError:
                continue  # another machine's search got there first
            again.append(t)
        elif t.state == TrialState.FAIL and (t.user_attrs.get("interrupted") or retry_failed):
            again.append(t)
    for t in again:
        study.enqueue_trial(t.params, user_attrs={"folder": t.user_attrs.get("folder"), "retry_of": t.number})
        superseded.add(t.number)
    if again:
        study.set_user_attr("superseded", sorted(superseded))
        log.info("re-queued %d interrupted or failed trial(s): %s", len(again),
                 ", ".join(str(t.user_attrs.get("folder") or t.number) for t in again))
    return [t.number for t in again]


def has_room(study, quota: int) -> bool:
    """Whether a trial is waiting to be run (re-queued) or the study holds fewer than ``quota`` trials
    (trials superseded by a retry do not count)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    superseded = set(study.user_attrs.get("superseded", []))
    waiting = any(t.state == TrialState.WAITING for t in trials)
    return waiting or sum(t.number not in superseded for t in trials) < quota


def claim(study, quota: int, distributions: dict[str, Any], *, remote: bool = False):
    """The next trial to run (a re-queued one first), or None when the study holds ``quota`` trials.
    Call under :func:`study_lock`.

    With remote storage, trials whose worker died (here or, by its heartbeat, on another machine) are
    re-queued first, so the searches still running finish them; the trial claimed records its ``owner``.
    """
    if remote:
        recover(study, remote=True)
    if not has_room(study, quota):
        return None
    trial = study.ask(fixed_distributions=distributions)
    trial.set_user_attr("owner", this_process())
    return trial


@dataclass(frozen=True)
class WorkerArgs:
    parent: str
    overrides: tuple[str, ...]
    spec: StorageSpec
    study_name: str
    seed: int
    test: bool
    coordinator_pid: int


def work(args: WorkerArgs, plan: SearchPlan | None = None, storage=None) -> list[TrialResult]:
    """A worker: claim and run trials until none is left (or the coordinator is gone)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan = plan or plan_search(Path(args.parent), list(args.overrides))
    s = plan.search
    store = storage or args.spec.open()
    study = optuna.load_study(study_name=args.study_name, storage=store,
                              sampler=make_sampler(s.sampler, plan.space, args.seed),
                              pruner=make_pruner(s.pruner, plan.cfg.train.epochs))
    ctx = SearchContext(plan.parent, plan.base, plan.space, s.sampler, s.monitor, s.mode,
                        remote=args.spec.remote, test=args.test)
    distributions = plan.space.distributions()
    results = []
    while args.coordinator_pid in (os.getpid(), os.getppid()):  # an orphaned worker takes no new trial
        with study_lock(args.spec, store, plan.parent, args.study_name):
            trial = claim(study, plan.quota, distributions, remote=args.spec.remote)
        if trial is None:
            break
        results.append(run_trial(study, trial, ctx))
        if results[-1].state == "interrupted":
            break
    return results


def _worker_process(args: WorkerArgs, index: int) -> None:
    logging.basicConfig(format=f"[worker {index}] %(message)s", level=logging.WARNING, force=True)
    logging.getLogger("trainlab").setLevel(logging.INFO)
    warnings.simplefilter("ignore", UserWarning)  # the coordinator already showed the params' warnings
    lock = None if args.spec.remote else worker_lock(Path(args.parent))  # remote: other searches may join
    try:
        work(args)
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    finally:
        if lock is not None:
            lock.close()


def _run_workers(args: list[WorkerArgs]) -> int:
    """Start one spawned process per worker and wait for all; SIGTERM is passed on to them."""
    ctx = multiprocessing.get_context("spawn")  # fork would copy torch's threads and locks
    procs = [ctx.Process(target=_worker_process, args=(a, i + 1), name=f"trainlab-search-{i + 1}")
             for i, a in enumerate(args)]
    # each worker's trainings start from its share of the cores; OpenMP threads that wait sleep (docs/threads.md)
    with environment({WORKERS_ENV: str(len(procs))}):
        for p in procs:
            p.start()

    def forward(signum, frame):
        for p in procs:
            if p.is_alive():
                os.kill(p.pid, signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:  # the terminal sent SIGINT to the workers too; let them save and stop
        for p in procs:
            p.join()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    return sum(p.exitcode != 0 for p in procs)


def study_trials(study) -> list[dict[str, Any]]:
    """The trials that count (not superseded by a retry), as plain rows."""
    superseded = set(study.user_attrs.get("superseded", []))
    names = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
             "WAITING": "waiting"}
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.number in superseded:
            continue
        state = names.get(t.state.name, t.state.name.lower())
        if state == "failed" and t.user_attrs.get("interrupted"):
            state = "interrupted"
        rows.append({"number": t.number, "state": state, "value": t.value, "folder": t.user_attrs.get("folder"),
                     "error": t.user_attrs.get("error"), "params": t.params})
    return rows


def run_search(parent: Path, *, workers: int = 1, storage: str | None = None, study_name: str | None = None,
               overrides: list[str] = (), retry_failed: bool = False, test: bool = False,
               plot: bool = True) -> SearchSummary:
    """Run (or resume) the search in ``parent`` with ``workers`` processes; write results.md/csv and (with
    ``plot``) history_plots.png and per_class_accuracy.png.

    ``storage``: a database URL shared by several machines (default: a file in ``parent``);
    ``test``: also evaluate each finished trial's best.pt on the test split (metrics_test.json).
    """
    import optuna

    from .plots import plot_folder
    from .synthesize import synthesize

    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}.")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan = plan_search(parent, overrides)
    spec = choose_storage(plan.parent, workers, storage)
    name = study_name or (plan.parent.resolve().name if spec.remote else "search")
    lock = None if spec.remote else search_lock(plan.parent)  # with a database, searches on other machines join
    try:
        store = spec.open()
        study = open_study(plan, spec, name, store)
        with study_lock(spec, store, plan.parent, name):
            recover(study, remote=spec.remote, retry_failed=retry_failed)
            room = has_room(study, plan.quota)
        if lock is not None:
            share_lock(lock)
        log.info("search %s: %s sampler, %d trials, %s, %d worker(s), study in %s", plan.parent, plan.search.sampler,
                 plan.quota, plan.search.monitor, workers, spec.describe())
        seed, n_before = plan.cfg.train.seed, len(study.get_trials(deepcopy=False))
        args = [WorkerArgs(str(plan.parent), tuple(overrides), spec, name,
                           # random/TPE: distinct streams per worker and per resumption; grid: one shared order
                           seed if plan.search.sampler == "grid" else seed + 1000 * i + 7919 * n_before,
                           test, os.getpid()) for i in range(workers)]
        before = {t["number"] for t in study_trials(study) if t["state"] not in ("waiting", "running")}
        if not room:
            log.info("no trial left to run")
        elif workers == 1:
            work(args[0], plan, store)
        else:
            failed = _run_workers(args)
            if failed:
                log.warning("%d worker process(es) exited with an error; see the lines above", failed)
    finally:
        if lock is not None:
            lock.close()
    trials = study_trials(study)
    ran = sum(1 for t in trials if t["number"] not in before and t["state"] not in ("waiting", "running"))
    outputs = []
    if any((plan.parent / (t["folder"] or "")).joinpath("history.json").is_file() for t in trials):
        # searches sharing this folder write the table one after another: the last one saw every finished trial
        with study_lock(spec, store, plan.parent, name):
            synthesize(plan.parent)
        outputs = [plan.parent / "results.md", plan.parent / "results.csv"]
        if plot:
            outputs += plot_folder(plan.parent, monitor=plan.search.monitor, mode=plan.search.mode)
    return SearchSummary(plan.parent, spec.describe(), plan.quota, trials, ran, outputs)
