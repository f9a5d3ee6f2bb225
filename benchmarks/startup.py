"""How long the CLI takes before it answers: ``--help``, ``VERB --help``, an argument error, and a torch verb's
first useful line, beside ``python -c "import torch"`` run in the same rounds as the baseline.

Targets (issue 27): ``--help``, every ``VERB --help`` and an argument error within 0.3 s without importing
torch; a verb that needs torch prints its first useful line within the torch import + 0.5 s. Each case is a
fresh ``python -m trainlab ...`` process of this checkout (``src/`` first on PYTHONPATH); the rounds are
interleaved (baseline, case, case, ..., baseline, ...) so a machine whose speed drifts slows every case
alike, and each figure is the median over the rounds. The first-line cases time from the process start to
the first line a user can act on (``train``: its "training EXP: ..." header; ``summary``: the layer table;
``evaluate``: the metrics); they run on a digits experiment trained for one epoch in a temporary folder.

Run it alone on a quiet machine (every figure is a process start-up; anything else running inflates them):

    python benchmarks/startup.py [--repeats 5] [--verbs all|none|VERB,...] [--out startup.json]

About 2 minutes with the defaults on a quiet 2-core machine (mostly the torch cases). Prints JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
HELP_TARGET_S = 0.3  # --help, VERB --help, an argument error
FIRST_LINE_MARGIN_S = 0.5  # a torch verb: its first useful line within the torch import + this
PARAMS = {
    "data": {"name": "digits", "batch_size": 128},
    "model": {"name": "cnn_tiny", "args": {"width": 4}},
    "optim": {"name": "adam", "lr": 0.01},
    "train": {"epochs": 1, "seed": 0, "num_threads": 1},
    "logging": {"tensorboard": False, "plot": False, "progress": "epoch"},
}


def environment() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{path}" if path else str(SRC), "OMP_NUM_THREADS": "1"}


def wall(argv: list[str], env: dict[str, str], *, until: Callable[[str], bool] | None = None,
         expect: int | None = 0) -> float:
    """Seconds from starting ``argv`` to its exit, or to its first output line for which ``until`` is true
    (stdout and stderr together); the process then runs to its end, untimed."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen, elapsed = [], None
    for line in proc.stdout:
        seen.append(line)
        if elapsed is None and until is not None and until(line):
            elapsed = time.perf_counter() - start
    code = proc.wait()
    elapsed = elapsed if elapsed is not None else time.perf_counter() - start
    if until is not None and not any(until(line) for line in seen):
        raise SystemExit(f"{' '.join(argv)}: the expected line never came:\n{''.join(seen)[-2000:]}")
    if expect is not None and code != expect:
        raise SystemExit(f"{' '.join(argv)} exited {code}, expected {expect}:\n{''.join(seen)[-2000:]}")
    return elapsed


def verb_names(env: dict[str, str]) -> list[str]:
    code = ("from trainlab.cli import build_parser\nfrom trainlab.verbs import declared_verbs\n"
            "build_parser()\nprint(' '.join(v.name for v in declared_verbs()))")
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          check=True).stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="rounds; each figure is their median (default 5)")
    parser.add_argument("--verbs", default="all", help="which VERB --help to time: all, none or a comma list")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    env = environment()
    trainlab = [sys.executable, "-m", "trainlab"]
    verbs = verb_names(env) if args.verbs == "all" else [] if args.verbs == "none" else args.verbs.split(",")

    with tempfile.TemporaryDirectory() as tmp:
        exp = Path(tmp) / "digits"
        exp.mkdir()
        (exp / "params.json").write_text(json.dumps(PARAMS))
        subprocess.run([*trainlab, "train", str(exp)], env=env, check=True, capture_output=True)
        cases: dict[str, Callable[[], float]] = {
            "python": lambda: wall([sys.executable, "-c", "pass"], env),
            "import torch": lambda: wall([sys.executable, "-c", "import torch"], env),
            "--help": lambda: wall([*trainlab, "--help"], env),
            "argument error": lambda: wall([*trainlab, "train"], env, expect=2),
            **{f"{v} --help": (lambda v=v: wall([*trainlab, v, "--help"], env)) for v in verbs},
            "train: first line": lambda: wall([*trainlab, "train", str(exp), "--restart"], env,
                                              until=lambda line: line.startswith("training ")),
            "summary: first line": lambda: wall([*trainlab, "summary", str(exp)], env,
                                                until=lambda line: "params" in line.lower()),
            "evaluate: first line": lambda: wall([*trainlab, "evaluate", str(exp)], env,
                                                 until=lambda line: line.startswith("test: loss")),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, case in cases.items():
                times[name].append(case())

    median = {name: statistics.median(ts) for name, ts in times.items()}
    torch_s = median["import torch"]
    helps = [name for name in median if name == "--help" or name.endswith(" --help") or name == "argument error"]
    firsts = [name for name in median if name.endswith(": first line")]
    report = {
        "python": sys.version.split()[0], "repeats": args.repeats,
        "median_s": {name: round(s, 4) for name, s in median.items()},
        "help_target_s": HELP_TARGET_S,
        "slowest_help": max(helps, key=median.get),
        "help_within_target": all(median[n] <= HELP_TARGET_S for n in helps),
        "first_line_over_torch_s": {name: round(median[name] - torch_s, 4) for name in firsts},
        "first_line_target_over_torch_s": FIRST_LINE_MARGIN_S,
        "first_line_within_target": all(median[n] - torch_s <= FIRST_LINE_MARGIN_S for n in firsts),
        "all_s": {name: [round(t, 4) for t in ts] for name, ts in times.items()},
    }
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
