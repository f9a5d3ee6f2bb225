"""Packages whose public names are imported on first use (PEP 562), so that importing the package is cheap.

A feature package's ``__init__`` re-exports its public functions; importing them eagerly would import torch
whenever anything inside the package is imported, e.g. its ``verbs`` module while ``trainlab --help`` lists
the verbs. :func:`lazy_exports` keeps ``from trainlab.viz import feature_maps`` working while deferring
the import of ``trainlab.viz.activations`` to that line.

Example (the end of a package's ``__init__.py``):
    >>> lazy_exports(__name__, {".activations": ["feature_maps", "filters"], ".hooks": ["get_layer"]})  # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping, Sequence
from typing import Any


class _LazyPackage(types.ModuleType):
    """A package module that imports an exported name's submodule the first time the name is read."""

    _exports: dict[str, str]  # exported name -> the module that defines it, relative to the package

    def __getattr__(self, name: str) -> Any:  # called only for names not set yet
        where = self.__dict__.get("_exports", {}).get(name)
        if where is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where, self.__name__), name)
        types.ModuleType.__setattr__(self, name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing a submodule binds it on its package under its own name. Where a function the package
        # exports has that name (viz.maximize in viz/maximize.py), the function keeps it, as it did when the
        # package imported its names eagerly.
        if isinstance(value, types.ModuleType) and name in self.__dict__.get("_exports", {}):
            return
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._exports})


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]) -> None:
    """Let ``package`` (its ``__name__``) export each name listed under a module in ``exports`` (named relative
    to the package: ``".hooks"``, ``"..morph.experiment"``), imported from it on first use; sets ``__all__``."""
    module = sys.modules[package]
    module.__class__ = _LazyPackage
    names = {name: where for where, listed in exports.items() for name in listed}
    types.ModuleType.__setattr__(module, "_exports", names)
    types.ModuleType.__setattr__(module, "__all__", sorted(names))
