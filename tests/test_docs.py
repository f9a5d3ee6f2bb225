"""The examples in the feature packages' docstrings run and print what they claim."""
import doctest
import importlib

import pytest

PACKAGES = {
    "trainlab.profile": ["__init__", "counter", "dense_formulas", "elementwise", "placement", "report",
                         "rnn_formulas"],
    "trainlab.viz": ["__init__", "activations", "attributions", "compare", "geometry", "hooks", "maximize",
                     "patches", "pictures", "receptive_field", "watch"],
    "trainlab.losses": ["__init__", "adapter", "objectives"],
    "trainlab.ocr": ["__init__", "alphabet", "augment", "ctc", "data", "decoding", "digit_strings", "lm", "metrics",
                     "models", "task"],
}
MODULES = [pkg + ("" if name == "__init__" else f".{name}") for pkg, names in PACKAGES.items() for name in names]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module.__name__} has no example"
    assert result.failed == 0
