"""The params reference page (docs/params.md), generated from the schema by ``trainlab params``."""
from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from .schema import Config, Section
from .sections import config_model


def _type_text(annotation: Any) -> str:
    """A reader's name for a field's type: 'int', 'float | null', 'none | light | standard', 'list of str'."""
    import types
    import typing

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin is typing.Annotated:
        return _type_text(args[0])
    if origin is typing.Literal:
        return " \\| ".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(_type_text(a) for a in args)
    if origin is list:
        return f"list of {_type_text(args[0])}" if args else "list"
    if origin is tuple:
        return "[" + ", ".join(_type_text(a) for a in args) + "]"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    return getattr(annotation, "__name__", str(annotation))


def _sections_in(annotation: Any) -> list[type[BaseModel]]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found += _sections_in(arg)
    return found


def _rows(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str, str]]:
    """(dotted key, type, default, description) of every key of ``model``, sub-sections expanded."""
    import typing

    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        if field.is_required():
            default = "required"
        else:
            value = field.get_default(call_default_factory=True)
            default = json.dumps(value.model_dump(mode="json", by_alias=True) if isinstance(value, BaseModel)
                                 else value, default=str)
        text = field.description or ""
        if (field.json_schema_extra or {}).get("fixed_on_resume"):
            text += " *(fixed on resume)*"
        rows.append((key, _type_text(field.annotation), default, text))
        inner = _sections_in(field.annotation)
        if len(inner) == 1:  # a sub-section (or a list of them: model.morph[].op)
            rows += _rows(inner[0], f"{key}[]." if typing.get_origin(field.annotation) is list else f"{key}.")
    return rows


def params_reference() -> str:
    """The params file's reference in Markdown, generated from the schema (docs/params.md is this text).

    Example:
        >>> "| `train.epochs` | int | 10 | epochs to train |" in params_reference()
        True
    """
    model = config_model()
    base = list(Config.model_fields)
    out = ["# Params reference", "",
           "Every key a params file (`params.json` or `params.yaml`) can hold, with its type, default and meaning.",
           "Generated from the schema by `trainlab params` (a test checks that this page matches it). Layers:",
           "defaults < params file < `--set section.key=value`. Unknown keys are errors that name the closest",
           "valid key. Sections after `logging` come from features; an absent feature section means the",
           "feature is off. Keys marked *fixed on resume* cannot change when a run is resumed, even with",
           "`--resume --force`: the checkpoint's weights, optimizer state or splits belong to their old values.", ""]
    for name in [*base, *sorted(set(model.model_fields) - set(base))]:
        field = model.model_fields[name]
        section = _sections_in(field.annotation)[0]
        documented = next(c for c in section.__mro__ if c.__doc__ and c not in (Section, BaseModel))
        doc = documented.__doc__.strip().split("\n\n")[0].replace("\n", " ")
        out += [f"## {name}", "", doc, "", "| key | type | default | description |", "|---|---|---|---|"]
        out += [f"| `{key}` | {kind} | {default} | {text} |" for key, kind, default, text in _rows(section, f"{name}.")]
        out.append("")
    return "\n".join(out)
