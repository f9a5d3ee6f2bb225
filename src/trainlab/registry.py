"""One registry mechanism for models, datasets, callbacks, config sections, transforms and strategies.

Example:
    >>> from trainlab.registry import Registry
    >>> ACTIVATIONS = Registry("activation")
    >>> @ACTIVATIONS.register("relu")
    ... def relu(): return "relu"
    >>> ACTIVATIONS.get("relu")()
    'relu'

Features (``trainlab.focus``, ``trainlab.ocr``, ...) extend the registries of the layers below them. Each
is a package with a ``feature`` module that registers its parts when imported; :func:`load_features`
imports every such module (and those other packages declare under the ``trainlab.features`` entry point),
so nothing below a feature ever names it.
"""
from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import FeatureError, TrainlabError, UnknownNameError, echo, listing

T = TypeVar("T")
ENTRY_POINT_GROUP = "trainlab.features"
_features: dict[str, str] | None = None  # each feature module -> "" (imported) or why its import failed
_loading = False


def close_matches(name: str, choices: list[str], n: int = 3) -> str:
    """A ' Did you mean ...?' hint, or '' when nothing is close."""
    matches = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    return f" Did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""


def package_modules(module: str, group: str) -> list[str]:
    """``trainlab.<package>.<module>`` for each package of trainlab that has such a module (found without
    importing the packages), then the modules named by the entry point ``group`` of installed packages."""
    import importlib.metadata  # ~30 ms: `trainlab --help` pays it once, here

    import trainlab

    names = [f"trainlab.{info.name}.{module}" for info in pkgutil.iter_modules(trainlab.__path__) if info.ispkg
             and any(m.name == module for m in pkgutil.iter_modules([os.path.join(info.module_finder.path, info.name)]))]
    names += [ep.value for ep in importlib.metadata.entry_points(group=group)]
    return list(dict.fromkeys(names))


def feature_modules() -> list[str]:
    """The registration modules of every feature: ``trainlab.<package>.feature`` for each package of
    trainlab that has one, then the modules named by the ``trainlab.features`` entry point of installed
    packages."""
    return package_modules("feature", ENTRY_POINT_GROUP)


def load_features() -> None:
    """Import every feature's registration module once (see :func:`feature_modules`).

    A module whose import fails does not keep the others from loading; it raises :class:`FeatureError`
    naming it (now and at every later call: the registries it would fill stay incomplete).

    Example:
        >>> load_features()  # trainlab's own features import cleanly
    """
    global _features, _loading
    if _features is None and not _loading:  # a feature that looks something up while loading must not recurse
        _loading = True
        try:
            _features = {name: _import(name) for name in feature_modules()}
        finally:
            _loading = False
    failed = {name: why for name, why in (_features or {}).items() if why}
    if failed:
        name, why = next(iter(failed.items()))
        more = f" (and {listing(list(failed)[1:])})" if len(failed) > 1 else ""
        raise FeatureError(f"the trainlab feature {name}{more} cannot be imported ({why}); the other features "
                           f"are loaded. Install what it needs, or uninstall the package that declares it under "
                           f"the {ENTRY_POINT_GROUP!r} entry point.")


def _import(name: str) -> str:
    """Import ``name``; "" when that worked, else why not (one line)."""
    try:
        importlib.import_module(name)
    except Exception as e:  # any error of a broken or half-installed feature
        text = " ".join(str(e).split())
        text = text if len(text) <= 100 else text[:99] + "…"
        return f"{type(e).__name__}: {text}" if text else type(e).__name__
    return ""


class _Lazy:
    """A registry entry not imported yet: ``"package.module:attribute"``."""

    def __init__(self, target: str) -> None:
        self.target = target

    def resolve(self):
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)


class Registry(Generic[T]):
    """Names mapped to objects (builders, classes, config models). Registering a name twice or getting an
    unknown name raises.

    ``features=True``: features may register into this registry, so every feature is loaded
    (:func:`load_features`) before the registry is listed or asked for a name it does not hold.
    :meth:`register_lazy` adds an entry whose module is imported only when the entry is first used, so a
    feature can register an expensive object (a model pulling a large import) without paying for it.
    """

    def __init__(self, kind: str, *, features: bool = False) -> None:
        self.kind = kind
        self.features = features
        self._items: dict[str, T | _Lazy] = {}

    def _complete(self) -> None:
        if self.features:
            load_features()

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator that registers an object under ``name`` (default: its ``__name__``)."""

        def add(obj: T) -> T:
            self._add(name or getattr(obj, "__name__"), obj)
            return obj

        return add

    def register_lazy(self, name: str, target: str) -> None:
        """Register ``"package.module:attribute"`` under ``name``, imported the first time it is used."""
        self._add(name, _Lazy(target))

    def _add(self, key: str, obj: T | _Lazy) -> None:
        if key in self._items:
            raise TrainlabError(f"{self.kind} {key!r} is already registered; choose another name.")
        self._items[key] = obj

    def get(self, name: str) -> T:
        if name not in self._items:
            self._complete()
        if name not in self._items:
            hint = close_matches(name, list(self._items)) if isinstance(name, str) and len(name) <= 100 else ""
            raise UnknownNameError(f"unknown {self.kind} {echo(name)}.{hint} Available: {listing(sorted(self._items))}.")
        item = self._items[name]
        if isinstance(item, _Lazy):
            item = self._items[name] = item.resolve()
        return item

    def list(self) -> list[str]:
        self._complete()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            self._complete()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.list())

    def __len__(self) -> int:
        self._complete()
        return len(self._items)
