"""Params as text: YAML and JSON read as plain data, safely, and checked before the schema sees them.

YAML is read with JSON's data model (mappings, lists, text, numbers, booleans, null): an unquoted date stays
text, tags for other types are refused, and the composed document is measured before it is built, so an
alias bomb or a recursive alias is refused without being expanded. :func:`check_plain` bounds any params
data (from a file, an override or a checkpoint) in depth and size and refuses what JSON cannot hold.

Example:
    >>> parse_yaml("train: {epochs: 3, started: 2020-01-01}")
    {'train': {'epochs': 3, 'started': '2020-01-01'}}
"""
from __future__ import annotations

import json
from typing import Any

import yaml

from ..errors import ConfigError, echo, one_line

MAX_DEPTH = 24  # params nest a few levels (section.key.args.option); deeper is a broken or hostile file
MAX_INT_DIGITS = 4300  # the most decimal digits Python turns into an int (sys.get_int_max_str_digits)
MAX_VALUES = 20_000  # values in a params document after YAML aliases are expanded
MAX_PARAMS_BYTES = 2**20
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _ParamsLoader(yaml.SafeLoader):
    """YAML restricted to JSON's data: mappings, lists, text, numbers, booleans and null.

    An unquoted date stays text (as in YAML 1.2 and JSON); explicit tags for other types (``!!set``,
    ``!!binary``, ``!!timestamp``, ``!!python/...``) are refused; and the document is checked before it is
    built, so aliases that would expand it beyond :data:`MAX_VALUES` values (a "billion laughs" file), or
    refer to themselves, are refused without being expanded.
    """

    yaml_implicit_resolvers = {first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
                               for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _refuse_tag(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    tag = node.tag.replace("tag:yaml.org,2002:", "!!")
    raise yaml.constructor.ConstructorError(
        None, None, f"the tag {echo(tag, 40)} is not allowed (params hold mappings, lists, text, numbers, "
        "true/false, null); quote the value to keep it as text", node.start_mark)


def _construct_int(loader: yaml.SafeLoader, node: yaml.Node) -> int:
    try:
        return yaml.SafeLoader.construct_yaml_int(loader, node)
    except ValueError:  # more than MAX_INT_DIGITS digits: Python refuses to read it
        raise yaml.constructor.ConstructorError(
            None, None, f"a number of {len(node.value):,} characters is too long (params numbers fit in 64 bits)",
            node.start_mark) from None


_ParamsLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)

for _tag in (_TIMESTAMP, "tag:yaml.org,2002:binary", "tag:yaml.org,2002:set", "tag:yaml.org,2002:omap",
             "tag:yaml.org,2002:pairs", None):
    _ParamsLoader.add_constructor(_tag, _refuse_tag)


def _check_aliases(root: yaml.Node) -> None:
    """Count the values ``root`` expands to, without expanding it (YAMLError when above MAX_VALUES or cyclic)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # on the current path: an alias back to one of them is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        children = ([c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else
                    node.value if isinstance(node, yaml.SequenceNode) else [])
        if finished:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(node)] > MAX_VALUES:
                raise yaml.YAMLError(f"the document expands to more than {MAX_VALUES:,} values through its "
                                     "aliases (*name); write the values out, or use fewer aliases")
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes or any(id(c) in open_nodes or c is node for c in children):
            raise yaml.YAMLError(f"an alias refers to a value that contains it (line {node.start_mark.line + 1});"
                                 " a params file cannot be recursive")
        open_nodes.add(id(node))
        stack.append((node, True))
        stack += [(c, False) for c in children if id(c) not in sizes]


def parse_yaml(text: str) -> Any:
    """Parse YAML text as params data (see :class:`_ParamsLoader`); errors are :class:`yaml.YAMLError`.

    Example:
        >>> parse_yaml("root: 2020-01-01\\nsize: [1, 2]")
        {'root': '2020-01-01', 'size': [1, 2]}
    """
    loader = _ParamsLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_aliases(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def parse_json(text: str) -> Any:
    """Parse JSON text as params data; errors are :class:`json.JSONDecodeError` (an integer too long for
    Python to read, more than :data:`MAX_INT_DIGITS` digits, included).

    Example:
        >>> parse_json('{"train": {"epochs": 3}}')
        {'train': {'epochs': 3}}
    """
    decoder = json.JSONDecoder(parse_int=_json_int)
    try:
        return decoder.decode(text)
    except _LongNumber as e:
        raise json.JSONDecodeError(str(e), text, text.find(e.digits)) from None


class _LongNumber(ValueError):
    def __init__(self, digits: str) -> None:
        super().__init__(f"a number of {len(digits):,} digits is too long (params numbers fit in 64 bits)")
        self.digits = digits


def _json_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _LongNumber(digits)
    return int(digits)


def describe_int(value: int) -> str:
    """An integer as a message shows it, whatever its size (Python cannot print one of more than
    :data:`MAX_INT_DIGITS` digits, nor format one beyond float range as ``1.2e+30``).

    Example:
        >>> describe_int(2**64), describe_int(10**400)
        ('1.84e+19', 'a 401-digit integer')
    """
    if value.bit_length() <= 1000:
        return f"{value:.3g}"
    if value.bit_length() <= 14_000:  # within what str() prints
        return f"a {len(str(abs(value)))}-digit integer"
    return f"an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits"


def short_key(key: str, limit: int = 80) -> str:
    """A dotted key for a message, on one line and cut to ``limit`` characters.

    Example:
        >>> short_key("data.args." + "k" * 100, limit=20)
        'data.args.kkkkkkkkk…'
    """
    key = one_line(key)
    return key if len(key) <= limit else key[:limit - 1] + "…"


def check_plain(raw: Any, source: str) -> None:
    """Raise :class:`ConfigError` unless ``raw`` is plain params data: mappings with text keys, lists, text,
    numbers, booleans and null, nested at most :data:`MAX_DEPTH` deep and :data:`MAX_VALUES` values big.

    Example:
        >>> check_plain({"train": {"epochs": {1, 2}}}, "params.json")
        Traceback (most recent call last):
        ...
        trainlab.errors.ConfigError: params.json: train.epochs is a set ({1, 2}); params hold only mappings, lists, text, numbers, true/false and null.
    """
    stack: list[tuple[Any, tuple[str, ...]]] = [(raw, ())]
    count = 0
    while stack:
        value, where = stack.pop()
        count += 1
        dotted = ".".join(where) or "the top level"
        if count > MAX_VALUES:
            raise ConfigError(f"{source}: more than {MAX_VALUES:,} values; a params file holds settings, not data.")
        if len(where) > MAX_DEPTH:
            raise ConfigError(f"{source}: {short_key(dotted)} is nested more than {MAX_DEPTH} levels deep "
                              "(or refers to itself); params nest a few levels (section.key).")
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    raise ConfigError(f"{source}: {short_key(dotted)} has the key {echo(k, 40)} ("
                                      f"{type(k).__name__}); keys are text (quote it).")
                stack.append((v, (*where, k)))
        elif isinstance(value, list | tuple):
            stack += [(v, (*where, str(i))) for i, v in enumerate(value)]
        elif value is not None and not isinstance(value, str | int | float | bool):
            raise ConfigError(f"{source}: {short_key(dotted)} is a {type(value).__name__} ({echo(value, 40)}); "
                              "params hold only mappings, lists, text, numbers, true/false and null.")


def syntax_message(err: json.JSONDecodeError | yaml.YAMLError) -> str:
    """A parser's report on one line: what it met and where (a YAML parser's 4-8 lines become one)."""
    if isinstance(err, json.JSONDecodeError):
        return f"{err.msg} at line {err.lineno}, column {err.colno}"
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        what = "; ".join(one_line(p) for p in (err.context, err.problem) if p)
        return f"{what} at line {mark.line + 1}, column {mark.column + 1}" if mark else what
    return one_line(str(err))
