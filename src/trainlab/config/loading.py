"""Reading a params file: text to plain data, ``--set`` overrides on top, validated into a :class:`Config`, errors
as one line that names the file, the key and the closest valid key.

Example:
    >>> from trainlab.config import parse_config
    >>> cfg = parse_config({"train": {"epochs": 3}}, overrides=["optim.lr=0.01"])
    >>> cfg.train.epochs, cfg.optim.lr
    (3, 0.01)
"""
from __future__ import annotations

import copy
import json
import typing
import warnings
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, echo, listing, one_line
from ..files import read_text
from ..registry import close_matches
from .legacy import is_legacy, translate_legacy
from .schema import Config
from .sections import config_model
from .text import (MAX_DEPTH, MAX_PARAMS_BYTES, check_plain, describe_int, parse_json, parse_yaml, short_key,
                   syntax_message)

PARAMS_FILES = ("params.json", "params.yaml", "params.yml")


def find_params_file(exp_dir: Path) -> Path:
    """The params file of an experiment folder (params.json or params.yaml)."""
    exp_dir = Path(exp_dir)
    if exp_dir.is_file():
        return exp_dir
    if not exp_dir.is_dir():
        raise ConfigError(f"experiment folder {str(exp_dir)!r} does not exist; create it with a params.json inside.")
    found = [exp_dir / name for name in PARAMS_FILES if (exp_dir / name).is_file()]
    if len(found) > 1:
        raise ConfigError(f"{str(exp_dir)!r} holds {' and '.join(p.name for p in found)}; keep exactly one params file.")
    if found:
        return found[0]
    raise ConfigError(f"no params.json or params.yaml in {str(exp_dir)!r}; write one (README.md#the-params-file shows one).")


def read_params(path: Path) -> dict[str, Any]:
    """Load a params file as a dict; a syntax error names the file and line, all on one line.

    Any bytes give a dict or a :class:`ConfigError`: not UTF-8, not valid JSON/YAML, nested too deep,
    an alias bomb, a value JSON cannot hold (a date, a set) are refused with what to change.

    Example:
        >>> import tempfile; p = Path(tempfile.mkdtemp()) / "params.yaml"
        >>> _ = p.write_text("train: {epochs: 3}")
        >>> read_params(p)
        {'train': {'epochs': 3}}
    """
    path = Path(path)
    text = read_text(path, what="params file", max_bytes=MAX_PARAMS_BYTES)
    is_yaml = path.suffix in (".yaml", ".yml")
    try:
        raw = parse_yaml(text) if is_yaml else parse_json(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: not valid {'YAML' if is_yaml else 'JSON'}: {syntax_message(e)}.") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested more than {MAX_DEPTH} levels deep; params nest a few levels "
                          "(section.key).") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(raw).__name__}.")
    check_plain(raw, str(path))
    return raw


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` overrides (values parsed as YAML: 3, 0.1, true, [1, 2], null).

    Example:
        >>> apply_overrides({"train": {"epochs": 3}}, ["train.epochs=5", "data.root=2020-01-01"])
        {'train': {'epochs': 5}, 'data': {'root': '2020-01-01'}}
    """
    check_plain(raw, "params")
    out = copy.deepcopy(raw)  # not through JSON text: a YAML 0x... literal can be too long to print
    for item in overrides:
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {echo(item)} is not of the form section.key=value (e.g. train.epochs=5).")
        try:
            value = parse_yaml(text)
        except (yaml.YAMLError, RecursionError):
            value = text
        check_plain(value, f"override {echo(key.strip())}")
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"override {echo(item)}: {echo(part)} is a value, not a section.")
            node = child
        node[parts[-1]] = value
    return out


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation allows, through unions and ``Annotated`` (tagged union members)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def _key_and_names(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, list[str]]:
    """The dotted key of an unknown key at ``loc`` as a params file spells it (without the tag pydantic puts
    after a union, e.g. ``focus.when.plateau.plateau.x``) and the valid key names beside it (aliases such as
    ``pass``), for the message."""
    parts, kept, i = [str(p) for p in loc], [], 0
    while i < len(parts) - 1:
        field = next((f for name, f in model.model_fields.items() if parts[i] in (name, f.alias)), None)
        candidates = _models(field.annotation) if field is not None else []
        if not candidates:
            return ".".join(parts), []
        kept.append(parts[i])
        members = [m for m in typing.get_args(field.annotation) if m is not type(None)]
        if typing.get_origin(field.annotation) in (list, tuple, dict) and i + 2 < len(parts):  # an index or key next
            kept.append(parts[i + 1])
            i += 2
        else:
            i += 2 if len(members) > 1 else 1  # a union's errors name the member's tag next: skip it
        model = next((c for c in candidates if i < len(parts) - 1 and parts[i] in c.model_fields), candidates[0])
    return ".".join([*kept, parts[-1]]), [field.alias or name for name, field in model.model_fields.items()]


# keys renamed so that one concept has one name: a params file that still uses one is told the new one
RENAMED = {
    "search.metric": "search.monitor",
    "search.direction": "search.mode (min or max)",
    "focus.monitor": "focus.rank_by (the per-class metric that ranks classes)",
    "focus.when.plateau.metric": "focus.when.plateau.monitor",
}


MAX_REPORTED = 3  # validation problems named in one message; the rest are counted


def _shown(value: Any, limit: int = 60) -> str:
    """A received value as JSON (the params file's notation), cut to ``limit`` characters."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return describe_int(value)
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (ValueError, RecursionError):
        return echo(value, limit)
    return text if len(text) <= limit else f"{text[:limit - 1]}… ({len(text)} characters)"


def _format_validation_error(err: ValidationError, source: str, root: type[BaseModel] | None = None) -> str:
    problems = err.errors()
    lines = []
    for e in problems[:MAX_REPORTED]:
        loc = tuple(e["loc"])
        dotted = short_key(".".join(str(p) for p in loc))
        if e["type"] == "extra_forbidden":
            key, valid = _key_and_names(root or config_model(), loc)
            dotted = short_key(key)
            hint = close_matches(str(loc[-1]), valid) if len(str(loc[-1])) <= 100 else ""
            if dotted in RENAMED:
                hint = f" It was renamed: use {RENAMED[dotted]}."
            lines.append(f"unknown key {dotted!r}.{hint} Valid keys here: {listing(valid)}.")
        else:
            got = e.get("input")
            got_text = f" (got {_shown(got)})" if not isinstance(got, dict) else ""
            lines.append(f"{dotted}: {one_line(e['msg']).removeprefix('Value error, ')}{got_text}.")
    if len(problems) > MAX_REPORTED:
        lines.append(f"(and {len(problems) - MAX_REPORTED} more problems)")
    return f"{source}: " + " ".join(lines)


def parse_config(raw: dict[str, Any], overrides: list[str] | None = None, *, source: str = "params") -> Config:
    """Validate a params dict (new or legacy form) plus overrides into a :class:`Config`.

    Anything that is not plain params data, or does not fit the schema, raises :class:`ConfigError`.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: params must be a mapping of sections, got {type(raw).__name__}.")
    check_plain(raw, source)
    if is_legacy(raw):
        warnings.warn(f"{source} uses the legacy flat cs230 format; it was translated. "
                      "Run `trainlab migrate` to write the new form.", UserWarning, stacklevel=2)
        raw = translate_legacy(raw)
    raw = apply_overrides(raw, overrides or [])
    try:
        return config_model().model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, source)) from None


def validate_section(model: type[BaseModel], data: dict[str, Any], *, source: str) -> BaseModel:
    """``model.model_validate(data)``, with errors as a one-line :class:`ConfigError` naming ``source``.

    Example:
        >>> from trainlab.config import TrainConfig
        >>> validate_section(TrainConfig, {"epochs": 0}, source="--epochs")
        Traceback (most recent call last):
        ...
        trainlab.errors.ConfigError: --epochs: epochs: Input should be greater than 0 (got 0).
    """
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_validation_error(e, source, model)) from None


def load_config(exp_dir: Path, overrides: list[str] | None = None) -> Config:
    """Read and validate the params file of an experiment folder."""
    path = find_params_file(Path(exp_dir))
    return parse_config(read_params(path), overrides, source=str(path))


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """Plain JSON-ready dict of every setting."""
    return cfg.model_dump(mode="json")


def diff_configs(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts."""
    keys = sorted(set(old) | set(new))
    changed = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        name = f"{prefix}{k}"
        if isinstance(a, dict) and isinstance(b, dict):
            changed += diff_configs(a, b, name + ".")
        elif a != b:
            changed.append(name)
    return changed
