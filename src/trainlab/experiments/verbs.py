"""`trainlab search | synthesize | plot | compare | interpret | lr-find`: experiments across runs."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..verbs import add_set, verb


def _search_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("parent", type=Path, help="folder whose params hold a search block")
    s.add_argument("--workers", type=int, default=1, metavar="N", help="trial processes in parallel (default 1)")
    s.add_argument("--storage", metavar="URL",
                   help="a database shared by several machines, e.g. postgresql+psycopg://user:pw@host/db "
                        "(default: PARENT/study.db, or PARENT/study.journal with --workers > 1)")
    s.add_argument("--study-name", help="study name in a shared --storage (default: PARENT's folder name)")
    s.add_argument("--retry-failed", action="store_true", help="also re-run trials that failed with an error")
    s.add_argument("--test", action="store_true",
                   help="evaluate each finished trial's best.pt on the test split (metrics_test.json)")
    s.add_argument("--no-plot", action="store_true", help="skip history_plots.png and per_class_accuracy.png")
    add_set(s)


def _synthesize_arguments(y: argparse.ArgumentParser) -> None:
    y.add_argument("parent", type=Path)
    y.add_argument("--monitor", help="sort by this metric (default: the search block's, else valid.accuracy)")
    y.add_argument("--mode", choices=["min", "max"], help="min if lower is better (default for losses), else max")


def _plot_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", type=Path)
    p.add_argument("--monitor", default="valid.accuracy", help="picks each run's best epoch for the heat map")


def _compare_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("exps", type=Path, nargs="+", metavar="EXP")
    c.add_argument("--seeds", type=int, default=3, metavar="N", help="seeds 0..N-1 (default 3)")
    c.add_argument("--seed-list", type=int, nargs="+", metavar="S", help="these seeds instead of 0..N-1")
    c.add_argument("--split", default="test", choices=["test", "valid"])
    c.add_argument("--out", type=Path, help="where to write the report (default: the common parent/compare.md)")
    c.add_argument("--no-train", action="store_true", help="only use seeds that already finished")
    c.add_argument("--checkpoint", default="best", choices=["best", "last"],
                   help="evaluate each seed's best.pt (chosen on validation, default) or last.pt (the final epoch)")
    add_set(c)


def _interpret_arguments(i: argparse.ArgumentParser) -> None:
    i.add_argument("exp", type=Path)
    i.add_argument("--checkpoint", default="best", help="best | last | PATH")
    i.add_argument("--split", default="test", choices=["test", "valid", "train"])
    i.add_argument("-k", "--top", type=int, default=16, help="how many top-loss images (default 16)")
    add_set(i)


def _lr_find_arguments(f: argparse.ArgumentParser) -> None:
    f.add_argument("exp", type=Path)
    f.add_argument("--start", type=float, default=1e-7)
    f.add_argument("--end", type=float, default=10.0)
    f.add_argument("--steps", type=int, default=100)
    add_set(f)


@verb("search", help="hyperparameter search over PARENT's search block (optuna)", arguments=_search_arguments,
      description="Run or resume the search in PARENT: one child experiment per trial, then PARENT/results.md and "
                  "history_plots.png.",
      examples=["trainlab search experiments/digits-search --workers 2"])
def search_cmd(args: argparse.Namespace) -> int:
    from .search import run_search

    summary = run_search(args.parent, workers=args.workers, storage=args.storage, study_name=args.study_name,
                         overrides=args.overrides, retry_failed=args.retry_failed, test=args.test,
                         plot=not args.no_plot)
    counts = ", ".join(f"{n} {state}" for state, n in sorted(summary.counts.items()))
    print(f"search {summary.parent}: {len(summary.trials)}/{summary.quota} trials ({counts}); {summary.ran} run now; "
          f"study in {summary.storage}")
    from ..config import load_config

    search = load_config(args.parent, args.overrides).search
    best = summary.best(search.mode)
    if best:
        print(f"best {search.monitor} {best['value']:.4f}: {best['folder']}")
    for t in summary.trials:
        if t["state"] == "failed":
            print(f"failed: {t['folder']}: {t['error']}")
    if summary.outputs:
        print("wrote " + ", ".join(str(p) for p in summary.outputs))
    return 0 if not any(t["state"] == "interrupted" for t in summary.trials) else 130


@verb("synthesize", help="results.md and results.csv: one row per run under PARENT", arguments=_synthesize_arguments,
      description="Scan PARENT recursively; one row per run with the settings that vary, best-valid and test "
                  "metrics, epochs and time, sorted by --monitor.",
      examples=["trainlab synthesize experiments/digits-search --monitor valid.loss"])
def synthesize_cmd(args: argparse.Namespace) -> int:
    from .synthesize import synthesize

    table = synthesize(args.parent, monitor=args.monitor, mode=args.mode)
    print(table.to_markdown())
    print(f"wrote {args.parent / 'results.md'} and {args.parent / 'results.csv'}")
    return 0


@verb("plot", help="training_history.png of a run, or history_plots.png of a parent", arguments=_plot_arguments,
      description="On a run: training_history.png. On a folder of runs: history_plots.png (one line per run) and "
                  "per_class_accuracy.png (a heat map).",
      examples=["trainlab plot experiments/digits-search"])
def plot_cmd(args: argparse.Namespace) -> int:
    from .plots import plot_folder
    from .records import mode_for

    for path in plot_folder(args.dir, monitor=args.monitor, mode=mode_for(args.monitor)):
        print(f"wrote {path}")
    return 0


@verb("compare", help="N seeds of each experiment, mean ± sd and paired tests", arguments=_compare_arguments,
      description="Train (or reuse) N seeds of each EXP in EXP/seeds/seed-<s>/, evaluate them, test each against the "
                  "first; writes compare.md and prints it.",
      examples=["trainlab compare experiments/a experiments/b --seeds 5"])
def compare_cmd(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from .compare import compare

    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}.")
    seeds = args.seed_list or list(range(args.seeds))
    result = compare(args.exps, seeds, split=args.split, overrides=args.overrides, out=args.out,
                     train=not args.no_train, checkpoint=args.checkpoint)
    print(result.markdown)
    print(f"wrote {result.path}")
    return 0


@verb("interpret", help="confusion matrix, most-confused pairs, top-loss images", arguments=_interpret_arguments,
      description="Writes EXP/confusion_matrix.png, EXP/top_losses.png and EXP/interpret.md.",
      examples=["trainlab interpret experiments/digits-cnn -k 16"])
def interpret_cmd(args: argparse.Namespace) -> int:
    from ..runs import checkpoint_path
    from .interpret import interpret

    interp, paths = interpret(args.exp, checkpoint=checkpoint_path(args.exp, args.checkpoint), split=args.split,
                              k=args.top, overrides=args.overrides)
    print(interp.markdown(args.top))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


@verb("lr-find", help="learning-rate range test with a suggested lr", arguments=_lr_find_arguments,
      description="Train a throwaway copy of EXP's model while the lr grows exponentially; writes EXP/lr_find.png "
                  "and lr_find.json. EXP's checkpoints are untouched.",
      examples=["trainlab lr-find experiments/digits-cnn --steps 100"])
def lr_find_cmd(args: argparse.Namespace) -> int:
    from .lr_find import lr_find

    result = lr_find(args.exp, start=args.start, end=args.end, steps=args.steps, overrides=args.overrides)
    print(f"lr range test: {len(result.smoothed)} steps, stopped because {result.stop_reason}")
    print(f"suggested lr (valley): {result.suggestion:.2e}   lowest loss at lr {result.min_loss_lr:.2e} "
          f"(a tenth of it: {result.min_loss_lr / 10:.2e})")
    print(f"wrote {args.exp / 'lr_find.png'} and {args.exp / 'lr_find.json'}")
    return 0

