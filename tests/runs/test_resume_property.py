"""Resumed == uninterrupted, as a property (issue 26 §2).

Hypothesis draws a run from what the params allow (early stopping with or without best-weight restore, focus
with its when/order/pass/mode options, the loss objectives, the plateau, one-cycle and cosine schedules,
gradient accumulation, eval_every and save_every > 1, step checkpoints, a FLOPs budget, probes and
diagnostics, dropout and augmentation, the recipes: weight EMA, mixup/cutmix, test-time augmentation) and
one or two places to stop it, then resumes until it ends and compares with the same run left alone: the
final weights, last.pt and best.pt (every entry), history.json, metrics_val_best.json /
metrics_val_last.json and the probe records must be identical (times aside), on one thread
(train.num_threads=1, adaptive_threads false).

A stop is deterministic, never a race with a timer:

- SIGTERM, in this process: a callback sends it to the process itself just before optimizer step N (also
  inside a focus pass) or once epoch E is recorded; GracefulStop handles it as it would a user's.
- SIGKILL, in a forked child (the parent's imports carried over: no interpreter start): the child kills itself
  before step N or after epoch E, once the files it queued are written, or in the middle of its file writes,
  just before the n-th (so a checkpoint can be on disk and the history that follows it not).

Default suite: a few derandomized cases plus the known failures as explicit examples (seconds). ``-m slow``:
``TRAINLAB_RESUME_CASES`` cases (default 300, several minutes).
"""
from __future__ import annotations

import copy
import json
import os
import signal
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from trainlab.config import parse_config
from trainlab.engine import Callback, file_queue
from trainlab.runs import run_experiment

from ..faults import run_in_child

SLOW_CASES = int(os.environ.get("TRAINLAB_RESUME_CASES", "300"))
VOLATILE = ("time",)  # history keys that measure the machine, not the run (time, data_time, focus.time)


# ---------------------------------------------------------------------- what a case is


@dataclass(frozen=True)
class Stop:
    """Where to stop: ``signal`` "term" or "kill"; ``at`` "step" (before optimizer step ``where`` × the run's
    steps), "epoch" (after epoch ``where`` × the run's epochs is recorded) or "write" (kill only: before the
    file write ``where`` × the run's writes); ``flush``: a kill waits for the queued files first."""

    signal: str
    at: str
    where: float
    flush: bool = True


@dataclass(frozen=True)
class Case:
    params: dict = field(hash=False)
    stops: tuple[Stop, ...]
    budget: float | None = None  # train.flops_budget as a share of the unbudgeted run's FLOPs


def base_params(model="mlp", epochs=4, **train) -> dict:
    return {
        "data": {"name": "synthetic", "batch_size": 16, "args": {"samples": 96, "image_size": 6, "noise": 0.6}},
        "model": {"name": "mlp", "args": {"hidden_sizes": [16]}} if model == "mlp" else
        {"name": "cnn_tiny", "args": {"width": 4}},
        "optim": {"name": "adam", "lr": 0.01},
        "train": {"epochs": epochs, "seed": 1, "num_threads": 1, "adaptive_threads": False, "count_flops": False,
                  **train},
        "logging": {"tensorboard": False, "plot": False, "progress": "none"},
    }


@st.composite
def cases(draw) -> Case:
    model = draw(st.sampled_from(["mlp", "cnn_tiny"]))
    p = base_params(model, epochs=draw(st.integers(2, 4)))
    t, data = p["train"], p["data"]
    data["batch_size"] = draw(st.sampled_from([12, 16, 24]))
    data["augment"] = draw(st.sampled_from(["none", "light"]))
    p["model"]["dropout"] = draw(st.sampled_from([0.0, 0.3]))
    p["optim"] = draw(st.sampled_from([{"name": "adam", "lr": 0.01}, {"name": "sgd", "lr": 0.05},
                                       {"name": "adamw", "lr": 0.01, "weight_decay": 0.01}]))
    t["seed"] = draw(st.integers(0, 3))
    t["accumulate"] = draw(st.sampled_from([1, 1, 2, 3]))
    t["eval_every"] = draw(st.sampled_from([1, 1, 2, 3]))
    t["save_every"] = draw(st.sampled_from([1, 2, 3]))
    t["save_every_steps"] = draw(st.sampled_from([None, None, 2, 5]))
    t["grad_clip"] = draw(st.sampled_from([None, 1.0]))
    t["monitor"], t["mode"] = draw(st.sampled_from([("valid.loss", "min"), ("valid.accuracy", "max")]))
    if draw(st.booleans()):
        monitor, mode = draw(st.sampled_from([("valid.loss", "min"), ("valid.accuracy", "max"),
                                              ("valid.loss", "max")]))  # "max" loss: best early, restore matters
        t["early_stopping"] = {"monitor": monitor, "mode": mode, "patience": draw(st.integers(1, 3)),
                               "restore_best": draw(st.booleans())}
    schedule = draw(st.sampled_from(["none", "one_cycle", "plateau", "cosine"]))
    if schedule != "none":
        p["schedule"] = {"name": schedule, **({"patience": 1, "factor": 0.5} if schedule == "plateau" else {})}
    if draw(st.booleans()):
        when = draw(st.sampled_from(["always", {"every": 2}, {"after_epoch": 1},
                                     {"plateau": {"monitor": "valid.loss", "patience": 1}}]))
        p["focus"] = {"k": draw(st.integers(1, 2)), "when": when, "order": draw(st.sampled_from(["after", "before"])),
                      "pass": draw(st.sampled_from(["full", {"steps": 2}])),
                      "mode": draw(st.sampled_from(["hard", "soft"])),
                      "optimizer_state": draw(st.sampled_from(["restore", "shared"])),
                      "penalty": {"mode": draw(st.sampled_from(["lr_scale", "grad_scale"])), "value": 0.1}}
    loss = draw(st.sampled_from([None, {"focal": {"gamma": 2.0}}, {"reweight": {"strength": 0.5}},
                                 {"group_dro": {"step_size": 0.05}}]))
    if loss is not None:
        p["loss"] = loss
    if model == "cnn_tiny" and draw(st.booleans()):
        p["logging"]["probe"] = {"images": 2, "every": draw(st.integers(1, 2))}
    if draw(st.booleans()):
        p["logging"]["diagnostics"] = {"images": 4, "every": draw(st.integers(1, 2)), "histograms": False}
    if draw(st.booleans()):
        t["ema"] = {"decay": draw(st.sampled_from([0.9, 0.99])), "warmup_steps": draw(st.sampled_from([0, 3]))}
    if loss is None and draw(st.booleans()):  # mixed targets need the plain cross-entropy
        data["mix"] = draw(st.sampled_from([{"mixup_alpha": 0.4}, {"mixup_alpha": 0.0, "cutmix_alpha": 1.0},
                                            {"mixup_alpha": 0.4, "cutmix_alpha": 1.0, "prob": 0.5}]))
    if draw(st.booleans()):
        data["tta"] = draw(st.sampled_from(["flip", "flip+shift"]))
    budget = draw(st.sampled_from([None, None, None, 0.55]))
    stops = draw(st.lists(stops_strategy(), min_size=1, max_size=2))
    return Case(p, tuple(sorted(stops, key=lambda s: s.where)), budget)


def stops_strategy():
    where = st.floats(0.0, 0.999, allow_nan=False)
    return st.one_of(
        st.builds(Stop, st.just("term"), st.sampled_from(["step", "step", "epoch"]), where),
        st.builds(Stop, st.just("kill"), st.sampled_from(["step", "epoch", "write", "write"]), where, st.booleans()),
    )


# ---------------------------------------------------------------------- stopping a run


class StopHere(Callback):
    """Sends ``signum`` to this process just before optimizer step ``step`` (normal or focus pass), after epoch
    ``epoch`` is recorded (after every other callback), or (``writes``) just before the n-th file write."""

    run_after = (Callback,)  # every other callback's epoch hook ran (the checkpoint's included)

    def __init__(self, signum: int, *, step: int | None = None, epoch: int | None = None, flush: bool = True):
        self.signum, self.step, self.epoch, self.flush = signum, step, epoch, flush

    def on_before_optimizer_step(self, learner) -> None:
        if learner.loop.step == self.step:
            self._send(learner)

    def on_epoch_recorded(self, learner) -> None:
        if learner.loop.epoch == self.epoch:
            self._send(learner)

    def _send(self, learner) -> None:
        if self.signum == signal.SIGKILL and self.flush:
            learner.files.flush()
        os.kill(os.getpid(), self.signum)


def kill_before_write(n: int) -> None:
    """In a child about to die: SIGKILL this process just before its n-th background file write."""
    real, count = file_queue.atomic_write_bytes, [0]

    def write(path, data, hint=""):
        count[0] += 1
        if count[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        real(path, data, hint=hint)

    file_queue.atomic_write_bytes = write


# ---------------------------------------------------------------------- what a run leaves


def _strip(value):
    """``value`` with the machine's timings dropped from history rows (nested anywhere)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not (isinstance(k, str) and k.endswith(VOLATILE))}
    if isinstance(value, list | tuple):
        return [_strip(v) for v in value]
    return value


def assert_same(a, b, where="") -> None:
    """``a`` and ``b`` hold the same entries and bit-identical tensors; the first difference names its place."""
    def differ(why):
        raise AssertionError(f"{where}: {why}")

    if isinstance(a, torch.Tensor):
        if not (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)):
            differ("tensors differ")
    elif isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            differ(f"keys differ: {sorted(set(a) ^ set(b or {}), key=str)}")
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        if not isinstance(b, list | tuple) or len(a) != len(b):
            differ(f"{len(a)} vs {len(b) if isinstance(b, list | tuple) else b!r} entries")
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif not (a == b or (a != a and b != b)):  # NaN == NaN here
        differ(f"{a!r} != {b!r}")


def left_behind(folder: Path, learner) -> dict:
    """What a finished run leaves that must not depend on how often it was stopped."""
    out = {"final weights": learner.model.state_dict(), "epochs": learner.loop.epoch}
    for name in ("last.pt", "best.pt"):
        path = folder / "checkpoints" / name
        out[name] = _strip(torch.load(path, weights_only=True)) if path.exists() else None
    for name in ("history.json", "metrics_val_best.json", "metrics_val_last.json"):
        path = folder / name
        out[name] = _strip(json.loads(path.read_text())) if path.exists() else None
    out["probes"] = {p.name: torch.load(p, weights_only=True) for p in sorted((folder / "probes").glob("*.pt"))}
    return out


# ---------------------------------------------------------------------- running a case


@cache
def _flops_scale(data_model: str) -> float:
    """Training FLOPs of one epoch of this data and model (for a budget drawn as a share of the run)."""
    from trainlab.engine.factory import learner_from_config
    from trainlab.profile.counter import flops_per_sample

    learner = learner_from_config(parse_config(json.loads(data_model)), None, default_callbacks_on=False)
    return flops_per_sample(learner.model, torch.zeros(2, *learner.data.input_shape)) * learner.data.train.num_samples


def resolve(case: Case) -> dict:
    params = copy.deepcopy(case.params)
    if case.budget is not None:
        key = json.dumps({k: params[k] for k in ("data", "model")}, sort_keys=True)
        params["train"]["flops_budget"] = case.budget * params["train"]["epochs"] * _flops_scale(key)
    return params


class Straight:
    """The uninterrupted runs, one per params (cases that share params share it)."""

    def __init__(self, root: Path) -> None:
        self.root, self.done = root, {}

    def __call__(self, params: dict) -> tuple[dict, dict]:
        key = json.dumps(params, sort_keys=True)
        if key not in self.done:
            folder = self.root / f"straight-{len(self.done)}"
            counter = CountWrites()
            outcome = run_experiment(folder, parse_config(params), callbacks=[counter])
            self.done[key] = (left_behind(folder, outcome.learner),
                              {"steps": outcome.learner.loop.step, "epochs": outcome.learner.loop.epoch,
                               "writes": counter.count(outcome.learner)})
        return self.done[key]


class CountWrites(Callback):
    """Counts the background file writes of a run (to draw a write to die before)."""

    def on_fit_start(self, learner) -> None:
        real, self.n = learner.files.submit, 0

        def submit(*args, **kwargs):
            self.n += 1
            real(*args, **kwargs)

        learner.files.submit = submit

    def count(self, learner) -> int:
        return self.n


def interrupted(case: Case, params: dict, size: dict, folder: Path) -> tuple[dict, list[str]]:
    """Run ``params`` in ``folder`` stopped at each of ``case.stops`` and resumed after each; what it leaves."""
    cfg, story = parse_config(params), []
    for stop in case.stops:
        existing = "resume" if (folder / "params.resolved.json").exists() else "refuse"
        if stop.at == "step":
            at = {"step": int(stop.where * size["steps"])}
        elif stop.at == "epoch":
            at = {"epoch": 1 + int(stop.where * size["epochs"])}
        else:
            at = {"write": 1 + int(stop.where * size["writes"])}
        story.append(f"{stop.signal} at {at} (flush={stop.flush})")
        if stop.signal == "term":
            callbacks = [StopHere(signal.SIGTERM, **at)]
            outcome = run_experiment(folder, cfg, existing=existing, callbacks=callbacks)
            story.append(f"  stopped at {outcome.learner.loop.describe()} by {outcome.signal}")
            if outcome.signal is not None:  # a signal loses no work: last.pt is where the run stopped
                saved = torch.load(folder / "checkpoints" / "last.pt", weights_only=True)["loop"]
                assert saved == outcome.learner.loop.state_dict(), f"last.pt is at {saved}: {story}"
            continue

        def child():
            if "write" in at:
                kill_before_write(at["write"])
                callbacks = []
            else:
                callbacks = [StopHere(signal.SIGKILL, flush=stop.flush, **at)]
            run_experiment(folder, cfg, existing=existing, callbacks=callbacks)

        code = run_in_child(child)
        assert code in (-signal.SIGKILL, 0), f"the child failed (exit {code}): {story}"
        story.append(f"  child ended with {code}")
    outcome = run_experiment(folder, cfg, existing="resume")
    story.append(f"  resumed from {'a checkpoint' if outcome.resumed else 'scratch'}")
    return left_behind(folder, outcome.learner), story


def describe(case: Case) -> list[str]:
    """What a case exercises, for hypothesis' statistics (--hypothesis-show-statistics)."""
    t, p = case.params["train"], case.params
    tags = [f"stop: {s.signal} at {s.at}" + ("" if s.flush or s.at == "write" else " (files pending)")
            for s in case.stops]
    tags += [name for name, on in (("early stopping", t.get("early_stopping")), ("focus", p.get("focus")),
                                   ("loss objective", p.get("loss")), ("probe", p["logging"].get("probe")),
                                   ("diagnostics", p["logging"].get("diagnostics")), ("FLOPs budget", case.budget),
                                   ("accumulate > 1", t.get("accumulate", 1) > 1),
                                   ("eval_every > 1", t.get("eval_every", 1) > 1),
                                   ("save_every > 1", t.get("save_every", 1) > 1),
                                   ("step checkpoints", t.get("save_every_steps")), ("EMA", t.get("ema")),
                                   ("mixup/cutmix", p["data"].get("mix")), ("TTA", p["data"].get("tta"))) if on]
    return tags + [f"schedule: {p.get('schedule', {}).get('name', 'none')}", f"{len(case.stops)} stop(s)"]


def check_case(case: Case, straight: Straight, root: Path) -> None:
    if currently_in_test_context():
        for tag in describe(case):
            event(tag)
    params = resolve(case)
    expected, size = straight(params)
    folder = root / f"case-{len(list(root.glob('case-*')))}"
    got, story = interrupted(case, params, size, folder)
    try:
        assert_same(expected, got, "run")
    except AssertionError as e:
        raise AssertionError(f"{e}\nparams: {json.dumps(params)}\nsize: {size}\nstory: {story}") from None


# ---------------------------------------------------------------------- the tests

KNOWN = [  # the failures issue 26 lists, as cases (each failed before it)
    Case(base_params("mlp", epochs=4, early_stopping={"monitor": "valid.loss", "mode": "max", "patience": 10}),
         (Stop("kill", "epoch", 0.6),)),  # EarlyStopping's best weights lost by a resume after the best epoch
    Case(base_params("mlp", epochs=4, save_every=3), (Stop("term", "epoch", 0.3),)),  # no last.pt for epoch 2
    Case(base_params("cnn_tiny", epochs=3, eval_every=2, save_every=2, accumulate=2),
         (Stop("kill", "write", 0.5, flush=False), Stop("term", "step", 0.7))),
    # found by the slow run: a focus step after a diagnosed epoch was diagnosed, and its weight copy leaked
    Case({**base_params("mlp", epochs=3), "focus": {"k": 1},
          "logging": {"tensorboard": False, "plot": False, "progress": "none",
                      "diagnostics": {"images": 4, "every": 2, "histograms": False}}},
         (Stop("term", "step", 0.63),)),
    # found by the slow run: a focus pass (order before) crossed the FLOPs budget; stopped in it, the resumed
    # run ended at once, where the uninterrupted one trained the epoch's first batches before stopping
    Case({**base_params("mlp", epochs=2, accumulate=3), "data": {**base_params()["data"], "batch_size": 24},
          "focus": {"k": 1, "order": "before", "pass": {"steps": 2}}}, (Stop("term", "step", 0.0),), budget=0.55),
    # the recipes together: the average, the mixing generator and the TTA views must all carry over
    Case({**base_params("cnn_tiny", epochs=3, ema={"decay": 0.9, "warmup_steps": 3}, save_every_steps=2),
          "data": {**base_params()["data"], "mix": {"mixup_alpha": 0.4, "cutmix_alpha": 1.0, "prob": 0.5},
                   "tta": "flip"}},
         (Stop("kill", "step", 0.45, flush=False), Stop("term", "epoch", 0.6))),
]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    return Straight(tmp_path_factory.mktemp("straight"))


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("interrupted")


@pytest.mark.parametrize("case", KNOWN, ids=["early-stopping-best", "sigterm-save-every", "kill-mid-write",
                                             "diagnostics-focus", "budget-focus-before", "recipes"])
def test_known_failures_resume_to_the_uninterrupted_run(case, straight, root):
    check_case(case, straight, root)


@settings(max_examples=3, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases())
def test_a_stopped_and_resumed_run_is_the_uninterrupted_run(case, straight, root):
    check_case(case, straight, root)


@pytest.mark.slow
@settings(max_examples=SLOW_CASES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(case=cases())
def test_many_stopped_and_resumed_runs_are_the_uninterrupted_runs(case, straight, root):
    check_case(case, straight, root)
