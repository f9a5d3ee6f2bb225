"""Errors a user can cause. The CLI prints their message on one line and exits with code 2.

Every message says what was received, what is allowed, and how to fix it. A message is folded to one line
(a YAML parser's 6-line report, a path with a newline) and kept to :data:`MAX_LINE` characters: values
echoed back go through :func:`echo`, which cuts them to a readable length, and whatever is still too long
loses its middle, keeping the start (what is wrong) and the end (how to fix it).

Example:
    >>> str(ConfigError("params.yaml: not valid YAML:\\n  while parsing\\n  in line 3"))
    'params.yaml: not valid YAML: while parsing in line 3'
    >>> echo("x" * 10_000)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' (10000 characters)"
"""
from __future__ import annotations

import re
from typing import Any

# The longest message a TrainlabError carries: with the CLI's "trainlab: error: " a line stays within 300.
MAX_LINE = 300 - len("trainlab: error: ")
_BREAKS = re.compile(r"\s*[\r\n\t\v\f\x1c-\x1e\x85\u2028\u2029]+\s*")


def one_line(text: str) -> str:
    """``text`` with every run of whitespace that holds a line break or tab folded into one space.

    Example:
        >>> one_line("while parsing a flow sequence\\n  in line 1\\n\\nexpected ',' or ']'")
        "while parsing a flow sequence in line 1 expected ',' or ']'"
    """
    return _BREAKS.sub(" ", str(text)).strip()


def shorten(text: str, limit: int = MAX_LINE) -> str:
    """``text`` on one line within ``limit`` characters: long paths lose their leading folders first
    (``…/checkpoints/last.pt``), then the middle of the text is cut (" … ").

    Example:
        >>> shorten("cannot write /tmp/pytest-of-root/pytest-7/test_disk0/exp/checkpoints/last.pt: disk full", 60)
        'cannot write …/checkpoints/last.pt: disk full'
        >>> shorten("a" * 20 + " and the hint", 24)
        'aaaaaaaaaaaaa … the hint'
    """
    text = one_line(text)
    if len(text) <= limit:
        return text
    words = text.split(" ")
    for i in sorted(range(len(words)), key=lambda i: -len(words[i])):  # the longest paths first
        word = words[i]
        if len(word) <= 30:
            break
        if word.count("/") < 3:
            continue
        start = word.index("/")
        words[i] = word[:start] + "…/" + "/".join(word[start:].split("/")[-2:])
        text = " ".join(words)
        if len(text) <= limit:
            return text
    tail = max(0, (limit - 3) * 2 // 5)
    head = limit - 3 - tail
    return f"{text[:head]} … {text[len(text) - tail:]}" if tail else text[:limit]


def echo(value: Any, limit: int = 60) -> str:
    """``repr(value)`` as an error message shows it: one line, at most ``limit`` characters plus a note of
    the full length (so a 10,000-character value never floods a terminal).

    Example:
        >>> echo([1, 2]), echo("abc"), echo("é" * 100, limit=10)
        ('[1, 2]', "'abc'", "'éééééé…' (100 characters)")
    """
    try:
        text = one_line(repr(value))
    except Exception:  # a hostile __repr__ (or a recursive structure too deep to print)
        text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else f"{type(value).__name__}"
    if isinstance(value, list | tuple | dict | set):
        size += f" of {len(value)}"
    quote = text[0] if text[:1] in "'\"" else ""
    return f"{text[:limit - 1 - 2 * bool(quote)]}…{quote} ({size})"


def listing(names: list[str], limit: int = 120) -> str:
    """``names`` joined with ", ", cut after ``limit`` characters with a count of all of them.

    Example:
        >>> listing([f"resnet{i}" for i in range(40)], limit=30)
        'resnet0, resnet1, resnet2, … (40 in all)'
    """
    text = ", ".join(map(str, names))
    if len(text) <= limit:
        return text
    cut = text.rfind(", ", 0, limit)
    return f"{text[:cut]}, … ({len(names)} in all)" if cut > 0 else f"{text[:limit]}… ({len(names)} in all)"


class TrainlabError(Exception):
    """Base class of every error a user can cause (bad config, missing data, bad input).

    The message is kept on one line and within :data:`MAX_LINE` characters (see the module docstring).
    """

    def __init__(self, message: object = "", *args: object) -> None:
        super().__init__(shorten(str(message)), *args)


class ConfigError(TrainlabError):
    """The params file or an override is invalid."""


class DataError(TrainlabError):
    """A dataset root, file or split is missing or unreadable, or would not fit in memory."""


class ModelError(TrainlabError):
    """A model name, weights file or shape does not fit."""


class CheckpointError(TrainlabError):
    """A checkpoint is missing, corrupt, unsafe, or does not match the run."""


class TrainingError(TrainlabError):
    """Training cannot go on (e.g. the loss became NaN or infinite)."""


class StorageError(TrainlabError):
    """A file or folder cannot be written or read: read-only, disk full, a file where a folder must be."""


class FolderBusyError(TrainlabError):
    """Another process holds the experiment folder (a training, a search trial, an evolve run)."""


class FeatureError(TrainlabError):
    """A feature's registration module (``trainlab.<feature>.feature`` or an entry point) cannot be imported."""


class UnsupportedLayerError(TrainlabError):
    """A transform or counter met a layer or graph node it cannot handle."""


class UnknownNameError(TrainlabError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
