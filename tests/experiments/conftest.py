"""Tiny experiments for the trainlab.experiments tests: synthetic data, an MLP, seconds per run."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from trainlab.cli import main


def tiny(epochs: int = 1, **search) -> dict:
    """Params of a seconds-long run (4 synthetic classes, 8×8, an MLP); a search block when given."""
    params = {
        "data": {"name": "synthetic", "batch_size": 32, "args": {"samples": 192, "image_size": 8, "noise": 0.9}},
        "model": {"name": "mlp", "args": {"hidden_sizes": [32]}},
        "optim": {"name": "adam", "lr": 0.01},
        "train": {"epochs": epochs, "seed": 0, "count_flops": False},
        "logging": {"tensorboard": False, "plot": False, "progress": "none"},
    }
    if search:
        params["search"] = search
    return params


def write(folder: Path, params: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.json").write_text(json.dumps(params))
    return folder


@pytest.fixture
def lab() -> SimpleNamespace:
    """``lab.tiny(epochs, **search)`` params and ``lab.write(folder, params)``."""
    return SimpleNamespace(tiny=tiny, write=write)


@pytest.fixture
def cli(capsys):
    """Run ``trainlab ARGS``; return (exit code, stdout, stderr)."""
    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """One trained and evaluated tiny experiment, shared (read-only) by several tests."""
    exp = write(tmp_path_factory.mktemp("trained") / "exp", tiny(epochs=3))
    assert main(["train", str(exp)]) == 0
    assert main(["evaluate", str(exp)]) == 0
    return exp
