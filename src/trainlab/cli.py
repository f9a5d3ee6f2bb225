"""`trainlab <verb>`: parses arguments, calls the library, prints. Errors a user can cause -> one line, exit 2."""
from __future__ import annotations

import argparse
import logging
import sys
import warnings

from .errors import TrainlabError

VERB_MODULES = ("train", "info", "data", "migrate", "morph", "experiments", "evolve", "viz", "inspect",
                "deploy")  # trainlab/commands/<name>.py, each with register()
# Verbs whose module imports no torch, parsed without the other modules (some import torch): `trainlab predict
# BUNDLE` runs where torch is not installed. (Until every verb module is lazy.)
LIGHT_VERBS = {"predict": "deploy"}


def _short_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"trainlab: warning: {message}", file=sys.stderr)


def build_parser(modules: tuple[str, ...] = VERB_MODULES) -> argparse.ArgumentParser:
    from importlib import import_module

    from . import __version__

    parser = argparse.ArgumentParser(prog="trainlab", description="A PyTorch lab for deep-learning experiments.")
    parser.add_argument("--version", action="version", version=f"trainlab {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("--pdb", action="store_true", help="drop into the debugger on an exception")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name in modules:
        module = import_module(f".commands.{name}", __package__)
        module.register(verbs)
        for verb, lines in module.EXAMPLES.items():
            sub = verbs.choices[verb]
            sub.formatter_class = argparse.RawDescriptionHelpFormatter
            sub.epilog = "example:\n" + "\n".join(f"  {line}" for line in lines)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verb = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser((LIGHT_VERBS[verb],) if verb in LIGHT_VERBS else VERB_MODULES).parse_args(argv)
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
