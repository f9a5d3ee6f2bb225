"""Every ``>>>`` example in src/trainlab runs and prints what it claims (examples that need files or long runs
are marked ``# doctest: +SKIP`` where they stand)."""
import doctest
import importlib
import pkgutil

import pytest

import trainlab

MODULES = sorted(info.name for info in pkgutil.walk_packages(trainlab.__path__, "trainlab.")
                 if not info.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (run doctest -v)"

