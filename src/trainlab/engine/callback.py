"""Callbacks: plain objects with no-op hooks (Keras style). Hooks receive the Learner.

A callback changes the run only through the Learner's public state (``learner.should_stop = True``,
``learner.optimizer``...). :class:`CallbackList` calls only the hooks a callback overrides, so unused
per-batch hooks cost nothing.

A callback's ``state_dict`` goes into every checkpoint under its :attr:`Callback.state_key` (the class name
unless the callback says otherwise, as Lightning's ``state_key``): two stateful callbacks of one class need
keys of their own, or :class:`CallbackList` refuses them.

When one callback must see another's work, it says so: ``run_after = (LRSchedule,)`` (fastai's declared
order); :class:`CallbackList` sorts topologically and otherwise keeps the order it was given.

Example:
    >>> class CountSteps(Callback):
    ...     def __init__(self): self.steps = 0
    ...     def on_train_batch_end(self, learner):
    ...         self.steps += learner.did_step
    >>> [type(cb).__name__ for cb in CallbackList([CountSteps()])]
    ['CountSteps']
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..errors import TrainlabError
from ..registry import close_matches

if TYPE_CHECKING:
    from .learner import Learner

log = logging.getLogger(__name__)

# In the order they fire during fit (on_setup fires once, when the Learner is created).
EVENTS = ("on_setup", "on_fit_start", "on_epoch_start", "on_train_batch_start", "on_before_optimizer_step",
          "on_after_optimizer_step", "on_train_batch_end", "on_validation_end", "on_epoch_end", "on_epoch_recorded",
          "on_fit_end", "on_exception")


class Callback:
    """Base class: override the hooks you need. ``state_dict`` goes into checkpoints under :attr:`state_key`."""

    run_after: tuple[type[Callback], ...] = ()  # callbacks of these types run this one's hooks first
    run_before: tuple[type[Callback], ...] = ()

    def on_setup(self, learner: Learner) -> None:
        """The Learner was just created: check settings against its model, data and task (fail early)."""
    def on_fit_start(self, learner: Learner) -> None: ...
    def on_epoch_start(self, learner: Learner) -> None: ...
    def on_train_batch_start(self, learner: Learner) -> None:
        """A training batch is about to run; ``learner.batch`` holds it, (x, y), and may be replaced (e.g. mixup)."""
    def on_before_optimizer_step(self, learner: Learner) -> None:
        """Gradients are complete and unscaled (under AMP); the optimizer steps right after (e.g. clip here)."""
    def on_after_optimizer_step(self, learner: Learner) -> None:
        """The optimizer just stepped and the gradients are zeroed: in every pass (the epoch's and
        ``train_pass``'s), once per step, ``loop.step`` already counting it (e.g. a weight average follows here)."""
    def on_train_batch_end(self, learner: Learner) -> None:
        """A training batch is done; ``learner.did_step`` says whether the optimizer stepped on it."""
    def on_validation_end(self, learner: Learner) -> None:
        """``learner.logs`` now holds this epoch's validation metrics."""
    def on_epoch_end(self, learner: Learner) -> None:
        """The epoch is trained and validated; entries added to ``learner.logs`` now go into its history row."""
    def on_epoch_recorded(self, learner: Learner) -> None:
        """The epoch's row is in ``learner.history``; write it out (files, checkpoints, progress)."""
    def on_fit_end(self, learner: Learner) -> None:
        """``fit`` returns normally (finished, stopped early, or stopped by a signal)."""
    def on_exception(self, learner: Learner, error: BaseException) -> None:
        """``fit`` is failing with ``error``; release what on_fit_end would. Every callback's hook runs even
        when another's raises; ``error`` is re-raised afterwards and what the hooks raised is logged."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    #: A run resumed with changed params (``--resume --force``): False restores this callback's saved state
    #: as usual; True ignores it and calls :meth:`restart` instead (e.g. a schedule rebuilt for a new length).
    restarts_on_new_settings = False

    def restart(self, learner: Learner) -> None:
        """Bring a freshly built state to where the resumed run stands (see ``restarts_on_new_settings``)."""

    @property
    def state_key(self) -> str:
        """The name this callback's state is stored under in checkpoints: the class name, unless set
        (``cb.state_key = "..."``) or overridden from the callback's settings (see :meth:`_generate_state_key`).

        Example:
            >>> cb = Callback(); cb.state_key
            'Callback'
            >>> cb.state_key = "mine"; cb.state_key
            'mine'
        """
        return self.__dict__.get("_state_key") or type(self).__name__

    @state_key.setter
    def state_key(self, key: str) -> None:
        self._state_key = key

    def _generate_state_key(self, **settings: Any) -> str:
        """A state key naming the settings that tell two instances apart, e.g.
        ``EarlyStopping(monitor=valid.loss, mode=min)``."""
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in settings.items())})"


def _declared_order(callbacks: list[Callback]) -> list[Callback]:
    """``callbacks`` sorted so every ``run_after``/``run_before`` holds; otherwise in the given order."""
    after: dict[int, set[int]] = {i: set() for i in range(len(callbacks))}  # i runs after each of after[i]
    for i, cb in enumerate(callbacks):
        for j, other in enumerate(callbacks):
            if i != j and isinstance(other, cb.run_after):
                after[i].add(j)
            if i != j and isinstance(other, cb.run_before):
                after[j].add(i)
    ordered: list[int] = []
    while len(ordered) < len(callbacks):
        ready = [i for i in after if i not in ordered and after[i] <= set(ordered)]
        if not ready:
            stuck = ", ".join(type(callbacks[i]).__name__ for i in after if i not in ordered)
            raise TrainlabError(f"callbacks {stuck} have contradictory run_after/run_before declarations.")
        ordered.append(ready[0])
    return [callbacks[i] for i in ordered]


def _check_hook_names(cb: Callback) -> None:
    """A misspelled or renamed hook would silently never run: refuse it."""
    for name in dir(type(cb)):
        if name.startswith("on_") and name not in EVENTS and callable(getattr(type(cb), name)):
            raise TrainlabError(f"{type(cb).__name__}.{name} is not a callback hook.{close_matches(name, list(EVENTS))}"
                                f" Hooks: {', '.join(EVENTS)}.")


def _check_state_keys(callbacks: list[Callback]) -> None:
    """Two stateful callbacks under one key would overwrite each other's state in every checkpoint: refuse."""
    seen: dict[str, Callback] = {}
    for cb in callbacks:
        if type(cb).state_dict is Callback.state_dict:  # keeps no state
            continue
        if cb.state_key in seen:
            raise TrainlabError(f"two {type(cb).__name__} callbacks keep their state under the same key "
                                f"{cb.state_key!r}, so a checkpoint would hold only one of them; give each its own "
                                "(cb.state_key = '...').")
        seen[cb.state_key] = cb


class CallbackList:
    """The callbacks of a Learner in their declared order; ``cbs("on_epoch_end", learner)`` runs a hook."""

    def __init__(self, callbacks: list[Callback]) -> None:
        for cb in callbacks:
            _check_hook_names(cb)
        _check_state_keys(callbacks)
        self.callbacks = _declared_order(list(callbacks))
        self._hooks = {
            event: [getattr(cb, event) for cb in self.callbacks
                    if getattr(type(cb), event) is not getattr(Callback, event)]
            for event in EVENTS
        }

    def __call__(self, event: str, learner: Learner, *args: Any) -> None:
        for hook in self._hooks[event]:
            hook(learner, *args)

    def run_all(self, event: str, learner: Learner, *args: Any) -> list[BaseException]:
        """Run every callback's ``event`` hook even when some raise (on a failing path, where every callback
        must release what it holds); return what they raised, in order, each already logged."""
        raised = []
        for hook in self._hooks[event]:
            try:
                hook(learner, *args)
            except BaseException as e:  # a second Ctrl-C included: the other hooks still run
                log.error("%s.%s failed too: %s: %s", type(hook.__self__).__name__, event, type(e).__name__, e)
                raised.append(e)
        return raised

    def __iter__(self):
        return iter(self.callbacks)

    def find(self, kind: type) -> Callback | None:
        return next((cb for cb in self.callbacks if isinstance(cb, kind)), None)

    def state_dict(self) -> dict[str, Any]:
        return {cb.state_key: cb.state_dict() for cb in self.callbacks if cb.state_dict()}
