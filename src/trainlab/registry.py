"""One registry mechanism for models, datasets, optimizers, schedules, transforms and strategies.

Example:
    >>> from trainlab.registry import Registry
    >>> ACTIVATIONS = Registry("activation")
    >>> @ACTIVATIONS.register("relu")
    ... def relu(): return "relu"
    >>> ACTIVATIONS.get("relu")()
    'relu'
"""
from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from .errors import TrainlabError, UnknownNameError

T = TypeVar("T")


def close_matches(name: str, choices: list[str], n: int = 3) -> str:
    """A ' Did you mean ...?' hint, or '' when nothing is close."""
    matches = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


class Registry(Generic[T]):
    """Names mapped to builders. Registering a name twice or getting an unknown name raises.

    ``plugins`` names modules that register more entries when imported (a feature package whose import is
    expensive, such as :mod:`trainlab.ocr`): they are imported the first time the registry is listed or
    asked for a name it does not hold, so looking up a built-in name stays cheap.
    """

    def __init__(self, kind: str, plugins: Sequence[str] = ()) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._plugins = list(plugins)

    def _load_plugins(self) -> None:
        while self._plugins:
            importlib.import_module(self._plugins.pop(0))

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator that registers an object under ``name`` (default: its ``__name__``)."""

        def add(obj: T) -> T:
            key = name or getattr(obj, "__name__")
            if key in self._items:
                raise TrainlabError(f"{self.kind} {key!r} is already registered; choose another name.")
            self._items[key] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        if name not in self._items:
            self._load_plugins()
        if name not in self._items:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}.{close_matches(name, list(self._items))}"
                f" Available: {', '.join(sorted(self._items))}."
            )
        return self._items[name]

    def list(self) -> list[str]:
        self._load_plugins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self._load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        self._load_plugins()
        return len(self._items)
