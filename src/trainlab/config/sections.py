"""Params sections and keys that features add to the base schema, and the schema with all of them."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, create_model

from ..errors import ConfigError
from ..registry import load_features
from .schema import Config

class _WithFeatures(Config):
    """Base of the schema :func:`config_model` builds at run time: pickled as its settings, since the class
    itself cannot be found by name (search and evolve workers receive configs this way)."""

    def __reduce__(self):
        return rebuild_config, (self.model_dump(mode="json"),)


def rebuild_config(values: dict[str, Any]) -> Config:
    """A config of the full schema from its settings (what unpickling a config calls)."""
    return config_model().model_validate(values)


_SECTIONS: dict[str, type[BaseModel]] = {}  # top-level section name -> its model
_FIELDS: dict[str, dict[str, tuple[Any, Any]]] = {}  # base section -> field name -> (annotation, FieldInfo)
_built: type[Config] | None = None


def register_section(name: str, model: type[BaseModel]) -> None:
    """Add an optional top-level params section ``name`` (absent = null = the feature is off).

    Example (a feature's ``feature.py``):
        >>> from trainlab.config import Section, parse_config
        >>> class ToyConfig(Section):
        ...     strength: float = 1.0
        >>> register_section("toy", ToyConfig)  # doctest: +SKIP
        >>> parse_config({"toy": {"strength": 2}}).toy.strength  # doctest: +SKIP
        2.0
    """
    global _built
    if name in Config.model_fields or name in _SECTIONS:
        raise ConfigError(f"params section {name!r} is already defined; choose another name.")
    _SECTIONS[name] = model
    _built = None


def register_field(section: str, name: str, annotation: Any, field: Any) -> None:
    """Add the key ``name`` to the base section ``section`` (e.g. ``model.morph``), typed ``annotation``
    with the pydantic ``field`` (its default and description)."""
    global _built
    base = Config.model_fields.get(section)
    if base is None:
        raise ConfigError(f"{section!r} is not a base params section; allowed: {', '.join(Config.model_fields)}.")
    if name in base.annotation.model_fields or name in _FIELDS.get(section, {}):
        raise ConfigError(f"{section}.{name} is already defined; choose another name.")
    _FIELDS.setdefault(section, {})[name] = (annotation, field)
    _built = None


def config_model() -> type[Config]:
    """The params schema: the base sections with every feature's sections and fields."""
    global _built
    load_features()
    if _built is None:
        sections: dict[str, Any] = {}
        for name, extra in _FIELDS.items():
            base = Config.model_fields[name].annotation
            model = create_model(base.__name__, __base__=base, __module__=__name__, **extra)
            sections[name] = (model, Field(default_factory=model, description=Config.model_fields[name].description))
        for name, model in _SECTIONS.items():
            sections[name] = (model | None, Field(None, description=(model.__doc__ or "").strip().split("\n")[0]))
        _built = create_model("Config", __base__=_WithFeatures, __module__=__name__, **sections)
    return _built


def fixed_keys(model: type[BaseModel] | None = None, prefix: str = "") -> list[str]:
    """The dotted keys declared :func:`~trainlab.config.schema.fixed_on_resume`, features' keys included.

    Example:
        >>> "model.name" in fixed_keys() and "optim.lr" not in fixed_keys()
        True
    """
    import typing

    keys = []
    for name, field in (model or config_model()).model_fields.items():
        if (field.json_schema_extra or {}).get("fixed_on_resume"):
            keys.append(f"{prefix}{name}")
            continue
        args = typing.get_args(field.annotation) or (field.annotation,)
        for inner in args:
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                keys += fixed_keys(inner, f"{prefix}{name}.")
    return keys
