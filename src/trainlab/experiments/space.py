"""The search space of a ``search`` block: dotted config keys mapped to choices or ranges.

A list (``"optim.lr": [0.001, 0.01]``) is a set of choices (a grid axis); a mapping
(``"optim.lr": {"low": 1e-4, "high": 1e-1, "log": true}``) is a range, integer when ``low``, ``high``
(and ``step``) are integers. The grid sampler needs choices, or ranges with a ``step``.

Example:
    >>> space = SearchSpace.parse({"optim.lr": [0.001, 0.01], "model.args.width": [8, 16]}, sampler="grid")
    >>> len(space.grid())
    4
    >>> space.folder_name({"optim.lr": 0.001, "model.args.width": 8})
    'lr=0.001_width=8'
"""
from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..config import apply_overrides, parse_config
from ..errors import ConfigError

RANGE_KEYS = {"low", "high", "log", "step"}
_SCALAR = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Param:
    """One searched setting: either ``choices`` or a ``low``..``high`` range (``step``/``log`` optional)."""

    key: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    @property
    def is_int(self) -> bool:
        return self.choices is None and all(isinstance(v, int) and not isinstance(v, bool)
                                            for v in (self.low, self.high, self.step or 1))

    @property
    def encoded(self) -> bool:
        """Choices that are lists or mappings travel through optuna as JSON text."""
        return self.choices is not None and any(not isinstance(c, _SCALAR) for c in self.choices)

    def grid_values(self) -> list[Any]:
        if self.choices is not None:
            return list(self.choices)
        if self.step is None:
            raise ConfigError(f"search.space.{self.key}: the grid sampler needs a list of values or a range with a "
                              f"'step' (got low={self.low}, high={self.high}); add a step, or use sampler random/tpe.")
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        values = [self.low + i * self.step for i in range(n)]
        return [int(v) for v in values] if self.is_int else [round(v, 12) for v in values]

    def distribution(self):
        """The optuna distribution (choices of JSON text when they are not scalars)."""
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

        if self.choices is not None:
            return CategoricalDistribution([self.encode(c) for c in self.choices])
        try:
            if self.is_int:
                return IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
            return FloatDistribution(float(self.low), float(self.high), log=self.log, step=self.step)
        except ValueError as e:
            raise ConfigError(f"search.space.{self.key}: {e}") from None

    def encode(self, value: Any) -> Any:
        return json.dumps(value) if self.encoded else value

    def decode(self, value: Any) -> Any:
        return json.loads(value) if self.encoded else value


def _parse_param(key: str, spec: Any) -> Param:
    where = f"search.space.{key}"
    if isinstance(spec, list):
        if not spec:
            raise ConfigError(f"{where}: an empty list of values; give at least one value.")
        return Param(key, choices=tuple(spec))
    if isinstance(spec, dict):
        unknown = set(spec) - RANGE_KEYS
        if unknown or not {"low", "high"} <= set(spec):
            raise ConfigError(f"{where}: a range needs 'low' and 'high' (optional 'log', 'step'); got keys "
                              f"{sorted(spec)}. For a set of values write a list instead.")
        low, high, step, log = spec["low"], spec["high"], spec.get("step"), bool(spec.get("log", False))
        numbers = [v for v in (low, high, step) if v is not None]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
            raise ConfigError(f"{where}: low/high/step must be numbers, got {spec}.")
        if not low < high or (step is not None and step <= 0) or (log and low <= 0):
            raise ConfigError(f"{where}: need low < high, step > 0 and low > 0 with log; got {spec}.")
        if log and step is not None and not all(isinstance(v, int) for v in numbers):
            raise ConfigError(f"{where}: optuna cannot combine log and step for a float range; drop one of them.")
        return Param(key, low=low, high=high, log=log, step=step)
    raise ConfigError(f"{where}: expected a list of values or {{low, high, log, step}}, got {spec!r}.")


def _short(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return "-".join(_short(v) for v in value)
    if isinstance(value, dict):
        return "-".join(f"{k}{_short(v)}" for k, v in value.items())
    return str(value)


class SearchSpace:
    """The parsed ``search.space``: parameters, their grid, names of trial folders, child configs."""

    def __init__(self, params: list[Param]) -> None:
        if not params:
            raise ConfigError("search.space is empty; map at least one dotted key to values, "
                              'e.g. "space": {"optim.lr": [0.001, 0.01]}.')
        self.params = params
        self.keys = [p.key for p in params]
        self._labels = self._short_labels()
        self._grid_names: Counter[str] | None = None

    @classmethod
    def parse(cls, space: dict[str, Any], *, sampler: str) -> SearchSpace:
        """Validate a ``search.space`` mapping; the grid sampler also needs every axis to be finite."""
        out = cls([_parse_param(str(k), v) for k, v in space.items()])
        if sampler == "grid":
            for p in out.params:
                p.grid_values()
        return out

    def _short_labels(self) -> dict[str, str]:
        """The shortest dotted suffix of each key that no other key shares ('optim.lr' -> 'lr')."""
        labels = {}
        for key in self.keys:
            parts = key.split(".")
            for n in range(1, len(parts) + 1):
                suffix = ".".join(parts[-n:])
                if sum(k == suffix or k.endswith("." + suffix) for k in self.keys) == 1:
                    labels[key] = suffix
                    break
            else:
                labels[key] = key
        return labels

    def grid(self) -> list[dict[str, Any]]:
        """Every combination of the parameters' values, in a stable order."""
        axes = [p.grid_values() for p in self.params]
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*axes)]

    def distributions(self) -> dict[str, Any]:
        return {p.key: p.distribution() for p in self.params}

    def grid_space(self) -> dict[str, list[Any]]:
        """The grid in optuna's encoding (for ``optuna.samplers.GridSampler``)."""
        return {p.key: [p.encode(v) for v in p.grid_values()] for p in self.params}

    def decode(self, optuna_params: dict[str, Any]) -> dict[str, Any]:
        return {p.key: p.decode(optuna_params[p.key]) for p in self.params}

    def encode(self, values: dict[str, Any]) -> dict[str, Any]:
        return {p.key: p.encode(values[p.key]) for p in self.params}

    def folder_name(self, values: dict[str, Any], number: int | None = None) -> str:
        """A folder name made of the values that vary (``lr=0.001_width=8``), prefixed ``trial-007_`` when
        the sampler may draw the same values twice."""
        text = "_".join(f"{self._labels[k]}={_short(values[k])}" for k in self.keys)
        text = re.sub(r"[^A-Za-z0-9._=+-]+", "-", text)[:150]
        return f"trial-{number:03d}_{text}" if number is not None else text

    def name_is_unique(self, values: dict[str, Any]) -> bool:
        """Whether no other point of the grid gets the folder name of ``values`` (values that print alike,
        ``0.001`` and ``0.0010001``, or a value listed twice, share a name; such trials add their number).

        Example:
            >>> space = SearchSpace.parse({"optim.lr": [0.001, 0.0010001, 0.1]}, sampler="grid")
            >>> space.name_is_unique({"optim.lr": 0.001}), space.name_is_unique({"optim.lr": 0.1})
            (False, True)
        """
        if self._grid_names is None:
            self._grid_names = Counter(self.folder_name(v) for v in self.grid())
        return self._grid_names[self.folder_name(values)] <= 1

    def apply(self, raw: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """A copy of the params dict ``raw`` with the searched values set."""
        return apply_overrides(raw, [f"{k}={json.dumps(v)}" for k, v in values.items()])

    def check(self, raw: dict[str, Any], *, sampler: str) -> None:
        """Fail before any training when a value does not fit the config (an unknown key, a bad value)."""
        if sampler == "grid":
            candidates = self.grid()
        else:  # every choice and both ends of every range appear at least once
            n = max([2] + [len(p.choices) for p in self.params if p.choices is not None])
            candidates = [{p.key: (p.choices[i % len(p.choices)] if p.choices is not None else
                                   (p.low if i % 2 == 0 else p.high)) for p in self.params} for i in range(n)]
            for p in self.params:
                p.distribution()
        for values in candidates:
            parse_config(self.apply(raw, values), source=f"search trial {self.folder_name(values)}")
