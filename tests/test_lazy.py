"""lazy_exports: a package's names are imported on first use, and a function keeps its name even where a
submodule of the same name is imported first (viz.maximize in viz/maximize.py)."""
import sys
import textwrap

import pytest


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "lazypkg"
    root.mkdir()
    (root / "__init__.py").write_text(textwrap.dedent("""
        from trainlab.lazy import lazy_exports

        lazy_exports(__name__, {".shape": ["shape", "Square"], ".other": ["helper"]})
        """))
    (root / "shape.py").write_text("class Square:\n    side = 2\n\n\ndef shape():\n    return 'square'\n")
    (root / "other.py").write_text("from .shape import Square\n\n\ndef helper():\n    return Square.side\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m.split(".")[0] == "lazypkg"]:
        del sys.modules[name]


def test_names_are_imported_on_first_use(package):
    import lazypkg

    assert "lazypkg.shape" not in sys.modules and lazypkg.__all__ == ["Square", "helper", "shape"]
    from lazypkg import Square

    assert Square.side == 2 and "lazypkg.shape" in sys.modules and "lazypkg.other" not in sys.modules
    assert {"Square", "helper", "shape"} <= set(dir(lazypkg))
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        lazypkg.missing


def test_a_function_keeps_its_name_when_its_submodule_is_imported_first(package):
    import lazypkg.other  # noqa: F401 (imports lazypkg.shape, which would bind the module as lazypkg.shape)
    from lazypkg import helper, shape

    assert shape() == "square" and helper() == 2
    assert sys.modules["lazypkg.shape"].shape is shape
