"""Checking a checkpoint's state against the Learner it is restored into, before any of it is applied.

A checkpoint file can hold anything ``torch.load(weights_only=True)`` reads: another architecture's weights,
a missing optimizer, a string where the loop counters should be. Each part is compared with what this
Learner holds (its model's state dict, its optimizer's groups, its callbacks' states), so a restore either
applies every part or raises one :class:`CheckpointError` naming the part, what was found, and what to do.

Example:
    >>> import torch
    >>> check_weights(torch.nn.Linear(2, 3), {"weight": torch.zeros(4, 2)}, "w.pt")
    Traceback (most recent call last):
    ...
    trainlab.errors.CheckpointError: w.pt holds weights that do not fit Linear (shape mismatch: weight: file (4, 2) vs model (3, 2); 1 model keys missing from the file (bias)). Restore the params it was trained with (model.*), or pass another checkpoint.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..config import INT64_MAX
from ..config.text import check_plain
from ..errors import CheckpointError, ConfigError, echo
from ..files import one_line_detail
from ..models.weights import describe_mismatch
from .history import History
from .rng import rng_state, set_rng_state

FORMATS = (1, 2)  # format 1 kept the loop counters at the top level; format 2 under "loop"
FORMAT1_COUNTERS = (("epoch", "epoch"), ("batch", "batch_idx"), ("step", "step"), ("samples", "samples_seen"),
                    ("skipped_batches", "skipped_batches"))  # (LoopState field, format-1 key)
# what a callback whose state cannot be applied raises in its load_state_dict
_CALLBACK_FAULTS = (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError)


def loop_counters(state: Mapping[str, Any]) -> Any:
    """The loop counters of a checkpoint of any format (format 1 kept them at the top level)."""
    if "loop" in state:
        return state["loop"]
    return {field: state.get(old, 0) for field, old in FORMAT1_COUNTERS}


def restore(learner, state: Any, *, weights_only: bool = False, keep_settings: bool = False,
            source: str = "the checkpoint") -> None:
    """Restore a checkpoint's ``state`` into ``learner`` (see :meth:`Learner.load_state_dict`): every part is
    checked first, then applied; a state that does not fit raises :class:`CheckpointError` and leaves the
    Learner as it was."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{source} holds {type(state).__name__}, not a checkpoint dict.")
    check_weights(learner.model, state.get("model"), source)
    if not weights_only:
        check_training_state(learner, state, source, keep_settings=keep_settings)
    try:  # strict apart from num_batches_tracked, which older checkpoints lack
        learner.model.load_state_dict(state["model"], strict=False)
    except RuntimeError as e:  # a dtype that cannot be copied (complex into float, ...)
        raise CheckpointError(f"{source} holds weights that cannot be loaded ({one_line_detail(e)}).") from None
    if weights_only:
        return
    previous_rng = rng_state()
    try:
        set_rng_state(state["rng"])
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError, AttributeError) as e:
        set_rng_state(previous_rng)
        raise CheckpointError(f"{source} holds weights, but its random-number state is damaged "
                              f"({type(e).__name__}); start over with --restart, or evaluate it.") from None
    optimizer = learner.optimizer
    settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    optimizer.load_state_dict(state["optimizer"])
    if keep_settings:  # --resume --force: the optimizer keeps this run's hyperparameters (lr, betas, ...)
        for group, mine in zip(optimizer.param_groups, settings):
            group.update(mine)
    if learner.scaler.is_enabled() and isinstance(state.get("scaler"), dict) and state["scaler"]:
        learner.scaler.load_state_dict(state["scaler"])
    learner.loop.load_state_dict(loop_counters(state))
    learner.history = History(state["history"], state.get("class_names"))
    learner._resumed_metrics = state.get("train_metrics")
    saved = state.get("callbacks", {})
    try:  # the structure was checked above; a callback may still miss an entry it needs
        for cb in learner.callbacks:
            if keep_settings and cb.restarts_on_new_settings:
                cb.restart(learner)
            elif (key := saved_key(cb, saved, learner.callbacks)) is not None:
                cb.load_state_dict(saved[key])
    except _CALLBACK_FAULTS as e:
        raise CheckpointError(f"{source} holds a callback state this run cannot restore ({type(e).__name__}: "
                              f"{one_line_detail(e)}); start over with --restart, or evaluate it.") from None


def saved_key(cb, saved: Mapping[str, Any], callbacks) -> str | None:
    """The entry of a checkpoint's ``callbacks`` that holds ``cb``'s state: its ``state_key``, else its class
    name (checkpoints written before callbacks had state keys), unless another of ``callbacks`` owns that
    name; None when there is none."""
    if cb.state_key in saved:
        return cb.state_key
    legacy = type(cb).__name__
    if legacy in saved and not any(other.state_key == legacy for other in callbacks):
        return legacy
    return None


def fits(template: Any, value: Any, where: str = "") -> str:
    """How ``value`` differs in structure from ``template`` ("" when it fits): same containers, keys of
    ``value`` known to ``template``, numbers where numbers are, tensors of the same shape and kind.

    A ``None`` in ``template`` (a best value not set yet) accepts None or a number; an empty container
    accepts any container of that kind (its contents are not known in advance).

    Example:
        >>> fits({"best": None, "wait": 0}, {"best": 0.5, "wait": "x"})
        "wait is 'x', expected an int"
    """
    here = where or "the value"
    if isinstance(template, bool):
        ok = isinstance(value, bool)
    elif isinstance(template, int):
        ok = isinstance(value, int) and not isinstance(value, bool) and abs(value) <= INT64_MAX
    elif isinstance(template, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif template is None:
        ok = value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    elif isinstance(template, str):
        ok = isinstance(value, str)
    elif isinstance(template, Tensor):
        if not isinstance(value, Tensor):
            return f"{here} is {echo(value, 40)}, expected a tensor of shape {tuple(template.shape)}"
        if value.shape != template.shape or value.dtype.is_floating_point != template.dtype.is_floating_point:
            return (f"{here} is a {value.dtype} tensor of shape {tuple(value.shape)}, expected "
                    f"{template.dtype} {tuple(template.shape)}")
        return ""
    elif isinstance(template, Mapping):
        if not isinstance(value, Mapping):
            return f"{here} is {echo(value, 40)}, expected a mapping"
        for key, item in value.items():
            if template and key not in template:
                return f"{here} has the unknown entry {echo(key, 40)}"
            problem = fits(template[key], item, f"{where}.{key}".lstrip(".")) if template else ""
            if problem:
                return problem
        return ""
    elif isinstance(template, list | tuple):
        if not isinstance(value, list | tuple):
            return f"{here} is {echo(value, 40)}, expected a list"
        if template and len(value) != len(template):
            return f"{here} has {len(value)} entries, expected {len(template)}"
        for i, (a, b) in enumerate(zip(template, value)):
            problem = fits(a, b, f"{where}[{i}]")
            if problem:
                return problem
        return ""
    else:
        return ""  # a type this check does not know: left to the part's own loader
    return "" if ok else f"{here} is {echo(value, 40)}, expected {_kind(template)}"


def _kind(template: Any) -> str:
    if template is None:
        return "None or a number"
    return {bool: "true/false", int: "an int", float: "a number", str: "text"}.get(type(template),
                                                                                  type(template).__name__)


def check_weights(model: nn.Module, weights: Any, source: str) -> None:
    """Raise :class:`CheckpointError` unless ``weights`` is a state dict that fits ``model`` exactly and
    holds only finite values."""
    if not isinstance(weights, Mapping) or not all(isinstance(k, str) and isinstance(v, Tensor)
                                                   for k, v in weights.items()):
        raise CheckpointError(f"{source}: its 'model' entry is {echo(weights, 40)}, not a state dict of tensors; "
                              "pass a checkpoint written by trainlab train.")
    details = describe_mismatch(model.state_dict(), weights, limit=110)
    if details:
        raise CheckpointError(f"{source} holds weights that do not fit {type(model).__name__} ({details}). "
                              "Restore the params it was trained with (model.*), or pass another checkpoint.")
    bad = [k for k, v in weights.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"{source} holds NaN or infinite weights ({echo(bad[:3], 80)}): it was written after "
                              "training diverged. Use an earlier checkpoint (best.pt), or --restart with a lower "
                              "optim.lr.")


def check_training_state(learner, state: Mapping[str, Any], source: str, *, keep_settings: bool) -> None:
    """Raise :class:`CheckpointError` unless every part a resume restores fits ``learner`` (weights checked
    apart, by :func:`check_weights`)."""
    fmt = state.get("format", 1)
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt not in FORMATS:
        raise CheckpointError(f"{source} has checkpoint format {echo(fmt, 20)}; this trainlab reads formats "
                              f"{', '.join(map(str, FORMATS))}. Use the trainlab version that wrote it.")
    problems = [
        _optimizer_problem(learner.optimizer, state.get("optimizer"), keep_settings),
        _loop_problem(state),
        _history_problem(state.get("history"), state.get("class_names")),
        _metrics_problem(learner, state.get("train_metrics")),
        _callbacks_problem(learner, state.get("callbacks", {}), keep_settings),
        "" if not learner.scaler.is_enabled() or state.get("scaler") in (None, {})
        else fits(learner.scaler.state_dict(), state["scaler"], "scaler"),
        "" if isinstance(state.get("rng"), Mapping) else f"rng is {echo(state.get('rng'), 40)}, expected a mapping",
    ]
    problem = next((p for p in problems if p), "")
    if problem:
        raise CheckpointError(f"{source} holds weights, but not a training state this run can resume ({problem}). "
                              "Evaluate it, use it as model.pretrained, or start over with --restart.")
    changed = changed_splits(state.get("splits"), learner.data.fingerprints)
    if changed:
        raise CheckpointError(f"{source} trained on other {' and '.join(changed)} samples than this run would use "
                              "(their fingerprints differ: the data files, a data.* key or, with data.split_seed "
                              "unset, train.seed changed); resuming would move samples between splits. Restore "
                              "them, or start over with --restart.")


def changed_splits(saved: Any, current: Mapping[str, str]) -> list[str]:
    """The splits whose fingerprint differs from a checkpoint's ``splits`` (none for checkpoints without)."""
    if not isinstance(saved, Mapping):
        return []
    return [name for name, fp in current.items() if name in saved and saved[name] != fp]


def _optimizer_problem(optimizer: torch.optim.Optimizer, saved: Any, keep_settings: bool) -> str:
    if not isinstance(saved, Mapping):
        return f"optimizer is {echo(saved, 40)}" if saved is not None else "no optimizer state"
    groups, per_param = saved.get("param_groups"), saved.get("state")
    current = optimizer.state_dict()["param_groups"]
    if not isinstance(groups, list) or not isinstance(per_param, Mapping):
        return "the optimizer state has no param_groups list or state mapping"
    if len(groups) != len(current):
        return f"{len(groups)} optimizer param groups, this run has {len(current)} (model.groups or model.freeze changed)"
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for i, (group, mine) in enumerate(zip(groups, current)):
        if not isinstance(group, Mapping) or not isinstance(group.get("params"), list):
            return f"optimizer param group {i} is {echo(group, 40)}"
        if len(group["params"]) != len(mine["params"]):
            return (f"optimizer param group {i} holds {len(group['params'])} parameters, this run "
                    f"{len(mine['params'])} (the model or model.freeze changed)")
        hyper = {k: v for k, v in mine.items() if k != "params"}
        missing = [k for k, v in hyper.items() if k not in group and not isinstance(v, bool | None)]
        if missing and not keep_settings:
            return f"optimizer param group {i} lacks {', '.join(missing)}"
        problem = fits(hyper, {k: v for k, v in group.items() if k != "params"}, f"optimizer group {i}")
        if problem:
            return problem
    ids = [pid for group in groups for pid in group["params"]]
    if sorted(ids, key=str) != sorted(range(len(params)), key=str):
        return "the optimizer's parameter ids do not number this model's parameters"
    expected = _state_template(optimizer)
    for pid, entry in per_param.items():
        if not isinstance(entry, Mapping) or not isinstance(pid, int) or pid not in range(len(params)):
            return f"optimizer state {echo(pid, 20)} is {echo(entry, 40)}"
        if entry and expected is not None:
            missing = [k for k in expected if k not in entry]
            if missing:
                return f"optimizer state of parameter {pid} lacks {', '.join(missing)}"
        for name, value in entry.items():
            problem = _state_value_problem(value, params[pid], (expected or {}).get(name, value))
            if problem:
                return f"optimizer state {echo(name, 30)} of parameter {pid} {problem}"
    return ""


def _state_template(optimizer: torch.optim.Optimizer) -> dict[str, Any] | None:
    """What one step of ``optimizer`` keeps per parameter (``{"step": tensor(1.), "exp_avg": tensor([0.])}``),
    found by stepping a copy of it over one-element stand-ins; None when that cannot be done."""
    try:
        groups = [{**{k: v for k, v in g.items() if k != "params"},
                   "params": [torch.zeros(1, dtype=p.dtype, requires_grad=True) for p in g["params"][:1]]}
                  for g in optimizer.param_groups if g["params"]]
        twin = type(optimizer)(groups[:1])
        for p in twin.param_groups[0]["params"]:
            p.grad = torch.zeros_like(p)
        twin.step()
        return dict(next(iter(twin.state.values()), {}))
    except Exception:  # an optimizer that needs a closure or other arguments: its own load decides
        return None


def _state_value_problem(value: Any, param: Tensor, template: Any) -> str:
    """Why ``value`` cannot be the optimizer state ``template`` (a 0-dim count, a buffer shaped like ``param``)."""
    if isinstance(template, Tensor) and template.dim() == 0:  # a step count
        ok = (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, Tensor) and value.dim() == 0 and value.dtype != torch.bool)
        finite = ok and bool(torch.isfinite(torch.as_tensor(value, dtype=torch.float64)))
        return "" if ok and finite else f"is {echo(value, 30)}, expected a step count"
    if isinstance(value, Tensor):
        if value.shape != param.shape or not value.is_floating_point():
            return f"is a {value.dtype} tensor of shape {tuple(value.shape)}, the parameter's is {tuple(param.shape)}"
        return "" if bool(torch.isfinite(value).all()) else "holds NaN or infinite values"
    if value is None and (template is None or isinstance(template, Tensor)):
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool) and not isinstance(template, Tensor):
        return ""
    return f"is {echo(value, 30)}"


def _loop_problem(state: Mapping[str, Any]) -> str:
    counters = loop_counters(state)
    if not isinstance(counters, Mapping):
        return f"loop is {echo(counters, 40)}, expected the loop counters"
    for key, value in counters.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT64_MAX:
            return f"the loop counter {echo(key, 30)} is {echo(value, 30)}, expected a count"
    return ""


def _history_problem(rows: Any, class_names: Any) -> str:
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        return f"history is {echo(rows, 40)}, expected a list of epoch rows"
    if class_names is not None and (not isinstance(class_names, list)
                                    or not all(isinstance(c, str) for c in class_names)):
        return f"class_names is {echo(class_names, 40)}, expected a list of names"
    try:
        check_plain(rows, "history")
    except ConfigError as e:
        return str(e)
    for row in rows:
        for key, value in row.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if key in ("epoch", "step") and not (isinstance(value, int) and not isinstance(value, bool)):
                return f"a history row's {key} is {echo(value, 30)}"
            if key.startswith(("train.", "valid.", "lr")) and not (number or value is None or isinstance(value, list)):
                return f"a history row's {echo(key, 40)} is {echo(value, 30)}, expected a number"
    return ""


def _metrics_problem(learner, saved: Any) -> str:
    if saved is None:
        return ""
    fresh = learner.task.metrics()
    template = fresh.states()
    if not isinstance(saved, Mapping) or set(saved) != set(template):
        return f"train_metrics is {echo(saved, 40)}, expected {', '.join(template)}"
    problem = fits(template, saved, "train_metrics")
    if problem:
        return problem
    if any(isinstance(v, Tensor) and (v.dtype != template[k].dtype) for k, v in saved.items()):
        return "train_metrics tensors have other dtypes than this task's metrics"
    return ""


def _callbacks_problem(learner, saved: Any, keep_settings: bool) -> str:
    from .callbacks.schedule import LRSchedule

    if not isinstance(saved, Mapping):
        return f"callbacks is {echo(saved, 40)}, expected a mapping"
    for cb in learner.callbacks:
        key = saved_key(cb, saved, learner.callbacks)
        if key is None or (keep_settings and isinstance(cb, LRSchedule)):
            continue
        template = cb.state_dict()
        problem = fits(template, saved[key], f"callbacks.{key}") if template else ""
        if problem:
            return problem
    return ""
