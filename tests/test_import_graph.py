"""Imports point down the layers of docs/contributing.md, so the engine never depends on a feature and nothing on the CLI.

    base (errors, registry, lazy, verbs, config, data, models, stats) < engine < runs < features < commands, cli

A feature reaches the layers below only through their registries (its ``feature.py``); a new top-level module
must be given a layer here before it can be imported at all.
"""
import ast
import re
from pathlib import Path

import trainlab

LAYERS = {
    "__init__": 0, "errors": 0, "registry": 0, "files": 0, "threads": 0, "images": 0, "lazy": 0, "verbs": 0,
    "config": 1, "data": 1, "models": 1, "stats": 1,
    "engine": 2,
    "runs": 3,
    "focus": 4, "morph": 4, "evolve": 4, "profile": 4, "viz": 4, "ocr": 4, "experiments": 4, "detection": 4,
    "inspect": 4, "losses": 4, "tracking": 4, "deploy": 4, "recipes": 4,
    "commands": 5, "cli": 5, "__main__": 5,
}
ROOT = Path(trainlab.__file__).parent


def top_level(module: str) -> str | None:
    """'trainlab.engine.learner' -> 'engine'; None for other packages."""
    parts = module.split(".")
    return (parts[1] if len(parts) > 1 else "__init__") if parts[0] == "trainlab" else None


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split(".")[1:])
    return path.is_dir() or path.with_suffix(".py").is_file()


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, function-level imports included."""
    package = ["trainlab", *path.relative_to(ROOT).parent.parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.append((node.lineno, module))
            if not node.module:  # "from . import x": x may be a module of that package
                found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names
                          if is_module(f"{module}.{alias.name}")]
    return found


def upward_imports() -> list[str]:
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        own = rel.parts[0].removesuffix(".py")
        for line, module in imported_modules(path):
            target = top_level(module)
            if target is None or target == own:
                continue
            if target not in LAYERS or own not in LAYERS:
                bad.append(f"{rel}:{line} imports trainlab.{target}: give {target if target not in LAYERS else own} "
                           "a layer in tests/test_import_graph.py")
            elif LAYERS[target] > LAYERS[own]:
                bad.append(f"{rel}:{line} ({own}, layer {LAYERS[own]}) imports {module} (layer {LAYERS[target]})")
    return bad


def test_imports_point_down_the_layers():
    assert upward_imports() == []


def test_no_module_below_the_features_names_one_in_a_string():
    """A string such as "trainlab.ocr.task" (a plugin path, importlib) is an import the graph would miss."""
    features = {name for name, layer in LAYERS.items() if layer >= 4}
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        own = path.relative_to(ROOT).parts[0].removesuffix(".py")
        if LAYERS.get(own, 99) >= 4:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            named = isinstance(node, ast.Constant) and isinstance(node.value, str) and re.match(
                r"trainlab\.(\w+)", node.value)
            if named and named.group(1) in features:
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} names {node.value!r}")
    assert bad == []


def test_the_checker_sees_upward_imports(tmp_path, monkeypatch):
    engine = tmp_path / "engine"
    engine.mkdir()
    (engine / "x.py").write_text("from ..focus import callback\nimport trainlab.commands.train\nfrom . import learner\n")
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    assert [b.split(" (")[0] for b in upward_imports()] == ["engine/x.py:1", "engine/x.py:2"]
