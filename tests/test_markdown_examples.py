"""The runnable examples of README.md and docs/*.md run as written.

A fenced block whose info string is ``bash runnable`` or ``python runnable`` is an example a reader can paste.
Each page's runnable blocks run in order, in a fresh folder holding a copy of ``experiments/`` (so commands
such as ``trainlab train experiments/digits-cnn`` work without touching the repository), with ``trainlab`` on
the PATH: each bash block in its own shell, consecutive python blocks in one interpreter (they are
self-contained; sharing the process only saves its start-up). A block fails the test when it exits non-zero.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(bash|python) runnable\n(.*?)^```", re.S | re.M)


def runnable_blocks(page: Path) -> list[tuple[str, str]]:
    return BLOCK.findall(page.read_text())


def steps(blocks: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The blocks with consecutive python blocks joined into one script."""
    out: list[tuple[str, str]] = []
    for language, code in blocks:
        if out and language == out[-1][0] == "python":
            out[-1] = ("python", out[-1][1] + "\n" + code)
        else:
            out.append((language, code))
    return out


@pytest.mark.parametrize("page", [p for p in PAGES if runnable_blocks(p)], ids=lambda p: p.name)
def test_runnable_blocks_run(page, tmp_path):
    shutil.copytree(REPO / "experiments", tmp_path / "experiments",
                    ignore=shutil.ignore_patterns("checkpoints", "archive", "tensorboard", "seeds", "*.pt"))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    for i, (language, code) in enumerate(steps(runnable_blocks(page))):
        command = ["bash", "-e", "-c", code] if language == "bash" else [sys.executable, "-c", code]
        proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{page.name} step {i + 1} ({language}):\n{code}\n{proc.stdout}\n{proc.stderr}"


def test_the_harness_finds_blocks():
    assert BLOCK.findall("```bash runnable\ntrainlab models\n```\n```bash\nnot run\n```\n") == [
        ("bash", "trainlab models\n")]
