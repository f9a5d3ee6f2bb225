"""The examples in the viz package's docstrings run and print what they claim."""
import doctest
import importlib

import pytest

MODULES = ["__init__", "activations", "attributions", "compare", "geometry", "hooks", "maximize", "patches",
           "pictures", "receptive_field", "watch"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module("trainlab.viz" + ("" if name == "__init__" else f".{name}"))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module.__name__} has no example"
    assert result.failed == 0
