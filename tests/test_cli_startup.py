"""`trainlab --help`, every `trainlab VERB --help` and an argument error answer without importing torch.

Listing the verbs imports every module that declares one (trainlab/commands/, trainlab/<feature>/verbs.py);
each imports its libraries inside the verb's function, so the CLI answers in a fraction of a second
(benchmarks/startup.py measures it)."""
import json
import subprocess
import sys

# torch (~2 s) and what torchmetrics pulls in (torchvision, torch._dynamo, scipy); numpy and pydantic would
# each spend a third of the 0.3 s that `--help` may take
HEAVY = ("torch", "torchmetrics", "torchvision", "scipy", "numpy", "pydantic")

PROBE = """
import contextlib, io, json, sys
heavy = {heavy!r}
import trainlab, trainlab.errors
print(json.dumps([["import trainlab"], 0, [m for m in heavy if m in sys.modules]]))
from trainlab.cli import build_parser, main
verbs = list(build_parser()._subparsers._group_actions[0].choices)
cases = [["--help"], *[[v, "--help"] for v in verbs], ["train"], ["viz", "exp", "--what", "nothing"],
         ["flops", "--num-classes", "ten"], ["trian", "exp"]]
for argv in cases:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    print(json.dumps([argv, code, [m for m in heavy if m in sys.modules]]))
"""


def test_help_and_argument_errors_import_no_torch():
    proc = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    helps = [argv for argv, code, _ in results if "--help" in argv and code == 0]
    errors = [argv for argv, code, _ in results if code == 2]
    assert len(helps) >= 19 and len(errors) == 4  # --help, every verb's --help; the four bad command lines
    assert [(argv, imported) for argv, _, imported in results if imported] == []
