"""CLI verbs: how the core and each feature declare a ``trainlab VERB``, and what verbs share (``--set``, metric text).

A verb is a function taking the parsed arguments, declared with :func:`verb`: its name, the line ``trainlab
--help`` shows, the options it adds and the examples its ``--help`` ends with. The CLI imports every module
that declares verbs to build its parser: ``trainlab/commands/`` for the core verbs, ``trainlab/<package>/verbs.py``
for a feature's (found by :func:`verb_modules`, nothing to edit elsewhere) and the modules other installed
packages name under the ``trainlab.verbs`` entry point. ``trainlab --help`` must answer at once, so such a
module imports argparse, the standard library and this module only; the verb's function imports torch and the
feature's code when it runs (a test checks that ``--help`` and every ``VERB --help`` leave torch unimported).

Example:
    >>> import argparse
    >>> from trainlab.verbs import add_set, verb
    >>> def options(p: argparse.ArgumentParser) -> None:
    ...     p.add_argument("exp")
    ...     add_set(p)
    >>> @verb("count-params", help="print the number of parameters of EXP's model", arguments=options,
    ...       examples=["trainlab count-params experiments/digits-cnn"])  # doctest: +SKIP
    ... def count_params(args: argparse.Namespace) -> int:
    ...     from trainlab.runs import model_for_folder  # heavy imports inside: listing verbs stays fast
    ...     _, _, model = model_for_folder(args.exp, args.overrides)
    ...     print(sum(p.numel() for p in model.parameters()))
    ...     return 0
"""
from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import TrainlabError
from .registry import package_modules

ENTRY_POINT_GROUP = "trainlab.verbs"
Run = Callable[[argparse.Namespace], int | None]
_VERBS: dict[str, Verb] = {}  # in the order declared: the order of `trainlab --help`
_verbs_loaded = False


@dataclass(frozen=True)
class Verb:
    """``trainlab NAME``: what :func:`verb` records. ``run`` returns the exit code (``None`` means 0)."""

    name: str
    help: str
    run: Run
    examples: tuple[str, ...]
    arguments: Callable[[argparse.ArgumentParser], Any] | None = None
    description: str | None = None

    def add_to(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        """Add this verb's parser to ``trainlab``'s; its ``--help`` ends with the examples."""
        parser = subparsers.add_parser(self.name, help=self.help, description=self.description or self.help,
                                       formatter_class=argparse.RawDescriptionHelpFormatter,
                                       epilog="example:\n" + "\n".join(f"  {line}" for line in self.examples))
        if self.arguments is not None:
            self.arguments(parser)
        parser.set_defaults(func=self.run)
        return parser


def verb(name: str, *, help: str, examples: Sequence[str],
         arguments: Callable[[argparse.ArgumentParser], Any] | None = None,
         description: str | None = None) -> Callable[[Run], Run]:
    """Decorator declaring the function as ``trainlab NAME`` (see the module's example).

    ``help`` is the line ``trainlab --help`` shows, ``arguments(parser)`` adds the verb's options,
    ``examples`` (at least one, each a full ``trainlab ...`` command) end its ``--help``; ``description``
    (default ``help``) heads it. A name declared twice is refused.
    """
    if not examples or not all(line.startswith("trainlab ") for line in examples):
        raise TrainlabError(f"verb {name!r}: give examples=[...] of full commands starting with 'trainlab ' "
                            f"(got {list(examples)!r}); `trainlab {name} --help` ends with them.")

    def declare(run: Run) -> Run:
        if name in _VERBS:
            raise TrainlabError(f"verb {name!r} is already declared (by {_VERBS[name].run.__module__}); "
                                "choose another name.")
        _VERBS[name] = Verb(name, help, run, tuple(examples), arguments, description)
        return run

    return declare


def declared_verbs() -> list[Verb]:
    """Every verb declared so far, in the order declared."""
    return list(_VERBS.values())


def verb_modules() -> list[str]:
    """The modules that declare the features' verbs: ``trainlab.<package>.verbs`` for each package of trainlab
    that has one (found without importing the packages that have none), then the modules named by the
    ``trainlab.verbs`` entry point of installed packages."""
    return package_modules("verbs", ENTRY_POINT_GROUP)


def load_verbs() -> None:
    """Import every module of :func:`verb_modules` once, declaring their verbs."""
    global _verbs_loaded
    if _verbs_loaded:
        return
    _verbs_loaded = True
    for name in verb_modules():
        importlib.import_module(name)


def add_set(parser: argparse.ArgumentParser) -> None:
    """The ``--set KEY=VALUE`` option (repeatable) of verbs that read a params file: ``args.overrides``."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting, e.g. --set train.epochs=5 (repeatable)")


# scalar metrics shown after the loss, in this order, when a task records them
SHOWN = (("accuracy", "accuracy"), ("f1", "macro-F1"), ("cer", "CER"), ("wer", "WER"), ("seq_accuracy", "lines exact"),
         ("top5", "top-5"), ("map50", "mAP@0.5"), ("map", "mAP@0.5:0.95"), ("map75", "mAP@0.75"), ("mar100", "mAR@100"))
COUNTED = (("lines", "lines"), ("images", "images"))  # what a task counts when it has no per-class support


def format_metrics(split: str, metrics: dict[str, Any], class_names: list[str]) -> str:
    """The metrics of one split as text: a head line, then one row per class of the per-class values.

    Example:
        >>> print(format_metrics("test", {"loss": 0.5, "accuracy": 0.75}, ["a", "b"]))
        test: loss 0.5000  accuracy 0.7500  (? samples)
    """
    head = f"{split}: loss {metrics['loss']:.4f}"
    for key, name in SHOWN:
        if key in metrics:
            head += f"  {name} {metrics[key]:.4f}"
    pc = metrics.get("per_class", {})
    counted = next((f"{metrics[k]} {name}" for k, name in COUNTED if k in metrics), "? samples")
    lines = [head + f"  ({sum(pc['support'])} samples)" if "support" in pc else head + f"  ({counted})"]
    columns = ["accuracy", "loss", "support"] if "accuracy" in pc else [
        k for k, v in pc.items() if isinstance(v, list) and len(v) == len(class_names)]
    if pc and columns:
        width = max(len("class"), *(len(n) for n in class_names))
        lines.append(f"  {'class':<{width}}" + "".join(f"  {c:>8}" for c in columns))
        for i, name in enumerate(class_names):
            cells = (f"  {v:8.4f}" if isinstance(v, float) else f"  {v:8d}" for v in (pc[c][i] for c in columns))
            lines.append(f"  {name:<{width}}" + "".join(cells))
    return "\n".join(lines)
