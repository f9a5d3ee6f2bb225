"""Verbs are declared where they belong: the core's in trainlab/commands/, each feature's in its verbs.py, an
installed package's under the ``trainlab.verbs`` entry point; nothing is listed by hand in cli.py."""
import os
import re
import subprocess
import sys
import textwrap

import pytest

from trainlab.cli import build_parser
from trainlab.errors import TrainlabError
from trainlab.verbs import declared_verbs, verb, verb_modules


def test_each_feature_declares_its_own_verbs():
    build_parser()
    where = {v.name: v.run.__module__ for v in declared_verbs()}
    assert {where[name] for name in ("train", "evaluate", "summary", "models", "params", "rejig", "migrate")} <= {
        "trainlab.commands.train", "trainlab.commands.info", "trainlab.commands.data", "trainlab.commands.migrate"}
    assert {name: where[name] for name in ("morph", "evolve", "search", "lr-find", "viz", "inspect", "flops")} == {
        "morph": "trainlab.morph.verbs", "evolve": "trainlab.evolve.verbs", "search": "trainlab.experiments.verbs",
        "lr-find": "trainlab.experiments.verbs", "viz": "trainlab.viz.verbs", "inspect": "trainlab.inspect.verbs",
        "flops": "trainlab.profile.verbs"}
    assert set(where.values()) - {m for m in where.values() if m.startswith("trainlab.commands.")} <= set(verb_modules())


def test_a_name_is_declared_once_and_every_verb_shows_an_example():
    build_parser()
    with pytest.raises(TrainlabError, match="'train' is already declared \\(by trainlab.commands.train\\)"):
        verb("train", help="another train", examples=["trainlab train x"])(lambda args: 0)
    with pytest.raises(TrainlabError, match="examples"):
        verb("no-example", help="a verb without an example", examples=[])
    with pytest.raises(TrainlabError, match="starting with 'trainlab '"):
        verb("bad-example", help="an example that is not a command", examples=["run it"])
    assert "no-example" not in {v.name for v in declared_verbs()}


def test_an_installed_package_adds_a_verb_through_its_entry_point(tmp_path):
    """A package declares `trainlab hello` in its own verbs module, named under the ``trainlab.verbs`` entry
    point of its metadata (here a hand-written dist-info, as `pip install` writes it)."""
    (tmp_path / "hellopkg").mkdir()
    (tmp_path / "hellopkg" / "__init__.py").write_text("")
    (tmp_path / "hellopkg" / "verbs.py").write_text(textwrap.dedent("""
        from trainlab.verbs import verb

        @verb("hello", help="greet someone", examples=["trainlab hello --name Ada"],
              arguments=lambda p: p.add_argument("--name", default="world"))
        def hello(args):
            print(f"hello {args.name}")
            return 3
        """))
    info = tmp_path / "hellopkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hellopkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[trainlab.verbs]\nhello = hellopkg.verbs\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}

    def trainlab(*argv):
        return subprocess.run([sys.executable, "-m", "trainlab", *argv], env=env, capture_output=True, text=True,
                              timeout=120)

    listing = trainlab("--help")
    assert listing.returncode == 0 and re.search(r"^ +hello +greet someone$", listing.stdout, re.M)
    assert trainlab("hello", "--help").stdout.rstrip().endswith("trainlab hello --name Ada")
    ran = trainlab("hello", "--name", "Ada")
    assert (ran.returncode, ran.stdout) == (3, "hello Ada\n")

