"""`trainlab <verb>`: parses arguments, calls the library, prints. Errors a user can cause -> one line, exit 2."""
from __future__ import annotations

import argparse
import logging
import sys
import warnings

from .errors import TrainlabError

# the core verbs, declared in trainlab/commands/<name>.py; a feature declares its own in its verbs.py (trainlab.verbs)
CORE_VERB_MODULES = ("train", "info", "data", "migrate")


def _short_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"trainlab: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    """``trainlab``'s parser: the core verbs, then every feature's. Imports no torch (a test checks it)."""
    from importlib import import_module

    from . import __version__
    from .verbs import declared_verbs, load_verbs

    for name in CORE_VERB_MODULES:
        import_module(f".commands.{name}", __package__)
    load_verbs()
    parser = argparse.ArgumentParser(prog="trainlab", description="A PyTorch lab for deep-learning experiments.")
    parser.add_argument("--version", action="version", version=f"trainlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("--pdb", action="store_true", help="drop into the debugger on an exception")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb in declared_verbs():
        verb.add_to(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    logging.basicConfig(format="%(message)s", stream=sys.stderr)
    logging.getLogger("trainlab").setLevel(logging.INFO)
    if not args.debug:
        warnings.showwarning = _short_warning
    try:
        return args.func(args) or 0
    except TrainlabError as e:
        if args.debug or args.pdb:
            _maybe_pdb(args)
            raise
        print(f"trainlab: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("trainlab: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        from .files import resource_error

        fault = resource_error(e)  # a full disk, a read-only folder, memory: the machine's, said in one line
        if fault is None or args.debug or args.pdb:
            _maybe_pdb(args)
            raise
        print(f"trainlab: error: {fault}", file=sys.stderr)
        return 2


def _maybe_pdb(args: argparse.Namespace) -> None:
    if args.pdb:
        import pdb

        pdb.post_mortem(sys.exc_info()[2])


if __name__ == "__main__":
    raise SystemExit(main())
